"""safearchive.dirfd: a tree listed and read through directory descriptors; a directory swapped for
a symbolic link between the listing and the reads is never followed (issue 12.5), in pfioh's pull
(tests/unit/pfioh/test_pull_swap_race.py) and in pman's mount-mode copies (here)."""
import errno
import os
import stat

import pytest

from pman.engines.local import runner
from safearchive import dirfd


@pytest.fixture
def tree(tmp_path):
    top = tmp_path / "tree"
    (top / "d" / "e").mkdir(parents=True)
    for name, data in (("z.txt", b"z"), ("d/a.txt", b"aa"), ("d/e/b.txt", b"bbb")):
        (top / name).write_bytes(data)
    (top / "d" / "link").symlink_to("/etc/passwd")
    os.mkfifo(top / "fifo")
    return top


@pytest.fixture
def secret(tmp_path):
    """Outside the tree, laid out like its ``d`` (same names, same sizes), private content."""
    path = tmp_path / "secret"
    (path / "e").mkdir(parents=True)
    (path / "a.txt").write_bytes(b"SS")
    (path / "e" / "b.txt").write_bytes(b"SSS")
    return path


def swap(tree, secret):
    os.rename(tree / "d", tree / "d-away")
    os.symlink(secret, tree / "d")


def test_lists_regular_files_top_down_sorted_and_skips_links_and_specials(tree):
    skipped = []
    root = dirfd.open_root(tree)
    try:
        found = dirfd.list_tree(root, on_skip=lambda parts, mode: skipped.append(("/".join(parts), stat.S_IFMT(mode))))
        with_dirs = dirfd.list_tree(root, dirs=True)
        with os.fdopen(dirfd.open_file(root, ("d", "e", "b.txt")), "rb") as f:
            assert f.read() == b"bbb"
    finally:
        os.close(root)
    assert [(e.name, e.size) for e in found] == [("z.txt", 1), ("d/a.txt", 2), ("d/e/b.txt", 3)]
    assert sorted(skipped) == [("d/link", stat.S_IFLNK), ("fifo", stat.S_IFIFO)]
    assert [e.name for e in with_dirs] == ["d", "z.txt", "d/a.txt", "d/e", "d/e/b.txt"]
    assert [e.is_dir for e in with_dirs] == [True, False, False, True, False]


def test_a_directory_swapped_for_a_link_after_the_listing_is_not_opened(tree, secret):
    root = dirfd.open_root(tree)
    try:
        listed = dirfd.list_tree(root)
        swap(tree, secret)
        for entry in listed:
            if entry.parts[0] != "d":
                continue
            with pytest.raises(OSError) as refused:
                dirfd.open_file(root, entry.parts)
            assert refused.value.errno in (errno.ELOOP, errno.ENOTDIR)
    finally:
        os.close(root)


def test_the_root_itself_may_not_be_a_link(tree, tmp_path):
    (tmp_path / "via").symlink_to(tree)
    with pytest.raises(OSError) as refused:
        dirfd.open_root(tmp_path / "via")
    assert refused.value.errno in (errno.ELOOP, errno.ENOTDIR)


class Log:
    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines.append(text)


def test_pmans_copy_never_follows_a_directory_swapped_after_the_listing(tree, secret, tmp_path, monkeypatch):
    list_tree = dirfd.list_tree

    def list_then_swap(*args, **kw):  # the boundary between the listing and the reads
        listed = list_tree(*args, **kw)
        swap(tree, secret)
        return listed
    monkeypatch.setattr(dirfd, "list_tree", list_then_swap)
    dst = tmp_path / "copy"
    with pytest.raises(OSError):
        runner.copy_tree(tree, dst, Log())
    copied = [p.read_bytes() for p in dst.rglob("*") if p.is_file()]
    assert all(b"S" not in data for data in copied), copied


def test_pmans_copy_of_an_unchanged_tree(tree, tmp_path):
    log = Log()
    assert runner.copy_tree(tree, tmp_path / "copy", log) == (3, 6)
    assert (tmp_path / "copy" / "d" / "e" / "b.txt").read_bytes() == b"bbb"
    assert sorted(line.split()[1] + " " + line.split()[2] for line in log.lines) == \
        ["special file", "symbolic link"]
