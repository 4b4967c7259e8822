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
from safearchive import dirfd, entries, unzip, zipwrite
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


Entry = zipwrite.Member
"""One file to put into a streamed zip (its bytes, or its DEFLATE stream passed through as it is)."""


def stream_zip(files: Iterable[Entry], *, length: int | None = None) -> Iterator[bytes]:
    """Yield a zip of ``files`` chunk by chunk, in bounded memory (see :mod:`safearchive.zipwrite`).

    A size that does not match the data, or a zip that is not the ``length`` announced (see
    :func:`zip_length`), raises (the client then sees a broken transfer, never a silently wrong
    zip).
    """
    try:
        yield from zipwrite.stream(files, BINARY_COMMENT, announced=length)
    except (zipwrite.SizeMismatch, zipwrite.BadName) as exc:
        raise errors.StorageError(str(exc)) from exc


def zip_length(files: Iterable[Entry]) -> int:
    """The length of :func:`stream_zip` of ``files`` (in the same order), their data not read.

    :raises errors.StorageError: a name cannot go into a zip (before a byte is sent).
    """
    try:
        return zipwrite.length(files, BINARY_COMMENT)
    except zipwrite.BadName as exc:
        raise errors.StorageError(f"cannot send {exc}") from exc


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
        yield Entry(entry.name, entry.size, entry.mtime, _member_chunks(root_fd, entry.parts))


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
        for chunk in stream_zip([Entry(name, os.path.getsize(src), time.time(), iter_file(src))]):
            out.write(chunk)
