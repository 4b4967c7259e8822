"""Swift naming rules and the mapping between local paths and object names (pure, no I/O).

Checked before any request, so a bad name never reaches Swift (or becomes a path on disk).
"""
from __future__ import annotations

import posixpath

from swiftstore import errors

MAX_CONTAINER_BYTES = 256
MAX_OBJECT_BYTES = 1024
MANIFEST_SUFFIX = ".manifest.json"
SEGMENTS_SUFFIX = "_segments"


def _utf8(name: str, what: str, container: str | None = None) -> bytes:
    try:
        return name.encode("utf-8")
    except UnicodeEncodeError:
        # A file name made of undecodable bytes (surrogate-escaped) cannot be a Swift name.
        raise errors.InvalidName(f"{what} {name!r} is not valid UTF-8", container=container) from None


def validate_container_name(name: str) -> str:
    """Check a container name against Swift's rules.

    :param name: the container (for ChRIS: the job key).
    :returns: the name, unchanged.
    :raises errors.InvalidName: empty, longer than 256 bytes in UTF-8, or containing ``/``.
    """
    if not isinstance(name, str) or not name:
        raise errors.InvalidName("container name is empty")
    size = len(_utf8(name, "container name"))
    if size > MAX_CONTAINER_BYTES:
        raise errors.InvalidName(f"container name is {size} bytes long (at most {MAX_CONTAINER_BYTES})")
    if "/" in name:
        raise errors.InvalidName(f"container name {name!r} contains '/'")
    return name


def validate_object_name(name: str, container: str | None = None) -> str:
    """:raises errors.InvalidName: empty or longer than 1024 bytes in UTF-8."""
    if not name:
        raise errors.InvalidName("object name is empty", container=container)
    size = len(_utf8(name, "object name", container))
    if size > MAX_OBJECT_BYTES:
        raise errors.InvalidName(f"object name is {size} bytes long (at most {MAX_OBJECT_BYTES})",
                                 container=container, obj=name[:80])
    return name


def normalize_prefix(prefix: str) -> str:
    """``"input"`` and ``"input/"`` both become ``"input/"``.

    :raises errors.InvalidName: an empty prefix, or one starting with ``/`` or containing ``..``.
    """
    if not prefix or not prefix.strip("/"):
        raise errors.InvalidName("prefix is empty: a tree lives under a prefix such as 'input/'")
    if prefix.startswith("/") or ".." in prefix.split("/"):
        raise errors.InvalidName(f"prefix {prefix!r} must be relative and without '..'")
    return prefix if prefix.endswith("/") else prefix + "/"


def manifest_name(prefix: str) -> str:
    """The manifest object of a prefix: ``input/`` -> ``input.manifest.json``."""
    return normalize_prefix(prefix)[:-1] + MANIFEST_SUFFIX


def segments_container(container: str) -> str:
    """Where SLO segments of ``container`` go (swiftclient's convention)."""
    return container + SEGMENTS_SUFFIX


def segment_name(obj: str, upload_id: str, index: int) -> str:
    """``<obj>/slo/<upload id>/<index>``: the upload id tells this put's segments from older ones."""
    return f"{obj}/slo/{upload_id}/{index:08d}"


def segment_upload_id(segment: str) -> tuple[str, str] | None:
    """``(object name, upload id)`` of a segment name made by :func:`segment_name`, else None."""
    parts = segment.rsplit("/", 3)
    if len(parts) != 4 or parts[1] != "slo" or not parts[3].isdigit():
        return None
    return parts[0], parts[2]


def safe_relpath(rel: str) -> str:
    """Check that a relative POSIX path stays inside its directory once joined to it.

    Used for object names (minus the prefix) and zip entry names before they become local paths.

    :raises errors.InvalidName: absolute, empty, with ``..``, ``.`` or empty components, a NUL or
        a backslash (a Windows separator in zips made elsewhere).
    """
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel:
        raise errors.InvalidName(f"unsafe relative path {rel!r}")
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise errors.InvalidName(f"unsafe relative path {rel!r}")
    return posixpath.normpath(rel)
