"""Stage, then commit: the destination appears complete or not at all."""
import os
import zipfile

import pytest

from safearchive import entries, errors, staging, unzip

from tests.support.zips import LINK, build_zip


def _visible(parent):
    return sorted(p.name for p in parent.iterdir())


def test_a_missing_destination_appears_complete(tmp_path):
    dest = tmp_path / "dest"
    with staging.staged(dest, tag="part") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".dest.part-")
        (tmp / "f").write_text("x")
        assert not dest.exists()
    assert _visible(tmp_path) == ["dest"] and (dest / "f").read_text() == "x"


def test_a_failure_leaves_nothing_and_the_old_content_intact(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old").write_text("old")
    with pytest.raises(RuntimeError):
        with staging.staged(dest, replace=True) as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("the download broke off")
    assert _visible(tmp_path) == ["dest"] and _visible(dest) == ["old"]


def test_a_refused_archive_leaves_nothing(tmp_path):
    """Extraction inside staged(): refused up front, or failing after good files were written."""
    dest = tmp_path / "dest"
    with pytest.raises(errors.UnsafeEntry):
        with staging.staged(dest) as tmp:
            unzip.extract(build_zip(tmp_path / "link.zip", [("a", b"1"), ("l", b"/", LINK)]), tmp, entries.Limits())
    payload = os.urandom(4000)
    data = bytearray(build_zip(tmp_path / "crc.zip", [("ok.txt", b"fine"), ("b", payload)], zipfile.ZIP_STORED)
                     .read_bytes())
    data[data.find(payload[:64]) + 100] ^= 0xFF
    (tmp_path / "crc.zip").write_bytes(bytes(data))
    written = []
    with pytest.raises(errors.CorruptArchive):
        with staging.staged(dest) as tmp:
            unzip.extract(tmp_path / "crc.zip", tmp, entries.Limits(), progress=lambda n, f: written.append(f))
    assert sum(written) == 1  # ok.txt was complete before b failed its CRC
    assert _visible(tmp_path) == ["crc.zip", "link.zip"]


def test_a_non_empty_destination_needs_replace(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old").write_text("old")
    with pytest.raises(errors.DestinationError, match="not empty"):
        with staging.staged(dest):
            pytest.fail("must not get here")
    with staging.staged(dest, replace=True) as tmp:
        (tmp / "new").write_text("new")
    assert _visible(dest) == ["new"] and _visible(tmp_path) == ["dest"]


@pytest.mark.parametrize("kind", ["file", "symlink"])
def test_a_non_directory_is_never_a_destination(tmp_path, kind):
    dest = tmp_path / "dest"
    if kind == "file":
        dest.write_text("x")
    else:
        dest.symlink_to(tmp_path)
    with pytest.raises(errors.DestinationError, match="not a directory"):
        staging.check_destination(dest, replace=True)
    assert isinstance(errors.DestinationError("x"), OSError)


def test_commit_puts_the_old_tree_in_the_callers_trash(tmp_path):
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "old").write_text("old")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "f").write_text("new")
    staging.commit(tmp_path / "new", tmp_path / "dest", trash=tmp_path / "trash")
    assert _visible(tmp_path / "dest") == ["f"] and _visible(tmp_path / "trash") == ["old"]


def test_commit_replaces_a_link_without_following_it(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep").write_text("keep")
    (tmp_path / "dest").symlink_to(target)
    (tmp_path / "new").mkdir()
    staging.commit(tmp_path / "new", tmp_path / "dest")
    assert not (tmp_path / "dest").is_symlink() and _visible(target) == ["keep"]
    assert _visible(tmp_path) == ["dest", "elsewhere"]
