"""Small files packed into bundle objects: a tree of thousands of small files costs a few
requests instead of one per file (Swift spends ~6 ms on each object, whatever its size).

A bundle is the plain concatenation of its members' bytes, in the order the manifest lists them
with their offsets; there are no headers to parse and nothing else in it.  Writing reads each
member once, hashing it (its own MD5, for the manifest) and the bundle (its ETag) in the same
pass.  Reading a bundle cuts its byte stream back into files at the recorded offsets.

A member may be stored as a raw DEFLATE stream (the compressed bytes of a pushed zip's entry,
kept as they came: Swift then stores and serves what the client sent, not twice that).  Its MD5
is known from the unpacking that checked it; readers inflate it and check that MD5 as for any
other file.  A local file is compressed the same way by :func:`prepare`, on the upload thread
just before its bundle's PUT, when a cheap probe says it is worth it.
"""
from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

from safearchive import inflating, probe
from swiftstore import errors, transfer

MAX_FILE = 1 << 20       # files up to this size are bundled; bigger ones are worth an object
# Each bundle is a request, and Swift spends ~6 ms of CPU on every one: below 8 MiB a bundle
# costs more than spreading the tree over more upload threads saves (1000 x 10 KiB put: 0.27 s
# in 1 MiB bundles, 0.21 s in 8 MiB ones; while compressing, bundles are at most MAX_PREPARED).
MIN_BUNDLE = 8 << 20
MAX_BUNDLE = 64 << 20    # one bundle's PUT stays short enough to retry whole
CHUNK = 1 << 20          # at most this much inflated at a time (bounded memory on reads)
_EMPTY_MD5 = hashlib.md5(b"", usedforsecurity=False).hexdigest()

# Compressing local files (prepare).  Level 1, zlib's fastest, halves image-like data at about
# 100 MB/s a core here; higher levels gain a few per cent for two to four times the CPU.
LEVEL = 1
WORTHWHILE = 0.9          # a member stays compressed only if its stream is at most 90% of the file
MIN_COMPRESS = 1 << 10    # below this a file saves too few bytes to be worth a stream and a CRC
# The bundle target while compressing: an upload thread holds its bundle's streams until the PUT
# is done (its length must be known before it starts), so this bounds that memory per thread: with
# the default 10 threads, at most about 80 MB in all (pfioh's peak RSS stays under 150 MB).
MAX_PREPARED = 8 << 20


@dataclass(frozen=True)
class Member:
    """One file of a bundle: its path relative to the tree, its local path (or its bytes, for
    a file that never touched the disk) and size.  A ``deflated`` member's ``data`` is its raw
    DEFLATE stream, and ``crc32`` that of the file it inflates to (which checks it: it has no
    ``md5``)."""

    rel: str
    path: str
    size: int
    data: bytes | None = None
    md5: str = ""
    deflated: bool = False
    crc32: int | None = None

    @property
    def stored(self) -> int:
        """The member's length in the bundle."""
        return len(self.data) if self.deflated and self.data is not None else self.size


@dataclass(frozen=True)
class Bundle:
    """The object ``name`` holding ``members`` back to back."""

    name: str
    members: tuple[Member, ...]

    @property
    def size(self) -> int:
        return sum(m.stored for m in self.members)

    @property
    def file_bytes(self) -> int:
        """The members' own sizes (what progress counts), compressed or not."""
        return sum(m.size for m in self.members)

    def offsets(self) -> list[int]:
        out, at = [], 0
        for m in self.members:
            out.append(at)
            at += m.stored
        return out


def target_size(total: int, threads: int) -> int:
    """Bundles large enough to amortise a request, small enough to keep every thread busy."""
    return max(MIN_BUNDLE, min(MAX_BUNDLE, -(-total // max(threads, 1))))


def pack(files: Iterable[Member], target: int, name: Callable[[int], str]) -> list[Bundle]:
    """Group ``files`` (in order) into bundles of about ``target`` bytes, named ``name(i)``."""
    bundles: list[Bundle] = []
    current: list[Member] = []
    size = 0
    for f in files:
        if current and size + f.stored > target:
            bundles.append(Bundle(name(len(bundles)), tuple(current)))
            current, size = [], 0
        current.append(f)
        size += f.stored
    if current:
        bundles.append(Bundle(name(len(bundles)), tuple(current)))
    return bundles


def prepare(bundle: Bundle) -> Bundle:
    """``bundle`` with its local files compressed where that is worthwhile (:func:`compress_file`).

    Run by the upload thread just before the PUT (zlib lets go of the GIL, so the pool's threads
    compress in parallel while whoever adds files goes on); that thread holds the streams until
    its PUT is done.

    :raises OSError: a file shrank or cannot be read.
    """
    return Bundle(bundle.name, tuple(compress_file(m) for m in bundle.members))


def compress_file(member: Member) -> Member:
    """A local file's member as a deflated member held in memory, if its stream is at most
    ``WORTHWHILE`` of it; else ``member`` itself (:class:`BundleReader` then reads the file as
    it is).  A file whose sample looks like noise (:func:`safearchive.probe.looks_compressible`) costs little more
    than that sample's read.

    The stream and CRC-32 both come from the one read of the file, so they agree with each other
    whatever happens to the file meanwhile.

    :raises OSError: the file shrank since it was listed (as :class:`BundleReader` raises).
    """
    if member.data is not None or member.size < MIN_COMPRESS:
        return member
    with open(member.path, "rb") as f:  # opened once for the sample and, if it is worth it, the file
        if not probe.looks_compressible(probe.sample_fd(f.fileno(), member.size)):
            return member
        data = f.read(member.size)
    if len(data) < member.size:
        raise OSError(f"{member.path} shrank while being uploaded")
    stream = deflate(data)
    if len(stream) > member.size * WORTHWHILE:
        return member
    return Member(member.rel, member.path, member.size, stream, deflated=True, crc32=inflating.crc32(data))


def deflate(data: bytes, level: int = LEVEL) -> bytes:
    """``data`` as one raw DEFLATE stream (what a zip entry holds)."""
    # A window no larger than the data: the engine's set-up, which dominates on small files, shrinks with it.
    engine = zlib.compressobj(level, zlib.DEFLATED, -min(15, max(9, (len(data) - 1).bit_length())))
    return engine.compress(data) + engine.flush()


class BundleReader(transfer.RewindableBody):
    """The bundle's bytes as one upload body: each member is opened in turn and hashed twice in
    the one pass (its own MD5 into :attr:`md5s`, and the bundle's).  A deflated member has no MD5
    (``""``: its CRC-32 checks it): it is only hashed into the bundle's.

    :raises OSError: a member shrank meanwhile (the bundle would not match its plan).
    """

    _index = _in_member = 0
    md5s: list[str]
    _member_hash: "hashlib._Hash"

    def __init__(self, bundle: Bundle, on_bytes: Callable[[int], None] | None = None):
        self.bundle = bundle
        self._file: io.BufferedReader | io.BytesIO | None = None
        super().__init__(on_bytes)

    def _read(self, size: int) -> bytes:
        parts = []
        while size > 0 and self._index < len(self.bundle.members):
            member = self.bundle.members[self._index]
            data = self._current().read(min(size, member.stored - self._in_member))
            if not data:
                raise OSError(f"{member.path} shrank while being uploaded")
            if not member.deflated:
                self._member_hash.update(data)
            self._in_member += len(data)
            size -= len(data)
            parts.append(data)
            if self._in_member == member.stored:
                self._next_member()
        return b"".join(parts)

    def _current(self):
        if self._file is None:
            member = self.bundle.members[self._index]
            self._file = io.BytesIO(member.data) if member.data is not None else open(member.path, "rb")
        return self._file

    def _next_member(self) -> None:
        """Close the member just read, and pass over empty ones (their MD5 needs no read): the
        last byte of the body must leave every MD5 known, as nobody reads past it."""
        member = self.bundle.members[self._index]
        self.md5s.append(member.md5 if member.deflated else self._member_hash.hexdigest())
        self.close()
        self._index, self._in_member, self._member_hash = self._index + 1, 0, hashlib.md5(usedforsecurity=False)
        self._skip_empty()

    def _skip_empty(self) -> None:
        members = self.bundle.members
        while self._index < len(members) and not members[self._index].stored:
            self.md5s.append(_EMPTY_MD5)
            self._index += 1

    def _rewind(self) -> None:
        self.close()
        self._index, self._in_member = 0, 0
        self.md5s = []
        self._member_hash = hashlib.md5(usedforsecurity=False)
        self._skip_empty()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


Chunk = TypeVar("Chunk", bytes, memoryview)  # a body's chunks, or views of them (split)


def split(chunks: Iterable[bytes], sizes: list[int]) -> Iterator[tuple[int, Iterator[memoryview]]]:
    """Cut a bundle's byte stream into its members: ``(index, that member's chunks)`` in order.

    The members' chunks are views of the stream's, not copies (a pull's small files were copied
    out of each chunk, then again into the zip's): they stay valid, as the stream's chunks are
    ``bytes``, which cannot change (anything else is copied into one first).

    Each member's chunks must be consumed before the next pair is asked for.  Bytes past the last
    member, or a stream that ends early, raise ValueError (the caller names the object).
    """
    source: Iterator[bytes] = iter(chunks)
    pending = memoryview(b"")

    def member(size: int) -> Iterator[memoryview]:
        nonlocal pending
        left = size
        while left:
            if not pending:
                nxt: bytes | None = next(source, None)
                if nxt is None:
                    raise ValueError(f"the bundle ended {left} bytes early")
                pending = memoryview(nxt if type(nxt) is bytes else bytes(nxt))
            take = min(left, len(pending))
            yield pending[:take]
            pending, left = pending[take:], left - take

    for i, size in enumerate(sizes):
        part = member(size)
        yield i, part
        for _ in part:  # whatever the consumer left unread
            pass
    if pending or next(source, None) is not None:
        raise ValueError("the bundle is longer than its members")


def inflate(chunks: Iterable[bytes] | Iterable[memoryview], size: int) -> Iterator[bytes]:
    """A raw DEFLATE stream's output, in pieces of at most ``CHUNK`` bytes.

    :raises ValueError: the stream is corrupt, ends early, has bytes past its end, or does not
        inflate to exactly ``size`` bytes (a bomb stops at ``size + 1``).
    """
    inflater = inflating.engine()
    produced = 0

    def counted(out: bytes) -> bytes:
        nonlocal produced
        produced += len(out)
        if produced > size:
            raise ValueError(f"inflates to more than its {size} bytes")
        return out

    for chunk in chunks:
        for out in inflating.feed(inflater, chunk, CHUNK):
            yield counted(out)
    for out in inflating.finish(inflater, CHUNK):
        yield counted(out)
    if produced != size:
        raise ValueError(f"inflates to {produced} bytes, not {size}")


def member_chunks(container: str, obj: str, entry, chunks: Iterable[Chunk]) -> Iterator[Chunk | bytes]:
    """The file of manifest ``entry`` from its bytes in bundle ``obj`` (inflated if it is kept
    deflated), checked against the entry's size and MD5 (or, kept deflated without one, its
    CRC-32) after the last chunk.

    :raises errors.IntegrityError: the bytes are not the file the manifest recorded.
    """
    if entry.deflated is None:
        return _checked(container, obj, entry, chunks, by_md5=bool(entry.md5))
    return _checked(container, obj, entry, inflate(chunks, entry.size), by_md5=bool(entry.md5))


def kept_file_chunks(container: str, obj: str, entry, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The file of manifest ``entry`` kept as a DEFLATE stream in an object of its own (whose
    ETag the caller checks while reading ``chunks``): inflated, and checked against the entry's
    size and CRC-32 after the last chunk.

    :raises errors.IntegrityError: the stream does not inflate to the file the manifest recorded.
    """
    return _checked(container, obj, entry, inflate(chunks, entry.size), by_md5=False)


def _checked(container: str, obj: str, entry, plain: Iterable[Chunk], *, by_md5: bool) -> Iterator[Chunk]:
    """``plain`` (the file's bytes, maybe as they are inflated) passed on, then checked against
    the entry's size and, ``by_md5``, its MD5, else its CRC-32."""
    digest, crc, n = transfer.ContentDigest() if by_md5 else transfer.NO_DIGEST, 0, 0
    try:
        for chunk in plain:
            if by_md5:
                digest.update(chunk)
            else:
                crc = inflating.crc32(chunk, crc)
            n += len(chunk)
            yield chunk
    except ValueError as exc:
        raise errors.IntegrityError(f"download not verified: {entry.name}: {exc}", container=container,
                                    obj=obj) from exc
    if by_md5:
        transfer.check_download(container, f"{obj} ({entry.name})", {}, n, digest, entry.size, entry.md5)
    elif n != entry.size or crc != entry.crc32:
        raise errors.IntegrityError(f"download not verified: {entry.name}: {n} bytes of CRC-32 {crc:08x}, "
                                    f"expected {entry.size} of {entry.crc32:08x}", container=container, obj=obj)
