"""safearchive.zipwrite: streamed zips with members passed through compressed, read back by Python's
zipfile and by Info-ZIP's unzip (two independent readers)."""
import dataclasses
import io
import os
import struct
import subprocess
import time
import zipfile
import zlib

import pytest

from safearchive import zipwrite
from swiftstore import bundles


def _member(name: str, data: bytes, *, compressed: bool = False, mtime: float = 1_700_000_000.0,
            chunk: int = 7) -> zipwrite.Member:
    body = bundles.deflate(data) if compressed else data
    chunks = [body[i:i + chunk] for i in range(0, len(body), chunk)]
    return zipwrite.Member(name, len(data), mtime, iter(chunks),
                           (zlib.crc32(data), len(body)) if compressed else None)


FILES = {
    "a.txt": b"hello",
    "empty": b"",
    "img/001.dcm": os.urandom(3000) + bytes(9000),
    "img/002.dcm": os.urandom(5000),
    "sérïes/ü.dcm": b"x" * 10_000,
}


def _zip(files=FILES, compressed=("img/001.dcm", "sérïes/ü.dcm"), comment=b"c\xff") -> bytes:
    return b"".join(zipwrite.stream([_member(n, d, compressed=n in compressed) for n, d in files.items()], comment))


def _unzip_test(path) -> str:
    done = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True, errors="replace", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_stored_and_passed_through_members_read_back_as_the_files(tmp_path):
    body = _zip()
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None  # every CRC checked
        assert {i.filename: zf.read(i) for i in zf.infolist()} == FILES
        methods = {i.filename: i.compress_type for i in zf.infolist()}
        assert methods["img/001.dcm"] == methods["sérïes/ü.dcm"] == zipfile.ZIP_DEFLATED
        assert methods["a.txt"] == methods["img/002.dcm"] == zipfile.ZIP_STORED
        assert zf.getinfo("img/001.dcm").compress_size == len(bundles.deflate(FILES["img/001.dcm"]))
        assert zf.comment == b"c\xff"
        y, mo, d, h, mi, sec = time.localtime(1_700_000_000)[:6]
        assert zf.getinfo("a.txt").date_time == (y, mo, d, h, mi, sec // 2 * 2)
        assert zf.getinfo("a.txt").external_attr >> 16 == 0o100644
    (tmp_path / "t.zip").write_bytes(body)
    assert "No errors detected" in _unzip_test(tmp_path / "t.zip")
    subprocess.run(["unzip", "-q", str(tmp_path / "t.zip"), "-d", str(tmp_path / "out")], check=True, timeout=120)
    assert (tmp_path / "out" / "sérïes" / "ü.dcm").read_bytes() == FILES["sérïes/ü.dcm"]


def test_a_passed_through_stream_with_a_wrong_crc_fails_the_readers_check(tmp_path):
    data = b"y" * 5000
    body = bundles.deflate(data)
    member = zipwrite.Member("bad", len(data), 0.0, iter([body]), (zlib.crc32(data) ^ 1, len(body)))
    with zipfile.ZipFile(io.BytesIO(b"".join(zipwrite.stream([member])))) as zf:
        with pytest.raises(zipfile.BadZipFile, match="CRC"):
            zf.read("bad")


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("delta", [-1, 1])
def test_data_of_another_length_than_announced_raises_before_the_zip_ends(compressed, delta):
    data = b"z" * 100
    body = bundles.deflate(data) if compressed else data
    announced = len(body) + delta
    member = zipwrite.Member("f", len(data) + (0 if compressed else delta), 0.0, iter([body]),
                             (zlib.crc32(data), announced) if compressed else None)
    out = []
    with pytest.raises(zipwrite.SizeMismatch, match=f"expected {announced} bytes, read {len(body)}"):
        for chunk in zipwrite.stream([member]):
            out.append(chunk)
    assert b"PK\x05\x06" not in b"".join(out)  # never a complete-looking zip


def test_zip64_records_where_sizes_offsets_and_the_count_need_them(monkeypatch, tmp_path):
    # A lower threshold puts every record through its zip64 form without writing gigabytes.
    monkeypatch.setattr(zipwrite, "ZIP64_LIMIT", 4000)
    body = _zip()
    assert b"PK\x06\x06" in body and b"PK\x06\x07" in body
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        assert {i.filename: zf.read(i) for i in zf.infolist()} == FILES
        assert zf.getinfo("sérïes/ü.dcm").header_offset > 4000  # read from the zip64 extra field
    (tmp_path / "t.zip").write_bytes(body)
    _unzip_test(tmp_path / "t.zip")


def test_more_than_65534_members_get_a_zip64_end_record():
    many = {f"f{i}": b"" for i in range(0xFFFF)}
    body = b"".join(zipwrite.stream([_member(n, d) for n, d in many.items()]))
    assert b"PK\x06\x06" in body[-200:]
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert len(zf.infolist()) == 0xFFFF


def test_small_members_are_sent_in_few_large_writes_and_large_chunks_are_not_copied():
    files = {f"f{i:04d}": os.urandom(1000) for i in range(1000)}
    sizes = [len(c) for c in zipwrite.stream([_member(n, d, chunk=1000) for n, d in files.items()])]
    assert len(sizes) < 10 and sum(sizes) > 1_000_000
    big = os.urandom(1 << 20)
    chunks = list(zipwrite.stream([zipwrite.Member("big", len(big), 0.0, iter([big]))]))
    assert any(c is big for c in chunks)


def test_mtimes_outside_the_zip_range_are_clamped():
    body = b"".join(zipwrite.stream([_member("old", b"1", mtime=0.0), _member("new", b"2", mtime=1e13)]))
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.getinfo("old").date_time[0] == 1980
        assert zf.getinfo("new").date_time[0] == 2107


def test_stored_member_with_its_crc_known_has_it_in_the_local_header(tmp_path):
    data = os.urandom(5000)
    body = b"".join(zipwrite.stream([zipwrite.Member("s", len(data), 0.0, iter([data[:10], data[10:]]),
                                                     crc32=zlib.crc32(data))]))
    # No data descriptor: the sizes and CRC are in the local header, where an unpacker that reads
    # the zip as it arrives (pfioh's early path) needs them.
    flags, method = struct.unpack_from("<2H", body, 6)
    crc, csize, usize = struct.unpack_from("<3L", body, 14)
    assert (flags & 0x08, method, crc, csize, usize) == (0, 0, zlib.crc32(data), len(data), len(data))
    assert body[30 + 1 + len(data):][:4] == b"PK\x01\x02"  # the central directory, right after the data
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None and zf.read("s") == data
    (tmp_path / "s.zip").write_bytes(body)
    _unzip_test(tmp_path / "s.zip")


def test_stored_member_whose_data_is_not_its_announced_crc_raises():
    data = b"x" * 100
    member = zipwrite.Member("s", len(data), 0.0, iter([data]), crc32=zlib.crc32(data) ^ 1)
    with pytest.raises(zipwrite.SizeMismatch, match="not the CRC-32 announced"):
        b"".join(zipwrite.stream([member]))


def _mixed(files=FILES, compressed=("img/001.dcm", "sérïes/ü.dcm"), crc_known=("a.txt",)):
    """Members of every kind: stored with a data descriptor, stored with the CRC up front, passed
    through compressed; made afresh each call (their chunks are iterators)."""
    out = []
    for name, data in files.items():
        m = _member(name, data, compressed=name in compressed)
        out.append(dataclasses.replace(m, crc32=zlib.crc32(data)) if name in crc_known else m)
    return out


@pytest.mark.parametrize("zip64_limit", [zipwrite.ZIP64_LIMIT, 12_000, 4000, 0])
def test_length_is_that_of_the_zip_streamed_for_every_kind_of_member(monkeypatch, zip64_limit):
    # Lower thresholds put sizes, then offsets, then the central directory through their zip64
    # forms (12 000: only the members after the first few, and the end record).
    monkeypatch.setattr(zipwrite, "ZIP64_LIMIT", zip64_limit)
    for comment in (b"", b"c\xff"):
        announced = zipwrite.length(_mixed(), comment)
        body = b"".join(zipwrite.stream(_mixed(), comment, announced=announced))
        assert announced == len(body)
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            assert zf.testzip() is None


def test_length_does_not_read_the_members_data():
    def never():
        raise AssertionError("read")
        yield b""
    assert zipwrite.length([zipwrite.Member("x", 10, 0.0, never())]) > 10


def test_length_of_an_empty_zip_and_of_one_with_more_than_65534_members():
    assert zipwrite.length([]) == len(b"".join(zipwrite.stream([]))) == 22
    many = lambda: [_member(f"f{i}", b"") for i in range(0xFFFF)]  # noqa: E731
    assert zipwrite.length(many()) == len(b"".join(zipwrite.stream(many())))


@pytest.mark.parametrize("wrong", [-1, 1])
def test_a_zip_of_another_length_than_announced_raises_before_its_last_chunk(wrong):
    # A miscounted Content-Length must not end in a complete-looking zip either.
    announced = zipwrite.length(_mixed()) + wrong
    out = []
    with pytest.raises(zipwrite.SizeMismatch, match=f"not the {announced} announced"):
        for chunk in zipwrite.stream(_mixed(), announced=announced):
            out.append(chunk)
    assert b"PK\x05\x06" not in b"".join(out)


def test_a_name_that_is_not_valid_utf8_is_refused_not_mangled():
    member = zipwrite.Member(os.fsdecode(b"scan\xff.dcm"), 1, 0.0, iter([b"x"]))
    with pytest.raises(zipwrite.BadName, match="not valid UTF-8"):
        zipwrite.length([member])
    with pytest.raises(zipwrite.BadName, match="not valid UTF-8"):
        b"".join(zipwrite.stream([member]))
