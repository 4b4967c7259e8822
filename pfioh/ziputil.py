"""Safe zip handling: checked, streaming extraction with limits, and zips streamed on the fly.

Extraction never trusts the archive: every entry name is checked (no absolute paths, no ``..``,
no links or device files), the declared sizes are checked against the limits *before* anything
is written, and :mod:`zipfile` enforces those declared sizes and the CRCs while data flows.
"""
from __future__ import annotations

import os
import posixpath
import shutil
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from pfioh import errors

CHUNK = 1 << 20
MAX_ENTRIES = 1_000_000
# Ratios only matter for big archives: tiny files of zeros legitimately compress 100:1 or more.
RATIO_MIN_BYTES = 1 << 20
# A byte that never occurs in UTF-8.  pfurl treats a body that decodes as UTF-8 as text (and an
# empty zip does decode), so every zip we serve carries it in its comment to stay "binary".
BINARY_COMMENT = b"pfioh\xff"


@dataclass(frozen=True)
class Limits:
    """Limits on an uploaded archive."""

    max_unpacked: int
    max_ratio: float
    max_entries: int = MAX_ENTRIES


@dataclass(frozen=True)
class Extracted:
    files: int
    bytes: int


def check_relname(name: str) -> str:
    """The safe relative path of an entry name (``""`` for the root).

    :raises errors.UnsafeArchive: empty, NUL, backslash, absolute, or ``..``.
    """
    if not name or "\x00" in name or "\\" in name:
        raise errors.UnsafeArchive(f"unsafe zip entry {name[:120]!r}: empty, NUL or backslash in name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise errors.UnsafeArchive(f"unsafe zip entry {name[:120]!r}: absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise errors.UnsafeArchive(f"unsafe zip entry {name[:120]!r}: '..' in path")
    return "/".join(parts)


def _check_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    rel = check_relname(name)
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        kind = "symlink" if stat.S_ISLNK(mode) else "device or special file"
        raise errors.UnsafeArchive(f"unsafe zip entry {name[:120]!r}: {kind}")
    return rel


def inspect(zf: zipfile.ZipFile, archive_size: int, limits: Limits) -> list[tuple[zipfile.ZipInfo, str]]:
    """Check every entry and the limits before anything is extracted.

    :returns: ``(info, safe relative name)`` pairs (a name ending in ``/`` is a directory).
    :raises errors.UnsafeArchive: on an unsafe or duplicate entry.
    :raises errors.TooLarge: when a limit is exceeded.
    """
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise errors.TooLarge(f"zip has {len(infos)} entries, more than the limit {limits.max_entries}")
    checked, seen, total = [], set(), 0
    for info in infos:
        rel = _check_name(info)
        if not rel:
            continue
        if rel in seen:
            raise errors.UnsafeArchive(f"zip entry {rel[:120]!r} appears twice")
        seen.add(rel)
        total += info.file_size
        if info.file_size > RATIO_MIN_BYTES and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise errors.TooLarge(f"zip entry {rel[:120]!r} has a compression ratio above {limits.max_ratio:g}")
        checked.append((info, rel + "/" if info.is_dir() else rel))
    if total > limits.max_unpacked:
        raise errors.TooLarge(f"zip unpacks to {total} bytes, more than the limit {limits.max_unpacked}")
    if total > RATIO_MIN_BYTES and total > limits.max_ratio * max(archive_size, 1):
        raise errors.TooLarge(f"zip compression ratio above the limit {limits.max_ratio:g}")
    return checked


def open_checked(path: str | os.PathLike) -> zipfile.ZipFile:
    """Open an uploaded zip, turning every kind of corruption into :class:`errors.UnsafeArchive`."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise errors.UnsafeArchive(f"corrupt or truncated zip: {e}") from e


def verify(path: str | os.PathLike, limits: Limits) -> Extracted:
    """Check an archive without extracting it (names, limits, and every CRC).

    :raises errors.UnsafeArchive: corrupt/unsafe archive.  :raises errors.TooLarge: limits.
    """
    with open_checked(path) as zf:
        entries = inspect(zf, os.path.getsize(path), limits)
        nbytes = 0
        for info, rel in entries:
            if not rel.endswith("/"):
                nbytes += _copy_entry(zf, info, None)
        return Extracted(sum(1 for _, r in entries if not r.endswith("/")), nbytes)


def _copy_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out) -> int:
    n = 0
    try:
        with zf.open(info) as src:
            while chunk := src.read(CHUNK):
                n += len(chunk)
                if out is not None:
                    out.write(chunk)
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError) as e:
        # NotImplementedError: unsupported compression; RuntimeError: encrypted entry.
        raise errors.UnsafeArchive(f"corrupt zip entry {info.filename[:120]!r}: {e}") from e
    except OSError as e:
        raise errors.UnsafeArchive(f"corrupt zip entry {info.filename[:120]!r}: {e}") from e
    return n


def safe_extract(path: str | os.PathLike, dest: str | os.PathLike, limits: Limits) -> Extracted:
    """Extract ``path`` into the (existing, empty) directory ``dest``, checking everything.

    :raises errors.UnsafeArchive: corrupt/unsafe archive.  :raises errors.TooLarge: limits.
    """
    dest = Path(dest)
    files = nbytes = 0
    made: set[Path] = {dest}  # directories already created: saves syscalls on many small files
    with open_checked(path) as zf:
        for info, rel in inspect(zf, os.path.getsize(path), limits):
            target = dest / rel
            try:
                if rel.endswith("/"):
                    target.mkdir(parents=True, exist_ok=True)
                    made.add(target)
                    continue
                if target.parent not in made:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(target.parent)
                with open(target, "xb") as out:
                    nbytes += _copy_entry(zf, info, out)
                    _set_mode(out.fileno(), info)
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as e:
                raise errors.UnsafeArchive(f"zip entry {rel[:120]!r} conflicts with another entry") from e
            files += 1
    return Extracted(files, nbytes)


def _set_mode(fd: int, info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    # Keep the executable bits a Unix zip recorded, never setuid/setgid/sticky.
    if info.create_system == 3 and mode & 0o111:
        os.fchmod(fd, 0o755)


class _Sink:
    """A write-only, non-seekable buffer that a generator drains (so zipfile streams)."""

    def __init__(self):
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


Entry = tuple[str, int, float, Iterable[bytes]]
"""``(arcname, size, mtime, chunks)`` of one file to put into a streamed zip."""


def stream_zip(entries: Iterable[Entry]) -> Iterator[bytes]:
    """Yield a zip (stored, zip64 where needed) of ``entries`` chunk by chunk, in bounded memory.

    A size that does not match the data raises (the client then sees a broken transfer, never a
    silently wrong zip).
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.comment = BINARY_COMMENT
        for name, size, mtime, chunks in entries:
            info = zipfile.ZipInfo(name, time.localtime(max(mtime, 315532800))[:6])
            info.external_attr = 0o644 << 16
            info.file_size = size
            written = 0
            with zf.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as out:
                for chunk in chunks:
                    out.write(chunk)
                    written += len(chunk)
                    if data := sink.drain():
                        yield data
            if written != size:
                raise errors.StorageError(f"{name}: expected {size} bytes, read {written}")
            if data := sink.drain():
                yield data
    if data := sink.drain():
        yield data


def iter_file(path: str | os.PathLike, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Read a file chunk by chunk."""
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            yield chunk


def dir_entries(root: str | os.PathLike) -> Iterator[Entry]:
    """Every regular file under ``root`` (symlinks are not followed), sorted, as stream_zip entries."""
    root = str(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for fname in sorted(filenames):
            full = os.path.join(dirpath, fname)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                rel = posixpath.join(*Path(os.path.relpath(full, root)).parts)
                yield rel, st.st_size, st.st_mtime, iter_file(full)


def zip_single_file(src: str | os.PathLike, name: str, dest: str | os.PathLike) -> None:
    """Wrap one uploaded (non-zip) file into a zip at ``dest`` (the original's archive layout)."""
    with open(dest, "wb") as out:
        for chunk in stream_zip([(name, os.path.getsize(src), time.time(), iter_file(src))]):
            out.write(chunk)


def copy_into(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Copy a file (for a non-zip upload in mount mode)."""
    shutil.copyfile(src, dest)
