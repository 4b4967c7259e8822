"""The manifest of a tree put: which objects make a complete prefix, with their sizes and MD5s.

It is the last object a put writes, so its presence means "complete"; a reader trusts nothing
under a prefix that it does not list.  JSON, one object::

    {"format": "swiftstore-manifest/1", "prefix": "input/", "created": "2026-11-25T08:00:00+00:00",
     "total_bytes": 123, "files": 2, "entries": [{"name": "a/b.txt", "size": 100, "md5": "..."}, ...]}

Entry names are relative to the prefix (POSIX paths).
"""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

from swiftstore import errors, names

FORMAT = "swiftstore-manifest/1"


@dataclass(frozen=True)
class ManifestEntry:
    """One file of the tree: its path relative to the prefix, size in bytes and hex MD5."""

    name: str
    size: int
    md5: str


@dataclass(frozen=True)
class Manifest:
    """A complete tree under :attr:`prefix` (``"input/"``)."""

    prefix: str
    entries: tuple[ManifestEntry, ...]
    created: str
    total_bytes: int

    @classmethod
    def build(cls, prefix: str, entries) -> "Manifest":
        """A manifest of ``entries`` (sorted by name), created now (UTC)."""
        ordered = tuple(sorted(entries, key=lambda e: e.name))
        created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        return cls(names.normalize_prefix(prefix), ordered, created, sum(e.size for e in ordered))

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "prefix": self.prefix, "created": self.created,
                           "total_bytes": self.total_bytes, "files": len(self.entries),
                           "entries": [{"name": e.name, "size": e.size, "md5": e.md5} for e in self.entries]},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes, *, container: str | None = None, obj: str | None = None) -> "Manifest":
        """Parse and check a manifest.

        :raises errors.IntegrityError: not JSON, another format, bad entries, or totals that do
            not add up (a truncated or hand-edited manifest is as bad as a missing one).
        """
        def bad(why: str) -> errors.IntegrityError:
            return errors.IntegrityError(f"invalid manifest: {why}", container=container, obj=obj)

        try:
            doc = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad(f"not JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise bad(f"format is not {FORMAT}")
        try:
            entries = tuple(_entry(e) for e in doc["entries"])
            manifest = cls(str(doc["prefix"]), entries, str(doc["created"]), int(doc["total_bytes"]))
        except (KeyError, TypeError, ValueError, errors.InvalidName) as exc:
            raise bad(f"{type(exc).__name__}: {exc}") from exc
        if manifest.total_bytes != sum(e.size for e in entries) or doc.get("files") != len(entries):
            raise bad("totals do not match the entries")
        if len({e.name for e in entries}) != len(entries):
            raise bad("duplicate entry names")
        return manifest

    def by_name(self) -> dict[str, ManifestEntry]:
        return {e.name: e for e in self.entries}


def _entry(raw: dict) -> ManifestEntry:
    name, size, md5 = raw["name"], int(raw["size"]), str(raw["md5"]).lower()
    if not isinstance(name, str) or size < 0 or len(md5) != 32 or any(c not in "0123456789abcdef" for c in md5):
        raise ValueError(f"bad entry {raw!r:.120}")
    names.safe_relpath(name)  # a manifest must never name a path outside the tree
    return ManifestEntry(name, size, md5)
