"""Unpacking while the upload arrives: used only when the finished archive vouches for it."""
import io
import os
import random
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from pfioh import errors, instance, streamzip, ziputil

from tests.support.pfioh_app import make_zip, push
from tests.support.zips import streamed_zip

LIMITS = ziputil.Limits(max_bytes=100 << 20, max_ratio=100)


def _feed(tmp_path, data: bytes, step: int = 65536):
    path = tmp_path / "up.zip"
    path.write_bytes(data)
    staging = tmp_path / "staging"
    staging.mkdir(exist_ok=True)
    ex = streamzip.Extractor(staging, LIMITS)
    for i in range(0, len(data), step):
        ex.write(memoryview(data)[i:i + step])
    return ex, path


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("step", [1, 7, 65536])
def test_streams_and_adopts(tmp_path, compression, step):
    files = {"a.txt": b"hello" * 100, "d/e/f.bin": os.urandom(3000), "z": b""}
    ex, path = _feed(tmp_path, make_zip(files, compression=compression), step)
    try:
        assert streamzip.adopt(ex, path, LIMITS) == ziputil.Extracted(3, sum(map(len, files.values())))
        assert {p.relative_to(ex.dest).as_posix(): p.read_bytes() for p in ex.dest.rglob("*") if p.is_file()} == files
    finally:
        ex.close()
    assert not ex.dest.exists()


def test_zip64_local_headers(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        with zf.open("big", "w", force_zip64=True) as out:  # zip64 extra with the real sizes
            out.write(b"data" * 1000)
        zf.writestr("small", b"x")
    ex, path = _feed(tmp_path, buf.getvalue(), 1000)
    try:
        assert streamzip.adopt(ex, path, LIMITS) == ziputil.Extracted(2, 4001)
        assert (ex.dest / "big").read_bytes() == b"data" * 1000
    finally:
        ex.close()


@pytest.mark.parametrize("files", [{"zeros": bytes(30 << 20)}, {f"z{i}": bytes(1 << 20) for i in range(40)}])
def test_bombs_stop_before_writing_much(tmp_path, files):
    ex, path = _feed(tmp_path, make_zip(files))
    with pytest.raises(errors.TooLarge):
        try:
            assert streamzip.adopt(ex, path, LIMITS) is None
            ziputil.safe_extract(path, tmp_path / "staging", LIMITS)  # what the push does next
        finally:
            written = sum(p.stat().st_size for p in ex.dest.rglob("*") if p.is_file())
            ex.close()
    # At most max_ratio times what had arrived (here one 64 KiB chunk), not the declared 30-40 MiB.
    assert "ratio" in ex.failed and written <= LIMITS.max_ratio * 65536 + (1 << 20)


def test_data_descriptors_fall_back(tmp_path):
    ex, path = _feed(tmp_path, streamed_zip({"a": b"x" * 1000}))
    assert streamzip.adopt(ex, path, LIMITS) is None and "descriptor" in ex.failed
    ex.close()


def test_symlink_known_only_from_central_directory_is_rejected(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, b"/etc/passwd")
    ex, path = _feed(tmp_path, buf.getvalue())
    with pytest.raises(errors.UnsafeArchive, match="symlink"):
        streamzip.adopt(ex, path, LIMITS)
    ex.close()
    assert not ex.dest.exists()


def test_local_names_that_differ_from_the_central_directory(tmp_path):
    data = bytearray(make_zip({"aa/evil": b"1"}))
    local = data.index(b"aa/evil")
    data[local:local + 7] = b"../evil"  # only the local header lies
    ex, path = _feed(tmp_path, bytes(data))
    assert streamzip.adopt(ex, path, LIMITS) is None
    ex.close()
    assert not (tmp_path / "evil").exists() and not (tmp_path / "staging" / "evil").exists()


def test_entries_missing_from_the_central_directory_fall_back(tmp_path):
    one = make_zip({"a": b"1"})
    two = make_zip({"b": b"2"})
    # Local entry "a" smuggled in front of a zip whose directory only lists "b".
    cd = one.index(b"PK\x01\x02")
    ex, path = _feed(tmp_path, one[:cd] + two)
    assert streamzip.adopt(ex, path, LIMITS) is None
    ex.close()


def test_push_with_early_unpacking_round_trips_and_cleans_up(client, config):
    files = {f"d{i}/f{i}": os.urandom(20000) for i in range(30)}
    assert push(client, "k", make_zip(files)).status_code == 200
    keydir = config.store_base + "/key-k"
    assert {p.relative_to(keydir).as_posix(): p.read_bytes()
            for p in Path(keydir).rglob("*") if p.is_file()} == files
    assert instance.leftovers(config.staging_root) == []


class _Writer:
    """What the early path hands a Swift writer: the checks' results, in the zip's order."""

    bundle_max_file = 1 << 20

    def __init__(self):
        self.got: list[tuple] = []

    def add_bytes(self, rel, data, *, crc32=None):
        self.got.append(("bytes", rel, bytes(data), crc32))

    def begin_file(self, rel, path, size, *, deflated=None):
        return None  # as the real writer for a file under two segments: added once written

    def add_deflated(self, rel, size, stream, crc32):
        self.got.append(("deflated", rel, size, zlib.decompressobj(-15).decompress(stream), crc32))

    def add(self, rel, path, size):
        self.got.append(("file", rel, Path(path).read_bytes(), size))

    def abort(self):
        pass


def _feed_writer(tmp_path, data: bytes, writer, step: int = 7000):
    path = tmp_path / "up.zip"
    path.write_bytes(data)
    (tmp_path / "staging").mkdir(exist_ok=True)
    ex = streamzip.Extractor(tmp_path / "staging", LIMITS, writer)
    for i in range(0, len(data), step):
        ex.write(data[i:i + step])
    return ex, path


def test_small_files_are_checked_on_threads_and_handed_over_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(streamzip, "CHECKING_BYTES", 50_000)  # the reading thread waits now and then
    files = {f"s/{i:03d}.dcm": bytes(3000) + os.urandom(40) * (i % 50) for i in range(60)}
    files["noise.bin"] = os.urandom(20_000)  # its stream is not smaller: handed over as it is
    files["big.bin"] = os.urandom(1 << 20) + bytes(1000)  # over bundle_max_file: unpacked to disk
    writer = _Writer()
    ex, path = _feed_writer(tmp_path, make_zip(files), writer)
    try:
        assert streamzip.adopt(ex, path, LIMITS) is not None, ex.failed
        # The small files in the zip's order; the large one goes ahead of those still in their checks.
        assert [g[1] for g in writer.got if g[0] != "file"] == [n for n in files if n != "big.bin"]
        assert sorted(g[1] for g in writer.got) == sorted(files)
        for kind, rel, *rest in writer.got:
            data = files[rel]
            if kind == "deflated":
                assert rest == [len(data), data, zlib.crc32(data)]
            elif kind == "bytes":
                assert rest == [data, zlib.crc32(data)]
            else:
                assert rest == [data, len(data)]
        assert {g[0] for g in writer.got} == {"deflated", "bytes", "file"}
    finally:
        ex.close()


@pytest.mark.parametrize("damage", ["crc", "stream"])
def test_a_damaged_small_entry_stops_the_early_path(tmp_path, damage):
    files = {"a.dcm": bytes(5000), "b.dcm": b"hello" * 1000, "c.dcm": bytes(100)}
    data = bytearray(make_zip(files))
    start = data.index(b"b.dcm") + len("b.dcm")  # b.dcm's local header, then its stream
    if damage == "crc":
        crc_at = start - len("b.dcm") - 30 + 14
        data[crc_at] ^= 0xFF
    else:
        data[start + 3] ^= 0xFF
    writer = _Writer()
    ex, path = _feed_writer(tmp_path, bytes(data), writer)
    try:
        assert not ex.finish()
        assert "b.dcm" not in [g[1] for g in writer.got]
        # Raised on a checking thread, reported by the unpacking one.
        assert ex.failed == "size or CRC mismatch" if damage == "crc" else ex.failed.startswith("corrupt compressed stream (Error -3 "), \
            ex.failed
    finally:
        ex.close()


def test_at_most_checking_bytes_of_small_files_are_in_flight(tmp_path, monkeypatch):
    monkeypatch.setattr(streamzip, "CHECKING_BYTES", 20_000)
    in_flight = []
    submit = streamzip._Checks.submit

    def recording(self, *a):
        submit(self, *a)
        in_flight.append(self._bytes)
    monkeypatch.setattr(streamzip._Checks, "submit", recording)
    files = {f"f{i:03d}": bytes(6000) + os.urandom(100) for i in range(50)}
    ex, path = _feed_writer(tmp_path, make_zip(files), _Writer())
    try:
        assert streamzip.adopt(ex, path, LIMITS) is not None, ex.failed
    finally:
        ex.close()
    assert len(in_flight) == 50 and max(in_flight) <= 20_000


@pytest.mark.parametrize("step", [65536, 1 << 22])
def test_a_large_entry_whose_last_output_zlib_holds_back_is_unpacked_early(tmp_path, step):
    """zlib can take in an entry's last bytes while its output is capped at CHUNK, and hold the
    rest back until asked: the early path asks, instead of calling the stream truncated."""
    n = ziputil.CHUNK + 1
    data = random.Random(5).randbytes(n - n // 2) + bytes(n // 2)
    engine = zlib.decompressobj(-15)
    stream = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = stream.compress(data) + stream.flush()
    assert len(engine.decompress(stream, ziputil.CHUNK)) == ziputil.CHUNK and not engine.unconsumed_tail
    ex, path = _feed(tmp_path, make_zip({"big.dcm": data}), step)
    try:
        assert streamzip.adopt(ex, path, LIMITS) is not None, ex.failed
        assert (ex.dest / "big.dcm").read_bytes() == data
    finally:
        ex.close()


def test_bytes_after_the_end_of_a_large_entrys_stream_stop_the_early_path(tmp_path):
    """Fed again, zlib's unconsumed_tail would loop for ever: the early path stops instead."""
    data = random.Random(5).randbytes(3 << 19) + bytes(3 << 19)
    stream = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = stream.compress(data) + stream.flush() + b"junk"
    header = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, zlib.crc32(data), len(stream), len(data), 5, 0)
    ex, path = _feed(tmp_path, header + b"a.bin" + stream + b"PK\x01\x02", 1 << 22)
    try:
        assert not ex.finish() and "after the end" in ex.failed
    finally:
        ex.close()
