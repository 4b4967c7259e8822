"""Extraction and verification: only checked entries are written, and the data is checked as it flows."""
import io
import os
import zipfile

import pytest

from safearchive import entries, errors, unzip

from tests.support.zips import LINK, streamed_zip

LIMITS = entries.Limits(max_bytes=50 << 20, max_ratio=100)


def test_extracts_files_directories_and_executable_bits(make_zip, tmp_path):
    payload = os.urandom(5000)
    path = make_zip([("a.txt", b"A"), ("sub/deeper/b.bin", payload), ("d/", b""), ("run.sh", b"#!/bin/sh\n", 0o100755)])
    dest = tmp_path / "out"
    dest.mkdir()
    assert unzip.extract(path, dest, LIMITS) == unzip.Extracted(3, 5011)
    assert (dest / "a.txt").read_bytes() == b"A" and (dest / "sub/deeper/b.bin").read_bytes() == payload
    assert (dest / "d").is_dir() and os.access(dest / "run.sh", os.X_OK) and not os.access(dest / "a.txt", os.X_OK)


def test_a_refused_archive_writes_nothing(make_zip, tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(errors.UnsafeEntry):
        unzip.extract(make_zip([("ok.txt", b"fine"), ("link", b"/etc/passwd", LINK)]), dest, LIMITS)
    assert list(dest.iterdir()) == []


def test_existing_files_are_never_overwritten(make_zip, tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a").write_text("mine")
    with pytest.raises(errors.UnsafeEntry, match="conflicts"):
        unzip.extract(make_zip([("a", b"theirs")]), dest, LIMITS)
    assert (dest / "a").read_text() == "mine"


def test_a_lying_declared_size_is_caught(make_zip, tmp_path):
    data = bytearray(make_zip([("a", os.urandom(1000))], compression=zipfile.ZIP_STORED).read_bytes())
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (10).to_bytes(4, "little")  # the central directory's uncompressed size
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(errors.CorruptArchive, match="corrupt zip entry 'a'"):
        unzip.verify(path, LIMITS)


def test_corrupt_data_fails_the_crc(make_zip, tmp_path):
    payload = os.urandom(4000)
    data = bytearray(make_zip([("a", payload)], compression=zipfile.ZIP_STORED).read_bytes())
    data[data.find(payload[:64]) + 100] ^= 0xFF
    path = tmp_path / "bad.zip"
    path.write_bytes(bytes(data))
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(errors.CorruptArchive, match="corrupt"):
        unzip.extract(path, dest, LIMITS)


@pytest.mark.parametrize("data", [b"hello, I am not a zip", b"PK\x03\x04 truncated", b""])
def test_not_a_zip(tmp_path, data):
    path = tmp_path / "junk.zip"
    path.write_bytes(data)
    with pytest.raises(errors.CorruptArchive, match="not a valid zip archive"):
        unzip.open_zip(path)


@pytest.mark.parametrize("cut", [10, 100, 2000])
def test_a_truncated_zip_is_corrupt(make_zip, tmp_path, cut):
    data = make_zip([("a", os.urandom(3000)), ("b", b"x")]).read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(data[:-cut])
    with pytest.raises(errors.CorruptArchive):
        unzip.verify(path, LIMITS)


def test_write_errors_stay_os_errors(make_zip):
    """The destination's failure (a full disk) is not the archive's fault."""
    class FullDisk:
        def write(self, data):
            raise OSError(28, "No space left on device")

    with zipfile.ZipFile(make_zip([("a", b"data")])) as zf:
        with pytest.raises(OSError) as info:
            unzip.copy_entry(zf, zf.getinfo("a"), FullDisk())
    assert not isinstance(info.value, errors.ArchiveError)


def test_verify_reads_everything_and_writes_nothing(make_zip, tmp_path):
    assert unzip.verify(make_zip([("a", b"1"), ("b/c", b"22"), ("d/", b"")]), LIMITS) == unzip.Extracted(2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]


def test_progress_reports_every_byte_and_file(make_zip, tmp_path):
    seen = []
    dest = tmp_path / "out"
    dest.mkdir()
    unzip.extract(make_zip([("a", b"x" * 3000), ("b", b"")]), dest, LIMITS, progress=lambda n, f: seen.append((n, f)))
    assert sum(n for n, _ in seen) == 3000 and sum(f for _, f in seen) == 2


@pytest.fixture
def small_batches(monkeypatch):
    """Two or three files a task, so that the threads share the work (of a small zip)."""
    monkeypatch.setattr(unzip, "BATCH_BYTES", 6000)
    monkeypatch.setattr(unzip, "THREADS_FROM_BYTES", 0)


def _many(n=40):
    return [(f"s{i % 3}/f{i:03d}.dcm", os.urandom(200) + bytes(3000 + i)) for i in range(n)] + [
        ("d/", b""), ("run.sh", b"#!/bin/sh\n", 0o100755)]


@pytest.mark.parametrize("threads", [2, 4])
def test_threads_write_the_same_tree_and_report_every_byte_and_file(make_zip, tmp_path, threads, small_batches):
    members = _many()
    seen = []
    with zipfile.ZipFile(make_zip(members)) as zf:
        checked = entries.check(zf, LIMITS)
        dest = tmp_path / "out"
        dest.mkdir()
        done = unzip.extract_entries(zf, checked, dest, lambda n, f: seen.append((n, f)), threads=threads)
    files = {m[0]: m[1] for m in members if not m[0].endswith("/")}
    assert done == unzip.Extracted(len(files), sum(map(len, files.values())))
    assert {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == files
    assert (dest / "d").is_dir() and os.access(dest / "run.sh", os.X_OK)
    assert sum(n for n, _ in seen) == done.bytes and sum(f for _, f in seen) == done.files


def test_threads_stop_at_a_corrupt_entry(make_zip, tmp_path, small_batches):
    members = _many()
    payload = members[17][1]
    data = bytearray(make_zip(members, compression=zipfile.ZIP_STORED).read_bytes())
    data[data.find(payload[:64]) + 100] ^= 0xFF
    path = tmp_path / "bad.zip"
    path.write_bytes(bytes(data))
    dest = tmp_path / "out"
    dest.mkdir()
    with zipfile.ZipFile(path) as zf, pytest.raises(errors.CorruptArchive, match=members[17][0]):
        unzip.extract_entries(zf, entries.check(zf, LIMITS), dest, threads=2)


def test_threads_never_overwrite_what_is_there(make_zip, tmp_path, small_batches):
    dest = tmp_path / "out"
    (dest / "s1").mkdir(parents=True)
    (dest / "s1" / "f004.dcm").write_text("mine")
    with zipfile.ZipFile(make_zip(_many())) as zf, pytest.raises(errors.UnsafeEntry, match="conflicts"):
        unzip.extract_entries(zf, entries.check(zf, LIMITS), dest, threads=2)
    assert (dest / "s1" / "f004.dcm").read_text() == "mine"


# ---------------------------------------------------------------- reading an entry's data (zlib-ng)

def _central_field(data: bytearray, offset: int, width: int, value: int, name: bytes = b"a") -> None:
    """Set a field of the central directory record of the entry ``name``."""
    at = next(i for i in _all(data, b"PK\x01\x02") if data[i + 46:i + 46 + len(name)] == name)
    data[at + offset:at + offset + width] = value.to_bytes(width, "little")


def _all(data: bytes, sig: bytes):
    i = data.find(sig)
    while i >= 0:
        yield i
        i = data.find(sig, i + 1)


def _read_all(path) -> dict:
    out = {}
    with unzip.open_zip(path) as zf:
        for info in zf.infolist():
            sink = io.BytesIO()
            unzip.copy_entry(zf, info, sink)
            out[info.filename] = sink.getvalue()
    return out


@pytest.mark.parametrize("level", [1, 6, 9])
@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_entries_read_as_zipfile_reads_them(tmp_path, compression, level):
    """Sizes from nothing to over a CHUNK, noise and runs of zeros, and zip64 records."""
    members = {"empty": b"", "one": b"x", "zeros": bytes(3 << 20), "noise": os.urandom((1 << 20) + 7),
               "image": os.urandom(300_000) + bytes(300_000), "dir/ünïcödé.txt": "héllo".encode() * 999}
    path = tmp_path / "t.zip"
    with zipfile.ZipFile(path, "w", compression, compresslevel=level) as zf:
        for name, data in members.items():
            with zf.open(zipfile.ZipInfo(name), "w", force_zip64=name == "image") as f:
                f.write(data)
    with zipfile.ZipFile(path) as zf:
        assert {i.filename: zf.read(i) for i in zf.infolist()} == members  # the reference agrees
    assert _read_all(path) == members


def test_a_data_descriptor_entry_is_read(tmp_path):
    """Written to a stream, zipfile puts the sizes after the data (flag bit 3): the central
    directory's are the ones that count."""
    (tmp_path / "dd.zip").write_bytes(streamed_zip({"a": b"streamed " * 5000}))
    with unzip.open_zip(tmp_path / "dd.zip") as zf:
        assert zf.getinfo("a").flag_bits & 0x8
    assert _read_all(tmp_path / "dd.zip") == {"a": b"streamed " * 5000}


@pytest.mark.parametrize("field, width, value, match", [
    (8, 2, 1, "encrypted"),                           # general purpose flag bit 0
    (8, 2, 0x20, "patch"),                            # bit 5: compressed patched data
    (10, 2, 12, "compression method 12"),             # bzip2, which we do not read
    (16, 4, 0x12345678, "CRC-32 .* declares .*12345678"),
    (24, 4, 10, "more data than the central directory declares"),  # a bomb's lie: stops at 11 bytes
    (24, 4, 100_000, "100000"),                       # promises more than there is
    (42, 4, 1, "no local file header"),               # points into the middle of the data
])
def test_a_central_record_that_lies_is_corrupt(make_zip, tmp_path, field, width, value, match):
    data = bytearray(make_zip([("a", b"the data of a " * 300), ("b", b"bee")]).read_bytes())
    _central_field(data, field, width, value)
    path = tmp_path / "lie.zip"
    path.write_bytes(bytes(data))
    with unzip.open_zip(path) as zf, pytest.raises(errors.CorruptArchive, match=f"corrupt zip entry 'a': .*{match}"):
        unzip.copy_entry(zf, zf.getinfo("a"))


def test_a_local_header_of_another_name_is_corrupt(make_zip, tmp_path):
    """The central record of 'a' points to b's local header: reading it would give b's data as a's."""
    data = bytearray(make_zip([("a", b"alpha"), ("b", b"bravo")], compression=zipfile.ZIP_STORED).read_bytes())
    _central_field(data, 42, 4, data.find(b"PK\x03\x04", 1))
    path = tmp_path / "swap.zip"
    path.write_bytes(bytes(data))
    with unzip.open_zip(path) as zf, pytest.raises(errors.CorruptArchive, match="local header names 'b'"):
        unzip.copy_entry(zf, zf.getinfo("a"))


def test_a_corrupt_or_cut_deflate_stream_is_corrupt(make_zip, tmp_path):
    payload = os.urandom(2000) + bytes(50_000)
    data = bytearray(make_zip([("a", payload)]).read_bytes())
    start = data.find(b"a", 30) + 1  # the stream follows the local header's name (no extra)
    broken = bytearray(data)
    broken[start:start + 8] = b"\xff" * 8
    (tmp_path / "bad.zip").write_bytes(bytes(broken))
    with unzip.open_zip(tmp_path / "bad.zip") as zf, pytest.raises(errors.CorruptArchive, match="corrupt zip entry 'a'"):
        unzip.copy_entry(zf, zf.getinfo("a"))
    with unzip.open_zip(make_zip([("a", payload)])) as zf:
        size = zf.getinfo("a").compress_size
    _central_field(data, 20, 4, size - 40)  # the stream's end is not inside what the record says
    (tmp_path / "cut.zip").write_bytes(bytes(data))
    with unzip.open_zip(tmp_path / "cut.zip") as zf, pytest.raises(errors.CorruptArchive, match="truncated"):
        unzip.copy_entry(zf, zf.getinfo("a"))


def test_the_zip_ending_inside_the_data_is_corrupt(make_zip, tmp_path):
    data = bytearray(make_zip([("a", os.urandom(5000))], compression=zipfile.ZIP_STORED).read_bytes())
    _central_field(data, 20, 4, 1 << 30)  # sizes past the end of the file
    _central_field(data, 24, 4, 1 << 30)
    (tmp_path / "short.zip").write_bytes(bytes(data))
    with unzip.open_zip(tmp_path / "short.zip") as zf, pytest.raises(errors.CorruptArchive, match="ends inside"):
        unzip.copy_entry(zf, zf.getinfo("a"))


def test_a_zip_read_from_a_stream_is_refused_plainly(make_zip):
    with zipfile.ZipFile(io.BytesIO(make_zip([("a", b"1")]).read_bytes())) as zf, pytest.raises(TypeError):
        unzip.copy_entry(zf, zf.getinfo("a"))
