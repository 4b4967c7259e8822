"""All-or-nothing local directories."""
import pytest

from swiftstore import errors, localfs


def _hidden(parent):
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_staging_dir_moves_into_a_missing_destination(tmp_path):
    dest = tmp_path / "dest"
    with localfs.staging_dir(dest, replace=False) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".dest.swiftstore-")
        (tmp / "f").write_text("x")
        assert not dest.exists()  # nothing visible until it is complete
    assert (dest / "f").read_text() == "x" and _hidden(tmp_path) == []


def test_staging_dir_replaces_an_empty_destination(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    with localfs.staging_dir(dest, replace=False) as tmp:
        (tmp / "f").write_text("x")
    assert [p.name for p in dest.iterdir()] == ["f"]


def test_failure_leaves_nothing_behind(tmp_path):
    dest = tmp_path / "dest"
    with pytest.raises(RuntimeError):
        with localfs.staging_dir(dest, replace=False) as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("download failed")
    assert list(tmp_path.iterdir()) == []


def test_non_empty_destination_needs_replace(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old").write_text("old")
    with pytest.raises(errors.DestinationExists, match="not empty"):
        with localfs.staging_dir(dest, replace=False):
            pass
    with localfs.staging_dir(dest, replace=True) as tmp:
        (tmp / "new").write_text("new")
    assert [p.name for p in dest.iterdir()] == ["new"] and _hidden(tmp_path) == []


def test_a_file_is_not_a_destination(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(errors.DestinationExists):
        localfs.check_destination(tmp_path / "f", replace=True)


def test_prepare_paths_creates_parents_and_detects_clashes(tmp_path):
    paths = localfs.prepare_paths(tmp_path, ["a/b/c", "d"])
    assert paths == [tmp_path / "a/b/c", tmp_path / "d"] and (tmp_path / "a/b").is_dir()
    with pytest.raises(errors.IntegrityError, match="both a file and a directory"):
        localfs.prepare_paths(tmp_path, ["x", "x/y"])
