"""Verified single-object transfers over one swiftclient ``Connection`` (no threads here).

Every upload streams from disk through :class:`HashingReader`, which computes the MD5 of exactly
the bytes sent; the ETag Swift answers with must match it.  Every download computes the MD5 of
the bytes written and compares it with what the caller expects (a manifest entry) and, for a
plain object, with its ETag.  Retries, backoff and re-authentication are swiftclient's
(``Connection(retries=...)``): when it retries a PUT it seeks the reader back to 0, which also
restarts the MD5.

Each upload body also computes the CRC-32 of the bytes it sends, in the same pass (with zlib-ng:
some thirty times faster than MD5).  Once the ETag has vouched for those bytes, a manifest may
record that CRC-32, and a reader of the whole object checks it instead of hashing every byte
with MD5 again (:class:`Crc32Digest`): the version is pinned by the ETag (``If-Match``) all the
same, and the CRC-32 catches what changes on the way or on a disk.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Protocol

from swiftclient import exceptions as swift_exceptions
from requests import exceptions as requests_exceptions
from urllib3 import exceptions as urllib3_exceptions

from safearchive import inflating
from swiftstore import errors

log = logging.getLogger("swiftstore")

CHUNK = 1 << 20
MD5_META = "X-Object-Meta-Swiftstore-Md5"  # the whole MD5 of an SLO, as older versions recorded it
SEGMENT_SIZE_META = "X-Object-Meta-Swiftstore-Segment-Size"
# Failures of the transport that swiftclient gives up on (after its retries).
CLIENT_ERRORS = (swift_exceptions.ClientException, requests_exceptions.RequestException, OSError)
# A body read also meets urllib3's own errors (a connection cut mid-body, read without swiftclient's
# resuming wrapper: a ranged GET).
BODY_ERRORS = (*CLIENT_ERRORS, urllib3_exceptions.HTTPError)


@dataclass(frozen=True)
class ObjectInfo:
    """An object as listed or transferred: name, size in bytes and ETag (for an SLO: its own)."""

    name: str
    size: int
    etag: str


def _md5():
    return hashlib.md5(usedforsecurity=False)


class RewindableBody:
    """An upload body read forwards while hashing, which swiftclient may rewind to its start
    (``seek(0)`` before a retry): that restarts the hash and takes back the progress reported.
    Subclasses supply ``_rewind()`` and ``_read(size)`` (up to ``size`` bytes, b"" at the end)."""

    _pos = _crc = 0

    def __init__(self, on_bytes: Callable[[int], None] | None = None):
        self._on_bytes = on_bytes
        self.seek(0)

    def read(self, size: int = -1) -> bytes:
        # urllib3 asks for 16 KiB at a time; we hand back up to CHUNK.  Both it and swiftclient's
        # LengthWrapper just send what they get until b"", and the bigger blocks cut the client's
        # CPU per byte by a fifth and the wall time by a quarter.
        data = self._read(CHUNK if size is None or size < CHUNK else size)
        self._pos += len(data)
        self._hash.update(data)
        self._crc = inflating.crc32(data, self._crc)
        if self._on_bytes is not None and data:
            self._on_bytes(len(data))
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if pos != 0 or whence != 0:
            raise OSError(f"{type(self).__name__} only rewinds to its start")
        if self._pos and self._on_bytes is not None:
            self._on_bytes(-self._pos)
        self._rewind()
        self._pos, self._hash, self._crc = 0, _md5(), 0
        return 0

    @property
    def bytes_read(self) -> int:
        return self._pos

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    @property
    def crc32(self) -> int:
        """The CRC-32 of the bytes read since the last rewind (what was sent, once the PUT is done)."""
        return self._crc

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _rewind(self) -> None:
        raise NotImplementedError

    def _read(self, size: int) -> bytes:
        raise NotImplementedError


class HashingReader(RewindableBody):
    """A window ``[offset, offset + length)`` of a file (``tell`` is relative to the window)."""

    def __init__(self, path: str, offset: int, length: int, on_bytes: Callable[[int], None] | None = None):
        self._file = open(path, "rb")
        self._offset, self._length = offset, length
        super().__init__(on_bytes)

    def _rewind(self) -> None:
        self._file.seek(self._offset)

    def _read(self, size: int) -> bytes:
        size = min(size, self._length - self._pos)
        return self._file.read(size) if size > 0 else b""

    def close(self) -> None:
        self._file.close()


def _etag(value: str | None) -> str:
    return (value or "").strip('"').lower()


def put_window(conn, container: str, name: str, path: str, offset: int, length: int, *,
               content_type: str | None = None, headers: dict | None = None,
               on_bytes: Callable[[int], None] | None = None) -> tuple[str, int]:
    """PUT ``length`` bytes of ``path`` from ``offset`` as one object; return its verified MD5,
    and the CRC-32 of the bytes that MD5 is of.

    :raises errors.IntegrityError: Swift's ETag is not the MD5 of what was read (the object is
        deleted, so a corrupt copy never stays behind).
    :raises errors.TransferError: the PUT failed after swiftclient's retries.
    """
    with HashingReader(path, offset, length, on_bytes) as reader:
        md5 = put_reader(conn, container, name, reader, length, content_type=content_type, headers=headers)
        return md5, reader.crc32


def put_reader(conn, container: str, name: str, reader, length: int, *, content_type: str | None = None,
               headers: dict | None = None) -> str:
    """PUT ``length`` bytes from ``reader`` (a :class:`HashingReader` or anything with its
    ``read``/``seek(0)``/``hexdigest``/``bytes_read``) as one object; return its verified MD5."""
    try:
        # An empty body goes as b"": a zero-length reader would make requests send it chunked.
        body, chunk = (reader, CHUNK) if length else (b"", None)
        etag = conn.put_object(container, name, body, content_length=length,
                               content_type=content_type, headers=headers, chunk_size=chunk)
    except CLIENT_ERRORS as exc:
        raise errors.translate(exc, "PUT object", container=container, obj=name) from exc
    md5 = reader.hexdigest() if length else _md5().hexdigest()
    sent = reader.bytes_read
    if sent != length or _etag(etag) != md5:
        _delete_quietly(conn, container, name)
        raise errors.IntegrityError(f"upload not verified: sent {sent}/{length} bytes, MD5 {md5}, "
                                    f"Swift ETag {_etag(etag) or 'missing'}", container=container, obj=name)
    return md5


class ContentDigest:
    """What verifies an object's bytes in one pass: their MD5, or for an SLO of ``segment_size``
    segments, Swift's ETag of it (the MD5 of the segments' hex MD5s), computed while reading."""

    name = "MD5"
    of_etag = True
    """Whether Swift's ETag of the object is what this digest comes to (see :func:`expected_digest`)."""

    def __init__(self, segment_size: int = 0):
        self._size, self._left = segment_size, segment_size
        self._hash = _md5()
        self._parts: list[str] = []

    @property
    def segment_size(self) -> int:
        return self._size

    def update(self, data: bytes | memoryview) -> None:
        if not self._size:
            self._hash.update(data)
            return
        view = memoryview(data)
        while len(view):
            take = min(self._left, len(view))
            self._hash.update(view[:take])
            view, self._left = view[take:], self._left - take
            if not self._left:
                self._close_segment()

    def _close_segment(self) -> None:
        self._parts.append(self._hash.hexdigest())
        self._hash, self._left = _md5(), self._size

    def hexdigest(self) -> str:
        if not self._size:
            return self._hash.hexdigest()
        return slo_etag(self.segment_md5s())

    def segment_md5s(self) -> list[str]:
        """The hex MD5 of each segment read so far (the last may be partial)."""
        return self._parts + ([self._hash.hexdigest()] if self._left != self._size else [])


class _NoDigest(ContentDigest):
    """For bytes verified piece by piece elsewhere: hashing them whole again would cost a pass."""

    of_etag = False

    def update(self, data: bytes | memoryview) -> None:
        pass

    def hexdigest(self) -> str:
        return ""


NO_DIGEST = _NoDigest()


class Crc32Digest(ContentDigest):
    """The CRC-32 of the bytes (as 8 hex digits), for an object whose upload recorded it: see the
    module's docstring.  Swift's ETag is not computed, so it is not compared either."""

    name = "CRC-32"
    of_etag = False

    def __init__(self):
        super().__init__()
        self._crc = 0

    def update(self, data: bytes | memoryview) -> None:
        self._crc = inflating.crc32(data, self._crc)

    def hexdigest(self) -> str:
        return format_crc32(self._crc)


def format_crc32(crc: int) -> str:
    return f"{crc:08x}"


def digest_of(data: bytes, segment_size: int = 0) -> str:
    """The digest a manifest records for ``data``: its MD5, or as an SLO of ``segment_size``
    segments, the SLO's ETag."""
    digest = ContentDigest(segment_size)
    digest.update(data)
    return digest.hexdigest()


def digest_for(headers: dict, segment_size: int = 0) -> ContentDigest:
    """The digest to compute over an object's body: the manifest's ``segment_size`` if it gives
    one, else the object's own metadata (an SLO we wrote), else a plain MD5."""
    if not segment_size and is_slo(headers):
        value = str(headers.get(SEGMENT_SIZE_META.lower()) or "0")
        segment_size = int(value) if value.isdecimal() and len(value) < 16 else 0
    return ContentDigest(segment_size)


def is_slo(headers: dict) -> bool:
    return str(headers.get("x-static-large-object", "")).lower() == "true"


def slo_etag(etags: list[str]) -> str:
    """Swift's ETag of an SLO: the MD5 of its segments' ETags, in order."""
    return hashlib.md5("".join(etags).encode(), usedforsecurity=False).hexdigest()


def put_slo_manifest(conn, container: str, name: str, segments: list[dict], segment_size: int, *,
                     content_type: str | None = None, headers: dict | None = None) -> str:
    """PUT the SLO manifest (``multipart-manifest=put``) of already verified segments.

    Swift checks each segment's ETag and size itself; we then check the ETag it gives the
    whole (the MD5 of the segment ETags) and record the segment size, so that any reader can
    verify the object in the one pass it reads it (:class:`ContentDigest`).

    :param segments: ``{"path": "/<container>_segments/<name>", "etag": md5, "size_bytes": n}``.
    :raises errors.IntegrityError: the manifest ETag is not the MD5 of the segment ETags.
    """
    body = json.dumps(segments)
    expected = slo_etag([s["etag"] for s in segments])
    try:
        etag = conn.put_object(container, name, body, content_type=content_type,
                               query_string="multipart-manifest=put",
                               headers={**(headers or {}), SEGMENT_SIZE_META: str(segment_size)})
    except CLIENT_ERRORS as exc:
        raise errors.translate(exc, "PUT SLO manifest", container=container, obj=name) from exc
    if _etag(etag) != expected:
        _delete_quietly(conn, container, name)
        raise errors.IntegrityError(f"SLO manifest not verified: ETag {_etag(etag) or 'missing'}, "
                                    f"expected {expected}", container=container, obj=name)
    return expected


class Body(Protocol):
    """A GET's body as swiftclient hands it over: chunks, and a way to let the connection go."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


def open_object(conn, container: str, name: str, chunk_size: int = CHUNK, *,
                if_match: str | None = None, byte_range: tuple[int, int] | None = None) -> tuple[dict, Body]:
    """GET an object as ``(headers, chunk iterator)``; swiftclient resumes a broken body itself.

    :param if_match: the ETag the object must still have (a manifest's record of it); another
        one answers 412, raised as :class:`errors.VersionGone`, instead of other bytes.
    :param byte_range: ``(first, last)`` byte, inclusive: only those (the ETag is still the whole's).
    """
    headers = {}
    if if_match:
        headers["If-Match"] = if_match
    if byte_range:
        headers["Range"] = f"bytes={byte_range[0]}-{byte_range[1]}"
    try:
        if headers:
            return conn.get_object(container, name, resp_chunk_size=chunk_size, headers=headers)
        return conn.get_object(container, name, resp_chunk_size=chunk_size)
    except CLIENT_ERRORS as exc:
        raise errors.translate(exc, "GET object", container=container, obj=name) from exc


def expected_digest(headers: dict, digest: ContentDigest) -> str | None:
    """What ``digest`` must come to for this object: its ETag (a plain object, or an SLO read
    segment by segment), or the whole MD5 older versions recorded for an SLO; None if unknown, or
    if ``digest`` is no MD5 of the whole (:data:`NO_DIGEST`, a CRC-32)."""
    if not digest.of_etag:
        return None
    if is_slo(headers) and not digest.segment_size:
        return headers.get(MD5_META.lower()) or None
    return _etag(headers.get("etag")) or None


def download(conn, container: str, name: str, dest: str, *, size: int | None = None, md5: str | None = None,
             on_bytes: Callable[[int], None] | None = None, if_match: str | None = None,
             segment_size: int = 0) -> ObjectInfo:
    """Stream an object into the new file ``dest``, verifying it; ``dest`` is removed on failure.

    :param size: the expected size (a manifest entry), or None.
    :param md5: the expected digest (a manifest entry), or None to rely on the object's own ETag/metadata.
    :param segment_size: the manifest's segment size for an SLO (``md5`` is then its ETag).
    :param if_match: see :func:`open_object`.
    :raises errors.IntegrityError: size or MD5 differs from what was expected or from the ETag.
    """
    headers, body = open_object(conn, container, name, if_match=if_match)
    digest, written = digest_for(headers, segment_size), 0
    out = open(dest, "xb")  # never overwrite; and only what we created is removed on failure
    try:
        with out:
            for chunk in body_chunks(body, container, name, digest):  # our disk's errors raise as they are
                out.write(chunk)
                written += len(chunk)
                if on_bytes:
                    on_bytes(len(chunk))
        check_download(container, name, headers, written, digest, size, md5)
    except BaseException:
        _remove(dest)
        raise
    return ObjectInfo(name, written, _etag(headers.get("etag")))


def body_chunks(body: Iterable[bytes], container: str, name: str, digest: "ContentDigest") -> Iterator[bytes]:
    """A GET body's chunks, hashed into ``digest`` on the way, with the client's failures
    translated (our own disk's errors pass as they are)."""
    try:
        for chunk in body:
            digest.update(chunk)
            yield chunk
    except BODY_ERRORS as exc:
        if isinstance(exc, OSError) and not isinstance(exc, requests_exceptions.RequestException):
            raise
        raise errors.translate(exc, "GET object body", container=container, obj=name) from exc


def check_download(container: str, name: str, headers: dict, written: int, digest: ContentDigest,
                   size: int | None, md5: str | None) -> None:
    """:raises errors.IntegrityError: ``written`` bytes of ``digest`` are not what the caller
    expected (``size``, ``md5``: None for no expectation) or what the object's ETag says."""
    problems, got = [], digest.hexdigest()
    if size is not None and written != size:
        problems.append(f"size {written}, expected {size}")
    if md5 is not None and got != md5:
        problems.append(f"{digest.name} {got}, expected {md5}")
    own = expected_digest(headers, digest)
    if own is not None and got != own:
        problems.append(f"MD5 {got}, but Swift says {own}")
    if problems:
        raise errors.IntegrityError("download not verified: " + "; ".join(problems), container=container, obj=name)


def delete_object(conn, container: str, name: str, *, missing_ok: bool = True) -> None:
    """DELETE one object (not its SLO segments).

    :raises errors.NotFound: the object is missing and ``missing_ok`` is false.
    """
    try:
        conn.delete_object(container, name)
    except CLIENT_ERRORS as exc:
        if missing_ok and getattr(exc, "http_status", None) == 404:
            return
        raise errors.translate(exc, "DELETE object", container=container, obj=name) from exc


def _delete_quietly(conn, container: str, name: str) -> None:
    try:
        delete_object(conn, container, name)
    except errors.SwiftStoreError as exc:
        log.warning("could not remove unverified object: %s", exc)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
