"""A zip written as a stream, whose members may be passed through already compressed.

Python's zipfile can only compress what it is given: a file Swift keeps as a DEFLATE stream would
have to be inflated and deflated again to go into a pulled zip.  Here such a member is written as
it is (its CRC-32 and both sizes are known up front, from the manifest), and every other member is
stored, streamed, with its CRC-32 computed on the way and written after its data (a data
descriptor), as zipfile does on a stream; or, when its CRC-32 is known up front too, in its local
header, which a receiver that unpacks while the zip arrives (pfioh's) needs.  Zip64 records
appear only where a size, an offset or the count needs them, so small pulls stay readable by any
unzip.

Nothing is seekable and nothing is held back: each member's bytes are sent as they come, gathered
into writes of about ``SEND_BYTES`` so a zip of many small files is not one write per header.
Its length is known before any of it is made (:func:`length`, from the members' names and sizes),
so it can be sent with a Content-Length: a client then shows an exact total and tells a zip cut
short from a finished one by its length alone.
"""
from __future__ import annotations

import dataclasses
import struct
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from safearchive import inflating
from safearchive.zipformat import DEFLATED, DESCRIPTOR, LOCAL_HEADER, LOCAL_SIGNATURE, STORED, UTF8

SEND_BYTES = 256 << 10
# Sizes and offsets above this get zip64 records (as zipfile: some readers take values past 2 GiB
# for negative numbers).
ZIP64_LIMIT = (1 << 31) - 1
_MAX32 = 0xFFFFFFFF
_UNIX = 3 << 8  # "made by" Unix: the external attributes are a file mode
_FILE_MODE = 0o100644 << 16

_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")
_END64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR64 = struct.Struct("<4sLQL")


class BadName(ValueError):
    """A member's name is no text a zip can carry (undecodable bytes from the file system)."""


class SizeMismatch(ValueError):
    """A member's data is not as long as announced, or not the CRC-32 announced (the zip must not
    be finished then)."""


@dataclass(frozen=True)
class Member:
    """One file of the zip: its name, size, modification time and data.

    ``deflated``, if given, is ``(crc32, compressed size)``: ``chunks`` are then that raw DEFLATE
    stream of the file, written as they are.  Otherwise the member is stored, and ``crc32``, if
    given, is that of its data (checked as it is written: a wrong one raises :class:`SizeMismatch`)."""

    name: str
    size: int
    mtime: float
    chunks: Iterable[bytes]
    deflated: tuple[int, int] | None = None
    crc32: int | None = None


@dataclass(frozen=True)
class _Record:
    """What the central directory says of a member written earlier."""

    name: bytes
    flags: int
    method: int
    dos: tuple[int, int]
    crc: int
    csize: int
    size: int
    offset: int


class _Out:
    """Bytes waiting to be sent, and how many were sent before them (the next offset)."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.pending = self.position = 0

    def write(self, data: bytes) -> None:
        self.parts.append(data)
        self.pending += len(data)
        self.position += len(data)

    def drain(self, at_least: int = 1) -> Iterator[bytes]:
        if self.pending >= at_least:  # (bytes() of bytes is the object itself; of a view, a copy)
            data = bytes(self.parts[0]) if len(self.parts) == 1 else b"".join(self.parts)
            self.parts, self.pending = [], 0
            yield data


class _Counter(_Out):
    """An :class:`_Out` that only counts what is written to it."""

    def write(self, data: bytes) -> None:
        self.position += len(data)


def stream(members: Iterable[Member], comment: bytes = b"", *, announced: int | None = None) -> Iterator[bytes]:
    """Yield the zip of ``members`` chunk by chunk.

    :param announced: the length sent ahead (:func:`length`); checked before the last chunk.
    :raises SizeMismatch: a member's data is shorter or longer than announced, or a stored
        member's is not its announced CRC-32, or the zip is not ``announced`` bytes long (raised
        before the zip is complete: the receiver sees a broken transfer, never a wrong file).
    :raises BadName: a name is not valid UTF-8 (:func:`length` raises it first).
    """
    out, records = _Out(), []
    for member in members:
        record = _start(out, member)
        yield from out.drain(SEND_BYTES)
        crc, written = 0, 0
        for chunk in member.chunks:
            if member.deflated is None:
                crc = inflating.crc32(chunk, crc)
            written += len(chunk)
            if len(chunk) >= SEND_BYTES:  # sent on its own, as it is: not copied into a join
                yield from out.drain()
            out.write(chunk)
            yield from out.drain(SEND_BYTES)
        if written != record.csize:
            raise SizeMismatch(f"{member.name}: expected {record.csize} bytes, read {written}")
        if member.deflated is None and member.crc32 is not None and crc != member.crc32:
            raise SizeMismatch(f"{member.name}: its data is not the CRC-32 announced")
        if record.flags & DESCRIPTOR:
            record = _end_stored(out, record, crc)
        records.append(record)
    _central_directory(out, records, comment)
    if announced is not None and out.position != announced:
        raise SizeMismatch(f"the zip is {out.position} bytes, not the {announced} announced")
    yield from out.drain()


def length(members: Iterable[Member], comment: bytes = b"") -> int:
    """How many bytes :func:`stream` yields for ``members`` (whose ``chunks`` are not read).

    Laid out by the very code that writes the zip, with each member's data counted, not read: the
    two cannot disagree on a header, a data descriptor or a zip64 record.
    """
    out, records = _Counter(), []
    for member in members:
        record = _start(out, member)
        out.position += record.csize
        if record.flags & DESCRIPTOR:
            record = _end_stored(out, record, 0)
        records.append(record)
    _central_directory(out, records, comment)
    return out.position


def _start(out: _Out, member: Member) -> _Record:
    """Write ``member``'s local header; its record (the CRC is still 0 for a stored member)."""
    try:
        name, flags = member.name.encode("ascii"), 0
    except UnicodeEncodeError:
        try:
            name, flags = member.name.encode("utf-8"), UTF8
        except UnicodeEncodeError:  # surrogate-escaped bytes: refused, not sent under a mangled name
            raise BadName(f"{member.name!r:.200}: the name is not valid UTF-8") from None
    if member.deflated is None and member.crc32 is None:
        record = _Record(name, flags | DESCRIPTOR, STORED, _dos_time(member.mtime), 0, member.size,
                         member.size, out.position)
        crc = csize = size = 0  # in the descriptor, after the data
    elif member.deflated is None:
        crc = member.crc32
        record = _Record(name, flags, STORED, _dos_time(member.mtime), crc, member.size, member.size, out.position)
        csize = size = member.size
    else:
        crc, csize = member.deflated
        record = _Record(name, flags, DEFLATED, _dos_time(member.mtime), crc, csize, member.size, out.position)
        size = member.size
    big = _is_big(record)
    extra = struct.pack("<2H2Q", 1, 16, size, csize) if big else b""
    out.write(LOCAL_HEADER.pack(LOCAL_SIGNATURE, _needs(big), record.flags, record.method, *record.dos, crc,
                                _MAX32 if big else csize, _MAX32 if big else size, len(name), len(extra)))
    out.write(name + extra)
    return record


def _end_stored(out: _Out, record: _Record, crc: int) -> _Record:
    """The data descriptor after a stored member's data; its record with the CRC."""
    layout = "<4sL2Q" if _is_big(record) else "<4s3L"
    out.write(struct.pack(layout, b"PK\x07\x08", crc, record.csize, record.size))
    return dataclasses.replace(record, crc=crc)


def _central_directory(out: _Out, records: list[_Record], comment: bytes) -> None:
    start = out.position
    for r in records:
        big, far = _is_big(r), r.offset > ZIP64_LIMIT
        fields = ([r.size, r.csize] if big else []) + ([r.offset] if far else [])
        extra = struct.pack(f"<2H{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
        needs = _needs(big or far)
        out.write(_CENTRAL.pack(b"PK\x01\x02", _UNIX | needs, needs, r.flags, r.method, *r.dos, r.crc,
                                _MAX32 if big else r.csize, _MAX32 if big else r.size, len(r.name), len(extra),
                                0, 0, 0, _FILE_MODE, _MAX32 if far else r.offset))
        out.write(r.name + extra)
    size, count = out.position - start, len(records)
    end64 = None
    if count >= 0xFFFF or start > ZIP64_LIMIT or size > ZIP64_LIMIT:
        end64 = out.position
        out.write(_END64.pack(b"PK\x06\x06", _END64.size - 12, _UNIX | 45, 45, 0, 0, count, count, size, start))
        out.write(_LOCATOR64.pack(b"PK\x06\x07", 0, end64, 1))
    zip64 = end64 is not None
    out.write(_END.pack(b"PK\x05\x06", 0, 0, min(count, 0xFFFF), min(count, 0xFFFF), _MAX32 if zip64 else size,
                        _MAX32 if zip64 else start, len(comment)))
    out.write(comment)


def _is_big(record: _Record) -> bool:
    return record.size >= ZIP64_LIMIT or record.csize >= ZIP64_LIMIT


def _needs(zip64: bool) -> int:
    """The "version needed to extract": 4.5 for zip64, else 2.0 (deflate)."""
    return 45 if zip64 else 20


def _dos_time(mtime: float) -> tuple[int, int]:
    """``(time, date)`` in DOS format; zip dates run from 1980 to 2107."""
    y, mo, d, h, mi, s = time.localtime(min(max(mtime, 315532800), 4354819199))[:6]
    return h << 11 | mi << 5 | s // 2, (min(y, 2107) - 1980) << 9 | mo << 5 | d
