"""The pieces of the pfurl/pfcon wire protocol a pfioh client needs.

- control messages are JSON POSTs with header ``Mode: control``;
- checkRemote and pull are GETs ``?action=<pushPath|pullPath>&meta=<str(dict)>`` (a Python literal,
  as pfurl sends it: single quotes, True/False);
- a push is a multipart POST with header ``Mode: file`` and exactly three fields, in this order:
  ``d_msg`` (the JSON message), ``filename`` and ``local`` (the zip).
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Callable, Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PATH = "/api/v1/cmd"


class ReplyError(Exception):
    """A server reply that is not the JSON the protocol promises."""


def normalize_url(url: str, default_port: int) -> str:
    """``host[:port][/path]`` or a full URL to ``http(s)://host:port/path`` (path default /api/v1/cmd)."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(f"not a server URL: {url!r}")
    netloc = parts.netloc if parts.port else f"{parts.netloc}:{default_port}"
    return urlunsplit((parts.scheme, netloc, parts.path if parts.path not in ("", "/") else DEFAULT_PATH,
                       "", ""))


def transport(check_remote: bool) -> dict:
    """pfurl's default transport: zip, unpacked by the server, temp archives cleaned up."""
    return {"mechanism": "compress",
            "compress": {"archive": "zip", "unpack": True, "cleanup": True},
            "checkRemote": check_remote}


def path_meta(key: str, local_path: str, *, check_remote: bool, special_handling: dict | None = None,
              create_dir: bool = False, service_man: str | None = None) -> dict:
    """The ``meta`` of a pushPath/pullPath message."""
    local = {"path": local_path, **({"createDir": True} if create_dir else {})}
    meta = {"remote": {"key": key}, "local": local, "transport": transport(check_remote)}
    if special_handling:
        meta["specialHandling"] = special_handling
    if service_man:
        meta["serviceMan"] = service_man
    return meta


def query(action: str, meta: dict) -> dict:
    """GET parameters: ``meta`` as ``str(dict)``, exactly what pfurl puts on the wire."""
    return {"action": action, "meta": str(meta)}


def parse_reply(body: bytes) -> dict:
    """Decode a JSON reply, tolerating the original pfioh's ``--httpResponse`` framing, which nests
    ``200 OK\\r\\nContent-Type: ...\\r\\n\\r\\n{json}`` inside the body.

    :raises ReplyError: if no JSON object can be found.
    """
    text = body.decode("utf-8", "replace").strip()
    start = text.find("{")
    if start < 0:
        raise ReplyError(f"the server's reply is not JSON: {text[:200]!r}")
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError as exc:
        raise ReplyError(f"the server's reply is not JSON: {text[:200]!r}") from exc
    if not isinstance(value, dict):
        raise ReplyError(f"the server's reply is not a JSON object: {text[:200]!r}")
    return value


class MultipartUpload:
    """A streamed ``multipart/form-data`` body with the three push fields; the zip is read from disk
    chunk by chunk, so a push never holds the archive in memory.

    Exposes ``read``/``__len__`` so HTTP libraries send it with a Content-Length (the original pfioh's
    cgi parser needs one) instead of chunked encoding.

    :param progress: called with the number of zip bytes in each chunk handed to the socket.
    :param on_sent: called once, when the HTTP library finds the body exhausted (everything was
        handed to the socket; from then on the server has it and the client waits).
    """

    def __init__(self, d_msg: dict, zip_path: Path, filename: str,
                 progress: Callable[[int], None] | None = None,
                 on_sent: Callable[[], None] | None = None):
        self.boundary, head, self._tail = _frame(d_msg, filename)
        self._head, self._file = head, open(zip_path, "rb")
        self._size = len(head) + os.path.getsize(zip_path) + len(self._tail)
        self._progress, self._on_sent = progress, on_sent

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def headers(self) -> dict[str, str]:
        """The POST's headers for this body: ``Mode: file``, its content type and length."""
        return {"Mode": "file", "Content-Type": self.content_type, "Content-Length": str(len(self))}

    def __len__(self) -> int:
        return self._size

    def read(self, size: int = -1) -> bytes:
        size = self._size if size is None or size < 0 else size
        out = b""
        if self._head:
            out, self._head = self._head[:size], self._head[size:]
        if len(out) < size:
            chunk = self._file.read(size - len(out))
            if self._progress and chunk:
                self._progress(len(chunk))
            out += chunk
        if len(out) < size and self._tail:
            take = size - len(out)
            out, self._tail = out + self._tail[:take], self._tail[take:]
        if not out and size > 0 and self._on_sent:
            on_sent, self._on_sent = self._on_sent, None
            on_sent()
        return out

    def close(self) -> None:
        self._file.close()


class StreamedUpload:
    """The same body with a zip that is still being written (``zip_chunks``), sent with chunked
    transfer encoding: only to a server that says it takes that (``X-Pfioh-Chunked-Push``).

    :param on_sent: called once the last chunk is handed over, with the zip's size.
    """

    def __init__(self, d_msg: dict, zip_chunks: Iterable[bytes], filename: str,
                 on_sent: Callable[[int], None] | None = None):
        self.boundary, self._head, self._tail = _frame(d_msg, filename)
        self._zip, self._on_sent = zip_chunks, on_sent

    @property
    def headers(self) -> dict[str, str]:
        """``Mode: file`` and the content type (no length: the HTTP library sends chunks)."""
        return {"Mode": "file", "Content-Type": f"multipart/form-data; boundary={self.boundary}"}

    def __iter__(self) -> Iterator[bytes]:
        """The body's chunks.

        :raises ZipFailed: making the zip failed (the server sees the body break off, and stores
            nothing).
        """
        yield self._head
        size = 0
        try:
            for chunk in self._zip:
                size += len(chunk)
                yield chunk
        except (OSError, ValueError) as exc:
            # Not an OSError, which the HTTP library would report as a broken connection.
            raise ZipFailed(str(exc)) from exc
        yield self._tail
        if self._on_sent:
            self._on_sent(size)


class ZipFailed(Exception):
    """The zip being sent could not be made (a file unreadable, or changed while zipped)."""


def _frame(d_msg: dict, filename: str) -> tuple[str, bytes, bytes]:
    """``(boundary, what comes before the zip, what comes after it)`` of a push's body."""
    boundary = f"pfioh-client-{uuid.uuid4().hex}"
    b = boundary.encode()
    field = lambda name, value: (b"--" + b + b'\r\nContent-Disposition: form-data; name="'
                                 + name + b'"\r\n\r\n' + value + b"\r\n")
    head = (field(b"d_msg", json.dumps(d_msg).encode()) + field(b"filename", filename.encode())
            + b"--" + b + b'\r\nContent-Disposition: form-data; name="local"; filename="'
            + filename.encode() + b'"\r\nContent-Type: application/octet-stream\r\n\r\n')
    return boundary, head, b"\r\n--" + b + b"--\r\n"
