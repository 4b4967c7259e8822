"""Local directories that appear complete or not at all (:mod:`safearchive.staging`, with
swiftstore's names and errors).

A download goes into a hidden sibling (same file system, so the final step is a rename) and is
moved into place only once everything in it is verified; on failure the sibling is removed.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from safearchive import errors as archive_errors
from safearchive import staging
from swiftstore import errors


def hidden_sibling(dest: Path, tag: str = "part") -> Path:
    """``<parent>/.<name>.swiftstore-<tag>-<random>``: never mistaken for the real thing."""
    return staging.hidden_sibling(dest, f"swiftstore-{tag}")


def check_destination(dest: Path, *, replace: bool) -> None:
    """:raises errors.DestinationExists: ``dest`` is a file, or a non-empty directory without ``replace``."""
    with _destination_exists():
        staging.check_destination(dest, replace=replace)


@contextlib.contextmanager
def _destination_exists():
    try:
        yield
    except archive_errors.DestinationError as e:
        raise errors.DestinationExists(str(e)) from e


@contextlib.contextmanager
def staging_dir(dest: Path, *, replace: bool):
    """Yield a fresh hidden sibling of ``dest``; on success move it into place, on failure delete it."""
    check_destination(Path(dest).absolute(), replace=replace)
    with _destination_exists(), staging.staged(dest, replace=replace, tag="swiftstore-part") as tmp:
        yield tmp


def prepare_paths(root: Path, rels: list[str]) -> list[Path]:
    """Create the parent directories of every relative path under ``root`` and return the paths.

    :raises errors.IntegrityError: one name is both a file and a directory ("a" and "a/b").
    """
    dirs = {str(Path(r).parent) for r in rels} | {str(p) for r in rels for p in Path(r).parents}
    clash = sorted(set(rels) & dirs)
    if clash:
        raise errors.IntegrityError(f"{clash[0]!r} is both a file and a directory")
    for d in sorted(dirs):
        if d != ".":
            (root / d).mkdir(parents=True, exist_ok=True)
    return [root / r for r in rels]
