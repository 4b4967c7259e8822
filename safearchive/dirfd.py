"""List and read a directory tree through directory file descriptors, never following a link.

A walk by paths lists names, then opens paths: whoever may write the tree (a plugin writing its
``outgoing``) can swap a listed subdirectory for a symbolic link in between and redirect the reads
elsewhere; ``O_NOFOLLOW`` guards only a path's last component.  Here every component is opened
relative to its already opened parent with ``O_NOFOLLOW``, so a link swapped in at any level makes
the open fail (``ELOOP``, ``ENOTDIR``) instead of leading out of the tree.

At most two descriptors are open at once in a listing, and one per open file: a directory is
reopened along its path from the root when it is needed (wide or deep trees need no more).
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Callable

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in does not block the open (it is refused as not regular afterwards).
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True)
class Entry:
    """A regular file (or, when asked for, a directory) under the root, by its path components."""

    parts: tuple[str, ...]
    size: int
    mtime: float
    is_dir: bool = False

    @property
    def name(self) -> str:
        """The path below the root, with ``/``."""
        return "/".join(self.parts)


def open_root(path: str | os.PathLike) -> int:
    """An fd of the directory ``path``, refusing a link at ``path`` itself.  :raises OSError:"""
    return os.open(path, DIR_FLAGS)


def open_dir(root_fd: int, parts: tuple[str, ...]) -> int:
    """A new fd of the directory ``parts`` below ``root_fd``, each component opened relative to the
    one before without following a link.  :raises OSError: ``ELOOP``/``ENOTDIR`` for a link."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            child = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(root_fd: int, parts: tuple[str, ...]) -> int:
    """An fd of the regular file ``parts`` below ``root_fd``, no component a link.

    :raises OSError: a link or a missing component; ``EINVAL`` when it is not a regular file.
    """
    parent = open_dir(root_fd, parts[:-1])
    try:
        fd = os.open(parts[-1], FILE_FLAGS, dir_fd=parent)
    finally:
        os.close(parent)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(22, "not a regular file")
    return fd


def list_tree(root_fd: int, *, dirs: bool = False,
              on_skip: Callable[[tuple[str, ...], int], None] | None = None) -> list[Entry]:
    """The regular files under ``root_fd`` (and the directories, with ``dirs``), in the order of a
    top-down walk with sorted names: a directory's files, then each subdirectory's tree.

    Links and special files are left out (``on_skip`` is told their components and ``st_mode``).
    """
    found: list[Entry] = []
    todo: list[tuple[str, ...]] = [()]
    while todo:
        here = todo.pop()
        subdirs = []
        fd = open_dir(root_fd, here)
        try:
            with os.scandir(fd) as it:
                children = sorted(it, key=lambda e: e.name)
            for child in children:
                st = child.stat(follow_symlinks=False)  # (fstatat relative to fd)
                parts = (*here, child.name)
                if stat.S_ISDIR(st.st_mode):
                    subdirs.append(parts)
                    if dirs:
                        found.append(Entry(parts, 0, st.st_mtime, is_dir=True))
                elif stat.S_ISREG(st.st_mode):
                    found.append(Entry(parts, st.st_size, st.st_mtime))
                elif on_skip:
                    on_skip(parts, st.st_mode)
        finally:
            os.close(fd)
        todo.extend(reversed(subdirs))
    return found

