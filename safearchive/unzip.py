"""Extraction and verification of checked entries: sizes and CRCs are checked while data flows.

zipfile reads the central directory (and :mod:`safearchive.entries` checks it); each entry's data
is read here, from the local header zipfile points to, and inflated and checked by
:mod:`safearchive.inflating` (zlib-ng: an image-like file inflates 3x as fast as with zipfile's
zlib, a run of zeros 36x, and the CRC-32 runs 6x as fast).
"""
from __future__ import annotations

import concurrent.futures
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from safearchive import entries, inflating, zipformat
from safearchive.errors import CorruptArchive, UnsafeEntry

CHUNK = 1 << 20
BATCH_BYTES = 1 << 20  # what one thread unpacks at a time, when several do (extract_entries)
# Below one batch, one thread: there is nothing to share.  (It was 32 MiB while each thread read
# the central directory again; now the threads share it, and 1000 x 10 KiB unpack in 0.63-0.68 s
# on two threads against 0.75-0.76 s on one, most of it creating the files.)
THREADS_FROM_BYTES = BATCH_BYTES

Progress = Callable[[int, int], None]
"""Called with ``(bytes, files)`` done since the last call."""

class _Damaged(Exception):
    """An entry that cannot be read as its central directory record describes it."""


# What reading a damaged entry raises: zipfile's own error (the zip as a whole), _Damaged (an
# entry's header or data), a corrupt stream (ValueError, from inflating), the zip's file itself.
_READ_ERRORS = (zipfile.BadZipFile, _Damaged, ValueError, OSError)


@dataclass(frozen=True)
class Extracted:
    """What an archive held: files written and their total size."""

    files: int
    bytes: int


def open_zip(path: str | os.PathLike) -> zipfile.ZipFile:
    """:raises CorruptArchive: not a zip, or truncated (every kind of damage zipfile reports)."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise CorruptArchive(f"not a valid zip archive (corrupt or truncated): {e}") from e


def data_handle(zf: zipfile.ZipFile):
    """A handle to read entries' data from (:func:`copy_entry`'s ``src``), of the zip's own file:
    zipfile's handle may be serving another reader.

    :raises TypeError: ``zf`` was opened from a stream, not a file (:func:`open_zip` opens files).
    """
    if zf.filename is None:
        raise TypeError("only a zip opened from a file can be read (open_zip)")
    return open(zf.filename, "rb")


def _chunks(src, info: zipfile.ZipInfo) -> Iterator[bytes]:
    # Only errors while *reading* the archive are its fault; the caller's write errors stay OSErrors
    # (a generator's consumer raises outside this try).
    try:
        yield from _entry_data(src, info)
    except _READ_ERRORS as e:
        raise CorruptArchive(f"corrupt zip entry {info.filename[:120]!r}: {e}", info.filename) from e


def _entry_data(src, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The data of the entry ``info`` in the zip ``src``, in pieces of at most ``CHUNK`` bytes,
    checked against the central directory: the local header's name, then the size and CRC-32.

    :raises _Damaged: an encrypted or patch entry, an unknown method, a local header that is not
        the entry's, data cut short, or a size or CRC-32 other than declared.
    :raises ValueError: a corrupt DEFLATE stream.
    """
    if info.flag_bits & (zipformat.ENCRYPTED | zipformat.PATCH):
        raise _Damaged("encrypted and patch entries are not supported")
    if info.compress_type not in (zipformat.STORED, zipformat.DEFLATED):
        raise _Damaged(f"compression method {info.compress_type} is not supported (only stored and deflated)")
    _skip_local_header(src, info)
    crc, size = 0, 0
    for piece in _stored_or_inflated(src, info):
        size += len(piece)
        if size > info.file_size:  # checked as it comes: a bomb stops here
            raise _Damaged("more data than the central directory declares")
        crc = inflating.crc32(piece, crc)
        yield piece
    if size != info.file_size or crc != info.CRC:
        raise _Damaged(f"{size} bytes with CRC-32 {crc:08x}, where the central directory declares "
                       f"{info.file_size} with {info.CRC:08x}")


def _stored_or_inflated(src, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The entry's ``compress_size`` bytes from ``src``, inflated if they are DEFLATE."""
    inflater = inflating.engine() if info.compress_type == zipformat.DEFLATED else None
    left = info.compress_size
    while left:
        data = src.read(min(CHUNK, left))
        if not data:
            raise _Damaged("the zip ends inside the entry's data")
        left -= len(data)
        if inflater is None:
            yield data
        else:
            yield from inflating.feed(inflater, data, CHUNK)
    if inflater is not None:
        yield from inflating.finish(inflater, CHUNK)  # output still held back; raises if truncated


def _skip_local_header(src, info: zipfile.ZipInfo) -> None:
    """Leave ``src`` at the entry's data, once its local header proved to be the entry's (the
    name a central record points to must be the name found there, as zipfile requires)."""
    src.seek(info.header_offset)
    header = src.read(zipformat.LOCAL_HEADER.size)
    if len(header) < zipformat.LOCAL_HEADER.size or header[:4] != zipformat.LOCAL_SIGNATURE:
        raise _Damaged("no local file header where the central directory points")
    fields = zipformat.LOCAL_HEADER.unpack(header)
    flags, name_length, extra_length = fields[2], fields[-2], fields[-1]
    name = src.read(name_length).decode(zipformat.name_encoding(flags), "replace")
    if name != info.orig_filename:
        raise _Damaged(f"the local header names {name[:120]!r}")
    src.seek(extra_length, os.SEEK_CUR)


def copy_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, out=None, progress: Progress | None = None, *,
               src=None) -> int:
    """Read one entry (into ``out`` when given) and return its size.

    :param src: a :func:`data_handle` of ``zf`` to read through (one for many entries saves an
        open each); by default one is opened for this entry.
    :raises CorruptArchive: damaged data, or a size or CRC-32 other than the central directory's.
    """
    if src is None:
        with data_handle(zf) as own:
            return copy_entry(zf, info, out, progress, src=own)
    n = 0
    for chunk in _chunks(src, info):
        n += len(chunk)
        if out is not None:
            out.write(chunk)
        if progress:
            progress(len(chunk), 0)
    return n


def extract_entries(zf: zipfile.ZipFile, checked: list[entries.Entry], dest: str | os.PathLike,
                    progress: Progress | None = None, *, threads: int = 1) -> Extracted:
    """Write ``checked`` (from :func:`safearchive.entries.check`) under the existing directory ``dest``.

    Files are created exclusively, so nothing already there is overwritten.

    :param threads: files inflated and written on this many threads (zlib-ng lets go of the
        GIL) when there are ``THREADS_FROM_BYTES`` or more; ``progress`` is then called under a lock.
    :raises CorruptArchive: damaged data.  :raises UnsafeEntry: an entry collides with another.
    """
    dest = Path(dest)
    files = [e for e in checked if not e.is_dir]
    _make_dirs(dest, checked)
    if threads <= 1 or sum(e.info.file_size for e in files) < THREADS_FROM_BYTES:
        with data_handle(zf) as src:
            nbytes = sum(_write_file(zf, src, e, dest, progress) for e in files)
    else:
        nbytes = _write_files_on_threads(zf, files, dest, progress, threads)
    return Extracted(len(files), nbytes)


def _make_dirs(dest: Path, checked: list[entries.Entry]) -> None:
    """The directories (listed, and every file's parent) before any file, in the zip's order."""
    made: set[Path] = {dest}  # directories already created: saves syscalls on many small files
    for entry in checked:
        target = dest / entry.name
        wanted = target if entry.is_dir else target.parent
        if wanted in made:
            continue
        try:
            wanted.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as e:
            raise UnsafeEntry(f"entry {entry.name[:120]!r} conflicts with another entry", entry.name) from e
        made.add(wanted)


def _write_file(zf: zipfile.ZipFile, src, entry: entries.Entry, dest: Path, progress: Progress | None) -> int:
    """Write one file entry, read through ``src`` (a :func:`data_handle`); its size."""
    try:
        with open(dest / entry.name, "xb") as out:
            n = copy_entry(zf, entry.info, out, progress, src=src)
            _keep_executable(out.fileno(), entry.info)
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as e:
        raise UnsafeEntry(f"entry {entry.name[:120]!r} conflicts with another entry", entry.name) from e
    if progress:
        progress(0, 1)
    return n


def _write_files_on_threads(zf: zipfile.ZipFile, files: list[entries.Entry], dest: Path,
                            progress: Progress | None, threads: int) -> int:
    # The threads share ``zf`` for its central directory; each reads the data through a handle
    # of its own.
    lock, local, handles = threading.Lock(), threading.local(), []
    report = None if progress is None else _locked(progress, lock)

    def write(batch: list[entries.Entry]) -> int:
        if not hasattr(local, "src"):
            local.src = data_handle(zf)
            with lock:
                handles.append(local.src)
        return sum(_write_file(zf, local.src, entry, dest, report) for entry in batch)

    try:
        return _run_batches(write, files, threads)
    finally:
        for handle in handles:
            handle.close()


def _run_batches(write: Callable[[list[entries.Entry]], int], files: list[entries.Entry], threads: int) -> int:
    """``write`` each of :func:`_batches` on ``threads`` threads; the bytes written."""
    total, window = 0, 4 * threads  # batches in flight: a million entries are not a million futures
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="unzip") as pool:
        pending: set[concurrent.futures.Future] = set()
        try:
            for batch in _batches(files):
                if len(pending) >= window:
                    done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                    total += sum(f.result() for f in done)
                pending.add(pool.submit(write, batch))
            total += sum(f.result() for f in concurrent.futures.as_completed(pending))
        finally:  # on an error, what has not started never does
            for f in pending:
                f.cancel()
    return total


def _batches(files: list[entries.Entry]) -> Iterator[list[entries.Entry]]:
    """``files`` in runs of about ``BATCH_BYTES``: one task each (a task per small file costs
    more in handing over than its inflating saves)."""
    batch, size = [], 0
    for entry in files:
        batch.append(entry)
        size += entry.info.file_size
        if size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _locked(progress: Progress, lock: threading.Lock) -> Progress:
    def call(nbytes: int, nfiles: int) -> None:
        with lock:
            progress(nbytes, nfiles)
    return call


def _keep_executable(fd: int, info: zipfile.ZipInfo) -> None:
    # Keep the executable bits a Unix zip recorded, never setuid/setgid/sticky.
    if (info.external_attr >> 16) & 0o111:
        os.fchmod(fd, 0o755)


def extract(path: str | os.PathLike, dest: str | os.PathLike, limits: entries.Limits, *,
            progress: Progress | None = None) -> Extracted:
    """Check the zip at ``path``, then extract it into the existing directory ``dest``.

    Nothing is written unless every entry passed :func:`safearchive.entries.check`; use
    :func:`safearchive.staging.staged` for a destination that appears complete or not at all.

    :raises safearchive.errors.ArchiveError: damaged, unsafe, or over the limits.
    """
    with open_zip(path) as zf:
        return extract_entries(zf, entries.check(zf, limits), dest, progress)


def verify(path: str | os.PathLike, limits: entries.Limits) -> Extracted:
    """Check a zip without extracting it: every entry, the limits, and every entry's data and CRC.

    :raises safearchive.errors.ArchiveError: damaged, unsafe, or over the limits.
    """
    with open_zip(path) as zf:
        files = [e for e in entries.check(zf, limits) if not e.is_dir]
        with data_handle(zf) as src:
            return Extracted(len(files), sum(copy_entry(zf, e.info, src=src) for e in files))
