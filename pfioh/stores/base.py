"""The Store interface and what every store shares: uploads, streamed pulls, per-key locks.

A push arrives as an :class:`Upload` (a temp file in the staging area).  Every store first stages
the result in the staging area, checks it, and only then makes it visible in one step, under a
per-key lock, so a reader never sees a half-written or mixed tree.  The implementations are
:mod:`pfioh.stores.mount` and :mod:`pfioh.stores.swift`; this module imports neither.
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
import datetime
import itertools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pfioh import errors, instance, streamzip, ziputil
from pfioh.errors import clip
from pfioh.config import PfiohConfig
from safearchive import entries, locks

PATH_RESERVE = 320
"""Bytes between ``<storeBase>`` and an entry's name in the longest local path pfioh makes:
``/key-<key of up to 251 bytes>/incoming/``, or ``/.pfioh-staging/inst-<id>/work-<id>/tree/``."""
SHARED_MODE = 0o777  # the original's: plugin containers may run as another uid


def timestamp() -> str:
    """The originals' timestamp format (``str(datetime.now())``)."""
    return str(datetime.datetime.now())


@dataclass(frozen=True)
class Upload:
    """A received push body part, saved in the staging area."""

    path: Path
    is_zip: bool
    name: str
    """File name for a non-zip upload."""
    size: int
    early: object | None = None
    """A :class:`pfioh.streamzip.Extractor` that unpacked the zip while it arrived, if any."""


class Pull:
    """A pull reply body: iterates the zip's bytes; ``close()`` runs the close callbacks.

    The WSGI server calls ``close()`` whether the transfer finished or the client went away, so
    locks and cleanups hang on it.  Callbacks get ``finished`` (all bytes were produced).
    """

    def __init__(self, chunks: Iterable[bytes], *, length: int | None = None,
                 on_close: Callable[[bool], None] | None = None):
        self._chunks = iter(chunks)
        self.length = length
        """The Content-Length, if known before the first byte."""
        self._callbacks: list[Callable[[bool], None]] = [on_close] if on_close else []
        self._ahead: list[bytes] = []  # made by start()
        self.bytes_sent = 0
        self.finished = False

    def add_close_callback(self, callback: Callable[[bool], None]) -> None:
        self._callbacks.append(callback)

    def start(self) -> "Pull":
        """Make the first chunk now, before the reply's status is sent: a failure up to there (a
        zip small enough to come in one chunk fails whole) is then an ordinary error reply that
        names it, not a transfer cut short.  On failure the pull is closed (its lock let go).
        """
        try:
            self._ahead = [next(self._chunks)]
        except StopIteration:
            self._ahead = []
        except BaseException:
            self.close()
            raise
        return self

    def __iter__(self) -> Iterator[bytes]:
        for chunk in itertools.chain(self._ahead, self._chunks):
            self.bytes_sent += len(chunk)
            yield chunk
        self.finished = True

    def close(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        try:
            close = getattr(self._chunks, "close", None)
            if close:
                close()
        finally:
            for callback in callbacks:
                callback(self.finished)


class KeyLocks(locks.KeyLocks):
    """:class:`safearchive.locks.KeyLocks` whose timeout is pfioh's ``Busy`` (a 409 naming the key)."""

    def acquire(self, key: str, *, shared: bool = False) -> int:
        try:
            return super().acquire(key, shared=shared)
        except locks.LockTimeout:
            raise errors.Busy(f"key {clip(key)} is busy: another transfer of it has held it for more "
                              f"than {self.timeout:g} s (the lock timeout); try again later", key=key) from None


class Store(abc.ABC):
    """A place to push to and pull from, addressed by key."""

    kind: str = "?"

    def __init__(self, config: PfiohConfig):
        config.staging_root.mkdir(parents=True, exist_ok=True)
        if config.staging_instance is None:  # not started by the command (tests, embedding)
            config = dataclasses.replace(config, staging_instance=instance.claim(config.staging_root).name)
        self.config = config
        self.staging = config.staging_dir
        self.staging.mkdir(parents=True, exist_ok=True)
        self.locks = KeyLocks(config.staging_root, config.lock_timeout)
        self.limits = self.make_limits(config)

    def make_limits(self, config: PfiohConfig) -> ziputil.Limits:
        """The archive limits.  Entry names are staged (and, in mount mode, stored) under
        ``<storeBase>/``: the path limit leaves room for that and :data:`PATH_RESERVE`, so no
        name fails half-way with ENAMETOOLONG.  Stores with other name limits lower it further."""
        room = entries.PATH_MAX - 1 - len(os.fsencode(config.store_base)) - PATH_RESERVE
        return ziputil.Limits(max_bytes=config.max_unpacked_size, max_ratio=config.max_ratio,
                              max_files=config.max_files, max_dirs=config.max_dirs,
                              max_path_bytes=min(entries.PATH_MAX, room))

    @abc.abstractmethod
    def check(self, key: str, *, create: bool) -> dict:
        """The checkRemote reply: ``{status, isfile, isswiftstore, isdir, createdNewDir}``."""

    @abc.abstractmethod
    def push(self, key: str, upload: Upload, *, plugin: bool) -> dict:
        """Store an upload; returns the reply fields (``write``, ``msg``, ``postop``...)."""

    @abc.abstractmethod
    def pull(self, key: str, *, plugin: bool, cleanup: bool) -> Pull:
        """Open the key's data as a streamed zip.  :raises errors.NotFound: nothing there."""

    @abc.abstractmethod
    def ls(self, key: str) -> dict:
        """The ``ls`` reply: ``{status, msg, d_ls}``."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Delete everything stored for ``key``, nothing else.  :raises errors.NotFound: nothing there."""

    def ready(self) -> str | None:
        """Readiness (``GET /api/v1/ready``): None when the store works, else what is wrong.
        Here: the staging area (on the storeBase) takes a file."""
        try:
            with tempfile.NamedTemporaryFile(prefix="ready-", dir=self.staging):
                pass
        except OSError as e:
            return f"the storeBase is not writable ({e.strerror})"
        return None

    def early_unpacker(self, key: str) -> streamzip.Extractor | None:
        """An extractor to unpack a zip arriving for ``key`` (stores that store zips as such
        return None)."""
        return streamzip.Extractor(self.staging, self.limits)

    @contextlib.contextmanager
    def workdir(self):
        """A private staging directory for one request, always removed afterwards."""
        path = Path(tempfile.mkdtemp(prefix="work-", dir=self.staging))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def stage_tree(self, upload: Upload, work: Path) -> tuple[Path, ziputil.Extracted]:
        """Unpack (or place) the upload into ``work/tree``, with every safety check."""
        tree = work / "tree"
        if upload.is_zip and upload.early is not None:
            extracted = streamzip.adopt(upload.early, upload.path, self.limits)
            if extracted is not None:
                os.rename(upload.early.dest, tree)
                return tree, extracted
        tree.mkdir()
        if upload.is_zip:
            return tree, ziputil.safe_extract(upload.path, tree, self.limits)
        if upload.size > self.limits.max_bytes:
            raise errors.TooLarge(f"upload of {upload.size} bytes exceeds the limit {self.limits.max_bytes}")
        # A hard link: no copy, and the temp file's own deletion stays intact.
        os.link(upload.path, tree / upload.name)
        return tree, ziputil.Extracted(1, upload.size)


def sweep_staging(staging_root: Path) -> int:
    """Remove what stopped pfiohs left in the staging area (see :func:`pfioh.instance.sweep`)."""
    return instance.sweep(staging_root)
