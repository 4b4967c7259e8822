"""Reading one large SLO as a few ranged GETs at once, each of whole segments.

One GET of an SLO is served segment after segment through one proxy request, and hashed and
written by one thread: Swift's proxy, its object servers and our hashing take turns.  Reading
``WINDOWS`` stretches of it at once keeps them all busy (1.10x to 1.31x faster for 1 GiB here,
where Swift shares the two cores).  Each window is pinned to the version (``If-Match`` on the SLO's ETag),
written at its offset and hashed segment by segment; the file is accepted only if every window
brought exactly its bytes and the segments' MD5s, in order, give the ETag the manifest recorded.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Callable, Generator

from swiftstore import errors, transfer

WINDOWS = 4
MIN_SEGMENTS = 4  # fewer segments: one GET is as fast
RESUMES = 3       # a window's body that breaks off is asked for again from there, this often

log = logging.getLogger("swiftstore")


class _Stopped(Exception):
    """Another window failed: this one stops reading."""


def worthwhile(segments: int, segment_size: int) -> bool:
    """Whether an SLO of ``segments`` segments is read in windows."""
    return segments >= MIN_SEGMENTS and segment_size > 0


@dataclass
class Window:
    """Bytes ``first``..``last`` (inclusive) of an SLO, whole segments; :attr:`md5s` are their
    segments' MD5s once :meth:`read` has gone through them."""

    first: int
    last: int
    md5s: list[str] = field(default_factory=list)

    def read(self, store, container: str, name: str, etag: str,
             segment_size: int) -> Generator[bytes, None, None]:
        """The window's chunks, from a ranged GET pinned to ``etag``; a body that breaks off is
        asked for again from where it stopped (swiftclient resumes only whole-object reads).

        :raises errors.IntegrityError: the window came shorter or longer than asked for.
        :raises errors.TransferError: it broke off more than ``RESUMES`` times.
        """
        digest, n, want = transfer.ContentDigest(segment_size), 0, self.last + 1 - self.first
        for attempt in itertools.count(1):
            _, body = transfer.open_object(store.connection(), container, name, if_match=etag,
                                           byte_range=(self.first + n, self.last))
            try:
                for chunk in transfer.body_chunks(body, container, name, transfer.NO_DIGEST):
                    n += len(chunk)
                    if n > want:  # never passed on: it would be another window's bytes
                        break
                    digest.update(chunk)
                    yield chunk
                break
            except errors.TransferError as exc:
                if attempt > RESUMES or n >= want:
                    raise
                log.info("GET %s/%s: bytes %d-%d broke off after %d (%s); asking for the rest", container, name,
                         self.first, self.last, n, exc)
            finally:
                body.close()
        if n != want:
            raise errors.IntegrityError(f"download not verified: bytes {self.first}-{self.last} ({want}) came as "
                                        f"{n}{' or more' if n > want else ''}", container=container, obj=name)
        self.md5s = digest.segment_md5s()


def windows(size: int, segment_size: int, count: int = WINDOWS) -> list[Window]:
    """At most ``count`` windows of whole segments covering ``size`` bytes."""
    segments = -(-size // segment_size)
    per = -(-segments // count)
    return [Window(first * segment_size, min(size, (first + per) * segment_size) - 1)
            for first in range(0, segments, per)]


def check_whole(parts: list[Window], etag: str, container: str, name: str) -> None:
    """:raises errors.IntegrityError: the windows' segment MD5s, in order, do not give ``etag``."""
    got = transfer.slo_etag([md5 for w in parts for md5 in w.md5s])
    if got != etag:
        raise errors.IntegrityError(f"download not verified: MD5 {got}, expected {etag}", container=container,
                                    obj=name)


def download(store, container: str, name: str, dest: str, *, size: int, etag: str, segment_size: int,
             on_bytes: Callable[[int], None] | None = None) -> None:
    """Read the SLO ``name`` into the new file ``dest`` in parallel windows, verified whole;
    ``dest`` is removed on failure.

    :raises errors.IntegrityError: a window's bytes, or the whole, are not what the manifest recorded.
    :raises errors.VersionGone: the SLO is no longer the recorded one (``If-Match``).
    """
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    stop = threading.Event()
    parts = windows(size, segment_size)
    try:
        futures = [store.range_pool.submit(_write, w.read(store, container, name, etag, segment_size), fd, w.first,
                                           on_bytes, stop) for w in parts]
        try:
            # All done, or the first failure raised without waiting for the windows before it.
            concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
            for f in futures:
                if f.done() and f.exception() is not None:
                    raise f.exception()
        finally:  # the descriptor is closed only once no window writes to it any more
            stop.set()
            concurrent.futures.wait(futures)
        check_whole(parts, etag, container, name)
    except BaseException:
        os.close(fd)
        os.unlink(dest)
        raise
    os.close(fd)


def _write(chunks: Generator[bytes, None, None], fd: int, at: int, on_bytes: Callable[[int], None] | None,
           stop: threading.Event) -> None:
    """Write a window's chunks into ``fd`` from offset ``at``."""
    with contextlib.closing(chunks):  # its GET closed now, also when stopped early
        for chunk in chunks:
            if stop.is_set():
                raise _Stopped
            view = memoryview(chunk)
            while view:
                n = os.pwrite(fd, view, at)
                view, at = view[n:], at + n
            if on_bytes:
                on_bytes(len(chunk))
