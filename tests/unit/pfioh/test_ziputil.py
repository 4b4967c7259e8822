"""Safe extraction (traversal, links, devices, bombs, corruption) and streamed zip creation."""
import io
import os
import stat
import zipfile

import pytest

from pfioh import errors, ziputil

from tests.support.pfioh_app import make_zip

LIMITS = ziputil.Limits(max_bytes=50 << 20, max_ratio=100)


def _write(tmp_path, data: bytes):
    path = tmp_path / "up.zip"
    path.write_bytes(data)
    dest = tmp_path / "out"
    dest.mkdir()
    return path, dest


def _zip_with_mode(name: str, mode: int, data: bytes = b"target") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo(name)
        info.create_system = 3
        info.external_attr = mode << 16
        zf.writestr(info, data)
    return buf.getvalue()


def test_extracts_tree_with_subdirs(tmp_path):
    path, dest = _write(tmp_path, make_zip({"a.txt": b"A", "sub/deeper/b.bin": os.urandom(5000), "d/": b""}))
    result = ziputil.safe_extract(path, dest, LIMITS)
    assert result.files == 2 and result.bytes == 5001
    assert (dest / "a.txt").read_bytes() == b"A"
    assert (dest / "d").is_dir()


@pytest.mark.parametrize("name, word", [("../evil", "'..'"), ("a/../../evil", "'..'"), ("/etc/evil", "absolute"),
                                        ("C:/evil", "absolute"), ("a\\..\\evil", "backslash")])
def test_traversal_is_rejected_and_nothing_written(tmp_path, name, word):
    path, dest = _write(tmp_path, make_zip({"ok.txt": b"x", name: b"evil"}))
    with pytest.raises(errors.UnsafeArchive, match=word):
        ziputil.safe_extract(path, dest, LIMITS)
    assert list(dest.iterdir()) == [] and not (tmp_path / "evil").exists()


@pytest.mark.parametrize("mode, word", [(stat.S_IFLNK | 0o777, "symlink"), (stat.S_IFCHR | 0o644, "device"),
                                        (stat.S_IFIFO | 0o644, "device")])
def test_links_and_devices_are_rejected(tmp_path, mode, word):
    path, dest = _write(tmp_path, _zip_with_mode("link", mode, b"/etc/passwd"))
    with pytest.raises(errors.UnsafeArchive, match=word):
        ziputil.safe_extract(path, dest, LIMITS)
    assert not (dest / "link").exists()


def test_total_size_limit(tmp_path):
    path, dest = _write(tmp_path, make_zip({"big": os.urandom(3 << 20)}, compression=zipfile.ZIP_STORED))
    with pytest.raises(errors.TooLarge, match="limit"):
        ziputil.safe_extract(path, dest, ziputil.Limits(max_bytes=2 << 20, max_ratio=100))
    assert list(dest.iterdir()) == []


def test_ratio_limit_catches_a_bomb(tmp_path):
    path, dest = _write(tmp_path, make_zip({"zeros": bytes(40 << 20)}))
    with pytest.raises(errors.TooLarge, match="ratio"):
        ziputil.safe_extract(path, dest, LIMITS)
    assert list(dest.iterdir()) == []


def test_small_compressible_files_are_fine(tmp_path):
    path, dest = _write(tmp_path, make_zip({f"z{i}": bytes(10240) for i in range(20)}))
    assert ziputil.safe_extract(path, dest, LIMITS).files == 20


def test_lying_declared_size_is_caught(tmp_path):
    data = bytearray(make_zip({"a": os.urandom(1000)}, compression=zipfile.ZIP_STORED))
    # Shrink the declared size in the central directory: zipfile must refuse the extra data.
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    path, dest = _write(tmp_path, bytes(data))
    with pytest.raises(errors.UnsafeArchive):
        ziputil.safe_extract(path, dest, LIMITS)


@pytest.mark.parametrize("cut", [10, 100, 2000])
def test_truncated_zip(tmp_path, cut):
    data = make_zip({"a": os.urandom(3000), "b": b"x"})
    path, dest = _write(tmp_path, data[:-cut])
    with pytest.raises(errors.UnsafeArchive, match="corrupt|truncated"):
        ziputil.safe_extract(path, dest, LIMITS)


def test_corrupt_data_fails_crc(tmp_path):
    payload = os.urandom(4000)
    data = bytearray(make_zip({"a": payload}, compression=zipfile.ZIP_STORED))
    i = data.find(payload[:64])
    data[i + 100] ^= 0xFF
    path, dest = _write(tmp_path, bytes(data))
    with pytest.raises(errors.UnsafeArchive, match="corrupt"):
        ziputil.safe_extract(path, dest, LIMITS)


def test_not_a_zip(tmp_path):
    path, dest = _write(tmp_path, b"hello, I am not a zip")
    with pytest.raises(errors.UnsafeArchive, match="corrupt"):
        ziputil.safe_extract(path, dest, LIMITS)


def test_duplicate_entries_rejected(tmp_path):
    buf = io.BytesIO()
    with pytest.warns(UserWarning), zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a", b"1")
        zf.writestr("a", b"2")
    path, dest = _write(tmp_path, buf.getvalue())
    with pytest.raises(errors.UnsafeArchive, match="twice"):
        ziputil.safe_extract(path, dest, LIMITS)


def test_verify_checks_without_extracting(tmp_path):
    path, _ = _write(tmp_path, make_zip({"a": b"1", "b/c": b"22"}))
    assert ziputil.verify(path, LIMITS) == ziputil.Extracted(2, 3)


def test_stream_zip_round_trip_and_always_binary(tmp_path):
    (tmp_path / "t" / "sub").mkdir(parents=True)
    (tmp_path / "t" / "a.txt").write_text("hello")
    (tmp_path / "t" / "sub" / "b.txt").write_text("")
    (tmp_path / "t" / "link").symlink_to("/etc/passwd")
    root = os.open(tmp_path / "t", os.O_RDONLY | os.O_DIRECTORY)
    try:
        body = b"".join(ziputil.stream_zip(ziputil.dir_entries(root)))
    finally:
        os.close(root)
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert sorted(zf.namelist()) == ["a.txt", "sub/b.txt"]
        assert zf.read("a.txt") == b"hello" and zf.testzip() is None
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_empty_stream_zip_is_valid_and_not_utf8():
    body = b"".join(ziputil.stream_zip([]))
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == []
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_stream_zip_size_mismatch_raises():
    with pytest.raises(errors.StorageError, match="expected 5"):
        b"".join(ziputil.stream_zip([ziputil.Entry("a", 5, 0.0, iter([b"abc"]))]))


def test_stream_zip_chunks_are_bounded():
    chunks = [os.urandom(1 << 20) for _ in range(4)]
    sizes = [len(c) for c in ziputil.stream_zip([ziputil.Entry("big", 4 << 20, 0.0, iter(chunks))])]
    assert max(sizes) < (1 << 20) + 4096 and sum(sizes) > 4 << 20
