"""swiftstore's own exception family.

Callers (pfioh, pman, the publisher) catch these and translate them at one boundary; they never
see swiftclient's or keystoneauth1's exceptions, which are chained with ``from`` for the logs.
"""
from __future__ import annotations

# Remote bodies can be large or carry echoed request data: keep only the start in messages.
_BODY_LIMIT = 256


def _clip(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= _BODY_LIMIT else text[:_BODY_LIMIT] + "..."


class SwiftStoreError(Exception):
    """Base class: a store operation failed.  Carries the container and object it concerned."""

    def __init__(self, message: str, *, container: str | None = None, obj: str | None = None,
                 http_status: int | None = None):
        self.container = container
        self.obj = obj
        self.http_status = http_status
        where = "/".join(p for p in (container, obj) if p)
        super().__init__(f"{message} [{where}]" if where else message)


class CredentialsError(SwiftStoreError):
    """The credentials file or environment is missing, unreadable or incomplete."""


class AuthenticationError(SwiftStoreError):
    """Swift or Keystone refused the credentials."""


class InvalidName(SwiftStoreError, ValueError):
    """A container or object name breaks Swift's naming rules."""


class NotFound(SwiftStoreError):
    """The container, object or prefix does not exist."""


class IntegrityError(SwiftStoreError):
    """Data failed verification: an ETag/MD5 or size mismatch, or a manifest that does not match."""


class IncompleteError(IntegrityError):
    """A prefix has no manifest (it is being written, or a writer died): it must not be consumed."""


class VersionGone(IntegrityError):
    """An object of the stored version being read was replaced or removed meanwhile (a newer
    version took over): the read stops rather than mix two versions."""


class TransferError(SwiftStoreError):
    """An upload or download failed after swiftclient's own retries."""


class DestinationExists(SwiftStoreError):
    """A download target already holds data and the caller did not ask to replace it."""


class UnsafeArchive(IntegrityError):
    """A zip archive has an entry that would escape its directory, or breaks a size/ratio limit."""


def clip(text: str | bytes | None) -> str:
    """A remote body cut to a log-safe length (bytes are decoded leniently)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return _clip(text)


def translate(exc: BaseException, action: str, *, container: str | None = None,
              obj: str | None = None) -> SwiftStoreError:
    """Our exception for a swiftclient/requests failure (the caller raises it ``from exc``).

    swiftclient's ``ClientException`` carries ``http_status`` and ``http_response_content``; we
    read them by name so this module stays free of third-party imports.

    :param exc: the exception swiftclient raised (after its own retries).
    :param action: what we were doing, e.g. ``"PUT object"``.
    """
    status = getattr(exc, "http_status", None)
    body = clip(getattr(exc, "http_response_content", None))
    reason = f"HTTP {status}" + (f": {body}" if body else "") if status else (str(exc).splitlines() or [""])[0]
    message = f"{action} failed: {clip(reason)}"
    cls: type[SwiftStoreError]
    if status == 404:
        message = f"{action}: not found"  # Swift's 404 body is a bit of HTML, of no use to anyone
        cls = NotFound
    elif status in (401, 403):
        cls = AuthenticationError
    elif status == 412:
        message = f"{action}: the object changed since its manifest was written"
        cls = VersionGone
    else:
        cls = TransferError
    return cls(message, container=container, obj=obj, http_status=status)
