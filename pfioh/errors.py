"""pfioh's own exceptions.  Each carries the HTTP status it maps to; :mod:`pfioh.app` renders them.

Only one place (the app's error handler) turns these into HTTP replies, so handlers and stores
raise what went wrong and never build responses themselves.
"""
from __future__ import annotations


def clip(text: str, limit: int = 120) -> str:
    """``repr(text)`` cut to ``limit`` characters: for names clients choose, in logs and errors
    (a hostile name must not flood the log)."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


class PfiohError(Exception):
    """Base class.  ``status`` is the HTTP status the client gets; ``extra`` goes into the JSON."""

    status = 500

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.extra = extra


class BadRequest(PfiohError):
    """The request is malformed: missing/invalid meta, key, form field or action."""

    status = 400


class Unauthorized(PfiohError):
    """No bearer token, or an unknown one."""

    status = 401


class NotFound(PfiohError):
    """Nothing is stored under the key (or its output is not complete yet)."""

    status = 404


class UnsafeArchive(PfiohError):
    """The uploaded zip is corrupt, truncated, or tries path traversal, links or device files."""

    status = 400


class TooLarge(PfiohError):
    """The upload, or what it unpacks to, exceeds a configured limit (zip bombs included)."""

    status = 413


class Busy(PfiohError):
    """Another transfer of the key held its lock for longer than the lock timeout."""

    status = 409


class LinkRefused(PfiohError):
    """A symbolic link stands where the store keeps a key's data: it is never followed."""

    status = 409


class UriTooLong(PfiohError):
    """The query string exceeds pfioh's documented limit."""

    status = 414


class StorageError(PfiohError):
    """The storage backend (disk or Swift) failed: the server's fault, not the client's."""

    status = 502
