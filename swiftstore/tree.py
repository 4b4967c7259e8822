"""Directory trees under a prefix, stored as versions that readers see whole or not at all.

Put: (1) upload every file of the tree concurrently, each verified, under names that belong to a
new version only (``input.v/<version>/f/<relpath>``, SLO segments beside them in the same
container); (2) write the manifest ``input.manifest.json`` in one PUT: from that instant readers
get the new version; (3) delete the versions retired longer ago than the store's ``retire_grace``
(replaced versions stay readable that long, and the previous one until the next put, so a reader
that started on one can finish), and leftovers of dead writers older than ``orphan_grace``.
Nothing outside the prefix's own names in the key's own container is ever listed for deletion.

A put that dies before (2) changes nothing a reader sees: the previous manifest still names the
previous, complete version.

Get: read the manifest once, then fetch exactly the objects it names, each pinned to the ETag the
manifest recorded (``If-Match``) and verified against its size and MD5, into a hidden sibling of
the destination moved into place at the end.  If the version is retired and deleted meanwhile
(two newer puts), the get starts over on the new version, or fails clearly; it never mixes two.
"""
from __future__ import annotations

import datetime
import functools
import itertools
import logging
import os
from pathlib import Path

from swiftstore import bundles, errors, localfs, names, ranged, transfer, uploads
from swiftstore.manifest import Manifest, ManifestEntry, Retired

log = logging.getLogger("swiftstore")

GET_ATTEMPTS = 3  # a get that loses its version this often is racing a writer in a loop
EXPIRY_MARGIN = 3600  # with a retention, data expires this long after its manifest


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


def scan(local_dir: Path) -> list[tuple[str, str, int]]:
    """``(relative POSIX path, path, size)`` of the regular files under ``local_dir``, sorted.

    Symbolic links are not followed (they could point anywhere) and are skipped with a warning,
    as are sockets and FIFOs; empty directories cannot be represented and are not stored.
    """
    found = []
    for root, dirs, files in os.walk(local_dir):
        dirs.sort()
        for entry in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, entry)
            if os.path.islink(path) or not os.path.isfile(path):
                log.warning("not uploading %s: not a regular file", path)
                continue
            found.append((Path(path).relative_to(local_dir).as_posix(), path, os.path.getsize(path)))
    return found


def upload_item(container: str, prefix: str, version: str, rel: str, path: str, size: int) -> uploads.FileUpload:
    """The upload of one file of a version as an object of its own (segments beside it).

    :raises errors.InvalidName: the names would be too long for Swift.
    """
    name = names.validate_object_name(names.version_object(prefix, version, rel), container)
    segments = names.version_segments(prefix, version, rel)
    names.validate_object_name(names.segment_name(segments, 0), container)
    return uploads.FileUpload(path, name, size, segments=segments)


def switch(store, container: str, prefix: str, version: str, entries, owned, now: int,
           data_expiry: dict) -> tuple[Manifest, list[str]]:
    """Write the manifest that makes ``version`` current; ``(it, the objects now due for deletion)``.

    :param data_expiry: the expiry headers the version's objects were written with.
    """
    previous = _previous(store, container, prefix)
    retired, doomed = _retire(previous, now, store.retire_grace)
    manifest = Manifest.build(prefix, entries, version=version, objects=owned, retired=retired)
    # The manifest expires first (if at all): a reader finds no version, never half of one.
    expiry = {k: str(int(v) - EXPIRY_MARGIN) for k, v in data_expiry.items()}
    store.put_bytes(container, names.manifest_name(prefix), manifest.to_json().encode(),
                    content_type="application/json", headers=expiry)
    return manifest, doomed


def _retire(previous: Manifest | None, now: int, grace: float) -> tuple[list[Retired], list[str]]:
    """``(versions still kept readable, objects to delete)`` once ``previous`` is replaced: the
    previous version always stays, older ones only while retired for less than ``grace`` seconds."""
    if previous is None:
        return [], []
    kept = [Retired(previous.version, now, previous.owned())]
    doomed: list[str] = []
    for r in previous.retired:
        if now - r.at < grace:
            kept.append(r)
        else:
            doomed.extend(r.objects)
    return kept, doomed


def _previous(store, container: str, prefix: str) -> Manifest | None:
    """The manifest being replaced; an unreadable one is replaced but never trusted for deletes."""
    try:
        return read_manifest(store, container, prefix)
    except errors.IntegrityError as exc:
        log.warning("replacing an invalid manifest of %s/%s (its objects are left to the orphan sweep): %s",
                    container, prefix, exc)
        return None


def list_versions(store, container: str, prefix: str) -> list[str] | None:
    """The objects under the prefix's versions now, or None if listing fails (no sweep then)."""
    try:
        return store.object_names(container, names.versions_prefix(prefix))
    except errors.SwiftStoreError as exc:
        log.warning("cannot list the stored versions of %s/%s: %s", container, prefix, exc)
        return None


def remove_old(store, container: str, prefix: str, current: Manifest, doomed: list[str],
                stored: list[str] | None) -> None:
    """Delete the retired versions whose time is up, and dead writers' leftovers.

    The new version is already current, so a failure here is only logged: what stays behind is
    invisible to readers and swept by a later put.
    """
    keep = set(current.owned()).union(*(r.objects for r in current.retired))
    doomed = [o for o in doomed if o not in keep]
    doomed += orphans(prefix, stored or (), keep | set(doomed), store.orphan_grace)
    try:
        store.delete_objects(container, doomed)
    except errors.SwiftStoreError as exc:
        log.warning("put to %s/%s is complete, but old objects remain: %s", container, prefix, exc)


def orphans(prefix: str, stored, keep: set[str], grace: float, now: datetime.datetime | None = None) -> list[str]:
    """Objects under the prefix's versions that no manifest names and whose version is older than
    ``grace`` seconds (younger ones may be a live writer's upload in progress)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    out = []
    for obj in stored:
        version = names.version_of(prefix, obj)
        created = names.version_created(version) if version else None
        if obj not in keep and created is not None and (now - created).total_seconds() > grace:
            out.append(obj)
    return out


def _to_fetch(store, container: str, prefix: str, manifest: Manifest | None, force: bool) -> Manifest:
    """The manifest to read; without one, only ``force`` reads the objects listed under the prefix
    itself (e.g. uploaded with the ``swift`` CLI), each as it is."""
    if manifest is not None:
        return manifest
    if not force:
        raise errors.IncompleteError(
            f"no manifest {names.manifest_name(prefix)}: the tree is incomplete (still being written, or "
            "its writer failed); refusing to read it", container=container, obj=prefix)
    log.warning("%s/%s has no manifest: taking every object under it as it is (force)", container, prefix)
    listing = store.list(container, prefix)  # NotFound: no such container
    return Manifest.build(prefix, [ManifestEntry(o.name[len(prefix):], o.size, "") for o in listing])


def get_tree(store, container: str, prefix: str, dest_dir, *, force: bool = False, replace: bool = False,
             progress=None) -> Manifest:
    """Download the current version of the tree under ``prefix`` into ``dest_dir``, all or nothing.

    :param force: read a prefix that has no manifest: take the objects listed under it as they are.
    :param replace: replace a non-empty ``dest_dir`` (otherwise that is an error).
    :raises errors.IncompleteError: no manifest (unless ``force``).
    :raises errors.IntegrityError: a download does not match the manifest or its ETag;
        ``dest_dir`` is then left as it was.
    :raises errors.VersionGone: newer versions replaced the tree faster than it could be read.
    :raises errors.DestinationExists: ``dest_dir`` is not empty and ``replace`` is false.
    """
    names.validate_container_name(container)
    prefix = names.normalize_prefix(prefix)
    localfs.check_destination(Path(dest_dir).absolute(), replace=replace)
    for attempt in range(1, GET_ATTEMPTS + 1):
        manifest = _to_fetch(store, container, prefix, read_manifest(store, container, prefix), force)
        try:
            _get_version(store, container, manifest, dest_dir, replace, progress)
            return manifest
        except (errors.VersionGone, errors.NotFound) as exc:
            if not _replaced(store, container, manifest):
                raise errors.IntegrityError(f"an object of the current version is missing or changed: {exc}",
                                            container=container, obj=prefix) from exc
            log.info("get %s/%s: version %s was replaced while reading (attempt %d): reading the new one",
                     container, prefix, manifest.version, attempt)
    raise errors.VersionGone(f"replaced {GET_ATTEMPTS} times while being read", container=container, obj=prefix)


def _replaced(store, container: str, manifest: Manifest) -> bool:
    if not manifest.version:
        return False
    now = _previous(store, container, manifest.prefix)
    return now is not None and now.version != manifest.version


def _get_version(store, container: str, manifest: Manifest, dest_dir, replace: bool, progress) -> None:
    entries = manifest.entries
    counter = uploads.Progress(progress, len(entries), manifest.total_bytes)
    log.info("get %s/%s: version %s, %d files, %d bytes into %s", container, manifest.prefix,
             manifest.version or "(unversioned)", counter.files_total, counter.bytes_total, dest_dir)
    with localfs.staging_dir(Path(dest_dir), replace=replace) as tmp:
        paths = dict(zip(entries, localfs.prepare_paths(tmp, [e.name for e in entries])))
        groups, singles = units(manifest)
        tasks = [functools.partial(_fetch_bundle, store, container, g, paths, counter) for g in groups]
        tasks += [functools.partial(_fetch, store, container, manifest, e, paths[e], counter) for e in singles]
        uploads.run(store.pool, tasks)
    if not entries and progress:
        progress(0, 0, 0, 0)


def pin(manifest: Manifest, entry: ManifestEntry) -> str | None:
    """The ``If-Match`` value that pins ``entry``'s object to this version: a bundle's recorded
    ETag, a plain object's MD5 (its ETag).  (Format 1 did not record which files were SLOs: its
    objects are checked by their MD5 after the read instead.)"""
    if entry.etag:
        return entry.etag
    return entry.md5 if manifest.version and entry.md5 else None


def units(manifest: Manifest) -> tuple[list[list[ManifestEntry]], list[ManifestEntry]]:
    """``(bundles, single files)``: each bundle's entries in offset order, checked to tile it.

    :raises errors.IntegrityError: a bundle's entries leave gaps or overlap (a bad manifest).
    """
    grouped: dict[str, list[ManifestEntry]] = {}
    singles = []
    for e in manifest.entries:
        if e.offset is None:
            singles.append(e)
        else:
            grouped.setdefault(e.object, []).append(e)
    out = []
    for obj, members in grouped.items():
        members.sort(key=lambda e: (e.offset, e.stored_size > 0))  # an empty file and the next share an offset
        starts = list(itertools.accumulate((m.stored_size for m in members[:-1]), initial=0))
        if [e.offset for e in members] != starts or len({e.etag for e in members}) != 1:
            raise errors.IntegrityError(f"invalid manifest: the entries of bundle {obj} do not tile it",
                                        obj=names.manifest_name(manifest.prefix))
        out.append(members)
    return out, singles


def _fetch_bundle(store, container: str, members: list[ManifestEntry], paths: dict, counter: uploads.Progress) -> None:
    """GET one bundle (pinned to its recorded ETag) and cut it into its files, each checked
    against its manifest MD5 (they tile the bundle, so every byte is checked once)."""
    obj, etag = members[0].object, members[0].etag
    _, body = transfer.open_object(store.connection(), container, obj, if_match=etag)
    try:
        parts = bundles.split(transfer.body_chunks(body, container, obj, transfer.NO_DIGEST),
                              [e.stored_size for e in members])
        for i, part in parts:
            _write_file(paths[members[i]], bundles.member_chunks(container, obj, members[i], part), counter)
    except ValueError as exc:
        raise errors.IntegrityError(f"download not verified: {exc}", container=container, obj=obj) from exc
    finally:
        body.close()


def _write_file(path: Path, chunks, counter: uploads.Progress) -> None:
    """Write a checked file's ``chunks`` into the new file ``path`` (a failure leaves it to the
    staging directory's removal), counting them."""
    with open(path, "xb") as out:
        for chunk in chunks:
            out.write(chunk)
            if counter.on_bytes:
                counter.on_bytes(len(chunk))
    counter.file_done()


def _fetch(store, container: str, manifest: Manifest, entry: ManifestEntry, path: Path,
           counter: uploads.Progress) -> None:
    if entry.kept_deflated:  # inflated as it comes: one stream, not windows written at offsets
        _write_file(path, store.iter_entry(container, manifest, entry, transfer.CHUNK), counter)
        return
    if manifest.version and ranged.worthwhile(entry.segments, entry.segment_size):
        ranged.download(store, container, manifest.object_of(entry), str(path), size=entry.size, etag=entry.md5,
                        segment_size=entry.segment_size, on_bytes=counter.on_bytes)
        counter.file_done()
        return
    transfer.download(store.connection(), container, manifest.object_of(entry), str(path), size=entry.size,
                      md5=entry.md5 or None, on_bytes=counter.on_bytes, if_match=pin(manifest, entry),
                      segment_size=entry.segment_size)
    counter.file_done()
