"""Per-instance staging: each pfioh owns ``<storeBase>/.pfioh-staging/inst-<id>/``, and proves it is
alive by holding ``inst-<id>.lock`` (an ``flock``) for as long as it runs.

Several pfiohs may share a storeBase (and its per-key locks, ``.pfioh-staging/locks/``).  At start
each removes only what is provably dead: instance directories whose lock nobody holds.  The lock
is taken in the main process before gunicorn forks, so the workers inherit it and it is dropped
only when the last process of the instance is gone (a crash included).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

PREFIX = "inst-"
LOCK_SUFFIX = ".lock"
_held: list["Instance"] = []  # keeps the lock fds open for the life of the process


@dataclass(frozen=True)
class Instance:
    name: str
    """``inst-<id>``: the directory's name under the staging root."""
    fd: int
    """The open, locked ``inst-<id>.lock``."""


def claim(root: Path) -> Instance:
    """Lock a fresh ``inst-<id>.lock`` under ``root``, then make ``inst-<id>/``.

    The lock comes first: a directory without a lock file is therefore dead.  A sweeper may take
    a just-created lock file before we lock it and remove it: then its inode is no longer the one
    at the path, and we start again with another id.
    """
    while True:
        name = PREFIX + uuid.uuid4().hex[:16]
        lock = root / (name + LOCK_SUFFIX)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            still_ours = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            still_ours = False
        if still_ours:
            (root / name).mkdir(mode=0o700)
            instance = Instance(name, fd)
            _held.append(instance)
            return instance
        os.close(fd)


def retire(root: Path) -> int:
    """Remove the staging directories (and lock files) this process claimed, as a clean stop
    does: the next start then has nothing to sweep, and its warning means a crash.  Call it only
    once no other process of the instance (a gunicorn worker) can still be writing there.

    :returns: how many were removed.
    """
    retired = list(_held)
    for held in retired:
        _remove(root, held.name, locked=True)
        release(held)
    return len(retired)


def release(instance: Instance) -> None:
    """Give up ``instance`` (its lock is dropped once no process holds it; a later sweep removes it)."""
    if instance in _held:
        _held.remove(instance)
    os.close(instance.fd)


def _free(lock: Path) -> int | None:
    """The fd of ``lock`` locked by us if nobody else held it, else None."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def sweep(root: Path) -> int:
    """Remove the staging directories (and lock files) of instances that are no longer running.

    :returns: how many instances' leftovers were removed.
    """
    removed = 0
    if not root.is_dir():
        return 0
    own = {i.name for i in _held}
    for entry in sorted(os.listdir(root)):
        if not entry.startswith(PREFIX) or entry.endswith(LOCK_SUFFIX) or entry in own:
            continue
        lock = root / (entry + LOCK_SUFFIX)
        fd = _free(lock) if lock.exists() else -1  # no lock file: its owner is gone (see claim)
        if fd is None:
            continue  # alive
        _remove(root, entry, locked=fd >= 0)
        if fd >= 0:
            os.close(fd)
        removed += 1
    for entry in sorted(os.listdir(root)):  # lock files whose directory is gone, if free
        if entry.startswith(PREFIX) and entry.endswith(LOCK_SUFFIX) and entry[:-len(LOCK_SUFFIX)] not in own \
                and not (root / entry[:-len(LOCK_SUFFIX)]).exists():
            fd = _free(root / entry)
            if fd is not None:
                (root / entry).unlink(missing_ok=True)
                os.close(fd)
    return removed


def _remove(root: Path, name: str, *, locked: bool) -> None:
    """Remove instance ``name``'s directory, then, if ``locked`` (its lock file exists and we hold
    it), the lock file: gone last, it says "alive" until the directory is gone, and unlinked while
    held, a claimer racing us sees another inode (see :func:`claim`)."""
    path = root / name
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    if locked:
        (root / (name + LOCK_SUFFIX)).unlink(missing_ok=True)


def leftovers(root: Path) -> list[str]:
    """What the staging area holds besides its structure (instance directories and their locks,
    the ``locks`` directory): temp files, and per-key lock files nobody holds any more should be
    gone after every request.  Relative paths, sorted (for diagnostics and tests)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for name in dirnames + filenames:
            path = name if rel == "." else f"{rel}/{name}"
            structure = rel == "." and (name == "locks" or name.startswith(PREFIX))
            if not structure:
                found.append(path)
    return sorted(found)
