"""Zipping files on several threads, for a push (pfioh-client's); and compressing one large file
the same way (:func:`deflate_file`, for swiftstore's put of larger files).

zipfile compresses on the calling thread only: a 544 MB tree of images takes about 6 s of one
core, most of a push.  Here files are compressed in blocks on a pool (zlib lets go of the GIL)
and written in order by :mod:`safearchive.zipwrite`; a file whose sample looks like noise
(:mod:`safearchive.probe`: JPEG 2000 images, gzip) is stored, not compressed for nothing.  Every
member has its sizes and CRC-32 in its local header (no data descriptor), which pfioh's early
unpacker needs to unpack the zip while it arrives.

A file larger than ``BLOCK`` is cut into blocks compressed independently, as pigz does: each
block's stream but the last ends with a sync flush (on a byte boundary, not final), so the
streams joined are one DEFLATE stream; a block whose own sample looks like noise (the pixel data
after an uncompressed header, say) goes in as stored DEFLATE blocks, a copy.  As a member's local
header comes before its data, a large file's stream waits in a spool file next to the zip until
its size is known; a large stored file is read twice (its CRC-32 first).  Memory stays within
about twice ``IN_FLIGHT``: the blocks read ahead and their streams.
"""
from __future__ import annotations

import collections
import concurrent.futures
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from safearchive import inflating, probe, zipwrite
from safearchive.unzip import CHUNK, Extracted, Progress
from safearchive.zipping import Member

BLOCK = 4 << 20       # large files are compressed in blocks of this size, one per task
IN_FLIGHT = 32 << 20  # bytes of blocks read ahead of the writer
# zlib's fastest.  On CT-like 12-bit pixels here: level 1 83 MB/s a core for a stream of 44.7% of
# the file, level 6 (zipfile's and pfurl's) 37 MB/s for 44.0%: 2.2 times the CPU for 1.6% fewer bytes.
LEVEL = 1
KEEP_IF = 0.97        # a small file's stream is kept if at most this share of the file, else it is stored
MIN_COMPRESS = 64     # smaller files are stored: their stream would not be shorter


@dataclass(frozen=True)
class _Job:
    """One block of a file: ``length`` bytes at ``offset``; ``store``: not to be compressed."""

    path: Path
    offset: int
    length: int
    last: bool
    store: bool


@dataclass(frozen=True)
class _Block:
    raw: bytes
    stream: bytes | None  # None when stored


def pack(members: list[Member], target: str | os.PathLike, progress: Progress | None = None, *,
         threads: int | None = None, level: int = LEVEL) -> Extracted:
    """Write the files ``members`` (no directories) into the zip ``target``: :func:`stream`'s
    bytes; large files' streams wait in a spool next to it.

    :raises OSError, ValueError: as :func:`stream`.
    """
    target = Path(target)
    with open(target, "wb") as out:
        for chunk in stream(members, progress, threads=threads, level=level, spool_dir=target.parent):
            out.write(chunk)
    return Extracted(len(members), sum(m.size for m in members))


def stream(members: list[Member], progress: Progress | None = None, *, threads: int | None = None,
           level: int = LEVEL, spool_dir: str | os.PathLike | None = None) -> Iterator[bytes]:
    """Yield the zip of the files ``members`` (no directories), compressed on ``threads``
    threads (default: the cores, at most 4), reporting ``progress(bytes, files)`` as files are
    read.  The zip is the same whatever the number of threads.

    :param spool_dir: where large files' streams wait (default: the system's temp directory).
    :raises OSError: a file cannot be read, or changed while it was being zipped (its listed
        size is what is zipped: a file that grew or shrank is an error, never cut silently).
    :raises ValueError: a directory among ``members``.
    """
    if any(m.arcname.endswith("/") for m in members):
        raise ValueError("packzip zips files only")
    threads = threads or min(4, os.cpu_count() or 1)
    spool = Path(spool_dir or tempfile.gettempdir())
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="zip") as pool:
        ahead = _Ahead(pool, members, level)
        try:
            yield from zipwrite.stream(_members(ahead, members, spool, progress))
        except zipwrite.SizeMismatch as exc:
            raise OSError(f"a file changed while it was being zipped: {exc}") from exc
        finally:  # also when the caller stops early: nothing more is read
            ahead.cancel()


class _Ahead:
    """The blocks of every file in order, read and compressed on the pool up to ``IN_FLIGHT``
    bytes ahead of the one the writer takes."""

    def __init__(self, pool: concurrent.futures.Executor, members: list[Member], level: int):
        self._pool, self._level = pool, level
        self._jobs = _jobs(members)
        self._queue: collections.deque = collections.deque()
        self._bytes = 0

    def take(self) -> tuple[_Job, _Block]:
        """The next block, once compressed."""
        self._fill()
        job, future = self._queue.popleft()
        self._bytes -= job.length
        self._fill()
        return job, future.result()

    def _fill(self) -> None:
        while not self._queue or self._bytes < IN_FLIGHT:
            job = next(self._jobs, None)
            if job is None:
                return
            self._queue.append((job, self._pool.submit(_compress, job, self._level)))
            self._bytes += job.length

    def cancel(self) -> None:
        for _, future in self._queue:
            future.cancel()


def _jobs(members: list[Member]) -> Iterator[_Job]:
    for m in members:
        store = m.size < MIN_COMPRESS or not probe.looks_compressible(probe.sample(m.path, m.size))
        count = max(1, -(-m.size // BLOCK))
        for i in range(count):
            offset = i * BLOCK
            yield _Job(m.path, offset, min(BLOCK, m.size - offset), i == count - 1, store)


def _compress(job: _Job, level: int) -> _Block:
    with open(job.path, "rb") as f:
        raw = os.pread(f.fileno(), job.length, job.offset)
        if len(raw) != job.length or (job.last and os.fstat(f.fileno()).st_size != job.offset + job.length):
            raise OSError(f"{job.path} changed size while it was being zipped")
    if job.store:
        return _Block(raw, None)
    # A block of a large file that looks like noise (the compressed pixel data after an image's
    # header, say) goes into the stream as stored DEFLATE blocks: a copy, not a vain search.
    if not (job.offset == 0 and job.last) and not probe.looks_compressible(probe.sample_of(raw)):
        level = 0
    engine = zlib.compressobj(level, zlib.DEFLATED, -15)
    return _Block(raw, engine.compress(raw) + engine.flush(zlib.Z_FINISH if job.last else zlib.Z_SYNC_FLUSH))


def _members(ahead: _Ahead, members: list[Member], spool_dir: Path,
             progress: Progress | None) -> Iterator[zipwrite.Member]:
    for m in members:
        job, block = ahead.take()
        if progress:
            progress(job.length, 0)
        if job.last:  # one block: the file is in memory
            crc = inflating.crc32(block.raw)
            if block.stream is None or len(block.stream) > KEEP_IF * m.size:
                yield zipwrite.Member(m.arcname, m.size, m.mtime, [block.raw], crc32=crc)
            else:
                yield zipwrite.Member(m.arcname, m.size, m.mtime, [block.stream], deflated=(crc, len(block.stream)))
        elif block.stream is None:
            yield _large_stored(ahead, m, job, block, progress)
        else:
            yield _large_deflated(ahead, m, job, block, spool_dir, progress)
        if progress:
            progress(0, 1)


def _rest(ahead: _Ahead, job: _Job, first: _Block, progress: Progress | None) -> Iterator[_Block]:
    """``first`` (of ``job``) and the file's blocks after it."""
    yield first
    while not job.last:
        job, block = ahead.take()
        if progress:
            progress(job.length, 0)
        yield block


def _large_stored(ahead: _Ahead, m: Member, job: _Job, first: _Block, progress: Progress | None) -> zipwrite.Member:
    crc = 0
    for block in _rest(ahead, job, first, progress):
        crc = inflating.crc32(block.raw, crc)
    # Read again as it is written: zipwrite checks that these bytes are still that CRC-32.
    return zipwrite.Member(m.arcname, m.size, m.mtime, _read(m.path, m.size), crc32=crc)


def _large_deflated(ahead: _Ahead, m: Member, job: _Job, first: _Block, spool_dir: Path,
                    progress: Progress | None) -> zipwrite.Member:
    spool = tempfile.TemporaryFile(dir=spool_dir, prefix=".zip-spool-")
    try:
        crc = _write_stream(ahead, job, first, spool, progress)
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return zipwrite.Member(m.arcname, m.size, m.mtime, _drain(spool), deflated=(crc, size))


def _write_stream(ahead: _Ahead, job: _Job, first: _Block, out, progress: Progress | None) -> int:
    """Write the DEFLATE stream of ``first``'s file into ``out``; returns the file's CRC-32."""
    crc = 0
    for block in _rest(ahead, job, first, progress):
        crc = inflating.crc32(block.raw, crc)
        out.write(block.stream or b"")
    return crc


def deflate_file(path: str | os.PathLike, size: int, out, *, threads: int | None = None,
                 level: int = LEVEL, progress: Progress | None = None) -> int | None:
    """Write the raw DEFLATE stream of the file ``path`` (``size`` bytes) into the binary file
    ``out``, compressed in blocks on ``threads`` threads as :func:`stream` compresses a large
    member, reporting ``progress(bytes, 0)`` as blocks are written; returns the file's CRC-32,
    or None (nothing written) if its sample looks like noise.

    :raises OSError: the file cannot be read, or changed size meanwhile.
    """
    threads = threads or min(4, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="deflate") as pool:
        ahead = _Ahead(pool, [Member(Path(path), "-", size)], level)
        try:
            job, first = ahead.take()
            if first.stream is None:
                return None
            if progress:
                progress(job.length, 0)
            return _write_stream(ahead, job, first, out, progress)
        finally:
            ahead.cancel()


def _read(path: Path, size: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while size > 0 and (chunk := f.read(min(CHUNK, size))):
            size -= len(chunk)
            yield chunk


def _drain(spool) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(CHUNK):
            yield chunk
