"""Turning files into pool tasks: one PUT for a small file, N segment PUTs + one SLO manifest for a
large one, plus a thread-pool runner and a progress counter.

Tasks never wait on other tasks (no nested futures, so a bounded pool cannot deadlock): the last
segment task of a large file to finish writes its SLO manifest.
"""
from __future__ import annotations

import concurrent.futures
import functools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from safearchive import inflating
from swiftstore import bundles, errors, names, transfer

log = logging.getLogger("swiftstore")

ProgressFn = Callable[[int, int, int, int], None]
MAX_SEGMENTS = 1000


class Progress:
    """Thread-safe counters that call ``progress(files_done, files_total, bytes_done, bytes_total)``
    at most every ``interval`` seconds, and always at the end."""

    def __init__(self, callback: ProgressFn | None, files_total: int, bytes_total: int, interval: float = 0.25):
        self._callback, self._interval = callback, interval
        self._lock = threading.Lock()
        self.files_total, self.bytes_total = files_total, bytes_total
        self.files_done = self.bytes_done = 0
        self._last = 0.0

    @property
    def on_bytes(self) -> Callable[[int], None] | None:
        """Per-chunk hook for transfers, or None when nobody listens (saves a call per chunk)."""
        return self.add_bytes if self._callback else None

    def scaled(self, sent_total: int, counted_total: int) -> Callable[[int], None] | None:
        """Like :attr:`on_bytes`, for a body of ``sent_total`` bytes that stands for
        ``counted_total`` bytes of files (a bundle with compressed members): what is reported
        stays in files' bytes, reaching ``counted_total`` exactly at the body's end (and going
        back with it on a rewind), so the totals still add up."""
        if self._callback is None or sent_total == counted_total:
            return self.on_bytes
        sent = counted = 0

        def on_bytes(n: int) -> None:
            nonlocal sent, counted
            sent += n
            now = sent * counted_total // sent_total
            self.add_bytes(now - counted)
            counted = now
        return on_bytes

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes_done += n
            self._maybe_report(force=False)

    def file_done(self, n: int = 1) -> None:
        with self._lock:
            self.files_done += n
            self._maybe_report(force=self.files_done == self.files_total)

    def report_empty(self) -> None:
        """Say "nothing to do" once (a tree with no files)."""
        if self._callback:
            self._callback(0, 0, 0, 0)

    def _maybe_report(self, force: bool) -> None:
        now = time.monotonic()
        if self._callback and (force or now - self._last >= self._interval):
            self._last = now
            self._callback(self.files_done, self.files_total, self.bytes_done, self.bytes_total)


@dataclass(frozen=True)
class FileUpload:
    """What to upload: the local ``path`` (``size`` bytes) as object ``name``; if it is large
    enough to be an SLO, its segments are named ``segments + index``, in the same container."""

    path: str
    name: str
    size: int
    content_type: str | None = None
    segments: str = ""


@dataclass(frozen=True)
class Stored:
    """A verified upload: the digest readers will check (the MD5, or an SLO's ETag), the CRC-32
    of the whole object as sent, and for an SLO its segments' names and size."""

    md5: str
    crc32: int
    segments: tuple[str, ...] = ()
    segment_size: int = 0


DoneFn = Callable[[FileUpload, Stored], None]


class _LargeUpload:
    """One SLO: segment tasks, and the manifest PUT by the last to finish.

    Each byte is read and hashed once, by its segment's upload; the file is then known by the
    SLO's ETag (the MD5 of the segment MD5s), which readers check segment by segment."""

    def __init__(self, store, container: str, item: FileUpload, progress: Progress, done: DoneFn,
                 headers: dict | None = None, on_segment: Callable[[str], None] | None = None):
        if not item.segments:
            raise ValueError(f"{item.name}: a large file needs a segments prefix")
        self.store, self.container, self.item = store, container, item
        # Swift refuses manifests of more than 1000 segments (max_manifest_segments): grow them.
        size, step = item.size, max(store.segment_size, -(-item.size // MAX_SEGMENTS))
        self.windows = [(i, off, min(step, size - off)) for i, off in enumerate(range(0, size, step))]
        self.seg_names = [names.segment_name(item.segments, i) for i, _, _ in self.windows]
        self.progress, self.done, self.headers, self.on_segment = progress, done, headers, on_segment
        self.step = step
        self.etags: dict[int, str] = {}
        self.crcs: dict[int, int] = {}
        self._pending = len(self.windows)
        self._lock = threading.Lock()

    def tasks(self) -> list[Callable[[], None]]:
        return [functools.partial(self._segment, *w) for w in self.windows]

    def _segment(self, index: int, offset: int, length: int) -> None:
        self.etags[index], self.crcs[index] = transfer.put_window(
            self.store.connection(), self.container, self.seg_names[index], self.item.path, offset, length,
            on_bytes=self.progress.on_bytes, headers=self.headers)
        if self.on_segment is not None:
            self.on_segment(self.seg_names[index])
        self._one_done()

    def _one_done(self) -> None:
        with self._lock:
            self._pending -= 1
            last = self._pending == 0
        if last:
            segments = [{"path": f"/{self.container}/{self.seg_names[i]}", "etag": self.etags[i], "size_bytes": n}
                        for i, _, n in self.windows]
            etag = transfer.put_slo_manifest(self.store.connection(), self.container, self.item.name, segments,
                                             self.step, content_type=self.item.content_type, headers=self.headers)
            crc = 0  # the whole object's, from its segments' (uploaded in any order, on several threads)
            for i, _, n in self.windows:
                crc = inflating.crc32_combine(crc, self.crcs[i], n)
            self.done(self.item, Stored(etag, crc, tuple(self.seg_names), self.step))


class GrowingUpload:
    """An SLO of a local file still being written (its final ``item.size`` known): each segment
    is submitted to the pool once the file holds all of its bytes, so the upload runs while the
    rest arrives.  The last is held back until :meth:`finish`, so the SLO manifest (written by
    the last segment to finish) can only exist once the writer says the file is complete and good.

    No pool thread ever waits for the file to grow: a slow sender holds no upload thread.
    """

    def __init__(self, store, container: str, item: FileUpload, progress: Progress, done: DoneFn,
                 submit: Callable[[Callable[[], None]], None], headers: dict | None = None,
                 on_segment: Callable[[str], None] | None = None):
        large = _LargeUpload(store, container, item, progress, done, headers, on_segment)
        self._tasks, self._windows, self._submit = large.tasks(), large.windows, submit
        self._next = 0

    def grown(self, written: int) -> None:
        """The file now holds its first ``written`` bytes (flushed to the OS)."""
        while self._next < len(self._tasks) - 1:
            _, offset, length = self._windows[self._next]
            if offset + length > written:
                return
            self._submit(self._tasks[self._next])
            self._next += 1

    def finish(self) -> None:
        """The file is complete and checked: submit what is left."""
        for task in self._tasks[self._next:]:
            self._submit(task)
        self._next = len(self._tasks)


def plan(store, container: str, items: list[FileUpload], progress: Progress, done: DoneFn,
         headers: dict | None = None, on_segment: Callable[[str], None] | None = None) -> list[Callable[[], None]]:
    """Pool tasks that upload ``items``; ``done(item, Stored)`` is called once per verified file,
    ``on_segment(name)`` once per SLO segment stored (before its SLO is).
    Segments stay in ``container``: another container could be another key's."""
    tasks: list[Callable[[], None]] = []
    for item in items:
        if item.size > store.slo_threshold:
            tasks.extend(_LargeUpload(store, container, item, progress, done, headers, on_segment).tasks())
        else:
            tasks.append(functools.partial(_small, store, container, item, progress, done, headers))
    return tasks


def _small(store, container: str, item: FileUpload, progress: Progress, done, headers: dict | None) -> None:
    md5, crc32 = transfer.put_window(store.connection(), container, item.name, item.path, 0, item.size,
                                     content_type=item.content_type, on_bytes=progress.on_bytes, headers=headers)
    done(item, Stored(md5, crc32))


def plan_bundles(store, container: str, packed: list[bundles.Bundle], progress: Progress,
                 done: Callable[[bundles.Bundle, str, list[str], int], None],
                 headers: dict | None = None, compress: bool = False) -> list[Callable[[], None]]:
    """Pool tasks that upload each bundle in one verified PUT; ``done(bundle as stored, etag,
    member MD5s, the bundle's CRC-32)``.  With ``compress``, each task first compresses the bundle's local files
    where worthwhile (:func:`bundles.prepare`): on the pool's threads, not the caller's."""
    def upload(planned: bundles.Bundle) -> None:
        bundle = _prepared(planned, container) if compress else planned
        with bundles.BundleReader(bundle, progress.scaled(bundle.size, bundle.file_bytes)) as reader:
            etag = transfer.put_reader(store.connection(), container, bundle.name, reader, bundle.size,
                                       content_type="application/octet-stream", headers=headers)
            md5s, crc32 = list(reader.md5s), reader.crc32
        done(bundle, etag, md5s, crc32)
        progress.file_done(len(bundle.members))
    return [functools.partial(upload, b) for b in packed]


def _prepared(bundle: bundles.Bundle, container: str) -> bundles.Bundle:
    """:func:`bundles.prepare`, failing as the PUT does when a member cannot be read (the same
    cause, the same error, whichever of the two reads the file)."""
    try:
        return bundles.prepare(bundle)
    except OSError as exc:
        raise errors.translate(exc, "PUT object", container=container, obj=bundle.name) from exc


def run(pool: concurrent.futures.Executor, tasks: Sequence[Callable[[], None]],
        meanwhile: Callable[[], None] | None = None) -> None:
    """Run ``tasks`` on ``pool`` (and ``meanwhile()`` in this thread while they run); on the first
    failure cancel what has not started, wait for the rest (nothing keeps writing after we
    return) and raise that failure."""
    futures = []
    try:
        # Submitted inside the try: an interruption (SIGTERM, Ctrl-C) half-way through submitting
        # must also wait for the tasks already running, or they write on into a directory the
        # caller is removing.
        for task in tasks:
            futures.append(pool.submit(task))
        if meanwhile is not None:
            meanwhile()
        for future in concurrent.futures.as_completed(futures):
            future.result()
    except BaseException:
        for f in futures:
            f.cancel()
        concurrent.futures.wait(futures)
        raise
