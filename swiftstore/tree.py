"""Directory trees under a prefix, with a manifest that makes "complete" explicit.

Put: (1) delete the prefix's old manifest, (2) upload every file concurrently, each verified,
(3) write the new manifest, (4) delete objects and segments of the previous put that the new tree
does not have.  A put that dies before (3) leaves no manifest, so nobody consumes it.

Get: read the manifest, check it against the listing, download every entry (verified against
the manifest and the ETag) into a hidden sibling of the destination, then move it into place.
"""
from __future__ import annotations

import logging
import os
import threading
import uuid
from pathlib import Path

from swiftstore import errors, localfs, names, transfer, uploads
from swiftstore.manifest import Manifest, ManifestEntry

log = logging.getLogger("swiftstore")


def read_manifest(store, container: str, prefix: str) -> Manifest | None:
    """The manifest of ``prefix``, or None when it (or the container) does not exist.

    :raises errors.IntegrityError: the manifest object is invalid.
    """
    names.validate_container_name(container)
    name = names.manifest_name(prefix)
    try:
        data = b"".join(store.iter_object(container, name))
    except errors.NotFound:
        return None
    return Manifest.from_json(data, container=container, obj=name)


def scan(local_dir: Path, prefix: str, container: str) -> list[uploads.FileUpload]:
    """The regular files under ``local_dir`` as uploads named ``prefix + relative POSIX path``.

    Symbolic links are not followed (they could point anywhere) and are skipped with a warning,
    as are sockets and FIFOs; empty directories cannot be represented and are not stored.
    """
    items = []
    for root, dirs, files in os.walk(local_dir):
        dirs.sort()
        for entry in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, entry)
            rel = Path(path).relative_to(local_dir).as_posix()
            if os.path.islink(path) or not os.path.isfile(path):
                log.warning("not uploading %s: not a regular file", path)
                continue
            name = names.validate_object_name(prefix + rel, container)
            items.append(uploads.FileUpload(path, name, os.path.getsize(path)))
    return items


def put_tree(store, container: str, prefix: str, local_dir, *, progress=None) -> Manifest:
    """Upload the tree ``local_dir`` as objects ``prefix + relpath``, then its manifest.

    :param prefix: e.g. ``"input/"``; the manifest is ``"input.manifest.json"``.
    :param progress: ``progress(files_done, files_total, bytes_done, bytes_total)``.
    :raises errors.NotFound: ``local_dir`` is not a directory.
    :raises errors.IntegrityError: an object could not be verified (no manifest is written).
    :raises errors.TransferError: Swift failed after swiftclient's retries (no manifest is written).
    """
    names.validate_container_name(container)
    prefix = names.normalize_prefix(prefix)
    local = Path(local_dir)
    if not local.is_dir():
        raise errors.NotFound(f"local directory {local} does not exist", container=container, obj=prefix)
    items = scan(local, prefix, container)
    store.ensure_container(container)
    manifest_obj = names.manifest_name(prefix)
    # First, so an interrupted re-put can never be mistaken for complete.
    transfer.delete_object(store.connection(), container, manifest_obj)
    entries, lock, upload_id = [], threading.Lock(), uuid.uuid4().hex[:12]
    counter = uploads.Progress(progress, len(items), sum(i.size for i in items))

    def done(item: uploads.FileUpload, md5: str) -> None:
        with lock:
            entries.append(ManifestEntry(item.name[len(prefix):], item.size, md5))
        counter.file_done()

    log.info("put %s/%s: %d files, %d bytes", container, prefix, counter.files_total, counter.bytes_total)
    old: dict = {}
    # What a previous put left is listed while the pool uploads (off the critical path); it can
    # only be deleted once the new manifest is in place.
    uploads.run(store.pool, uploads.plan(store, container, items, upload_id, counter, done),
                meanwhile=lambda: old.update(_list_old(store, container, prefix)))
    manifest = Manifest.build(prefix, entries)
    store.put_bytes(container, manifest_obj, manifest.to_json().encode(), content_type="application/json")
    if not items and progress:
        progress(0, 0, 0, 0)
    _remove_stale(store, container, old, {i.name for i in items}, upload_id)
    return manifest


def _list_old(store, container: str, prefix: str) -> dict:
    """``{"objects": [...], "segments": [...]}`` under ``prefix`` now, or {} if listing fails."""
    try:
        objects = store.object_names(container, prefix)
    except errors.SwiftStoreError as exc:
        log.warning("cannot list %s/%s for old objects: %s", container, prefix, exc)
        return {}
    try:
        segments = store.object_names(names.segments_container(container), prefix)
    except errors.NotFound:
        segments = []
    except errors.SwiftStoreError as exc:
        log.warning("cannot list the segments of %s/%s: %s", container, prefix, exc)
        segments = []
    return {"objects": objects, "segments": segments}


def _remove_stale(store, container: str, old: dict, keep: set[str], upload_id: str) -> None:
    """Objects and segments of an earlier put that the new tree does not have.  The new tree is
    already complete, so a failure here is only logged."""
    stale = [n for n in old.get("objects", ()) if n not in keep]
    segments = [n for n in old.get("segments", ()) if (names.segment_upload_id(n) or ("", ""))[1] != upload_id]
    try:
        store.delete_objects(container, stale)
        store.delete_objects(names.segments_container(container), segments)
    except errors.SwiftStoreError as exc:
        log.warning("put to %s is complete, but old objects remain: %s", container, exc)


def _to_fetch(store, container: str, prefix: str, manifest: Manifest | None, force: bool) -> list[ManifestEntry]:
    """The entries to download; refuses a missing or mismatched manifest unless ``force``."""
    listing = {o.name: o for o in store.list(container, prefix)}  # NotFound: no such container
    if manifest is None:
        if not force:
            raise errors.IncompleteError(
                f"no manifest {names.manifest_name(prefix)}: the tree is incomplete (still being written, or "
                "its writer failed); refusing to read it", container=container, obj=prefix)
        log.warning("%s/%s has no manifest: taking every object as it is (force)", container, prefix)
        return [ManifestEntry(n[len(prefix):], o.size, "") for n, o in sorted(listing.items())]
    problems = []
    for e in manifest.entries:
        found = listing.get(prefix + e.name)
        if found is None:
            problems.append(f"{e.name} is missing")
        elif found.size != e.size:
            problems.append(f"{e.name} has {found.size} bytes, manifest says {e.size}")
    if problems and not force:
        raise errors.IntegrityError(f"objects do not match the manifest ({len(problems)} problems: "
                                    f"{'; '.join(problems[:3])})", container=container, obj=prefix)
    for p in problems:
        log.warning("%s/%s: %s (force)", container, prefix, p)
    # Forced: a mismatched object is taken as listed, checked only against its own ETag.
    return [e if listing[prefix + e.name].size == e.size else ManifestEntry(e.name, listing[prefix + e.name].size, "")
            for e in manifest.entries if prefix + e.name in listing]


def get_tree(store, container: str, prefix: str, dest_dir, *, force: bool = False, replace: bool = False,
             progress=None) -> Manifest:
    """Download the tree under ``prefix`` into ``dest_dir``, all or nothing.

    :param force: read a prefix without a (matching) manifest: take the objects as listed.
    :param replace: replace a non-empty ``dest_dir`` (otherwise that is an error).
    :raises errors.IncompleteError: no manifest (unless ``force``).
    :raises errors.IntegrityError: the manifest does not match the objects, or a download does
        not match the manifest or its ETag; ``dest_dir`` is then left as it was.
    :raises errors.DestinationExists: ``dest_dir`` is not empty and ``replace`` is false.
    """
    names.validate_container_name(container)
    prefix = names.normalize_prefix(prefix)
    localfs.check_destination(Path(dest_dir).absolute(), replace=replace)
    manifest = read_manifest(store, container, prefix)
    entries = _to_fetch(store, container, prefix, manifest, force)
    for e in entries:
        names.safe_relpath(e.name)
    counter = uploads.Progress(progress, len(entries), sum(e.size for e in entries))
    log.info("get %s/%s: %d files, %d bytes into %s", container, prefix, counter.files_total, counter.bytes_total,
             dest_dir)
    with localfs.staging_dir(Path(dest_dir), replace=replace) as tmp:
        paths = localfs.prepare_paths(tmp, [e.name for e in entries])
        tasks = [lambda e=e, p=p: _fetch(store, container, prefix, e, p, counter) for e, p in zip(entries, paths)]
        uploads.run(store.pool, tasks)
    if not entries and progress:
        progress(0, 0, 0, 0)
    return manifest if manifest is not None and len(entries) == len(manifest.entries) else Manifest.build(prefix, entries)


def _fetch(store, container: str, prefix: str, entry: ManifestEntry, path: Path, counter: uploads.Progress) -> None:
    transfer.download(store.connection(), container, prefix + entry.name, str(path), size=entry.size,
                      md5=entry.md5 or None, on_bytes=counter.on_bytes)
    counter.file_done()
