"""Swift mode: the Swift container named by the key, used only through :mod:`swiftstore`.

* ``tree`` layout (default): a push unpacks the zip and stores the tree as a new version of
  ``input/`` (swiftstore's manifest ``input.manifest.json`` is written last and names it); a pull
  reads ``output.manifest.json`` once and streams a zip built on the fly from exactly the version
  it names, each file pinned to it and checked against the manifest's size and MD5.
* ``archive`` layout (the originals'): single zip objects ``input/data`` and ``output/data``.

swiftstore's exceptions pass through unchanged; :func:`pfioh.errors.from_swiftstore` maps them
(at the HTTP boundary, :mod:`pfioh.app`).
"""
from __future__ import annotations

import collections
import concurrent.futures
import datetime
import queue
import threading
from dataclasses import dataclass
from typing import Iterator

import swiftstore

from pfioh import errors, ziputil
from pfioh.config import PfiohConfig
from pfioh.stores import base

INPUT, OUTPUT = "input/", "output/"
MANIFEST_SUFFIX = ".manifest.json"
ARCHIVE_OBJECT = "data"
# Objects below this are fetched whole, several at once, ahead of the zip writer: a tree of
# many small files is latency-bound, not bandwidth-bound.  Memory: window x this, at most.
PREFETCH_MAX_BYTES = 1 << 20
PREFETCH_WINDOW = 16
READ_AHEAD = 8  # chunks of 1 MiB


def from_config(config: PfiohConfig) -> base.Store:
    """Connect as the credentials say; the layout picks the store class."""
    creds = swiftstore.load_credentials(config.swift_credentials)
    swift = swiftstore.SwiftStore.from_credentials(creds, threads=config.threads)
    cls = SwiftArchiveStore if config.swift_layout == "archive" else SwiftTreeStore
    return cls(config, swift)


class _SwiftBase(base.Store):
    def __init__(self, config: PfiohConfig, swift):
        super().__init__(config)
        self.swift = swift

    def check(self, key: str, *, create: bool) -> dict:
        swiftstore.validate_container_name(key)
        # The original always answered status true here: the container is made by the push.
        return {"status": True, "isfile": False, "isswiftstore": True,
                "isdir": bool(self.swift.exists(key)), "createdNewDir": False}

    def ls(self, key: str) -> dict:
        """The key's files as a reader sees them: each tree's current version (``input/<name>``),
        and plain objects; stored versions and segments are swiftstore's internals."""
        swiftstore.validate_container_name(key)
        if not self.swift.exists(key):
            raise errors.NotFound(f"no container for key {key!r}")
        d_ls = {}
        for o in self.swift.list(key):
            if o.name.endswith(MANIFEST_SUFFIX):
                manifest = self.swift.read_manifest(key, o.name[:-len(MANIFEST_SUFFIX)] + "/")
                d_ls.update({manifest.prefix + e.name: _ls_entry(key, manifest.prefix + e.name, e.size, e.md5)
                             for e in (manifest.entries if manifest else ())})
            elif not swiftstore.is_internal(o.name):
                d_ls[o.name] = _ls_entry(key, o.name, o.size, o.etag)
        return {"status": True, "msg": f"Successful listing of Swift container {key}", "d_ls": d_ls}

    def _reply(self, key: str, prefix: str, files: int, nbytes: int) -> dict:
        return {"write": {}, "status": True, "msg": "File/Directory stored in Swift",
                "postop": {"status": False, "timestamp": base.timestamp()},
                "stored": {"container": key, "prefix": prefix, "files": files, "bytes": nbytes}}


def _ls_entry(key: str, name: str, size: int, md5: str) -> dict:
    return {"type": "file", "path": f"{key}/{name}", "size": size, "etag": md5}


class SwiftTreeStore(_SwiftBase):
    kind = "swift-tree"

    def __init__(self, config: PfiohConfig, swift):
        super().__init__(config, swift)
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None
        self._readers_lock = threading.Lock()

    def push(self, key: str, upload: base.Upload, *, plugin: bool) -> dict:
        swiftstore.validate_container_name(key)
        with self.workdir() as work:
            tree, extracted = self.stage_tree(upload, work)
            with self.locks.hold(key):
                # put_tree removes the old manifest first and the previous tree's leftovers after the
                # new manifest: readers see the old tree, "incomplete", or the new tree, never a mix.
                manifest = self.swift.put_tree(key, INPUT, str(tree))
        return self._reply(key, INPUT, len(manifest.entries), manifest.total_bytes)

    def pull(self, key: str, *, plugin: bool, cleanup: bool) -> base.Pull:
        swiftstore.validate_container_name(key)
        manifest = self.swift.read_manifest(key, OUTPUT)
        if manifest is None:
            raise errors.NotFound(f"no complete output for key {key!r} (no {OUTPUT[:-1]}.manifest.json)")
        mtime = _epoch(manifest.created)
        entries = ((e.name, e.size, mtime, chunks) for e, chunks in self._fetch(key, manifest))
        return base.Pull(ziputil.stream_zip(entries), unpacked_bytes=manifest.total_bytes)

    def _fetch(self, key: str, manifest) -> Iterator[tuple[object, Iterator[bytes]]]:
        """Yield ``(entry, chunks)`` in manifest order: small objects fetched whole, several at a
        time; large ones streamed through a read-ahead, so Swift, hashing and our socket overlap."""
        pending: collections.deque = collections.deque()
        todo = iter(manifest.entries)
        try:
            while True:
                while len(pending) < PREFETCH_WINDOW:
                    entry = next(todo, None)
                    if entry is None:
                        break
                    small = entry.size <= PREFETCH_MAX_BYTES
                    pending.append((entry, self.readers.submit(self._read_small, key, manifest, entry)
                                    if small else None))
                if not pending:
                    return
                entry, future = pending.popleft()
                if future is not None:
                    yield entry, iter((future.result(),) if entry.size else ())
                else:
                    yield entry, self._read_ahead(key, manifest, entry)
        finally:
            for _, future in pending:
                if future is not None:
                    future.cancel()

    @property
    def readers(self) -> concurrent.futures.ThreadPoolExecutor:
        """Long-lived reader threads: swiftstore keeps one connection per thread, so reusing
        threads reuses connections (a pool per pull would authenticate again every time)."""
        with self._readers_lock:
            if self._readers is None:
                self._readers = concurrent.futures.ThreadPoolExecutor(
                    PREFETCH_WINDOW + self.config.threads, thread_name_prefix="pfioh-reader")
            return self._readers

    def _read_small(self, key: str, manifest, entry) -> bytes:
        return b"".join(self.swift.iter_entry(key, manifest, entry))

    def _read_ahead(self, key: str, manifest, entry) -> Iterator[bytes]:
        """Stream a large object, fetched by a reader thread up to READ_AHEAD chunks ahead."""
        chunks: queue.Queue = queue.Queue(READ_AHEAD)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    chunks.put(item, timeout=0.5)
                    return True
                except queue.Full:
                    continue
            return False

        def produce() -> None:
            source = None
            try:  # everything inside: a failure anywhere must reach the consumer, or it waits for ever
                source = self.swift.iter_entry(key, manifest, entry, chunk_size=ziputil.CHUNK)
                for chunk in source:
                    if not put(chunk):
                        return
                put(_END)
            except BaseException as e:  # handed to the consumer, which re-raises it
                put(_Failed(e))
            finally:
                if source is not None:
                    source.close()

        self.readers.submit(produce)
        try:
            while (item := chunks.get()) is not _END:
                if isinstance(item, _Failed):
                    raise item.error
                yield item
        finally:
            stop.set()


_END = object()


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def _epoch(created: str | None) -> float:
    try:
        return datetime.datetime.fromisoformat(created).timestamp()
    except (TypeError, ValueError):
        return datetime.datetime.now().timestamp()


class SwiftArchiveStore(_SwiftBase):
    kind = "swift-archive"

    def early_unpacker(self):
        return None  # the zip is stored as it is

    def push(self, key: str, upload: base.Upload, *, plugin: bool) -> dict:
        swiftstore.validate_container_name(key)
        with self.workdir() as work:
            if upload.is_zip:
                path, checked = upload.path, ziputil.verify(upload.path, self.limits)
            else:
                path, checked = work / "data.zip", ziputil.Extracted(1, upload.size)
                ziputil.zip_single_file(upload.path, upload.name, path)
            with self.locks.hold(key):
                self.swift.ensure_container(key)
                self.swift.put_file(key, INPUT + ARCHIVE_OBJECT, str(path), content_type="application/zip")
        return self._reply(key, INPUT + ARCHIVE_OBJECT, checked.files, checked.bytes)

    def pull(self, key: str, *, plugin: bool, cleanup: bool) -> base.Pull:
        swiftstore.validate_container_name(key)
        name = OUTPUT + ARCHIVE_OBJECT
        found = [o for o in self.swift.list(key, prefix=name) if o.name == name] if self.swift.exists(key) else []
        if not found:
            raise errors.NotFound(f"no {name} object for key {key!r}")
        return base.Pull(self.swift.iter_object(key, name, chunk_size=ziputil.CHUNK), length=found[0].size)
