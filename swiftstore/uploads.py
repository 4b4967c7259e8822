"""Turning files into pool tasks: one PUT for a small file, N segment PUTs + one SLO manifest for a
large one, plus a thread-pool runner and a progress counter.

Tasks never wait on other tasks (no nested futures, so a bounded pool cannot deadlock): the last
segment task of a large file to finish writes its SLO manifest.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from swiftstore import names, transfer

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

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes_done += n
            self._maybe_report(force=False)

    def file_done(self) -> None:
        with self._lock:
            self.files_done += 1
            self._maybe_report(force=self.files_done == self.files_total)

    def _maybe_report(self, force: bool) -> None:
        now = time.monotonic()
        if self._callback and (force or now - self._last >= self._interval):
            self._last = now
            self._callback(self.files_done, self.files_total, self.bytes_done, self.bytes_total)


@dataclass(frozen=True)
class FileUpload:
    """What to upload: the local ``path`` (``size`` bytes) as object ``name``."""

    path: str
    name: str
    size: int
    content_type: str | None = None


class _LargeUpload:
    """One SLO: segment tasks, a whole-file MD5 task, and the manifest PUT by the last to finish."""

    def __init__(self, store, container: str, item: FileUpload, upload_id: str, progress: Progress, done):
        self.store, self.container, self.item = store, container, item
        self.seg_container = names.segments_container(container)
        # Swift refuses manifests of more than 1000 segments (max_manifest_segments): grow them.
        size, step = item.size, max(store.segment_size, -(-item.size // MAX_SEGMENTS))
        self.windows = [(i, off, min(step, size - off)) for i, off in enumerate(range(0, size, step))]
        self.upload_id, self.progress, self.done = upload_id, progress, done
        self.etags: dict[int, str] = {}
        self.whole_md5: str | None = None
        self._pending = len(self.windows) + 1
        self._lock = threading.Lock()

    def tasks(self) -> list[Callable[[], None]]:
        segs = [lambda w=w: self._segment(*w) for w in self.windows]
        return segs + [self._hash_whole]

    def _segment(self, index: int, offset: int, length: int) -> None:
        seg = names.segment_name(self.item.name, self.upload_id, index)
        self.etags[index] = transfer.put_window(self.store.connection(), self.seg_container, seg, self.item.path,
                                                offset, length, on_bytes=self.progress.on_bytes)
        self._one_done()

    def _hash_whole(self) -> None:
        # The manifest lists the file's own MD5, which segment ETags cannot give (MD5 does not
        # combine), so one task re-reads the file, usually from the page cache.
        digest = hashlib.md5(usedforsecurity=False)
        with open(self.item.path, "rb") as f:
            for chunk in iter(lambda: f.read(transfer.CHUNK), b""):
                digest.update(chunk)
        self.whole_md5 = digest.hexdigest()
        self._one_done()

    def _one_done(self) -> None:
        with self._lock:
            self._pending -= 1
            last = self._pending == 0
        if last:
            segments = [{"path": f"/{self.seg_container}/{names.segment_name(self.item.name, self.upload_id, i)}",
                         "etag": self.etags[i], "size_bytes": n} for i, _, n in self.windows]
            transfer.put_slo_manifest(self.store.connection(), self.container, self.item.name, segments,
                                      self.whole_md5, content_type=self.item.content_type)
            self.done(self.item, self.whole_md5)


def plan(store, container: str, items: list[FileUpload], upload_id: str, progress: Progress,
         done: Callable[[FileUpload, str], None]) -> list[Callable[[], None]]:
    """Pool tasks that upload ``items``; ``done(item, md5)`` is called once per verified file."""
    tasks: list[Callable[[], None]] = []
    large = [i for i in items if i.size > store.slo_threshold]
    if large:
        store.ensure_container(names.segments_container(container))
    for item in items:
        if item.size > store.slo_threshold:
            tasks.extend(_LargeUpload(store, container, item, upload_id, progress, done).tasks())
        else:
            tasks.append(lambda item=item: _small(store, container, item, progress, done))
    return tasks


def _small(store, container: str, item: FileUpload, progress: Progress, done) -> None:
    md5 = transfer.put_window(store.connection(), container, item.name, item.path, 0, item.size,
                              content_type=item.content_type, on_bytes=progress.on_bytes)
    done(item, md5)


def run(pool: concurrent.futures.Executor, tasks: list[Callable[[], None]],
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
