"""Local directories that appear complete or not at all.

A download goes into a hidden sibling (same file system, so the final step is a rename) and is
moved into place only once everything in it is verified; on failure the sibling is removed.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import uuid
from pathlib import Path

from swiftstore import errors

log = logging.getLogger("swiftstore")


def hidden_sibling(dest: Path, tag: str = "part") -> Path:
    """``<parent>/.<name>.swiftstore-<tag>-<random>``: never mistaken for the real thing."""
    return dest.parent / f".{dest.name}.swiftstore-{tag}-{uuid.uuid4().hex[:10]}"


def check_destination(dest: Path, *, replace: bool) -> None:
    """:raises errors.DestinationExists: ``dest`` is a file, or a non-empty directory without ``replace``."""
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise errors.DestinationExists(f"{dest} exists and is not a directory")
    if dest.is_dir() and not replace and any(os.scandir(dest)):
        raise errors.DestinationExists(f"{dest} is not empty (refusing to mix two downloads)")


@contextlib.contextmanager
def staging_dir(dest: Path, *, replace: bool):
    """Yield a fresh hidden sibling of ``dest``; on success move it into place, on failure delete it."""
    dest = Path(dest).absolute()
    check_destination(dest, replace=replace)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = hidden_sibling(dest)
    try:
        # mkdir inside the try: a signal handled right after the mkdir system call (SIGTERM, a pod
        # being stopped) must remove it too.  The random name is ours alone.
        tmp.mkdir()
        yield tmp
        commit(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def commit(tmp: Path, dest: Path) -> None:
    """Put the verified ``tmp`` where ``dest`` is.

    An empty ``dest`` is replaced by one rename; a non-empty one is first renamed aside (and then
    removed).  A mount point cannot be renamed: then its old content is removed and the new
    entries are moved in one by one (each a rename, still never a half-written file).
    """
    old = None
    if dest.is_dir() and any(os.scandir(dest)):
        old = hidden_sibling(dest, "old")
        try:
            os.rename(dest, old)
        except OSError as exc:
            if exc.errno not in (errno.EBUSY, errno.EXDEV, errno.EPERM, errno.EACCES):
                raise
            _empty(dest)
            old = None
    try:
        os.replace(tmp, dest)
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.EXDEV, errno.ENOTEMPTY, errno.EPERM, errno.EACCES):
            raise
        log.debug("%s cannot be replaced (%s): moving entries in", dest, exc.strerror)
        for entry in sorted(os.listdir(tmp)):
            os.rename(tmp / entry, dest / entry)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _empty(path: Path) -> None:
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


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
