"""Extraction and verification: only checked entries are written, and the data is checked as it flows."""
import os
import zipfile

import pytest

from safearchive import entries, errors, unzip

from tests.support.zips import LINK

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
