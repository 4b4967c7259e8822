"""Unpack a zip while it is still arriving, so receiving and unpacking overlap.

Nothing here is trusted: entries go into a private staging directory, and :func:`adopt` only
accepts the result if the finished archive passes every check of :func:`ziputil.inspect` (the
shared :mod:`safearchive.entries` policy) and its central directory lists exactly the files
(names, sizes, CRCs) that were unpacked.  Entry names are checked as they arrive with the same
:func:`safearchive.entries.relative_name`.  Anything unusual (data descriptors, zip64,
encryption, other methods) just stops the early unpacking; the push then unpacks the complete
file the ordinary way.

With a Swift writer, the small files (bound for bundles, never written to disk) are inflated and
checked on two threads of their own (:class:`_Checks`), so the thread reading the zip only parses
it.  A file kept compressed is not hashed: readers check it by the CRC-32 checked here, which on
a 544 MB push of image-like files took 2.1 s instead of 2.7 s (MD5 of every inflated byte).

A larger file that came compressed goes to the staging directory as the DEFLATE stream it came
as (inflated only to check its size and CRC-32), and Swift stores that stream: half the bytes of
an image for Swift to take in and for a job's get to read, and nothing to write twice here.
"""
from __future__ import annotations

import collections
import concurrent.futures
import logging
import queue
import shutil
import struct
import tempfile
import threading
from pathlib import Path

from pfioh import errors, ziputil
from safearchive import entries, inflating
from safearchive.zipformat import DEFLATED, DESCRIPTOR, ENCRYPTED, LOCAL_HEADER, LOCAL_SIGNATURE, STORED, name_encoding

log = logging.getLogger("pfioh")
CENTRAL = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06")
QUEUE_CHUNKS = 8  # x 1 MiB: how far the receiving thread may run ahead
# Small files bound for Swift bundles are inflated and checked on threads of their own (zlib lets
# go of the GIL), so that the thread reading the zip only parses it: that
# work (about 2 ms a MB) was most of a push's critical path.  At most CHECKING_BYTES of them
# are in flight: with 16 MiB a 544 MB push of 2000 files peaked at 193 MB of RSS (master and
# worker) against 157 MB before the threads; with 4 MiB, at 160 MB, as fast.
CHECK_THREADS = 2
CHECKING_BYTES = 4 << 20
# A larger file that came compressed is stored compressed if that saves at least a tenth.
KEEP_RATIO = 0.9


class _Stop(Exception):
    """Early unpacking cannot go on (not an error: the ordinary path takes over)."""


class Extractor:
    """Fed the upload's bytes (from the receiving thread); unpacks them in its own thread."""

    def __init__(self, staging: Path, limits: ziputil.Limits, writer=None):
        """:param writer: a :class:`swiftstore.writer.TreeWriter` to hand each file to as soon as
            it is unpacked and its CRC checked (it uploads while the rest arrives); it is only
            committed if the finished archive is adopted (see the store's push)."""
        self.dest = Path(tempfile.mkdtemp(prefix="early-", dir=staging))
        self.limits, self.writer = limits, writer
        self.files: dict[str, tuple[int, int]] = {}  # rel -> (size, crc)
        self.failed: str | None = None
        self.complete = self.committed = False
        # The chunk being parsed and how far: slicing off what was used would copy the rest
        # of the 1 MiB chunk at every entry (a gigabyte of copying for 2000 files).
        self._buf, self._pos = b"", 0
        self._made, self._total, self._received = {self.dest}, 0, 0
        self._queue: queue.Queue = queue.Queue(QUEUE_CHUNKS)
        self._checks = _Checks(writer) if writer is not None else None
        self._thread = threading.Thread(target=self._run, name="pfioh-unzip", daemon=True)
        self._thread.start()

    def write(self, data) -> None:
        if self.failed is None and not self.complete:
            self._queue.put(bytes(data))

    def finish(self) -> bool:
        """Wait for the thread; True if everything up to the central directory was unpacked."""
        self._queue.put(None)
        self._thread.join()
        if self._checks is not None:
            self._checks.close()
        return self.complete and self.failed is None

    def close(self) -> None:
        """Stop (if still running), abort an upload nobody committed, and remove what is left of
        the staging directory."""
        if self._thread.is_alive():
            self.failed = self.failed or "closed"
            self._queue.put(None)
            self._thread.join()
        if self._checks is not None:
            self._checks.close()
        if self.writer is not None and not self.committed:
            self.writer.abort()
        shutil.rmtree(self.dest, ignore_errors=True)

    def _run(self) -> None:
        # Consumes every queued chunk up to the final None, even after stopping, so the feeding
        # thread never blocks on a full queue.
        state = self._headers()
        next(state)
        while (data := self._queue.get()) is not None:
            if self.failed is not None or self.complete:
                continue
            self._received += len(data)
            try:
                state.send(data)
            except _Stop as e:
                self.failed = str(e) or "stopped"
            except Exception as e:  # never let the helper thread take the request down
                self.failed = f"{e.__class__.__name__}: {e}"
        state.close()

    def _need(self, n: int):
        while len(self._buf) - self._pos < n:  # only a header cut by a chunk's end is joined
            self._buf, self._pos = self._buf[self._pos:] + (yield), 0
        head = self._buf[self._pos:self._pos + n]
        self._pos += n
        return head

    def _headers(self):
        """A generator fed bytes with ``send`` (primed with ``next``): a local header + data per loop."""
        while True:
            sig = yield from self._need(4)
            if sig in CENTRAL:
                if self._checks is not None:
                    self._checks.finish()
                self.complete = True
                while True:
                    yield
            if sig != LOCAL_SIGNATURE:
                raise _Stop("not a local file header")
            head = sig + (yield from self._need(LOCAL_HEADER.size - 4))
            _, _, flags, method, _, _, crc, csize, usize, nlen, xlen = LOCAL_HEADER.unpack(head)
            if flags & (ENCRYPTED | DESCRIPTOR) or method not in (STORED, DEFLATED):
                raise _Stop("encrypted, data descriptor or unsupported method")
            raw = yield from self._need(nlen)
            extra = yield from self._need(xlen)
            if 0xFFFFFFFF in (csize, usize):
                usize, csize = _zip64_sizes(extra, usize, csize)
            name = raw.decode(name_encoding(flags))
            yield from self._entry(name, method, crc, csize, usize)

    def _mkdirs(self, path: Path) -> None:
        """Make ``path`` and its missing parents, counting each in ``_made`` (the dir limit)."""
        if path in self._made:
            return
        new = []
        while path not in self._made:
            new.append(path)
            path = path.parent
        self._made.update(new)
        if len(self._made) > self.limits.max_dirs + 1:
            raise _Stop("directory limit")
        new[0].mkdir(parents=True, exist_ok=True)

    def _entry(self, name: str, method: int, crc: int, csize: int, usize: int):
        rel = entries.relative_name(name, self.limits)
        if not rel:
            raise _Stop("empty name")
        target = self.dest / rel
        # Entry and directory counts: the ordinary path then refuses the archive by name.
        if len(self._made) > self.limits.max_dirs or len(self.files) >= self.limits.max_files:
            raise _Stop("entry or directory limit")
        if name.endswith("/"):
            if csize:
                raise _Stop("directory with data")
            self._mkdirs(target)
            return
        self._mkdirs(target.parent)
        self._total += usize
        if self._total > self.limits.max_bytes or rel in self.files:
            raise _Stop("limit or duplicate")
        # Zip-bomb guards before writing: the ordinary path then rejects the archive by name.
        ratio = self.limits.max_ratio
        if usize > ziputil.RATIO_MIN_BYTES and usize > ratio * max(csize, 1):
            raise _Stop("compression ratio")
        if self._total > ziputil.RATIO_MIN_BYTES and self._total > ratio * (self._received + csize):
            raise _Stop("compression ratio")
        # A small file bound for a Swift bundle never touches the disk: only the zip does.  Its
        # compressed bytes are kept too: the bundle stores them as they came (half the bytes of
        # an image, and no compressing on our side), once inflating them proved them good.
        if self._checks is not None and usize <= self._checks.writer.bundle_max_file:
            raw = yield from self._take(csize)
            self.files[rel] = (usize, crc)
            self._checks.submit(rel, raw, method, usize, crc)  # its failure stops the early path
            return
        # A larger compressed file bound for Swift is kept as it came too, in an object of its
        # own: Swift then stores (and a job's get reads) the client's compressed bytes, not
        # twice as many; inflating it here only checks it.
        keep = self.writer is not None and method == 8 and csize <= usize * KEEP_RATIO
        # Large enough for segments: they go up as the file is written (the writer records it
        # only once it is checked below), so Swift takes it in while the rest arrives.
        growing = None if self.writer is None else \
            self.writer.begin_file(rel, str(target), usize, deflated=csize if keep else None)
        with open(target, "xb") as out:
            got, acc = yield from self._inflate(out, method, csize, usize, keep_stream=keep,
                                                grown=None if growing is None else growing.grown)
        if got != usize or acc != crc:
            raise _Stop("size or CRC mismatch")
        self.files[rel] = (usize, crc)
        if growing is not None:
            growing.finish(crc)
        elif keep:
            self.writer.add_deflated_file(rel, str(target), usize, csize, crc)
        elif self.writer is not None:
            self.writer.add(rel, str(target), usize)

    def _take(self, n: int):
        """The next ``n`` bytes, as the pieces they came in (copied unless a piece is a whole
        chunk: kept for a while, a view would hold on to the whole 1 MiB chunk)."""
        pieces: list[bytes] = []
        yield from self._pass_on(n, lambda p: pieces.append(p.obj if len(p) == len(p.obj) else bytes(p)))
        return pieces

    def _inflate(self, out, method: int, csize: int, usize: int, *, keep_stream: bool = False, grown=None):
        """Copy the entry's ``csize`` bytes (inflated if ``method`` is 8) into ``out``; returns
        ``(bytes of the file, CRC-32)``.  With ``keep_stream``, ``out`` gets the DEFLATE stream
        as it came, and the file is inflated only to be checked.  ``grown(n)``: told after each
        piece that ``out`` holds ``n`` bytes, flushed (so another thread can read them)."""
        inflater = inflating.engine() if method == 8 else None
        got = acc = 0

        def take(data: bytes) -> None:
            nonlocal got, acc
            got += len(data)
            if got > usize:
                raise _Stop("more data than declared")
            acc = inflating.crc32(data, acc)
            if not keep_stream:
                out.write(data)

        def write(piece: bytes) -> None:
            if keep_stream:
                out.write(piece)
            for data in inflating.feed(inflater, piece, ziputil.CHUNK) if inflater else (piece,):
                take(data)
            if grown is not None:
                out.flush()
                grown(out.tell())

        try:
            yield from self._pass_on(csize, write)
            for data in inflating.finish(inflater, ziputil.CHUNK) if inflater else ():
                take(data)
        except ValueError as exc:  # bytes after the end, or a truncated stream
            raise _Stop(str(exc)) from exc
        return got, acc

    def _pass_on(self, n: int, use):
        """Hand the next ``n`` bytes to ``use`` piece by piece, as they arrive."""
        while n:
            if self._pos == len(self._buf):
                self._buf, self._pos = (yield), 0
            end = min(len(self._buf), self._pos + n)
            piece = memoryview(self._buf)[self._pos:end]  # no copy: used before the next piece
            n -= end - self._pos
            self._pos = end
            use(piece)


class _Checks:
    """Small files inflated, checked (size, CRC-32) and hashed on ``CHECK_THREADS`` threads, and
    handed to the writer in the zip's order; the unpacking thread waits only when more than
    ``CHECKING_BYTES`` of them are in flight."""

    def __init__(self, writer):
        self.writer = writer
        self._pool = concurrent.futures.ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="pfioh-check")
        self._pending: collections.deque = collections.deque()
        self._bytes = 0

    def submit(self, rel: str, raw: list[bytes], method: int, usize: int, crc: int) -> None:
        """Check the entry ``rel`` (its bytes as they came, ``raw``) as the zip declares it.

        :raises _Stop: an earlier entry failed its check, or the writer failed.
        """
        self._pending.append((rel, crc, usize, self._pool.submit(_check, raw, method, usize, crc)))
        self._bytes += usize
        while self._pending and (self._bytes > CHECKING_BYTES or self._pending[0][3].done()):
            self._hand_over()

    def finish(self) -> None:
        """Hand every entry over. :raises _Stop: one failed its check."""
        while self._pending:
            self._hand_over()

    def close(self) -> None:
        """Drop what was not handed over (the early path stopped)."""
        for *_, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)

    def _hand_over(self) -> None:
        rel, crc, usize, future = self._pending.popleft()
        self._bytes -= usize
        data, stream = future.result()
        if stream is None:
            self.writer.add_bytes(rel, data, crc32=crc)
        else:
            self.writer.add_deflated(rel, usize, stream, crc)


def _check(raw: list[bytes], method: int, usize: int, crc: int) -> tuple[bytes, bytes | None]:
    """``(file, None)`` for an entry to store as it is, or ``(b"", its stream)`` for one to keep
    compressed (its stream is the smaller: readers check it by its CRC-32, checked here).

    :raises _Stop: the data is not the size or CRC-32 the zip declares, or not one whole DEFLATE stream.
    """
    stream = b"".join(raw)
    try:
        data = inflating.inflate_whole(stream, usize) if method == 8 else stream
    except ValueError as exc:
        raise _Stop(str(exc)) from exc
    if len(data) != usize or inflating.crc32(data) != crc:
        raise _Stop("size or CRC mismatch")
    if method == 8 and len(stream) < usize:
        return b"", stream
    return data, None


def _zip64_sizes(extra: bytes, usize: int, csize: int) -> tuple[int, int]:
    """Sizes from the zip64 extra field (id 1: the 8-byte sizes that overflowed, in this order)."""
    i = 0
    while i + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, i)
        if kind == 1:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, i + 4))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if 0xFFFFFFFF not in (usize, csize):
                return usize, csize
            break
        i += 4 + length
    raise _Stop("zip64 sizes missing")


def adopt(extractor: Extractor, zip_path: Path, limits: ziputil.Limits) -> ziputil.Extracted | None:
    """Accept what ``extractor`` unpacked if the finished archive vouches for all of it.

    :returns: the counts, or None when the ordinary path must unpack instead.
    :raises pfioh.errors.UnsafeArchive, pfioh.errors.TooLarge: the archive is bad (as :func:`ziputil.inspect`).
    """
    done = extractor.finish()
    with ziputil.open_checked(zip_path) as zf:
        checked = ziputil.inspect(zf, limits)
    if not done:
        log.info("early unpacking stopped (%s): unpacking after the upload", errors.clip(extractor.failed))
        return None
    listed = {e.name: (e.info.file_size, e.info.CRC) for e in checked if not e.is_dir}
    if listed != extractor.files:
        log.info("early unpacking does not match the central directory: unpacking after the upload")
        return None
    for entry in checked:
        if entry.is_dir:
            (extractor.dest / entry.name).mkdir(parents=True, exist_ok=True)
    return ziputil.Extracted(len(listed), sum(size for size, _ in listed.values()))
