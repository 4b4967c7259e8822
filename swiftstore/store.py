"""SwiftStore: domain verbs over python-swiftclient's ``Connection``.

One ``Connection`` per thread (from a factory), a thread pool shared by the store's transfers,
and swiftclient's own retry/backoff/re-authentication as the only retry policy.  Trees and
archives live in :mod:`swiftstore.tree` and :mod:`swiftstore.archive`; this module holds the
single-object verbs.
"""
from __future__ import annotations

import builtins  # the method "list" below hides the built-in in annotations
import concurrent.futures
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from swiftstore import archive, bundles, errors, localfs, names, ranged, transfer, tree, uploads, writer
from swiftstore import connection as connections
from swiftstore.manifest import Manifest

log = logging.getLogger("swiftstore")

DEFAULT_THREADS = 10  # as many as swiftclient's CLI uses for objects
# Below 1 GiB one PUT is cheapest (one MD5 pass; Swift's limit for a plain object is 5 GiB);
# above it, segments go up in parallel.
DEFAULT_SLO_THRESHOLD = 1 << 30
DEFAULT_SEGMENT_SIZE = 128 << 20
MIN_SEGMENT_SIZE = 1 << 20  # Swift's default min_segment_size for SLO
# Objects of a version that no manifest names are a dead writer's, or a live one's still
# uploading: only those older than this are swept.  Longer than any sane single put.
DEFAULT_ORPHAN_GRACE = 6 * 3600
# Replaced versions stay readable this long (the previous one always until the next put), so a
# reader that started on one finishes it, however many puts come meanwhile.
DEFAULT_RETIRE_GRACE = 600


class SwiftStore:
    """Swift containers as a store of trees, files and JSON documents.

    :param connection_factory: a callable returning a new ``swiftclient.client.Connection``;
        called once per thread that uses the store.
    :param threads: concurrent transfers.
    :param slo_threshold: files larger than this (bytes) become SLOs of ``segment_size`` segments.
    :param orphan_grace: seconds after which objects of a version that no manifest names (a dead
        writer's) are deleted by the next put of that prefix.
    :param retire_grace: seconds a replaced version stays readable (the previous one always
        stays until the next put).
    :param bundle_max_file: tree files up to this size (bytes) are packed into bundle objects
        (:mod:`swiftstore.bundles`); -1 stores every file as an object of its own.
    :param compress_small: whether tree files that are bundled are stored compressed (raw
        DEFLATE, zlib level 1) where that saves at least a tenth; a sample of each file is
        looked at first, so incompressible data costs next to nothing.
    :param compress_large: whether larger local tree files (objects of their own) are stored
        compressed where that saves at least 3% (zlib level 1, in blocks on a few threads, each
        block that looks like noise copied as it is): about half the bytes of an image for
        Swift to store and for every later reader (a pull) to read and send.
    :param retention: seconds after which what this store writes expires (Swift's
        ``X-Delete-At``, carried out by its object expirer; Swift stops serving it at once), or
        None to keep it until deleted.
    """

    def __init__(self, connection_factory: Callable[[], object], *, threads: int = DEFAULT_THREADS,
                 slo_threshold: int = DEFAULT_SLO_THRESHOLD, segment_size: int = DEFAULT_SEGMENT_SIZE,
                 archive_limits: archive.Limits | None = None, orphan_grace: float = DEFAULT_ORPHAN_GRACE,
                 bundle_max_file: int = bundles.MAX_FILE, retention: float | None = None,
                 retire_grace: float = DEFAULT_RETIRE_GRACE, compress_small: bool = True,
                 compress_large: bool = True):
        if threads < 1 or segment_size < MIN_SEGMENT_SIZE or slo_threshold < segment_size or orphan_grace < 0 \
                or retire_grace < 0 or (retention is not None and retention <= 0):
            raise ValueError("need threads >= 1, 1 MiB <= segment_size <= slo_threshold, orphan_grace >= 0, "
                             "retire_grace >= 0 and a positive retention")
        for name, flag in (("compress_small", compress_small), ("compress_large", compress_large)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be True or False, not {flag!r}")
        self._factory = connection_factory
        self.threads, self.slo_threshold, self.segment_size = threads, slo_threshold, segment_size
        self.orphan_grace, self.bundle_max_file, self.retention = orphan_grace, bundle_max_file, retention
        self.retire_grace, self.compress_small, self.compress_large = retire_grace, compress_small, compress_large
        self.archive_limits = archive_limits or archive.Limits()
        self._local = threading.local()
        self._connections: list = []
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._range_pool: concurrent.futures.ThreadPoolExecutor | None = None

    @classmethod
    def from_credentials(cls, creds, *, retries: int = 5, timeout: float = 120.0, starting_backoff: float = 1.0,
                         max_backoff: float = 32.0, **options) -> "SwiftStore":
        """A store connecting with :class:`swiftstore.SwiftCredentials`.

        :param retries: swiftclient's retries per request (with exponential backoff from
            ``starting_backoff`` up to ``max_backoff`` seconds); a 401 re-authenticates once.
        :param timeout: socket timeout of each request, in seconds.
        """
        make = connections.factory(creds, retries=retries, timeout=timeout, starting_backoff=starting_backoff,
                                   max_backoff=max_backoff)
        return cls(make, **options)

    # -- plumbing -------------------------------------------------------------------------------

    def connection(self):
        """This thread's ``Connection`` (created on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._factory()
            with self._lock:
                self._connections.append(conn)
        return conn

    @property
    def pool(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="swiftstore")
            return self._pool

    @property
    def range_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """The threads that read windows of one large SLO (see :mod:`swiftstore.ranged`): apart
        from :attr:`pool`, whose tasks wait for them."""
        with self._lock:
            if self._range_pool is None:
                self._range_pool = concurrent.futures.ThreadPoolExecutor(ranged.WINDOWS,
                                                                         thread_name_prefix="swiftstore-range")
            return self._range_pool

    def close(self) -> None:
        """Stop the pools and close every connection."""
        with self._lock:
            pools, self._pool, self._range_pool = (self._pool, self._range_pool), None, None
            conns, self._connections = self._connections, []
        for pool in pools:
            if pool:
                pool.shutdown(wait=True)
        for conn in conns:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, action: str, method: str, container: str, obj: str | None = None, *args, **kwargs):
        """``Connection.<method>`` with failures translated (swiftclient has already retried)."""
        try:
            return getattr(self.connection(), method)(container, *(() if obj is None else (obj,)), *args, **kwargs)
        except transfer.CLIENT_ERRORS as exc:
            raise errors.translate(exc, action, container=container, obj=obj) from exc

    def expiry(self, margin: float = 0) -> dict:
        """The headers that make an object written now expire per :attr:`retention` (plus
        ``margin`` seconds), or {} when nothing expires."""
        if self.retention is None:
            return {}
        return {"X-Delete-At": str(int(time.time() + self.retention + margin))}

    # -- containers and listings ----------------------------------------------------------------

    def ensure_container(self, container: str) -> None:
        """Create ``container`` unless it exists.  :raises errors.InvalidName: a bad name."""
        names.validate_container_name(container)
        self._call("PUT container", "put_container", container)

    def exists(self, container: str, name: str | None = None) -> bool:
        """Whether the container exists, or an object ``name`` (or any object under the prefix ``name``) in it."""
        names.validate_container_name(container)
        try:
            if name is None:
                self._call("HEAD container", "head_container", container)
                return True
            try:
                self._call("HEAD object", "head_object", container, name)
                return True
            except errors.NotFound:
                return bool(self._call("GET container", "get_container", container, None, prefix=name, limit=1)[1])
        except errors.NotFound:
            return False

    def list(self, container: str, prefix: str = "") -> builtins.list[transfer.ObjectInfo]:
        """Every object whose name starts with ``prefix``.  :raises errors.NotFound: no such container."""
        names.validate_container_name(container)
        return [transfer.ObjectInfo(o["name"], int(o["bytes"]), o.get("hash", ""))
                for o in self._listing(container, prefix)]

    def object_names(self, container: str, prefix: str = "") -> builtins.list[str]:
        """The names of the objects under ``prefix`` (one listing).  :raises errors.NotFound: no container."""
        return [o["name"] for o in self._listing(container, prefix)]

    def _listing(self, container: str, prefix: str = "") -> builtins.list[dict]:
        return self._call("GET container", "get_container", container, None, prefix=prefix or None,
                          full_listing=True)[1]

    # -- deleting -------------------------------------------------------------------------------

    def delete(self, container: str, prefix: str | None = None) -> None:
        """Delete a prefix (its manifest first, then every version of it and any object under it),
        or with ``prefix=None`` the whole container.  Only this container is touched: SLO segments
        live beside their objects, never in another container (which could be another key's).

        :raises errors.NotFound: the container does not exist.
        """
        names.validate_container_name(container)
        if prefix is None:
            self._empty_and_drop(container)
            return
        prefix = names.normalize_prefix(prefix)
        # The manifest goes first: from then on readers see "incomplete", never a half-deleted tree.
        transfer.delete_object(self.connection(), container, names.manifest_name(prefix))
        self.delete_objects(container, self.object_names(container, names.versions_prefix(prefix))
                            + self.object_names(container, prefix))

    def _empty_and_drop(self, container: str) -> None:
        for attempt in (1, 2):
            self.delete_objects(container, self.object_names(container))
            try:
                self._call("DELETE container", "delete_container", container)
                return
            except errors.TransferError as exc:
                # 409: a listing that lagged behind a write (Swift's container updates can be
                # asynchronous); what it missed is listed and deleted once more.
                if exc.http_status != 409 or attempt == 2:
                    raise

    def delete_objects(self, container: str, objects: builtins.list[str]) -> None:
        """Delete ``objects`` concurrently (missing ones are fine)."""
        tasks = [lambda n=n: transfer.delete_object(self.connection(), container, n) for n in objects]
        uploads.run(self.pool, tasks)

    # -- single objects -------------------------------------------------------------------------

    def put_bytes(self, container: str, name: str, data: bytes, *, content_type: str | None = None,
                  headers: dict | None = None) -> str:
        """PUT a small in-memory object (expiring per :attr:`retention` unless ``headers`` say
        otherwise), verified by its ETag.  :returns: its MD5."""
        names.validate_object_name(name, container)
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        etag = self._call("PUT object", "put_object", container, name, data, content_length=len(data),
                          content_type=content_type, headers=self.expiry() if headers is None else headers)
        if (etag or "").strip('"') != md5:
            transfer.delete_object(self.connection(), container, name)
            raise errors.IntegrityError(f"upload not verified: ETag {etag!r}, MD5 {md5}", container=container, obj=name)
        return md5

    def put_json(self, container: str, name: str, obj) -> None:
        """Store ``obj`` as a small JSON object (UTF-8)."""
        names.validate_container_name(container)
        self.put_bytes(container, name, json.dumps(obj, ensure_ascii=False).encode(), content_type="application/json")

    def get_json(self, container: str, name: str):
        """:raises errors.NotFound: no such object.  :raises errors.IntegrityError: not JSON / ETag mismatch."""
        data = b"".join(self.iter_object(container, name))
        try:
            return json.loads(data)
        except ValueError as exc:
            raise errors.IntegrityError(f"not JSON: {exc}", container=container, obj=name) from exc

    def iter_object(self, container: str, name: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """Stream an object; after the last chunk its MD5 is checked against the ETag (or, for an
        SLO, our metadata) and a mismatch raises :class:`errors.IntegrityError`."""
        names.validate_container_name(container)
        return self._iter(container, name, chunk_size)

    def open_object(self, container: str, name: str, chunk_size: int = 1 << 16, *,
                    if_match: str | None = None) -> tuple[dict, transfer.Body]:
        """GET an object as ``(headers, chunks)``, unverified: for readers that verify what they
        consume themselves (:mod:`swiftstore.reading`).  Close the chunks when done."""
        names.validate_container_name(container)
        return transfer.open_object(self.connection(), container, name, chunk_size, if_match=if_match)

    def iter_entry(self, container: str, manifest: Manifest, entry, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """Stream one file of a stored version (a :class:`ManifestEntry` of ``manifest``), pinned
        to that version and checked against the manifest's size and MD5 after the last chunk.

        :raises errors.VersionGone: the version was replaced and its objects deleted meanwhile.
        :raises errors.IntegrityError: the bytes are not the ones the manifest recorded.
        """
        names.validate_container_name(container)
        if entry.offset is None:
            obj = manifest.object_of(entry)
            raw = self._iter(container, obj, chunk_size, tree.pin(manifest, entry), size=entry.stored_size,
                             md5=entry.md5 or None, segment_size=entry.segment_size)
            return bundles.kept_file_chunks(container, obj, entry, raw) if entry.kept_deflated else raw
        # A bundled file: only its bytes, by a ranged GET of the bundle (pinned all the same).
        if not entry.stored_size:
            return iter(())
        raw = self._iter(container, entry.object, chunk_size, entry.etag, size=entry.stored_size,
                         byte_range=(entry.offset, entry.offset + entry.stored_size - 1))
        return bundles.member_chunks(container, entry.object, entry, raw)

    def _iter(self, container: str, name: str, chunk_size: int, if_match: str | None = None, *,
              size: int | None = None, md5: str | None = None, segment_size: int = 0,
              byte_range: tuple[int, int] | None = None) -> Iterator[bytes]:
        headers, body = transfer.open_object(self.connection(), container, name, chunk_size, if_match=if_match,
                                             byte_range=byte_range)
        if byte_range:  # the headers speak of the whole object: the caller's size and MD5 decide
            headers = {}
        digest, n = transfer.digest_for(headers, segment_size), 0
        try:
            for chunk in body:
                digest.update(chunk)
                n += len(chunk)
                yield chunk
        except transfer.CLIENT_ERRORS as exc:
            raise errors.translate(exc, "GET object body", container=container, obj=name) from exc
        finally:
            body.close()
        transfer.check_download(container, name, headers, n, digest, size, md5)

    def put_file(self, container: str, name: str, path: str | os.PathLike, *,
                 content_type: str | None = None) -> transfer.ObjectInfo:
        """Upload one file as object ``name`` (an SLO above the threshold), verified.

        Replacing an SLO deletes the segments the replaced one named, once the new object is in
        place (so a reader sees the old object or the new one, and nothing else is touched).

        :raises errors.IntegrityError: Swift's ETag does not match what was sent.
        """
        names.validate_container_name(container)
        names.validate_object_name(name, container)
        path = os.fspath(path)
        upload_id = names.new_version_id()
        item = uploads.FileUpload(path, name, os.path.getsize(path), content_type,
                                  segments=names.object_segments(name, upload_id))
        names.validate_object_name(names.segment_name(item.segments, 0), container)
        old = self._slo_segments(container, name)
        result: dict = {}
        progress = uploads.Progress(None, 1, item.size)
        uploads.run(self.pool, uploads.plan(self, container, [item], progress,
                                            lambda it, stored: result.update(stored=stored), self.expiry()))
        self._drop(container, [s for s in old if s not in result["stored"].segments])
        return transfer.ObjectInfo(name, item.size, result["stored"].md5)

    def _slo_segments(self, container: str, name: str) -> builtins.list[str]:
        """The segments an existing SLO ``name`` names in this container under its own
        ``<name>.slo/`` (anything else it might name is not ours to delete); [] if it is not one."""
        try:
            headers = self._call("HEAD object", "head_object", container, name)
            if str(headers.get("x-static-large-object", "")).lower() != "true":
                return []
            _, body = self._call("GET SLO manifest", "get_object", container, name,
                                 query_string="multipart-manifest=get")
            listed = [str(s.get("name", "")) for s in json.loads(body)]
        except errors.NotFound:
            return []
        except (errors.SwiftStoreError, ValueError, AttributeError) as exc:
            log.warning("cannot read the segments of %s/%s (they stay): %s", container, name, exc)
            return []
        mine = f"/{container}/{name}{names.SLO_SUFFIX}/"
        return [s[len(f"/{container}/"):] for s in listed if s.startswith(mine)]

    def _drop(self, container: str, objects: builtins.list[str]) -> None:
        try:
            self.delete_objects(container, objects)
        except errors.SwiftStoreError as exc:  # the new object is fine: just leftovers
            log.warning("could not remove old segments in %s: %s", container, exc)

    def get_file(self, container: str, name: str, dest_path: str | os.PathLike) -> transfer.ObjectInfo:
        """Download one object to ``dest_path`` (via a hidden temp file, renamed once verified)."""
        names.validate_container_name(container)
        dest = Path(dest_path).absolute()
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = localfs.hidden_sibling(dest)
        info = transfer.download(self.connection(), container, name, str(tmp))
        os.replace(tmp, dest)
        return info

    # -- trees, manifests and archives ----------------------------------------------------------

    def read_manifest(self, container: str, prefix: str) -> Manifest | None:
        """The manifest of ``prefix``, or None if there is none (or no container).

        :raises errors.IntegrityError: the manifest exists but is invalid.
        """
        return tree.read_manifest(self, container, prefix)

    def put_tree(self, container: str, prefix: str, local_dir, *, progress=None,
                 compress: bool | None = None) -> Manifest:
        """See :func:`swiftstore.writer.put_tree`."""
        return writer.put_tree(self, container, prefix, local_dir, progress=progress, compress=compress)

    def tree_writer(self, container: str, prefix: str, **options) -> "writer.TreeWriter":
        """A :class:`swiftstore.writer.TreeWriter`: a new version of ``prefix``, file by file."""
        return writer.TreeWriter(self, container, prefix, **options)

    def get_tree(self, container: str, prefix: str, dest_dir, *, force: bool = False, replace: bool = False,
                 progress=None) -> Manifest:
        """See :func:`swiftstore.tree.get_tree`."""
        return tree.get_tree(self, container, prefix, dest_dir, force=force, replace=replace, progress=progress)

    def put_archive(self, container: str, prefix: str, local_dir) -> transfer.ObjectInfo:
        """See :func:`swiftstore.archive.put_archive`."""
        return archive.put_archive(self, container, prefix, local_dir)

    def get_archive(self, container: str, prefix: str, dest_dir, *, replace: bool = False) -> archive.Extracted:
        """See :func:`swiftstore.archive.get_archive`."""
        return archive.get_archive(self, container, prefix, dest_dir, replace=replace)
