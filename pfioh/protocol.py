"""Parsing pfioh's wire messages into dataclasses, rejecting bad input with a named 4xx.

The messages, as pfurl and pfcon send them:

* control POST: JSON ``{"action": ..., "meta": {...}}``, optionally wrapped as ``{"payload": ...}``;
* checkRemote/pull GET: ``?action=<pushPath|pullPath>&meta=<dict>``, where the dict is a Python
  literal (pfurl sends ``str(dict)``) or JSON;
* push POST (``Mode: file``): multipart fields ``d_msg`` (the JSON message), ``filename``, ``local``.
"""
from __future__ import annotations

import ast
import json
import posixpath
import urllib.parse
from dataclasses import dataclass, field

from httpkit import messages
from pfioh import errors

MAX_META_CHARS = 64 * 1024
MAX_QUERY_BYTES = 8000
"""Longest query string of a GET.  gunicorn refuses request lines over 8190 bytes itself (with
its own HTML 414, before pfioh sees the request); up to that, pfioh answers a JSON 414 above this
limit, so a client learns the limit whatever the path's length.  pfurl's meta dicts are well
under 1 KB."""
MAX_NAME_BYTES = 255
"""Longest file name of a non-zip upload (NAME_MAX)."""
PATH_ACTIONS = ("pushPath", "pullPath")
MAX_KEY_BYTES = 256
CHUNKED_PUSH_HEADER = "X-Pfioh-Chunked-Push"
"""Sent (``1``) with the reply to a push's checkRemote: this server takes a push whose body comes
with chunked transfer encoding, so a client may zip while it sends (the original pfioh's cgi
parser needs a Content-Length: a client that does not see this header sends a finished zip)."""


@dataclass(frozen=True)
class Transport:
    """``meta.transport``: how the data travels (only compress/zip is meaningful today)."""

    mechanism: str = "compress"
    archive: str = "zip"
    unpack: bool = True
    cleanup: bool = True
    check_remote: bool = False

    @property
    def is_zip(self) -> bool:
        """The payload is a zip to unpack (the original's test: unpack and archive == "zip")."""
        return self.unpack and self.archive == "zip"


@dataclass(frozen=True)
class PathRequest:
    """A pushPath or pullPath message."""

    action: str
    key: str
    transport: Transport = field(default_factory=Transport)
    local_path: str = ""
    special_op: str | None = None
    """``specialHandling.op`` (``"plugin"``: incoming/outgoing split in mount mode)."""
    special_cleanup: bool = False
    service_man: str | None = None
    meta: dict = field(default_factory=dict, repr=False)

    @property
    def plugin(self) -> bool:
        """The op=plugin pre/post operations apply (the original skips them for openshift)."""
        return self.special_op == "plugin" and self.service_man != "openshift"


def validate_key(key) -> str:
    """Check a key against Swift's container-name rules (it also names a directory in mount mode).

    :raises errors.BadRequest: if it is missing or invalid, saying why.
    """
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not key:
        raise errors.BadRequest("missing key: meta.remote.key must be a non-empty string")
    if "/" in key or key in (".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise errors.BadRequest(f"invalid key {key[:80]!r}: it must not contain '/' or control characters, "
                                "nor be '.' or '..'")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise errors.BadRequest("invalid key: not valid UTF-8 text") from None
    if size > MAX_KEY_BYTES:
        raise errors.BadRequest(f"invalid key: longer than {MAX_KEY_BYTES} bytes")
    return key


def parse_meta_text(text: str | None) -> dict:
    """Parse the ``meta`` query value: JSON first, then a Python literal (``ast.literal_eval``).

    :raises errors.BadRequest: if it is missing, too long, not parsable, or not a dict.
    """
    if text is None or not text.strip():
        raise errors.BadRequest("missing meta: the query needs meta=<dict>")
    if len(text) > MAX_META_CHARS:
        raise errors.BadRequest(f"malformed meta: longer than {MAX_META_CHARS} characters")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        try:
            value = ast.literal_eval(text)
        # literal_eval raises several types on hostile input (deep nesting included).
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
            raise errors.BadRequest(f"malformed meta: not JSON nor a Python literal ({e.__class__.__name__})") from None
    if not isinstance(value, dict):
        raise errors.BadRequest("malformed meta: must be a dict")
    return value


def parse_message(body: bytes | str) -> tuple[str, dict]:
    """Parse a JSON control message (or ``d_msg``), unwrapping ``payload``.

    :returns: ``(action, meta)``.
    :raises errors.BadRequest: if it is not a JSON object with a string action and dict meta.
    """
    try:
        return messages.parse(body)
    except messages.MessageError as e:
        raise errors.BadRequest(str(e)) from None


def _section(meta: dict, name: str) -> dict:
    value = meta.get(name) or {}
    if not isinstance(value, dict):
        raise errors.BadRequest(f"malformed meta: meta.{name} must be an object")
    return value


def parse_transport(meta: dict) -> Transport:
    """``meta.transport`` with the original defaults (compress, zip, unpack, cleanup)."""
    t = _section(meta, "transport")
    compress = t.get("compress") or {}
    if not isinstance(compress, dict):
        raise errors.BadRequest("malformed meta: meta.transport.compress must be an object")
    mechanism = "copy" if "copy" in t and "compress" not in t else str(t.get("mechanism", "compress"))
    return Transport(mechanism=mechanism, archive=str(compress.get("archive", "zip")),
                     unpack=bool(compress.get("unpack", True)), cleanup=bool(compress.get("cleanup", True)),
                     check_remote=bool(t.get("checkRemote", False)))


def parse_path_request(action: str, meta: dict) -> PathRequest:
    """Turn a pushPath/pullPath meta dict into a :class:`PathRequest`.

    :raises errors.BadRequest: unknown action, missing/invalid key or malformed sections.
    """
    if action not in PATH_ACTIONS:
        raise errors.BadRequest(f"unknown action {action[:80]!r}: expected one of {', '.join(PATH_ACTIONS)}")
    remote, local, special = _section(meta, "remote"), _section(meta, "local"), _section(meta, "specialHandling")
    op = special.get("op")
    return PathRequest(
        action=action, key=validate_key(remote.get("key")), transport=parse_transport(meta),
        local_path=str(local.get("path", "")), special_op=str(op) if op is not None else None,
        special_cleanup=bool(special.get("cleanup", False)),
        service_man=str(meta["serviceMan"]) if meta.get("serviceMan") is not None else None, meta=meta)


def query_args(raw: bytes) -> dict[str, str]:
    """A GET's query parameters, decoded strictly (first value of each name).

    werkzeug keeps undecodable percent-escapes as text (``%FF`` stays ``"%FF"``), so an invalid
    UTF-8 key would be stored under that mangled name: it is refused instead.

    :raises errors.TooLarge: longer than :data:`MAX_QUERY_BYTES` (414).
    :raises errors.BadRequest: not valid UTF-8 once percent-decoded.
    """
    if len(raw) > MAX_QUERY_BYTES:
        raise errors.UriTooLong(f"query string too long: {len(raw)} bytes, the limit is {MAX_QUERY_BYTES}")
    try:
        pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8",
                                       errors="strict")
    except UnicodeDecodeError:
        raise errors.BadRequest("malformed query: not valid UTF-8 once percent-decoded") from None
    args: dict[str, str] = {}
    for name, value in pairs:
        args.setdefault(name, value)
    return args


def parse_query(args) -> PathRequest:
    """Parse a GET's ``action`` and ``meta`` query parameters (see :func:`query_args`).

    :raises errors.BadRequest: missing action or meta, or anything :func:`parse_path_request` rejects.
    """
    action = args.get("action")
    if not action:
        raise errors.BadRequest("missing action: the query needs action=pushPath|pullPath")
    return parse_path_request(action, parse_meta_text(args.get("meta")))


def upload_name(request: PathRequest, filename: str | None) -> str:
    """The file name for a non-zip upload: the basename of ``local.path``, else the sent filename.

    :raises errors.BadRequest: if neither yields a safe single path component.
    """
    for candidate in (request.local_path.rstrip("/"), filename or ""):
        name = posixpath.basename(candidate.replace("\\", "/"))
        if name and name not in (".", "..") and "\x00" not in name:
            size = len(name.encode("utf-8", "surrogatepass"))
            if size > MAX_NAME_BYTES:
                raise errors.BadRequest(f"file name too long: {name[:60]!r}... is {size} bytes, at most "
                                        f"{MAX_NAME_BYTES} (NAME_MAX)")
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                raise errors.BadRequest(f"invalid file name {name[:60]!r}: not valid UTF-8") from None
            return name
    raise errors.BadRequest("missing file name: neither meta.local.path nor filename names a file")
