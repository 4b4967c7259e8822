"""Per-key locks shared by every process that swaps or reads a key's directory in a mount-mode
store: pfioh's pushes and pulls (in any of its workers, or another pfioh on the same storeBase)
and pman's local engine publishing a job's output there.

They are ``flock`` locks on one file per key under ``<storeBase>/.pfioh-staging/locks/`` (the name
is the key's SHA-256, so any key is a safe file name): readers hold them shared, whoever swaps a
directory in holds them exclusively, so a reader sees the whole old tree or the whole new one.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from pathlib import Path

STAGING_DIR = ".pfioh-staging"  # under the storeBase: the same file system as the key directories


class LockTimeout(Exception):
    """The key's lock was not obtained in time (another transfer of the key holds it)."""

    def __init__(self, key: str, timeout: float):
        super().__init__(f"the lock of key {key[:120]!r} was not obtained within {timeout:g} s")
        self.key, self.timeout = key, timeout


def for_store(store_base: str | os.PathLike, timeout: float = 60.0) -> "KeyLocks":
    """The key locks of the mount-mode store at ``store_base``."""
    return KeyLocks(Path(store_base) / STAGING_DIR, timeout)


class KeyLocks:
    """Per-key locks in the staging area (``flock``: they work across gunicorn workers, threads and
    the pfiohs sharing a storeBase).

    A lock file exists only while someone holds or waits for it: the last holder removes it, and
    only while holding it exclusively; whoever then locks a file that is no longer the one at its
    path (removed meanwhile) starts again.  Waits are bounded by ``timeout``.
    """

    POLL_MAX = 0.2  # seconds between attempts, at most (flock has no timed wait)

    def __init__(self, staging_root: Path, timeout: float = 60.0):
        self._dir = staging_root / "locks"
        self._dir.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout

    def path(self, key: str) -> Path:
        return self._dir / hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()

    def acquire(self, key: str, *, shared: bool = False) -> int:
        """Wait until the key's lock is held; returns the fd to pass to :meth:`release`.

        :raises LockTimeout: not obtained within ``timeout`` seconds (another transfer of the
            key holds it: a stalled pull, say).
        """
        path = self.path(key)
        deadline = time.monotonic() + self.timeout
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                self._wait(fd, shared, deadline, key)
                if _same_file(fd, path):
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # removed by its last holder while we waited: take the new one

    def _wait(self, fd: int, shared: bool, deadline: float, key: str) -> None:
        mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
        pause = 0.005
        while True:
            try:
                fcntl.flock(fd, mode)
                return
            except BlockingIOError:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeout(key, self.timeout)
            time.sleep(min(pause, left))
            pause = min(pause * 2, self.POLL_MAX)

    def release(self, fd: int, key: str) -> None:
        """Drop the key's lock, removing its file if nobody else holds or waits on it."""
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # (from shared: may drop it first)
            except BlockingIOError:
                pass  # someone else has it: they remove it
            else:
                path = self.path(key)
                if _same_file(fd, path):
                    path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # closing the only fd drops the flock

    @contextlib.contextmanager
    def hold(self, key: str, *, shared: bool = False):
        fd = self.acquire(key, shared=shared)
        try:
            yield
        finally:
            self.release(fd, key)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_ino, st.st_dev) == (own.st_ino, own.st_dev)
