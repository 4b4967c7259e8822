"""Reading one large SLO as a few ranged GETs at once, each of whole segments.

One GET of an SLO is served segment after segment through one proxy request, and hashed and
written by one thread: Swift's proxy, its object servers and our hashing take turns.  Reading
``WINDOWS`` stretches of it at once keeps them all busy (about 1.3x faster for 1 GiB here, where
Swift shares the machine).  Each window is pinned to the version (``If-Match`` on the SLO's ETag),
written at its offset and hashed segment by segment; the file is accepted only if every window
brought exactly its bytes and the segments' MD5s, in order, give the ETag the manifest recorded.
"""
from __future__ import annotations

import concurrent.futures
import os
import threading
from typing import Callable

from swiftstore import errors, transfer

WINDOWS = 4
MIN_SEGMENTS = 4  # fewer segments: one GET is as fast


class _Stopped(Exception):
    """Another window failed: this one stops reading."""


def worthwhile(segments: int, segment_size: int) -> bool:
    """Whether an SLO of ``segments`` segments is read in windows."""
    return segments >= MIN_SEGMENTS and segment_size > 0


def windows(size: int, segment_size: int, count: int = WINDOWS) -> list[tuple[int, int]]:
    """``(first, last)`` byte of at most ``count`` stretches of whole segments covering ``size``."""
    segments = -(-size // segment_size)
    per = -(-segments // count)
    return [(first * segment_size, min(size, (first + per) * segment_size) - 1)
            for first in range(0, segments, per)]


def download(store, container: str, name: str, dest: str, *, size: int, etag: str, segment_size: int,
             on_bytes: Callable[[int], None] | None = None) -> None:
    """Read the SLO ``name`` into the new file ``dest`` in parallel windows, verified whole;
    ``dest`` is removed on failure.

    :raises errors.IntegrityError: a window's bytes, or the whole, are not what the manifest recorded.
    :raises errors.VersionGone: the SLO is no longer the recorded one (``If-Match``).
    """
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    stop = threading.Event()
    try:
        futures = [store.range_pool.submit(_window, store, container, name, fd, first, last, etag, segment_size,
                                           on_bytes, stop) for first, last in windows(size, segment_size)]
        try:
            concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
            for f in futures:  # the first failure, without waiting for the windows before it
                if f.done() and f.exception() is not None:
                    raise f.exception()
            md5s = [md5 for f in futures for md5 in f.result()]
        finally:  # the descriptor is closed only once no window writes to it any more
            stop.set()
            concurrent.futures.wait(futures)
        got = transfer.slo_etag(md5s)
        if got != etag:
            raise errors.IntegrityError(f"download not verified: MD5 {got}, expected {etag}", container=container,
                                        obj=name)
    except BaseException:
        os.close(fd)
        os.unlink(dest)
        raise
    os.close(fd)


def _window(store, container: str, name: str, fd: int, first: int, last: int, etag: str, segment_size: int,
            on_bytes: Callable[[int], None] | None, stop: threading.Event) -> list[str]:
    """GET bytes ``first``..``last`` into ``fd`` at their offset; their segments' MD5s."""
    _, body = transfer.open_object(store.connection(), container, name, if_match=etag, byte_range=(first, last))
    digest, at = transfer.ContentDigest(segment_size), first
    try:
        for chunk in transfer.body_chunks(body, container, name, digest):
            if stop.is_set():
                raise _Stopped
            if at + len(chunk) > last + 1:  # never written past the window (another's bytes)
                at += len(chunk)
                break
            _pwrite_all(fd, chunk, at)
            at += len(chunk)
            if on_bytes:
                on_bytes(len(chunk))
    finally:
        body.close()
    if at != last + 1:
        raise errors.IntegrityError(f"download not verified: bytes {first}-{last} ({last + 1 - first}) came as "
                                    f"{at - first}{' or more' if at > last + 1 else ''}", container=container, obj=name)
    return digest.segment_md5s()


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n
