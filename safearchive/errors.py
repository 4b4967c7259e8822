"""What :mod:`safearchive` raises.  Callers wrap these in their own exception types."""
from __future__ import annotations


class ArchiveError(Exception):
    """An archive cannot be accepted.  ``entry`` is the offending entry's name, when there is one."""

    def __init__(self, message: str, entry: str | None = None):
        super().__init__(message)
        self.entry = entry


class UnsafeEntry(ArchiveError):
    """An entry is a link or a device, appears twice, or clashes with another entry."""


class UnsafeName(UnsafeEntry):
    """An entry's name is empty, absolute, climbs out with ``..``, or holds a NUL or a backslash."""


class CorruptArchive(ArchiveError):
    """Not a zip, truncated, or an entry whose data does not match its header (size, CRC, method)."""


class LimitExceeded(ArchiveError):
    """Too many entries, too many bytes, or compressed too well (a zip bomb)."""


class DestinationError(FileExistsError):
    """The destination cannot take a staged directory: it is not a directory, or not empty.

    A :class:`FileExistsError` (so an ``OSError``): something is in the way on the file system.
    """
