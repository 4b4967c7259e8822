"""The manifest of a tree: the one object that says which stored version of a prefix is current.

A put writes a new version's objects under names no other version uses
(``input.v/<version>/...``, see :mod:`swiftstore.names`) and then this manifest, in one PUT, as
``input.manifest.json``.  A reader reads the manifest first and from then on touches only the
objects it names, each verified against the size and MD5 recorded here, so it gets exactly one
complete version.  JSON, one object::

    {"format": "swiftstore-manifest/2", "prefix": "input/", "version": "20261129T130102Z-1a2b3c4d5e6f",
     "created": "2026-11-29T13:01:02+00:00", "total_bytes": 123, "files": 2,
     "entries": [{"name": "a/b.txt", "size": 100, "md5": "...", "object": "input.v/<version>/f/a/b.txt"}, ...],
     "objects": ["input.v/<version>/f/a/b.txt", ...],
     "retired": [{"version": "<previous version>", "at": 1795958895, "objects": ["input.v/<previous>/f/...", ...]}]}

Small files are packed into bundle objects (``input.v/<version>/b/<n>``): their entries add
``"offset"`` and the bundle's ``"etag"``.  A bundled file may be kept compressed, as the raw
DEFLATE stream it arrived in (pfioh keeps a pushed zip's compressed entries as they are, so Swift
stores no more bytes than the client sent): its entry adds ``"deflated"``, that stream's length in
the bundle, and ``"crc32"``, the file's CRC-32 (what a zip entry carries: a pull can then send the
stream on as it is), while ``"size"`` remains the file's own.  A manifest with such an entry is
format 3 (a reader of format 2 refuses it by its format, rather than misreading the bundle); in
format 3 such an entry also has the file's ``"md5"``, from format 4 on it has none: a file kept
compressed is checked by its size and CRC-32 once inflated (what zip's readers do), and by the
bundle's ETag while it is read whole, which saves hashing every byte of it once more.
A larger file may be kept compressed too, in an object of its own (pfioh keeps a pushed zip's
large compressed entries as they came, and the publisher may compress what it stores): its
entry has ``"deflated"`` and ``"crc32"`` but no ``"offset"``, and its ``"md5"`` is then the
object's ETag (of the stream as stored, or the SLO's ETag); the file itself is checked by its
size and CRC-32 once inflated.  A manifest with such an entry is format 4 (an older reader
refuses it by its format).
An entry may also have ``"object_crc32"``, the CRC-32 of its whole object (its bundle, or its
object of its own) as uploaded, computed in the pass whose MD5 the ETag confirmed (for an SLO,
combined from its segments'): a reader of the whole object checks that instead of hashing it with
MD5 again.  Older readers pass over it (they check the MD5s as before), so it needs no format of
its own.
A file large enough to be an SLO adds ``"segments"`` and
``"segment_size"``, and its ``"md5"`` is then the SLO's ETag (see :class:`ManifestEntry`).
``objects`` lists every object the version owns (SLO segments included), so deleting it needs no
listing; ``retired`` lists the versions this one replaced that are still kept readable (a reader
that started on one can finish), with when each was replaced: a later put deletes those retired
longer ago than the store's ``retire_grace``, but never the most recent one.  Entry names are
relative to the prefix (POSIX paths).  Format 1 (objects directly under the prefix, no version) is
still read.
"""
from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass

from swiftstore import errors, names

FORMAT = "swiftstore-manifest/2"
FORMAT_3 = "swiftstore-manifest/3"  # format 2 with compressed bundle members ("deflated")
# Format 3 with files kept compressed in objects of their own, and compressed files without an MD5.
FORMAT_4 = "swiftstore-manifest/4"
FORMAT_1 = "swiftstore-manifest/1"


@dataclass(frozen=True)
class ManifestEntry:
    """One file of the tree: its path relative to the prefix, size in bytes and hex MD5, and the
    object that holds its bytes (``""``: the object ``prefix + name``, as format 1 stored it)."""

    name: str
    size: int
    md5: str
    """The file's hex MD5; for a file in an object of its own that is kept compressed or is an
    SLO, the object's ETag instead (what Swift vouches for as stored); for a bundled file kept
    compressed, ``""`` (from format 4 on: its CRC-32 checks it)."""
    object: str = ""
    segments: int = 0
    """How many SLO segments the object has (0: a plain object, whose ETag is its MD5)."""
    segment_size: int = 0
    """For an SLO: its segments' size (the last may be shorter), and then :attr:`md5` is Swift's
    ETag of the SLO, the MD5 of the segments' hex MD5s, which a reader checks segment by segment
    (one pass over the bytes, as the writer made it)."""
    offset: int | None = None
    """For a small file packed into a bundle object: where its bytes start in :attr:`object`."""
    etag: str = ""
    """For a bundled file: the bundle's ETag (what pins the bundle to this version)."""
    deflated: int | None = None
    """For a file kept compressed: the length of its raw DEFLATE stream (in its bundle, or its
    object's whole length)."""
    crc32: int | None = None
    """For a file kept compressed: its CRC-32 (a zip entry's checksum), so pfioh can put the
    compressed stream into a pulled zip as it is, without inflating it."""
    object_crc32: int | None = None
    """The CRC-32 of :attr:`object` as uploaded (the bundle, or the file's object of its own; its
    MD5 was the ETag, or for an SLO its segments' were), which a reader of the whole object checks
    instead of an MD5 (the ETag still pins the version)."""

    @property
    def stored_size(self) -> int:
        """How many bytes of its object the file takes."""
        return self.size if self.deflated is None else self.deflated

    @property
    def kept_deflated(self) -> bool:
        """Kept compressed in an object of its own (checked by its CRC-32 once inflated)."""
        return self.deflated is not None and self.offset is None


@dataclass(frozen=True)
class Retired:
    """A version replaced at ``at`` (Unix time) and kept readable for a while: its objects."""

    version: str
    at: int
    objects: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    """A complete tree under :attr:`prefix` (``"input/"``), as stored version :attr:`version`."""

    prefix: str
    entries: tuple[ManifestEntry, ...]
    created: str
    total_bytes: int
    version: str = ""
    objects: tuple[str, ...] = ()
    retired: tuple[Retired, ...] = ()

    @classmethod
    def build(cls, prefix: str, entries, *, version: str = "", objects=(), retired=()) -> "Manifest":
        """A manifest of ``entries`` (sorted by name), created now (UTC)."""
        ordered = tuple(sorted(entries, key=lambda e: e.name))
        created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        return cls(names.normalize_prefix(prefix), ordered, created, sum(e.size for e in ordered), version,
                   tuple(sorted(objects)), tuple(retired))

    def object_of(self, entry: ManifestEntry) -> str:
        """The object holding ``entry``'s bytes."""
        return entry.object or self.prefix + entry.name

    def owned(self) -> tuple[str, ...]:
        """Every object this version consists of (what deleting it must delete)."""
        return self.objects or tuple(self.object_of(e) for e in self.entries)

    @property
    def format(self) -> str:
        """The oldest format that can say what this manifest says (older readers stay able to
        read what they can, and refuse by the format what they cannot)."""
        if any(e.kept_deflated or not e.md5 for e in self.entries):
            return FORMAT_4
        return FORMAT_3 if any(e.deflated is not None for e in self.entries) else FORMAT

    def to_json(self) -> str:
        return json.dumps({"format": self.format, "prefix": self.prefix,
                           "version": self.version, "created": self.created,
                           "total_bytes": self.total_bytes, "files": len(self.entries),
                           "entries": [_entry_json(e) for e in self.entries],
                           "objects": list(self.objects),
                           "retired": [{"version": r.version, "at": r.at, "objects": list(r.objects)}
                                       for r in self.retired]},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, *, container: str | None = None, obj: str | None = None) -> "Manifest":
        """Parse and check a manifest.

        :raises errors.IntegrityError: not JSON, another format, bad entries, totals that do not
            add up, or an object outside the prefix's own names (a truncated, hand-edited or
            foreign manifest is as bad as a missing one: it must never steer a read or a delete).
        """
        def bad(why: str) -> errors.IntegrityError:
            return errors.IntegrityError(f"invalid manifest: {why}", container=container, obj=obj)

        try:
            doc = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad(f"not JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") not in (FORMAT, FORMAT_3, FORMAT_4, FORMAT_1):
            raise bad(f"format is not one of {FORMAT}, {FORMAT_3} and {FORMAT_4}")
        try:
            manifest = _parse(doc)
        except (KeyError, TypeError, ValueError, AttributeError, errors.InvalidName) as exc:
            raise bad(f"{type(exc).__name__}: {exc}") from exc
        if manifest.total_bytes != sum(e.size for e in manifest.entries) or doc.get("files") != len(manifest.entries):
            raise bad("totals do not match the entries")
        if len({e.name for e in manifest.entries}) != len(manifest.entries):
            raise bad("duplicate entry names")
        return manifest


_OPTIONAL = (("object", ""), ("segments", 0), ("segment_size", 0), ("offset", None), ("etag", ""),
             ("deflated", None), ("crc32", None), ("object_crc32", None))


def _entry_json(e: ManifestEntry) -> dict:
    doc = {"name": e.name, "size": e.size, **({"md5": e.md5} if e.md5 else {})}
    return {**doc, **{k: getattr(e, k) for k, empty in _OPTIONAL if getattr(e, k) != empty}}


def _parse(doc: dict) -> Manifest:
    prefix = names.normalize_prefix(str(doc["prefix"]))
    version = str(doc.get("version") or "")
    if version and names.version_created(version) is None:
        raise ValueError(f"bad version {version!r:.80}")
    own = names.versions_prefix(prefix) + version + "/" if version else prefix
    entries = tuple(_entry(e, own) for e in doc["entries"])
    objects = tuple(_inside(str(o), own) for o in doc.get("objects", ()))
    # Retired objects were another version's (or format 1's): still this prefix's own names.
    retired = tuple(Retired(str(r["version"]), int(r["at"]),
                            tuple(_inside(str(o), names.versions_prefix(prefix), prefix) for o in r["objects"]))
                    for r in doc.get("retired", ()))
    return Manifest(prefix, entries, str(doc["created"]), int(doc["total_bytes"]), version, objects, retired)


def _inside(name: str, *heads: str) -> str:
    if not any(name.startswith(h) and len(name) > len(h) for h in heads):
        raise ValueError(f"object {name!r:.120} is not one of this prefix's")
    names.safe_relpath(name)
    return name


def _entry(raw: dict, own: str) -> ManifestEntry:
    name, size, md5 = raw["name"], int(raw["size"]), str(raw.get("md5", "")).lower()
    if not isinstance(name, str) or size < 0:
        raise ValueError(f"bad entry {raw!r:.120}")
    names.safe_relpath(name)  # a manifest must never name a path outside the tree
    obj = _inside(str(raw["object"]), own) if raw.get("object") else ""
    segments, segment_size = int(raw.get("segments", 0)), int(raw.get("segment_size", 0))
    offset = None if raw.get("offset") is None else int(raw["offset"])
    etag = str(raw.get("etag", "")).lower()
    deflated = None if raw.get("deflated") is None else int(raw["deflated"])
    crc32 = None if raw.get("crc32") is None else int(raw["crc32"])
    object_crc32 = None if raw.get("object_crc32") is None else int(raw["object_crc32"])
    if segments < 0 or segment_size < 0 or (offset is not None and (offset < 0 or not obj or not _hex(etag))) \
            or (deflated is not None and (deflated < 1 or (offset is None and crc32 is None))) \
            or (crc32 is not None and (deflated is None or not 0 <= crc32 < 1 << 32)) \
            or (object_crc32 is not None and (not obj or not 0 <= object_crc32 < 1 << 32)) \
            or not (_hex(md5) or (not md5 and offset is not None and crc32 is not None)):  # no MD5: a CRC-32
        raise ValueError(f"bad entry {raw!r:.120}")
    return ManifestEntry(name, size, md5, obj, segments, segment_size, offset, etag, deflated, crc32, object_crc32)


_MD5 = re.compile(r"[0-9a-f]{32}")


def _hex(md5: str) -> bool:
    # A regex, not a loop over characters: this runs twice per entry of every manifest read.
    return _MD5.fullmatch(md5) is not None
