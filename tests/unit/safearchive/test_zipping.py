"""Listing a directory's regular files and zipping them."""
import os
import zipfile

from safearchive import entries, unzip, zipping


def _tree(root):
    (root / "sub/deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.txt").write_bytes(b"hello")
    (root / "sub/deep/b.bin").write_bytes(os.urandom(3000))
    (root / "link").symlink_to(root / "a.txt")
    os.mkfifo(root / "fifo")
    return root


def test_lists_regular_files_sorted_and_reports_what_it_skips(tmp_path):
    skipped = []
    members = zipping.list_members(_tree(tmp_path / "t"), on_skip=skipped.append)
    assert [(m.arcname, m.size) for m in members] == [("a.txt", 5), ("sub/deep/b.bin", 3000)]
    assert sorted(p.name for p in skipped) == ["fifo", "link"]


def test_empty_directories_on_request(tmp_path):
    members = zipping.list_members(_tree(tmp_path / "t"), empty_dirs=True)
    assert "empty/" in [m.arcname for m in members]


def test_a_single_file_is_listed_under_its_name(tmp_path):
    (tmp_path / "one.dcm").write_bytes(b"x" * 7)
    assert [(m.arcname, m.size) for m in zipping.list_members(tmp_path / "one.dcm")] == [("one.dcm", 7)]


def test_write_zip_round_trips_through_the_checks(tmp_path):
    src = _tree(tmp_path / "t")
    seen = []
    zipped = zipping.write_zip(zipping.list_members(src, empty_dirs=True), tmp_path / "t.zip",
                               lambda n, f: seen.append((n, f)))
    assert zipped == unzip.Extracted(2, 3005) and sum(n for n, _ in seen) == 3005 and sum(f for _, f in seen) == 2
    with zipfile.ZipFile(tmp_path / "t.zip") as zf:
        assert {i.compress_type for i in zf.infolist() if not i.is_dir()} == {zipfile.ZIP_DEFLATED}
        assert sorted(e.name for e in entries.check(zf, entries.Limits())) == ["a.txt", "empty", "sub/deep/b.bin"]
    out = tmp_path / "out"
    out.mkdir()
    unzip.extract(tmp_path / "t.zip", out, entries.Limits())
    assert (out / "sub/deep/b.bin").read_bytes() == (src / "sub/deep/b.bin").read_bytes() and (out / "empty").is_dir()
