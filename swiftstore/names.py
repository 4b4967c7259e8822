"""Swift naming rules and the mapping between local paths and object names (pure, no I/O).

Checked before any request, so a bad name never reaches Swift (or becomes a path on disk).
"""
from __future__ import annotations

import datetime
import posixpath
import re
import uuid

from swiftstore import errors

MAX_CONTAINER_BYTES = 256
MAX_OBJECT_BYTES = 1024
MANIFEST_SUFFIX = ".manifest.json"
VERSIONS_SUFFIX = ".v"
SLO_SUFFIX = ".slo"
_VERSION_TIME = "%Y%m%dT%H%M%SZ"
_VERSION_RE = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{12}")


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
    if any(p.endswith((VERSIONS_SUFFIX, SLO_SUFFIX)) for p in prefix.split("/")):
        # Those names hold stored versions and segments: a tree there could sweep them.
        raise errors.InvalidName(f"prefix {prefix!r} has a part ending in {VERSIONS_SUFFIX!r} or {SLO_SUFFIX!r}")
    return prefix if prefix.endswith("/") else prefix + "/"


def manifest_name(prefix: str) -> str:
    """The manifest object of a prefix: ``input/`` -> ``input.manifest.json``."""
    return normalize_prefix(prefix)[:-1] + MANIFEST_SUFFIX


def versions_prefix(prefix: str) -> str:
    """Where the stored versions of a tree live: ``input/`` -> ``input.v/``.

    A version's objects never share a name with another version's, so a reader pinned to one
    version by its manifest never sees a writer's bytes (see :mod:`swiftstore.tree`).
    """
    return normalize_prefix(prefix)[:-1] + VERSIONS_SUFFIX + "/"


def new_version_id(now: datetime.datetime | None = None) -> str:
    """``20261129T130102Z-1a2b3c4d5e6f``: sortable by creation time, unique by its random tail."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return now.strftime(_VERSION_TIME) + "-" + uuid.uuid4().hex[:12]


def version_created(version: str) -> datetime.datetime | None:
    """When a version id (or upload id) made by :func:`new_version_id` was made, else None."""
    if not _VERSION_RE.fullmatch(version):
        return None
    return datetime.datetime.strptime(version[:16], _VERSION_TIME).replace(tzinfo=datetime.timezone.utc)


def version_object(prefix: str, version: str, rel: str) -> str:
    """The object of file ``rel`` in a version: ``input.v/<version>/f/<rel>``."""
    return f"{versions_prefix(prefix)}{version}/f/{rel}"


def version_bundle(prefix: str, version: str, index: int) -> str:
    """Bundle ``index`` of a version (small files back to back): ``input.v/<version>/b/000007``."""
    return f"{versions_prefix(prefix)}{version}/b/{index:06d}"


def version_segments(prefix: str, version: str, rel: str) -> str:
    """Where the SLO segments of file ``rel`` in a version go: ``input.v/<version>/s/<rel>/``."""
    return f"{versions_prefix(prefix)}{version}/s/{rel}/"


def version_of(prefix: str, obj: str) -> str | None:
    """The version id an object of ``prefix``'s versions belongs to, or None."""
    head = versions_prefix(prefix)
    if not obj.startswith(head):
        return None
    version = obj[len(head):].split("/", 1)[0]
    return version if _VERSION_RE.fullmatch(version) else None


def object_segments(obj: str, upload_id: str) -> str:
    """Where the SLO segments of a single large object go: ``<obj>.slo/<upload id>/``, in the
    object's own container (never another container: that one could be another key's)."""
    return f"{obj}{SLO_SUFFIX}/{upload_id}/"


def segment_name(segments: str, index: int) -> str:
    """Segment ``index`` under a segments prefix made by :func:`version_segments` or :func:`object_segments`."""
    return f"{segments}{index:08d}"


def is_internal(obj: str) -> bool:
    """Whether an object is part of swiftstore's storage (a tree version or an SLO segment)
    rather than something a user named."""
    parts = obj.split("/")
    return any(p.endswith((VERSIONS_SUFFIX, SLO_SUFFIX)) for p in parts[:-1])


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
