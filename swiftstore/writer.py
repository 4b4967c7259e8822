"""Writing a new version of a tree file by file, while the files are still arriving.

:class:`TreeWriter` uploads each file as it is added (small ones packed into bundles, larger ones
one object each, SLO above the threshold) on the store's pool, under the new version's own names;
nothing of it is visible until :meth:`TreeWriter.commit` writes the manifest.  pfioh feeds it from
the zip it is still receiving, so receiving, unpacking and uploading overlap; ``put_tree`` feeds
it a local directory.  :meth:`TreeWriter.abort` deletes what was uploaded.

Local files are stored compressed where that pays (as the originals' zip stored them), so a pull
sends about half the bytes of image-like data: small ones by the upload threads, in their bundles;
larger ones by the adding thread (on a few threads of its own) into a spool file first, as the
stream's length must be known before its upload.
"""
from __future__ import annotations

import concurrent.futures
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from safearchive import inflating, packzip, probe
from swiftstore import bundles, errors, names, tree, uploads
from swiftstore.manifest import Manifest, ManifestEntry

log = logging.getLogger("swiftstore")

STREAM_BUNDLE = 8 << 20  # bundle size when the total is not known in advance
# Bytes of files handed over in memory (add_bytes) that may wait for their upload: past this,
# add_bytes blocks until uploads catch up (the caller's input is then held back, not buffered).
# pfioh's push of 2000 image-like files (544 MB) peaked at 185-204 MB of RSS with 32 MiB, once its
# unpacking stopped hashing, and at 160 MB with 16 MiB, for 5% more time (2.2 s against 2.1 s).
MAX_PENDING_BYTES = 16 << 20
KEEP_LARGE_IF = 0.97  # a larger file's stream is stored if at most this share of the file
LOG_COMPRESSING = 256 << 20  # compressing a file this large takes seconds, without progress: say so


def put_tree(store, container: str, prefix: str, local_dir, *, progress=None, compress: bool | None = None) -> Manifest:
    """Upload the tree ``local_dir`` as a new version of ``prefix``, then make it current.

    :param prefix: e.g. ``"input/"``; the manifest is ``"input.manifest.json"``.
    :param progress: ``progress(files_done, files_total, bytes_done, bytes_total)``.
    :param compress: whether files are stored compressed where that pays; None for the store's
        ``compress_small`` (bundled files) and ``compress_large`` (the others).
    :raises errors.NotFound: ``local_dir`` is not a directory.
    :raises errors.InvalidName: a path too long for Swift (nothing is uploaded).
    :raises errors.IntegrityError: an object could not be verified (the previous version stays current).
    :raises errors.TransferError: Swift failed after swiftclient's retries (the previous version stays current).
    """
    names.validate_container_name(container)
    prefix = names.normalize_prefix(prefix)
    local = Path(local_dir)
    if not local.is_dir():
        raise errors.NotFound(f"local directory {local} does not exist", container=container, obj=prefix)
    files = tree.scan(local)
    small = sum(size for _, _, size in files if size <= store.bundle_max_file)
    writer = TreeWriter(store, container, prefix, bundle_target=bundles.target_size(small, store.threads),
                        progress=progress, files_total=len(files), bytes_total=sum(f[2] for f in files),
                        compress=compress)
    for rel, path, size in files:  # every name checked before anything is uploaded
        tree.upload_item(container, prefix, writer.version, rel, path, size)
    log.info("put %s/%s: %d files, %d bytes as version %s", container, prefix, len(files), writer.counter.bytes_total,
             writer.version)
    try:
        for rel, path, size in files:
            writer.add(rel, path, size)
    except BaseException:
        writer.abort()
        raise
    return writer.commit()


class TreeWriter:
    """One new version of ``prefix`` in ``container``, uploaded as files are added.

    Not thread-safe: one thread adds and commits (the uploads themselves run on the pool).

    :param bundle_target: how big a bundle grows before it is uploaded (at most
        ``bundles.MAX_PREPARED`` while compressing, which bounds what each upload thread holds).
    :param progress: ``progress(files_done, files_total, bytes_done, bytes_total)``; the totals
        are ``files_total``/``bytes_total`` when known up front, else 0.  Bytes are the files'
        own, compressed or not.
    :param compress: whether small files added with :meth:`add` are stored compressed where that
        pays (:func:`bundles.prepare`); None for the store's ``compress_small``.  False also
        keeps larger files as they are.
    :param compress_large: whether larger files added with :meth:`add` are stored compressed
        where that pays (compressed into a spool file in ``spool_dir`` first, on a few threads of
        their own, by the adding thread); None for the store's ``compress_large``.
    """

    def __init__(self, store, container: str, prefix: str, *, bundle_target: int = STREAM_BUNDLE, progress=None,
                 files_total: int = 0, bytes_total: int = 0, compress: bool | None = None,
                 compress_large: bool | None = None, spool_dir: str | None = None):
        self.store, self.container = store, names.validate_container_name(container)
        self.prefix = names.normalize_prefix(prefix)
        self.version = names.new_version_id()
        self.compress = store.compress_small if compress is None else compress
        self.compress_large = compress is not False and (store.compress_large if compress_large is None
                                                         else compress_large)
        self.spool_dir = spool_dir
        self._spools: dict[str, str] = {}  # object -> the local spool file of its stream, until uploaded
        self.bundle_target = min(bundle_target, bundles.MAX_PREPARED) if self.compress else bundle_target
        self.counter = uploads.Progress(progress, files_total, bytes_total)
        self._entries: list[ManifestEntry] = []
        self._owned: list[str] = []
        self._kept: dict[str, tuple[int, int, int]] = {}  # object -> (size, deflated, CRC-32) of a file kept deflated
        self._lock = threading.Lock()
        self._futures: list[concurrent.futures.Future] = []
        self._bundle: list[bundles.Member] = []
        self._bundle_size = 0
        self._bundles = 0
        self._expiry = store.expiry(margin=tree.EXPIRY_MARGIN)
        self._container_made = False
        self.files = self.bytes = 0
        self._pending = threading.Condition()
        self._pending_bytes = 0

    def add(self, rel: str, path: str, size: int) -> None:
        """Upload the local file ``path`` (``size`` bytes, not to change any more) as ``rel``.

        :raises errors.InvalidName: ``rel`` is unsafe or too long for Swift.
        :raises errors.SwiftStoreError: an earlier upload of this version failed already.
        """
        names.safe_relpath(rel)
        if size <= self.store.bundle_max_file:
            self._add_member(bundles.Member(rel, path, size))
            return
        self._raise_early_failure()
        kept = self._deflate(rel, path, size) if self.compress_large else None
        if kept is None:
            self._add_single(rel, path, size)
            return
        spool, stored, crc32 = kept
        self._spools[names.version_object(self.prefix, self.version, rel)] = spool
        self._add_single(rel, spool, size, (stored, crc32))

    def _deflate(self, rel: str, path: str, size: int) -> tuple[str, int, int] | None:
        """``(spool file, its length, the file's CRC-32)`` of the file compressed, or None when
        it is not worth it (noise, or less than ``KEEP_LARGE_IF`` of it saved) or the spool
        cannot be written: the file is then stored as it is (a read error recurs there).

        Progress counts the file's bytes as they are compressed (the long part); the stream's
        upload then counts nothing more."""
        spool, counted = "", 0

        def progress(n: int, _files: int) -> None:
            nonlocal counted
            counted += n
            self.counter.add_bytes(n)
        try:
            if not probe.looks_compressible(probe.sample(path, size)):
                return None  # noise (compressed pixels, say): known from 1 KiB, as deflate_file would
            if size >= LOG_COMPRESSING:
                log.info("compressing %s (%d bytes) before its upload", rel, size)
            fd, spool = tempfile.mkstemp(prefix=".swiftstore-deflate-", dir=self.spool_dir)
            with os.fdopen(fd, "wb") as out:
                crc32 = packzip.deflate_file(path, size, out, progress=progress)
                stored = out.tell()
        except OSError as exc:
            log.warning("could not compress %s (%s): storing it as it is", rel, exc)
            crc32 = None
        if crc32 is not None and stored <= KEEP_LARGE_IF * size:
            return spool, stored, crc32
        self.counter.add_bytes(-counted)  # stored as it is: its upload counts it
        if spool:
            Path(spool).unlink(missing_ok=True)
        return None

    def add_deflated_file(self, rel: str, path: str, size: int, stored: int, crc32: int) -> None:
        """Like :meth:`add` for a file of ``size`` bytes and CRC-32 ``crc32`` held as the raw
        DEFLATE stream in the local file ``path`` (``stored`` bytes, not to change any more),
        which the caller checked inflates to it (pfioh's unzip does, as the zip arrives).  The
        stream is stored as it is, in an object of its own (an SLO if it is large enough).

        :raises ValueError: ``size`` is small enough to bundle (use :meth:`add_deflated`).
        """
        names.safe_relpath(rel)
        if size <= self.store.bundle_max_file:
            raise ValueError(f"{rel}: {size} bytes is bundled, not kept in an object of its own")
        self.counter.add_bytes(size)  # its upload counts nothing (see _deflate)
        self._add_single(rel, path, size, (stored, crc32))

    def _add_single(self, rel: str, path: str, size: int, kept: tuple[int, int] | None = None) -> None:
        """Upload ``path`` as ``rel``'s object; ``kept``: ``(stored, crc32)`` of a file kept deflated."""
        item = self._single(rel, path, size, None if kept is None else kept[0])
        if kept is not None:
            self._keep(item.name, size, *kept)
        self._submit(uploads.plan(self.store, self.container, [item], self._single_counter(kept is not None),
                                  self._stored, self._expiry, self._segment_stored))

    def _single(self, rel: str, path: str, size: int, deflated: int | None) -> uploads.FileUpload:
        """The upload of ``rel`` as an object of its own (``deflated``: the length of its stream)."""
        self._raise_early_failure()
        self._ensure_container()
        self.files, self.bytes = self.files + 1, self.bytes + size
        length = size if deflated is None else deflated
        return tree.upload_item(self.container, self.prefix, self.version, rel, path, length)

    def _keep(self, name: str, size: int, deflated: int, crc32: int) -> None:
        """Object ``name`` holds a file of ``size`` bytes and CRC-32 ``crc32`` as a DEFLATE stream
        of ``deflated`` bytes (what its manifest entry will say once it is stored)."""
        self._kept[name] = (size, deflated, crc32)

    def _single_counter(self, kept: bool) -> uploads.Progress:
        # A kept file's bytes are counted as its stream is made (or once it is complete): its
        # upload counts none.
        return uploads.Progress(None, 0, 0) if kept else self.counter

    def begin_file(self, rel: str, path: str, size: int, *, deflated: int | None = None) -> "GrowingFile | None":
        """Start uploading ``rel`` from the local file ``path`` while it is still being written
        (pfioh's unzip writes it as the zip arrives): ``size`` bytes of file, held in ``path`` as
        they are, or as a raw DEFLATE stream of ``deflated`` bytes.  Each SLO segment goes up
        once the caller reports the file holds it (:meth:`GrowingFile.grown`); the file is
        recorded only by :meth:`GrowingFile.finish`, once it is complete and checked.

        :returns: None when it would not make two segments: then add it once written
            (:meth:`add`, :meth:`add_deflated_file`).
        """
        names.safe_relpath(rel)
        if size <= self.store.bundle_max_file or (size if deflated is None else deflated) <= self.store.segment_size:
            return None
        item = self._single(rel, path, size, deflated)
        upload = uploads.GrowingUpload(self.store, self.container, item, self._single_counter(deflated is not None),
                                       self._stored, lambda task: self._submit([task]), self._expiry,
                                       self._segment_stored)
        return GrowingFile(self, item.name, size, deflated, upload)

    def _ensure_container(self) -> None:
        if not self._container_made:
            self.store.ensure_container(self.container)
            self._container_made = True

    @property
    def bundle_max_file(self) -> int:
        """Files up to this size are bundled (and may be handed over with :meth:`add_bytes`)."""
        return self.store.bundle_max_file

    def add_bytes(self, rel: str, data: bytes, *, deflated: bytes | None = None, crc32: int | None = None) -> None:
        """Like :meth:`add` for a small file held in memory (it is bundled without touching the
        disk).  Blocks while more than ``MAX_PENDING_BYTES`` of such files await their upload.

        :param deflated: a raw DEFLATE stream that inflates to exactly ``data`` (the caller
            checked that, e.g. by inflating it): the bundle then keeps it instead of ``data``,
            if it is smaller.
        :param crc32: ``data``'s CRC-32 if the caller has it already (pfioh's unzip checked it
            against the zip's); else it is computed here when needed.
        :raises ValueError: ``data`` is too large to bundle (use :meth:`add` with a file).
        """
        if deflated is not None and len(deflated) < len(data):
            self.add_deflated(rel, len(data), deflated, inflating.crc32(data) if crc32 is None else crc32)
            return
        self._add_in_memory(bundles.Member(rel, "", len(data), bytes(data)))

    def add_deflated(self, rel: str, size: int, deflated: bytes, crc32: int) -> None:
        """Like :meth:`add_bytes` for a file of ``size`` bytes held only as its raw DEFLATE stream
        ``deflated``, whose CRC-32 the caller checked by inflating it (pfioh's unzip does that on
        threads of its own); the bundle keeps the stream, and readers check the file by its
        size and CRC-32.

        :raises ValueError: ``size`` is too large to bundle.
        """
        self._add_in_memory(bundles.Member(rel, "", size, bytes(deflated), deflated=True, crc32=crc32))

    def _add_in_memory(self, member: bundles.Member) -> None:
        if member.size > self.store.bundle_max_file:
            raise ValueError(f"{member.rel}: {member.size} bytes is too large to bundle")
        names.safe_relpath(member.rel)
        with self._pending:
            while self._pending_bytes > MAX_PENDING_BYTES:
                self._raise_early_failure()
                self._pending.wait(0.5)
            self._pending_bytes += member.stored
        self._add_member(member)

    def _add_member(self, member: bundles.Member) -> None:
        self._raise_early_failure()
        self._ensure_container()
        names.validate_object_name(names.version_object(self.prefix, self.version, member.rel), self.container)
        self.files, self.bytes = self.files + 1, self.bytes + member.size
        self._bundle.append(member)
        self._bundle_size += member.stored
        if self._bundle_size >= self.bundle_target:
            self._flush()

    def _flush(self) -> None:
        if not self._bundle:
            return
        bundle = bundles.Bundle(names.version_bundle(self.prefix, self.version, self._bundles), tuple(self._bundle))
        self._bundle, self._bundle_size, self._bundles = [], 0, self._bundles + 1
        self._submit(uploads.plan_bundles(self.store, self.container, [bundle], self.counter, self._bundled,
                                          self._expiry, compress=self.compress))

    def _submit(self, tasks) -> None:
        self._futures.extend(self.store.pool.submit(t) for t in tasks)

    def _raise_early_failure(self) -> None:
        for f in self._futures:
            exc = f.exception() if f.done() else None
            if exc is not None:
                raise exc

    def _stored(self, item: uploads.FileUpload, stored: uploads.Stored) -> None:
        rel = item.name[len(names.version_object(self.prefix, self.version, "")):]
        size, deflated, crc32 = self._kept.get(item.name, (item.size, None, None))
        if item.name in self._spools:
            Path(self._spools.pop(item.name)).unlink(missing_ok=True)
        with self._lock:
            self._entries.append(ManifestEntry(rel, size, stored.md5, item.name, len(stored.segments),
                                               stored.segment_size, deflated=deflated, crc32=crc32,
                                               object_crc32=stored.crc32))
            self._owned.append(item.name)  # its segments were, each as it was stored
        self.counter.file_done()

    def _segment_stored(self, name: str) -> None:
        with self._lock:
            self._owned.append(name)

    def _bundled(self, bundle: bundles.Bundle, etag: str, md5s: list[str], crc32: int) -> None:
        with self._lock:
            self._entries.extend(ManifestEntry(m.rel, m.size, md5, bundle.name, offset=offset, etag=etag,
                                               deflated=m.stored if m.deflated else None,
                                               crc32=m.crc32 if m.deflated else None, object_crc32=crc32)
                                 for m, md5, offset in zip(bundle.members, md5s, bundle.offsets()))
            self._owned.append(bundle.name)
        self._release(bundle)

    def _release(self, bundle: bundles.Bundle) -> None:
        # Only what was handed over in memory (add_bytes, add_deflated: no path) was counted as
        # pending: a local file the upload thread compressed holds its stream too, but never was.
        in_memory = sum(m.stored for m in bundle.members if not m.path)
        if in_memory:
            with self._pending:
                self._pending_bytes -= in_memory
                self._pending.notify_all()

    def commit(self) -> Manifest:
        """Wait for every upload, then make this version current (the manifest, written last)
        and delete what its time has come for.  On a failure everything uploaded is deleted.

        :raises errors.IntegrityError, errors.TransferError: an upload failed (nothing changed for readers).
        """
        self._flush()
        self._ensure_container()
        # Earlier versions are listed while the pool uploads (off the critical path); they can
        # only be deleted once the new manifest is in place.
        stored = tree.list_versions(self.store, self.container, self.prefix)
        self._wait()
        manifest, doomed = tree.switch(self.store, self.container, self.prefix, self.version, self._entries,
                                       self._owned, int(time.time()), self._expiry)
        if not self._entries:
            self.counter.report_empty()
        tree.remove_old(self.store, self.container, self.prefix, manifest, doomed, stored)
        return manifest

    def _wait(self) -> None:
        try:
            for future in concurrent.futures.as_completed(self._futures):
                future.result()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop: cancel what has not started, wait for the rest, delete what was uploaded."""
        for f in self._futures:
            f.cancel()
        concurrent.futures.wait(self._futures)
        for spool in self._spools.values():
            Path(spool).unlink(missing_ok=True)
        with self._lock:
            owned = list(self._owned)
        try:
            self.store.delete_objects(self.container, owned)
        except errors.SwiftStoreError as exc:  # invisible to readers; the orphan sweep gets them
            log.warning("could not delete the aborted version %s of %s/%s: %s", self.version, self.container,
                        self.prefix, exc)


class GrowingFile:
    """A file of a :class:`TreeWriter`'s version uploaded while it is still being written
    (:meth:`TreeWriter.begin_file`)."""

    def __init__(self, writer: TreeWriter, name: str, size: int, deflated: int | None, upload: uploads.GrowingUpload):
        self._writer, self._name, self._size, self._deflated, self._upload = writer, name, size, deflated, upload

    def grown(self, written: int) -> None:
        """The local file now holds its first ``written`` bytes, flushed to the OS: upload the
        segments they complete."""
        self._upload.grown(written)

    def finish(self, crc32: int | None = None) -> None:
        """The local file is complete, and checked by the caller (a kept stream: it inflates to
        the file, whose CRC-32 is ``crc32``): upload the rest, then record it."""
        if self._deflated is not None:
            if crc32 is None:
                raise ValueError("a file kept deflated is recorded with its CRC-32")
            self._writer._keep(self._name, self._size, self._deflated, crc32)
            self._writer.counter.add_bytes(self._size)
        self._upload.finish()
