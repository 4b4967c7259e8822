"""The originals' single-zip layout: a tree stored as one zip object ``<prefix>data``
(``input/data``, ``output/data``), entries relative to the directory, ZIP_DEFLATED.

Zips are built into and read from temporary files, never memory.  The checks are
:mod:`safearchive`'s (every entry before anything is written; sizes and CRCs while data flows);
on top of them an entry name must be one this library could store as an object name
(:func:`swiftstore.names.safe_relpath`: no ``./`` or ``//`` either).  Every refusal is an
:class:`errors.UnsafeArchive`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from safearchive import entries, unzip, zipping
from safearchive import errors as archive_errors
from swiftstore import errors, localfs, names, transfer

log = logging.getLogger("swiftstore")

OBJECT = "data"

Extracted = unzip.Extracted


@dataclass(frozen=True)
class Limits(entries.Limits):
    """:class:`safearchive.entries.Limits` with swiftstore's defaults (``SwiftStore(archive_limits=...)``)."""

    max_bytes: int = 64 << 30
    """Total uncompressed bytes (64 GiB)."""
    max_ratio: float = 1100.0
    """DEFLATE tops out near 1032:1 (all zeros, a legitimate file), so only other methods and lying
    headers go beyond; max_bytes is the main guard."""


@contextlib.contextmanager
def _unsafe_archive(**where):
    """Turn :mod:`safearchive`'s refusals into :class:`errors.UnsafeArchive` (``where``: container, obj)."""
    try:
        yield
    except archive_errors.UnsafeName as e:
        raise errors.UnsafeArchive(f"archive entry {e.entry!r} would leave the directory", **where) from e
    except archive_errors.ArchiveError as e:
        raise errors.UnsafeArchive(str(e), **where) from e


def zip_dir(local_dir: Path, zip_path: Path) -> Extracted:
    """Zip the regular files (and empty directories) under ``local_dir``; symlinks are skipped."""
    members = zipping.list_members(local_dir, empty_dirs=True,
                                   on_skip=lambda path: log.warning("not archiving %s: not a regular file", path))
    return zipping.write_zip(members, zip_path)


def check_entries(zf: zipfile.ZipFile, limits: entries.Limits) -> list[entries.Entry]:
    """Every entry checked, or an error before anything is written.

    :raises errors.UnsafeArchive: an unsafe or non-canonical name, a symlink or device, a
        duplicate, or a limit exceeded.
    """
    with _unsafe_archive():
        checked = entries.check(zf, limits)
    for entry in checked:
        raw = entry.info.filename.rstrip("/") if entry.is_dir else entry.info.filename
        try:
            names.safe_relpath(raw)
        except errors.InvalidName:
            raise errors.UnsafeArchive(f"archive entry {entry.info.filename!r} would leave the directory") from None
    return checked


def extract(zip_path: Path, dest: Path, limits: entries.Limits, **where) -> Extracted:
    """Safely extract ``zip_path`` into the existing empty directory ``dest``.

    :raises errors.UnsafeArchive: not a valid zip, or refused by :func:`check_entries`.
    """
    with _unsafe_archive(**where), unzip.open_zip(zip_path) as zf:
        return unzip.extract_entries(zf, check_entries(zf, limits), dest)


def put_archive(store, container: str, prefix: str, local_dir) -> "transfer.ObjectInfo":
    """Zip ``local_dir`` through a temporary file and upload it as ``<prefix>data`` (verified).

    :returns: the :class:`swiftstore.transfer.ObjectInfo` of the zip object.
    :raises errors.NotFound: ``local_dir`` is not a directory.
    """
    names.validate_container_name(container)
    prefix = names.normalize_prefix(prefix)
    local = Path(local_dir)
    if not local.is_dir():
        raise errors.NotFound(f"local directory {local} does not exist", container=container, obj=prefix)
    fd, tmp = tempfile.mkstemp(prefix="swiftstore-", suffix=".zip")
    os.close(fd)
    try:
        zipped = zip_dir(local, Path(tmp))
        log.info("put %s/%s%s: %d files, %d bytes", container, prefix, OBJECT, zipped.files, zipped.bytes)
        store.ensure_container(container)
        return store.put_file(container, prefix + OBJECT, tmp, content_type="application/zip")
    finally:
        os.unlink(tmp)


def get_archive(store, container: str, prefix: str, dest_dir, *, replace: bool = False) -> Extracted:
    """Download ``<prefix>data`` and extract it into ``dest_dir``, all or nothing.

    :raises errors.NotFound: no such object.
    :raises errors.UnsafeArchive: an unsafe entry or a limit exceeded (nothing is left behind).
    """
    names.validate_container_name(container)
    prefix = names.normalize_prefix(prefix)
    dest = Path(dest_dir).absolute()
    localfs.check_destination(dest, replace=replace)
    dest.parent.mkdir(parents=True, exist_ok=True)
    zip_tmp = localfs.hidden_sibling(dest, "zip")
    try:
        store.get_file(container, prefix + OBJECT, zip_tmp)
        with localfs.staging_dir(dest, replace=replace) as tmp:
            return extract(zip_tmp, tmp, store.archive_limits, container=container, obj=prefix + OBJECT)
    finally:
        zip_tmp.unlink(missing_ok=True)
