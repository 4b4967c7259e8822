"""safearchive.packzip: files zipped on several threads, large ones in independently compressed
blocks; read back by Python's zipfile and Info-ZIP's unzip, and by pfioh's early unpacker."""
import os
import subprocess
import zipfile
import zlib

import pytest

from pfioh import streamzip, ziputil
from safearchive import packzip, zipping

KiB = 1 << 10


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 64 KiB and little read-ahead, so that a few hundred KiB take the large-file paths."""
    monkeypatch.setattr(packzip, "BLOCK", 64 * KiB)
    monkeypatch.setattr(packzip, "IN_FLIGHT", 160 * KiB)


def _image(n: int) -> bytes:
    """Compressible like an image: noise and zeros."""
    return b"".join(os.urandom(512) + bytes(512) for _ in range(n // KiB)) + bytes(n % KiB)


def _tree(root):
    files = {
        "a.txt": b"hello\n" * 50,
        "empty": b"",
        "tiny": b"xy",
        "series1/img001.dcm": _image(40 * KiB),
        "series1/noise.j2k": os.urandom(30 * KiB),
        "series2/large.dcm": _image(300 * KiB + 123),       # several blocks, compressed
        "series2/large-noise.bin": os.urandom(200 * KiB),   # several blocks, stored
        "sérïes/ü.dcm": b"z" * 5000,
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def _pack(src, target, threads=2):
    seen = []
    done = packzip.pack(zipping.list_members(src), target, lambda n, f: seen.append((n, f)), threads=threads)
    return done, seen


def test_round_trip_with_noise_stored_and_the_rest_deflated(tmp_path, small_blocks):
    files = _tree(tmp_path / "t")
    done, seen = _pack(tmp_path / "t", tmp_path / "t.zip")
    total = sum(map(len, files.values()))
    assert (done.files, done.bytes) == (len(files), total)
    assert sum(n for n, _ in seen) == total and sum(f for _, f in seen) == len(files)
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        assert zf.testzip() is None  # every CRC checked
        assert {i.filename: zf.read(i) for i in zf.infolist()} == files
        infos = {i.filename: i for i in zf.infolist()}
    methods = {name: i.compress_type for name, i in infos.items()}
    assert {n for n, m in methods.items() if m == zipfile.ZIP_STORED} == {
        "empty", "tiny", "series1/noise.j2k", "series2/large-noise.bin"}
    assert infos["series2/large.dcm"].compress_size < 0.6 * len(files["series2/large.dcm"])
    # Sizes and CRCs in every local header: no data descriptor (flag 8).
    assert not any(i.flag_bits & 0x08 for i in infos.values())
    done = subprocess.run(["unzip", "-t", str(tmp_path / "t.zip")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "No errors detected" in done.stdout, done.stdout + done.stderr
    assert not list((tmp_path).glob(".zip-spool-*"))


def test_the_zip_is_the_same_whatever_the_threads(tmp_path, small_blocks):
    _tree(tmp_path / "t")
    _pack(tmp_path / "t", tmp_path / "one.zip", threads=1)
    _pack(tmp_path / "t", tmp_path / "four.zip", threads=4)
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "four.zip").read_bytes()


def test_the_blocks_of_a_large_file_are_one_deflate_stream(tmp_path, small_blocks):
    data = _image(5 * 64 * KiB + 7)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "big").write_bytes(data)
    _pack(tmp_path / "t", tmp_path / "t.zip")
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        info = zf.getinfo("big")
        with open(tmp_path / "t.zip", "rb") as f:
            f.seek(info.header_offset + 30 + len("big"))
            stream = f.read(info.compress_size)
    inflate = zlib.decompressobj(-15)
    assert inflate.decompress(stream) == data and inflate.eof and not inflate.unused_data
    assert info.CRC == zlib.crc32(data)


def test_pfiohs_early_unpacker_takes_the_whole_zip_as_it_arrives(tmp_path, small_blocks):
    files = _tree(tmp_path / "t")
    _pack(tmp_path / "t", tmp_path / "t.zip")
    extractor = streamzip.Extractor(tmp_path, ziputil.Limits())
    try:
        body = (tmp_path / "t.zip").read_bytes()
        for i in range(0, len(body), 10_000):
            extractor.write(body[i:i + 10_000])
        assert streamzip.adopt(extractor, tmp_path / "t.zip", ziputil.Limits()) is not None, extractor.failed
        dest = extractor.dest
        assert {p.relative_to(dest).as_posix(): p.read_bytes() for p in dest.rglob("*") if p.is_file()} == files
    finally:
        extractor.close()


@pytest.mark.parametrize("change", ["shrinks", "grows"])
def test_a_file_that_changes_size_while_zipped_is_an_error(tmp_path, small_blocks, change):
    _tree(tmp_path / "t")
    members = zipping.list_members(tmp_path / "t")
    target = next(m for m in members if m.arcname == "series2/large.dcm")
    with open(target.path, "r+b") as f:  # after the listing, before the zipping
        if change == "shrinks":
            f.truncate(target.size - 10)
        else:
            f.seek(0, os.SEEK_END)
            f.write(b"more")
    with pytest.raises(OSError, match="large.dcm changed size while it was being zipped"):
        packzip.pack(members, tmp_path / "t.zip")


def test_directories_are_refused(tmp_path):
    (tmp_path / "t" / "empty").mkdir(parents=True)
    with pytest.raises(ValueError, match="zips files only"):
        packzip.pack(zipping.list_members(tmp_path / "t", empty_dirs=True), tmp_path / "t.zip")


def test_deflate_file_writes_one_stream_with_noise_blocks_copied(tmp_path, small_blocks):
    """A large file half noise (blocks of it) and half image: one DEFLATE stream of the file, the
    noise blocks copied in (a few bytes over their size), the image blocks compressed."""
    noise, image = os.urandom(256 * KiB), _image(256 * KiB)
    path = tmp_path / "mixed.dcm"
    path.write_bytes(noise + image)
    for threads in (1, 3):  # the same stream whatever the threads
        with open(tmp_path / f"stream{threads}", "wb") as out:
            crc = packzip.deflate_file(path, len(noise + image), out, threads=threads)
        stream = (tmp_path / f"stream{threads}").read_bytes()
        engine = zlib.decompressobj(-15)
        assert engine.decompress(stream) == noise + image and engine.eof and crc == zlib.crc32(noise + image)
        image_only = len(_stream_of(tmp_path, image))
        assert len(noise) < len(stream) - image_only < len(noise) * 1.01
    assert (tmp_path / "stream1").read_bytes() == (tmp_path / "stream3").read_bytes()


def _stream_of(tmp_path, data: bytes) -> bytes:
    path = tmp_path / "only.bin"
    path.write_bytes(data)
    with open(tmp_path / "only.stream", "wb") as out:
        packzip.deflate_file(path, len(data), out, threads=1)
    return (tmp_path / "only.stream").read_bytes()


def test_deflate_file_leaves_noise_alone_and_refuses_a_file_that_changed(tmp_path, small_blocks):
    path = tmp_path / "noise.bin"
    path.write_bytes(os.urandom(300 * KiB))
    with open(tmp_path / "out", "wb") as out:
        assert packzip.deflate_file(path, 300 * KiB, out) is None
    assert (tmp_path / "out").stat().st_size == 0
    (tmp_path / "grew.dcm").write_bytes(_image(300 * KiB))
    with open(tmp_path / "out", "wb") as out, pytest.raises(OSError, match="changed size"):
        packzip.deflate_file(tmp_path / "grew.dcm", 200 * KiB, out)
