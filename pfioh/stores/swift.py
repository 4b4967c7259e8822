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

import dataclasses
import datetime
import threading
from typing import Iterable

import swiftstore
from swiftstore import connection as connections, names, reading

from pfioh import errors, streamzip, ziputil
from pfioh.config import PfiohConfig
from pfioh.stores import base

INPUT, OUTPUT = "input/", "output/"
MANIFEST_SUFFIX = ".manifest.json"
ARCHIVE_OBJECT = "data"
# Objects (bundles of small files, or larger files) fetched ahead of the zip writer per pull, so
# Swift, hashing and the client's socket overlap.  Memory: window x 8 MiB per pull, at most.
READ_WINDOW = 4
PROBE_TIMEOUT = 10.0  # seconds, for the readiness check's request


def from_config(config: PfiohConfig) -> base.Store:
    """Connect as the credentials say; the layout picks the store class."""
    creds = swiftstore.load_credentials(config.swift_credentials)
    retention = config.retention_days * 86400 if config.retention_days else None
    # What a client sent compressed is kept so (see streamzip); what it sent as it is stays so:
    # the client judged it (noise, most likely), and pfioh's CPU and memory are for moving data.
    swift = swiftstore.SwiftStore.from_credentials(creds, threads=config.threads, retention=retention,
                                                   compress_large=False)
    cls = SwiftArchiveStore if config.swift_layout == "archive" else SwiftTreeStore
    return cls(config, swift, probe=lambda: _head_account(creds))


def _head_account(creds) -> None:
    """An authenticated HEAD of the account on a fresh connection, without retries: a key Swift
    now refuses, or Swift down, shows at once (the service's own connections retry, and may
    hold a token that is still valid)."""
    connections.factory(creds, retries=0, timeout=PROBE_TIMEOUT)().head_account()


class _SwiftBase(base.Store):
    def __init__(self, config: PfiohConfig, swift, *, probe=None):
        """:param probe: raises when Swift refuses the credentials or fails (readiness); None:
            no check (e.g. a fake Swift in tests)."""
        super().__init__(config)
        self.swift, self.probe = swift, probe

    def ready(self) -> str | None:
        problem = super().ready()
        if problem or self.probe is None:
            return problem
        try:
            self.probe()
        except Exception as e:  # swiftclient, keystoneauth, socket errors: all mean not ready
            status = getattr(e, "http_status", None)
            what = f"HTTP {status}" if status else e.__class__.__name__
            return f"Swift refused or failed an authenticated HEAD of the account ({what}): {str(e)[:160]}"
        return None

    def check(self, key: str, *, create: bool) -> dict:
        swiftstore.validate_container_name(key)
        # The original always answered status true here: the container is made by the push.
        return {"status": True, "isfile": False, "isswiftstore": True,
                "isdir": bool(self.swift.exists(key)), "createdNewDir": False}

    def delete(self, key: str) -> None:
        """The key's whole container (its own: nothing of another key is ever in it)."""
        swiftstore.validate_container_name(key)
        try:
            self.swift.delete(key)
        except swiftstore.errors.NotFound:
            raise errors.NotFound(f"no container for key {key!r}") from None

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

    def __init__(self, config: PfiohConfig, swift, *, probe=None):
        super().__init__(config, swift, probe=probe)
        self._readers: reading.Readers | None = None
        self._readers_lock = threading.Lock()

    def make_limits(self, config: PfiohConfig) -> ziputil.Limits:
        """Each file becomes the object ``input.v/<version>/f/<name>`` (its segments
        ``input.v/<version>/s/<name>/<n>``), at most 1024 bytes: longer names are refused at push
        time, before anything is stored, instead of failing half-way through the upload."""
        limits = super().make_limits(config)
        longest = names.segment_name(names.version_segments(INPUT, names.new_version_id(), ""), 0)
        room = names.MAX_OBJECT_BYTES - len(longest.encode("utf-8"))
        return dataclasses.replace(limits, max_path_bytes=min(limits.max_path_bytes, room))

    def early_unpacker(self, key: str):
        """Unpack the arriving zip and upload each file as soon as it is out, as a new version
        of the key's input that only the push's commit makes current."""
        try:
            swiftstore.validate_container_name(key)
        except swiftstore.errors.InvalidName:
            return None  # the push reports it
        return streamzip.Extractor(self.staging, self.limits, self.swift.tree_writer(key, INPUT))

    def push(self, key: str, upload: base.Upload, *, plugin: bool) -> dict:
        swiftstore.validate_container_name(key)
        early = upload.early
        if upload.is_zip and early is not None and early.writer is not None:
            # Adopted only if the finished archive vouches for every file already uploaded.
            if streamzip.adopt(early, upload.path, self.limits) is not None:
                with self.locks.hold(key):
                    manifest = early.writer.commit()
                early.committed = True
                return self._reply(key, INPUT, len(manifest.entries), manifest.total_bytes)
            early.writer.abort()
        with self.workdir() as work:
            tree, extracted = self.stage_tree(upload, work)
            with self.locks.hold(key):
                # A new version, current once its manifest is written: readers see the old tree
                # until then and the new one after, never a mix.
                manifest = self.swift.put_tree(key, INPUT, str(tree))
        return self._reply(key, INPUT, len(manifest.entries), manifest.total_bytes)

    def pull(self, key: str, *, plugin: bool, cleanup: bool) -> base.Pull:
        swiftstore.validate_container_name(key)
        manifest = self.swift.read_manifest(key, OUTPUT)
        if manifest is None:
            raise errors.NotFound(f"no complete output for key {key!r} (no {OUTPUT[:-1]}.manifest.json)")
        mtime = _epoch(manifest.created)
        # Files Swift keeps compressed go into the zip as they are (half the bytes of an image,
        # and no inflating and deflating again); the client's unzip checks their CRC-32.
        # Its length is known before a byte is read (the manifest has every size): a Content-Length.
        length = ziputil.zip_length(_zip_entry(e, mtime) for _, group in reading.plan(manifest) for e in group)
        entries = (_zip_entry(e, mtime, chunks)
                   for e, chunks in self.readers.iter_version(key, manifest, passthrough=True))
        return base.Pull(ziputil.stream_zip(entries, length=length), length=length)

    @property
    def readers(self) -> reading.Readers:
        """Long-lived reader threads (swiftstore keeps one connection per thread, so reusing
        threads reuses connections), as many as every request thread's pull can keep busy."""
        with self._readers_lock:
            if self._readers is None:
                self._readers = reading.Readers(self.swift, streams=self.config.threads, window=READ_WINDOW)
            return self._readers


def _zip_entry(entry: swiftstore.ManifestEntry, mtime: float, chunks: Iterable[bytes] = ()) -> ziputil.Entry:
    """A pulled file as its zip member: as stored, or its DEFLATE stream passed through."""
    return ziputil.Entry(entry.name, entry.size, mtime, chunks, reading.passed_through(entry))


def _epoch(created: str | None) -> float:
    try:
        return datetime.datetime.fromisoformat(created).timestamp()
    except (TypeError, ValueError):
        return datetime.datetime.now().timestamp()


class SwiftArchiveStore(_SwiftBase):
    kind = "swift-archive"

    def early_unpacker(self, key: str):
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
