"""pfioh's zips: uploads checked and extracted through :mod:`safearchive` (its refusals become
pfioh's errors: a limit is :class:`errors.TooLarge`, 413; anything else
:class:`errors.UnsafeArchive`, 400), and zips streamed on the fly for pulls.
"""
from __future__ import annotations

import contextlib
import os
import stat
import time
import zipfile
from typing import Iterable, Iterator

from pfioh import errors
from safearchive import dirfd, entries, unzip
from safearchive import errors as archive_errors

CHUNK = unzip.CHUNK
RATIO_MIN_BYTES = entries.RATIO_MIN_BYTES
# A byte that never occurs in UTF-8.  pfurl treats a body that decodes as UTF-8 as text (and an
# empty zip does decode), so every zip we serve carries it in its comment to stay "binary".
BINARY_COMMENT = b"pfioh\xff"

Limits = entries.Limits
Extracted = unzip.Extracted


@contextlib.contextmanager
def _pfioh_errors():
    try:
        yield
    except archive_errors.LimitExceeded as e:
        raise errors.TooLarge(str(e)) from e
    except archive_errors.ArchiveError as e:
        raise errors.UnsafeArchive(str(e)) from e


def inspect(zf: zipfile.ZipFile, limits: Limits) -> list[entries.Entry]:
    """Check every entry and the limits before anything is extracted.

    :raises errors.UnsafeArchive: on an unsafe or duplicate entry.
    :raises errors.TooLarge: when a limit is exceeded.
    """
    with _pfioh_errors():
        return entries.check(zf, limits)


def open_checked(path: str | os.PathLike) -> zipfile.ZipFile:
    """Open an uploaded zip, turning every kind of corruption into :class:`errors.UnsafeArchive`."""
    with _pfioh_errors():
        return unzip.open_zip(path)


def verify(path: str | os.PathLike, limits: Limits) -> Extracted:
    """Check an archive without extracting it (names, limits, and every CRC).

    :raises errors.UnsafeArchive: corrupt/unsafe archive.  :raises errors.TooLarge: limits.
    """
    with _pfioh_errors():
        return unzip.verify(path, limits)


def safe_extract(path: str | os.PathLike, dest: str | os.PathLike, limits: Limits) -> Extracted:
    """Extract ``path`` into the (existing, empty) directory ``dest``, checking everything.

    :raises errors.UnsafeArchive: corrupt/unsafe archive.  :raises errors.TooLarge: limits.
    """
    with _pfioh_errors():
        return unzip.extract(path, dest, limits)


SEND_BYTES = 256 << 10  # what a streamed zip gathers before it is sent


class _Sink:
    """A write-only, non-seekable buffer that a generator drains (so zipfile streams)."""

    def __init__(self):
        self._parts: list[bytes] = []
        self._size = 0

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        self._size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self, at_least: int = 0) -> bytes:
        """What was written since, or b"" while that is under ``at_least`` bytes: a zip of many
        small files is sent in a few large writes, not one per header and file."""
        if self._size < at_least or not self._size:
            return b""
        data, self._parts, self._size = b"".join(self._parts), [], 0
        return data


Entry = tuple[str, int, float, Iterable[bytes]]
"""``(arcname, size, mtime, chunks)`` of one file to put into a streamed zip."""


def stream_zip(files: Iterable[Entry]) -> Iterator[bytes]:
    """Yield a zip (stored, zip64 where needed) of ``files`` chunk by chunk, in bounded memory.

    A size that does not match the data raises (the client then sees a broken transfer, never a
    silently wrong zip).
    """
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.comment = BINARY_COMMENT
        for name, size, mtime, chunks in files:
            info = zipfile.ZipInfo(name, time.localtime(max(mtime, 315532800))[:6])
            info.external_attr = 0o644 << 16
            info.file_size = size
            written = 0
            with zf.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as out:
                for chunk in chunks:
                    out.write(chunk)
                    written += len(chunk)
                    if data := sink.drain(SEND_BYTES):
                        yield data
            if written != size:
                raise errors.StorageError(f"{name}: expected {size} bytes, read {written}")
            if data := sink.drain(SEND_BYTES):
                yield data
    if data := sink.drain():
        yield data


def iter_file(path: str | os.PathLike, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Read a regular file chunk by chunk, never through a symbolic link (one swapped in after
    the listing ends the transfer with an error instead of serving what it points to)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise errors.StorageError(f"cannot read {os.path.basename(path)!r:.120}: {e.strerror}") from e
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise errors.StorageError(f"{os.path.basename(path)!r:.120} is no longer a regular file")
        while chunk := f.read(chunk_size):
            yield chunk


def dir_entries(root_fd: int) -> Iterator[Entry]:
    """Every regular file under the open directory ``root_fd``, sorted, as stream_zip entries.

    Listed and read through directory descriptors (:mod:`safearchive.dirfd`): a subdirectory
    swapped for a symbolic link after the listing ends the transfer with an error instead of
    serving what the link points to.  ``root_fd`` must stay open until the entries are read.
    """
    for entry in dirfd.list_tree(root_fd):
        yield entry.name, entry.size, entry.mtime, _member_chunks(root_fd, entry.parts)


def _member_chunks(root_fd: int, parts: tuple[str, ...]) -> Iterator[bytes]:
    """The file's content, opened when the zip gets to it (one file open at a time)."""
    try:
        fd = dirfd.open_file(root_fd, parts)
    except OSError as e:
        raise errors.StorageError(f"cannot read {'/'.join(parts)!r:.120}: {e.strerror} "
                                  "(changed while it was being sent?)") from e
    with open(fd, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def zip_single_file(src: str | os.PathLike, name: str, dest: str | os.PathLike) -> None:
    """Wrap one uploaded (non-zip) file into a zip at ``dest`` (the original's archive layout)."""
    with open(dest, "wb") as out:
        for chunk in stream_zip([(name, os.path.getsize(src), time.time(), iter_file(src))]):
            out.write(chunk)
