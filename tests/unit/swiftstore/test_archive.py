"""The single-zip layout: what put_archive writes, and what get_archive refuses to extract."""
import os
import stat
import zipfile

import pytest

from swiftstore import archive, errors


def _tree(root):
    (root / "sub/deep").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "a.txt").write_bytes(b"hello")
    (root / "sub/ünï cödé.bin").write_bytes(os.urandom(3000))
    (root / "sub/deep/zero").write_bytes(b"")
    return root


def _zip(path, entries):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            if isinstance(name, zipfile.ZipInfo):
                zf.writestr(name, data)
            else:
                zf.writestr(name, data)
    return path


def test_zip_dir_entries_are_relative_deflated_and_round_trip(tmp_path):
    src = _tree(tmp_path / "src")
    (src / "link").symlink_to(src / "a.txt")
    got = archive.zip_dir(src, tmp_path / "x.zip")
    assert got == archive.Extracted(3, 3005)
    with zipfile.ZipFile(tmp_path / "x.zip") as zf:
        names = set(zf.namelist())
        assert {i.compress_type for i in zf.infolist() if not i.is_dir()} == {zipfile.ZIP_DEFLATED}
    assert names == {"a.txt", "sub/ünï cödé.bin", "sub/deep/zero", "empty-dir/"}  # no symlink, nothing absolute
    out = tmp_path / "out"
    out.mkdir()
    assert archive.extract(tmp_path / "x.zip", out, archive.Limits()) == archive.Extracted(3, 3005)
    for rel in ("a.txt", "sub/ünï cödé.bin", "sub/deep/zero"):
        assert (out / rel).read_bytes() == (src / rel).read_bytes()
    assert (out / "empty-dir").is_dir()


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "/etc/evil", "a\\..\\evil", "./a", "a//b"])
def test_zip_slip_entries_are_rejected_before_writing(tmp_path, name):
    z = _zip(tmp_path / "bad.zip", [("ok.txt", b"fine"), (name, b"evil")])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(errors.UnsafeArchive, match="would leave"):
        archive.extract(z, out, archive.Limits())
    assert list(out.iterdir()) == [] and not (tmp_path / "evil").exists()


def test_symlink_entries_are_rejected(tmp_path):
    info = zipfile.ZipInfo("link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    z = _zip(tmp_path / "bad.zip", [(info, "/etc/passwd")])
    with pytest.raises(errors.UnsafeArchive, match="symbolic link"):
        archive.extract(z, tmp_path, archive.Limits())


def test_duplicate_entries_are_rejected(tmp_path):
    with pytest.warns(UserWarning):  # zipfile itself warns about the duplicate
        z = _zip(tmp_path / "dup.zip", [("a", b"1"), ("a", b"2")])
    with pytest.raises(errors.UnsafeArchive, match="twice"):
        archive.extract(z, tmp_path, archive.Limits())


def test_total_size_limit(tmp_path):
    z = _zip(tmp_path / "big.zip", [("a", b"x" * 600), ("b", b"y" * 600)])
    with pytest.raises(errors.UnsafeArchive, match="more than 1000 bytes"):
        archive.check_entries(zipfile.ZipFile(z), archive.Limits(max_bytes=1000))
    archive.check_entries(zipfile.ZipFile(z), archive.Limits(max_bytes=1200))


def test_entry_count_limit(tmp_path):
    z = _zip(tmp_path / "many.zip", [(f"f{i}", b"") for i in range(5)])
    with pytest.raises(errors.UnsafeArchive, match="5 entries"):
        archive.check_entries(zipfile.ZipFile(z), archive.Limits(max_files=4))


def test_compression_ratio_limit_catches_a_bomb(tmp_path):
    z = _zip(tmp_path / "bomb.zip", [("zeros", bytes(8 << 20))])
    with pytest.raises(errors.UnsafeArchive, match="ratio"):
        archive.check_entries(zipfile.ZipFile(z), archive.Limits(max_ratio=100))
    assert len(archive.check_entries(zipfile.ZipFile(z), archive.Limits())) == 1  # deflate's honest maximum



def test_limits_are_the_shared_policy_with_swiftstores_defaults():
    from safearchive import entries
    assert isinstance(archive.Limits(), entries.Limits)
    assert archive.Limits() == archive.Limits(max_bytes=64 << 30, max_files=1_000_000, max_ratio=1100.0)


def test_device_entries_are_rejected_too(tmp_path):
    info = zipfile.ZipInfo("dev")
    info.external_attr = (stat.S_IFCHR | 0o644) << 16
    with pytest.raises(errors.UnsafeArchive, match="device"):
        archive.extract(_zip(tmp_path / "dev.zip", [(info, b"")]), tmp_path, archive.Limits())


def test_not_a_zip_is_an_unsafe_archive(tmp_path):
    (tmp_path / "junk.zip").write_bytes(b"PK but not a zip")
    with pytest.raises(errors.UnsafeArchive, match="not a valid zip"):
        archive.extract(tmp_path / "junk.zip", tmp_path, archive.Limits())
