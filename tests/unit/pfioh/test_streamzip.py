"""Unpacking while the upload arrives: used only when the finished archive vouches for it."""
import io
import os
import stat
import zipfile
from pathlib import Path

import pytest

from pfioh import errors, instance, streamzip, ziputil

from tests.support.pfioh_app import make_zip, push

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
    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.buf = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.buf += b
            return len(b)
    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a", b"x" * 1000)
    ex, path = _feed(tmp_path, bytes(sink.buf))
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
