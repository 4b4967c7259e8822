"""Streaming one stored version of a tree, file by file, for a consumer that writes as it reads
(pfioh's pull builds a zip on the fly from it).

Each object of the version (a bundle of small files, or one larger file) is fetched once, pinned
to the version by the ETag its manifest recorded, by a reader thread that runs up to ``window``
objects ahead of the consumer with a bounded queue each, so Swift, hashing and the consumer's
socket overlap while memory stays bounded (``window x read_ahead x chunk``).  Every file is
checked against its manifest entry (size and MD5), every object against its ETag; a failure
reaches the consumer as the exception, in order, never as other bytes.

With ``passthrough``, a file kept compressed (in its bundle or in an object of its own, with its
CRC-32 recorded) comes as the DEFLATE stream it is stored as, for a zip to carry as it is:
inflating it only to compress it again would cost more than the whole transfer.  Its object is
then checked whole (every byte once, compressed or not); the file's own check is the CRC-32 its
eventual reader verifies.

An object read whole (a file's own object always; a bundle when its files are passed through
rather than checked one by one) is checked against the CRC-32 its upload recorded where there is
one (the MD5 cost a third of a pull's CPU), else against its ETag.
"""
from __future__ import annotations

import collections
import concurrent.futures
import queue
import threading
from dataclasses import dataclass
from typing import Iterator

from swiftstore import bundles, errors, transfer, tree
from swiftstore.manifest import Manifest, ManifestEntry

CHUNK = 1 << 20
READ_AHEAD = 8  # chunks queued per object
_END = object()
_BUNDLE = "bundle"  # what a bundle's reader expects: its files are checked by the consumer


@dataclass(frozen=True)
class _Failed:
    error: BaseException


class Readers:
    """The reader threads of one process (long-lived, so swiftstore's per-thread connections are
    reused).  ``streams`` x ``window`` threads: as many as the readers that can be waiting at once,
    so one stream's readers never wait behind another stream's (which would deadlock them)."""

    def __init__(self, store, *, streams: int, window: int = 4):
        self.store, self.window = store, window
        self._pool = concurrent.futures.ThreadPoolExecutor(streams * window, thread_name_prefix="swiftstore-reader")

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)

    def iter_version(self, container: str, manifest: Manifest, *,
                     passthrough: bool = False) -> Iterator[tuple[ManifestEntry, Iterator[bytes]]]:
        """Yield ``(entry, chunks)`` for every file of ``manifest``, object by object (in the order
        of :func:`plan`); each file's chunks must be consumed before the next pair is asked for.

        :param passthrough: an entry for which :func:`passed_through` gives a pair comes as its raw
            DEFLATE stream (``entry.deflated`` bytes that inflate to the file of CRC-32
            ``entry.crc32``), not as the file.

        :raises errors.IntegrityError: a file or object is not what the manifest recorded.
        :raises errors.VersionGone: the version was deleted meanwhile (two newer puts).
        """
        pending: collections.deque = collections.deque()
        todo = iter(plan(manifest))
        try:
            while True:
                while len(pending) < self.window and (unit := next(todo, None)) is not None:
                    pending.append((unit, self._start(container, manifest, *unit, passthrough)))
                if not pending:
                    return
                (obj, entries), stream = pending.popleft()
                yield from _files(container, obj, entries, stream, passthrough)
        finally:
            for _, stream in pending:
                stream.stop.set()

    def _start(self, container: str, manifest: Manifest, obj: str, entries: list[ManifestEntry],
               passthrough: bool) -> "_Stream":
        stream = _Stream()
        bundled = entries[0].offset is not None
        expect: str | _Crc32 | None = _whole_object(entries[0])
        if bundled and not passthrough:  # its members are checked one by one, by the consumer
            expect = _BUNDLE
        segment_size = 0 if bundled else entries[0].segment_size
        self._pool.submit(stream.produce, self.store, container, obj, tree.pin(manifest, entries[0]), expect,
                          segment_size, sum(e.stored_size for e in entries))
        return stream


def plan(manifest: Manifest) -> list[tuple[str, list[ManifestEntry]]]:
    """``(object, its entries)`` in the order :meth:`Readers.iter_version` reads them (and yields
    the entries): by the first name in each, so a pulled zip lists its files about sorted.

    :raises errors.IntegrityError: a bundle's entries do not tile it (a bad manifest).
    """
    groups, singles = tree.units(manifest)
    return sorted([(g[0].object, g) for g in groups] + [(manifest.object_of(e), [e]) for e in singles],
                  key=lambda unit: min(e.name for e in unit[1]))


class _Stream:
    """One object's chunks, from its reader thread to the consumer."""

    def __init__(self):
        self.chunks: queue.Queue = queue.Queue(READ_AHEAD)
        self.stop = threading.Event()

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.chunks.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def produce(self, store, container: str, obj: str, if_match, expect, segment_size: int, size: int) -> None:
        """Fetch the object into the queue.  A single file is checked here, whole; a bundle's
        files are checked by the consumer one by one (they tile it: hashing it whole as well
        would hash every byte twice)."""
        body = None
        try:  # everything inside: a failure anywhere must reach the consumer, or it waits for ever
            headers, body = store.open_object(container, obj, CHUNK, if_match=if_match)
            digest: transfer.ContentDigest
            if expect == _BUNDLE:
                digest, expect = transfer.NO_DIGEST, None
            elif isinstance(expect, _Crc32):
                digest, expect = transfer.Crc32Digest(), transfer.format_crc32(expect.value)
            else:
                digest = transfer.digest_for(headers, segment_size)
            n = 0
            for chunk in transfer.body_chunks(body, container, obj, digest):
                n += len(chunk)
                if not self._put(chunk):
                    return
            transfer.check_download(container, obj, headers, n, digest, size, expect)
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(_Failed(exc))
        finally:
            if body is not None:
                body.close()

    def __iter__(self) -> Iterator[bytes]:
        while (item := self.chunks.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item


@dataclass(frozen=True)
class _Crc32:
    """What a reader expects of a whole object whose upload recorded its CRC-32."""

    value: int


def _whole_object(entry: ManifestEntry) -> "_Crc32 | str | None":
    """The check of ``entry``'s object read whole: its recorded CRC-32, else (older manifests) its
    ETag (a bundle's; a file's own object's is its entry's ``md5``)."""
    if entry.object_crc32 is not None:
        return _Crc32(entry.object_crc32)
    return (entry.etag if entry.offset is not None else entry.md5) or None


def passed_through(entry: ManifestEntry) -> tuple[int, int] | None:
    """``(CRC-32 of the file, length of its DEFLATE stream)`` if a passthrough read gives
    ``entry`` as that stream, else None (it comes as the file)."""
    if entry.deflated is None or entry.crc32 is None:
        return None
    return entry.crc32, entry.deflated


def _files(container: str, obj: str, entries: list[ManifestEntry], stream: _Stream, passthrough: bool):
    """The object's files as ``(entry, checked chunks)``; a bundle is cut at its offsets."""
    try:
        if entries[0].offset is None:  # a single file: its reader checks the object, whole
            entry = entries[0]
            kept = entry.kept_deflated and not (passthrough and passed_through(entry))
            yield entry, bundles.kept_file_chunks(container, obj, entry, stream) if kept else iter(stream)
            return
        for i, part in bundles.split(stream, [e.stored_size for e in entries]):
            entry = entries[i]
            if not passthrough:
                yield entry, bundles.member_chunks(container, obj, entry, part)
            elif entry.deflated is None or passed_through(entry):
                yield entry, part  # the bundle's check vouches for it, at the bundle's end
            else:  # compressed before CRC-32s were recorded: the zip needs the file
                yield entry, bundles.inflate(part, entry.size)
    except ValueError as exc:
        raise errors.IntegrityError(f"download not verified: {exc}", container=container, obj=obj) from exc
    finally:
        stream.stop.set()

