"""Directories that appear complete or not at all: stage a hidden sibling, then commit it.

The staged directory is a sibling of the destination (same file system), so committing is a
rename; the old content is renamed aside first and removed after.  A mount point cannot be
renamed: then its old content is removed and the new entries are moved in one by one (each still a
rename, never a half-written file).
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

from safearchive.errors import DestinationError

# A directory that cannot be renamed as a whole (a mount point, or across devices).
_IMMOVABLE = (errno.EBUSY, errno.EXDEV, errno.EPERM, errno.EACCES)


def hidden_sibling(dest: Path, tag: str) -> Path:
    """``<parent>/.<name>.<tag>-<random>``: never mistaken for the real thing."""
    return dest.parent / f".{dest.name}.{tag}-{uuid.uuid4().hex[:10]}"


def check_destination(dest: Path, *, replace: bool) -> None:
    """:raises DestinationError: ``dest`` is not a directory (a file or a symbolic link, never
    followed), or is a non-empty directory and ``replace`` is false."""
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise DestinationError(f"{dest} exists and is not a directory")
    if dest.is_dir() and not replace and _has_entries(dest):
        raise DestinationError(f"{dest} is not empty (refusing to mix old and new content)")


def _has_entries(path: Path) -> bool:
    with os.scandir(path) as it:  # closed at once, not whenever the iterator is collected
        return any(True for _ in it)


@contextlib.contextmanager
def staged(dest: str | os.PathLike, *, replace: bool = False, tag: str = "part") -> Iterator[Path]:
    """Yield a fresh hidden sibling of ``dest``; when the block succeeds it becomes ``dest``, when
    it fails it is removed and ``dest`` is untouched.

    :param replace: a non-empty ``dest`` is replaced (otherwise refused).
    :raises DestinationError: see :func:`check_destination`.
    """
    dest = Path(dest).absolute()
    check_destination(dest, replace=replace)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = hidden_sibling(dest, tag)
    try:
        # mkdir inside the try: a signal handled right after the mkdir system call (SIGTERM, a pod
        # being stopped) must remove it too.  The random name is ours alone.
        tmp.mkdir()
        yield tmp
        commit(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def commit(tmp: Path, dest: Path, *, trash: Path | None = None) -> None:
    """Put the complete directory ``tmp`` where ``dest`` is, whatever ``dest`` was.

    :param trash: where the old ``dest`` goes (same file system), for the caller to remove when it
        likes (e.g. after releasing a lock); by default a hidden sibling, removed here.
    """
    aside = None
    if dest.exists() or dest.is_symlink():
        aside = trash or hidden_sibling(dest, "old")
        try:
            os.rename(dest, aside)
        except OSError as exc:
            if exc.errno not in _IMMOVABLE:
                raise
            _empty(dest)
            aside = None
    try:
        os.replace(tmp, dest)
    except OSError as exc:
        if exc.errno not in _IMMOVABLE + (errno.ENOTEMPTY,):
            raise
        for entry in sorted(os.listdir(tmp)):
            os.rename(tmp / entry, dest / entry)
    if aside is not None and trash is None:
        remove(aside)


def move_aside(path: Path, trash_root: Path) -> Path | None:
    """Rename what is at ``path`` (a directory, or a file) into a fresh private directory under
    ``trash_root`` (on the same file system), in one step: readers see it whole or not at all.
    Remove what this returns with ``shutil.rmtree`` (which never follows links) when it suits,
    e.g. after releasing a lock.

    :returns: the trash directory holding it, or None if nothing is at ``path``.
    :raises DestinationError: ``path`` is a symbolic link (refused, never followed).
    """
    if path.is_symlink():
        raise DestinationError(f"{path} is a symbolic link: never followed")
    if not path.exists():
        return None
    trash = Path(tempfile.mkdtemp(prefix="trash-", dir=trash_root))
    try:
        os.rename(path, trash / "gone")
    except FileNotFoundError:  # removed meanwhile
        os.rmdir(trash)
        return None
    except BaseException:
        os.rmdir(trash)
        raise
    return trash


def remove(path: Path) -> None:
    """Remove a file, link or tree (a link is removed, never followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _empty(path: Path) -> None:
    with os.scandir(path) as entries:  # closed if a removal raises
        for entry in entries:
            remove(Path(entry.path))
