"""The message APIs' bodies, as pfurl and pfcon send them to ``/api/v1/cmd``: a JSON object
``{"action": ..., "meta": {...}}``, optionally wrapped as ``{"payload": {...}}``.

Both services read and parse them here and turn a :class:`MessageError` into their own error type.
"""
from __future__ import annotations

import json
from typing import BinaryIO

MAX_MESSAGE_BYTES = 1 << 20
# Real messages nest a few levels; deeper ones only serve to exhaust the stack of whatever walks them
# (the parser, the JSON encoder of the reply's echo).
MAX_DEPTH = 32


class MessageError(ValueError):
    """A message that cannot be used: ``field`` names the part at fault (``body``, ``action``,
    ``meta``); ``status`` is the HTTP status (400, or 413 for a body over the limit)."""

    def __init__(self, message: str, field: str = "body", status: int = 400):
        super().__init__(message)
        self.field = field
        self.status = status


def read_body(stream: BinaryIO, content_length: int | None, limit: int = MAX_MESSAGE_BYTES) -> bytes:
    """The whole body (reads may come back short), refusing more than ``limit`` bytes.

    :raises MessageError: (413) the declared or the actual length is over ``limit``.
    """
    if content_length is not None and content_length > limit:
        raise MessageError(f"message larger than {limit} bytes", status=413)
    parts, size = [], 0
    while data := stream.read(min(limit + 1 - size, 1 << 16)):
        parts.append(data)
        size += len(data)
        if size > limit:
            raise MessageError(f"message larger than {limit} bytes", status=413)
    return b"".join(parts)


def loads(body: bytes | str, max_depth: int = MAX_DEPTH):
    """JSON of a body, nested at most ``max_depth`` levels.

    :raises MessageError: (400, field ``body``) not JSON, or nested deeper.
    """
    try:
        value = json.loads(body)
    except RecursionError:
        value = None
    except ValueError as e:
        raise MessageError(f"malformed message: the body is not JSON ({str(e)[:200]})") from None
    else:
        if depth_within(value, max_depth):
            return value
    raise MessageError(f"malformed message: JSON nested deeper than {max_depth} levels")


def depth_within(value, max_depth: int) -> bool:
    """Whether ``value``'s lists and objects nest at most ``max_depth`` levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > max_depth:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def parse(body: bytes | str, *, actions: str = "") -> tuple[str, dict]:
    """``(action, meta)`` of a message, with or without the ``payload`` wrapper; a null or missing
    ``meta`` is ``{}``.

    :param actions: the supported actions, named in the error for a missing action.
    :raises MessageError: not JSON, not an object, no string action, or a meta that is not an object.
    """
    msg = loads(body)
    if isinstance(msg, dict) and isinstance(msg.get("payload"), dict):
        msg = msg["payload"]
    if not isinstance(msg, dict):
        raise MessageError('malformed message: the body must be a JSON object '
                           '{"payload": {"action": ..., "meta": ...}}')
    action, meta = msg.get("action"), msg.get("meta")
    if not isinstance(action, str) or not action:
        raise MessageError("missing action: the message needs a string 'action'"
                           + (f" ({actions})" if actions else ""), "action")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise MessageError("malformed meta: meta must be a JSON object", "meta")
    return action, meta
