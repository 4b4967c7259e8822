"""The originals' single-zip layout: a tree stored as one zip object ``<prefix>data``
(``input/data``, ``output/data``), entries relative to the directory, ZIP_DEFLATED.

Zips are built into and read from temporary files, never memory.  Reading an archive checks
every entry before anything is written: no absolute names, no ``..``, no symbolic links, and
limits on the total size, the number of entries and the compression ratio (zip bombs); the
actual bytes written are counted too, headers are not trusted.
"""
from __future__ import annotations

import logging
import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from swiftstore import errors, localfs, names

log = logging.getLogger("swiftstore")

OBJECT = "data"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What an archive may expand to."""

    max_bytes: int = 64 << 30
    """Total uncompressed bytes."""
    max_files: int = 1_000_000
    """Number of entries."""
    max_ratio: float = 1100.0
    """Uncompressed/compressed size of one entry.  DEFLATE tops out near 1032:1 (all zeros, a
    legitimate file), so only other methods and lying headers go beyond; max_bytes is the main guard."""


@dataclass(frozen=True)
class Extracted:
    """What an archive held: files written and their total size."""

    files: int
    bytes: int


def zip_dir(local_dir: Path, zip_path: Path) -> Extracted:
    """Zip the regular files (and empty directories) under ``local_dir``; symlinks are skipped."""
    files = total = 0
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for root, dirs, filenames in os.walk(local_dir):
            dirs.sort()
            rel_root = Path(root).relative_to(local_dir)
            if not filenames and not dirs and rel_root != Path("."):
                zf.write(root, rel_root.as_posix() + "/")
            for name in sorted(filenames):
                path = Path(root, name)
                if path.is_symlink() or not path.is_file():
                    log.warning("not archiving %s: not a regular file", path)
                    continue
                zf.write(path, (rel_root / name).as_posix())
                files, total = files + 1, total + path.stat().st_size
    return Extracted(files, total)


def check_entries(zf: zipfile.ZipFile, limits: Limits) -> list[tuple[zipfile.ZipInfo, str]]:
    """``(info, safe relative name)`` for every entry, or an error before anything is written.

    :raises errors.UnsafeArchive: an unsafe name, a symlink, a duplicate, or a limit exceeded.
    """
    checked, seen, total = [], set(), 0
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        raise errors.UnsafeArchive(f"archive has {len(infos)} entries (limit {limits.max_files})")
    for info in infos:
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise errors.UnsafeArchive(f"archive entry {info.filename!r} is a symbolic link")
        try:
            rel = names.safe_relpath(info.filename.rstrip("/") if info.is_dir() else info.filename)
        except errors.InvalidName:
            raise errors.UnsafeArchive(f"archive entry {info.filename!r} would leave the directory") from None
        if rel in seen:
            raise errors.UnsafeArchive(f"archive entry {rel!r} appears twice")
        seen.add(rel)
        total += info.file_size
        if total > limits.max_bytes:
            raise errors.UnsafeArchive(f"archive expands to more than {limits.max_bytes} bytes")
        if info.file_size > (1 << 20) and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise errors.UnsafeArchive(f"archive entry {rel!r} has a compression ratio above {limits.max_ratio:g}")
        checked.append((info, rel))
    return checked


def extract(zip_path: Path, dest: Path, limits: Limits) -> Extracted:
    """Safely extract ``zip_path`` into the existing empty directory ``dest``."""
    files = total = 0
    with zipfile.ZipFile(zip_path) as zf:
        for info, rel in check_entries(zf, limits):
            target = dest / rel
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "xb") as out:
                while chunk := src.read(CHUNK):
                    total += len(chunk)
                    if total > limits.max_bytes:
                        raise errors.UnsafeArchive(f"archive expands to more than {limits.max_bytes} bytes")
                    out.write(chunk)
            files += 1
    return Extracted(files, total)


def put_archive(store, container: str, prefix: str, local_dir) -> object:
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
            try:
                return extract(zip_tmp, tmp, store.archive_limits)
            except zipfile.BadZipFile as exc:
                raise errors.UnsafeArchive(f"not a valid zip: {exc}", container=container,
                                           obj=prefix + OBJECT) from exc
    finally:
        zip_tmp.unlink(missing_ok=True)
