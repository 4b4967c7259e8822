"""The manifest format: round trip, and every way a manifest can be unusable."""
import json

import pytest

from swiftstore import errors
from swiftstore.manifest import FORMAT, Manifest, ManifestEntry

MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def _doc(**over):
    doc = {"format": FORMAT, "prefix": "input/", "created": "2026-11-25T00:00:00+00:00", "total_bytes": 3,
           "files": 1, "entries": [{"name": "a/b.txt", "size": 3, "md5": MD5}]}
    doc.update(over)
    return json.dumps(doc)


def test_build_sorts_entries_and_sums_sizes():
    m = Manifest.build("input", [ManifestEntry("z", 2, MD5), ManifestEntry("a", 5, MD5)])
    assert m.prefix == "input/" and [e.name for e in m.entries] == ["a", "z"] and m.total_bytes == 7
    assert m.created.endswith("+00:00")


def test_json_round_trip_keeps_unicode_names():
    m = Manifest.build("output/", [ManifestEntry("ünï/cödé.txt", 0, MD5), ManifestEntry("b", 10, "a" * 32)])
    again = Manifest.from_json(m.to_json().encode())
    assert again == m
    assert {e.name: e.size for e in again.entries}["b"] == 10


@pytest.mark.parametrize("text,reason", [
    ("{", "not JSON"),
    (json.dumps({"format": "other"}), "format"),
    (_doc(total_bytes=4), "totals"),
    (_doc(files=2), "totals"),
    (_doc(entries=[{"name": "../x", "size": 3, "md5": MD5}]), "InvalidName"),
    (_doc(entries=[{"name": "/etc/x", "size": 3, "md5": MD5}]), "InvalidName"),
    (_doc(entries=[{"name": "a", "size": 3, "md5": "nothex"}]), "bad entry"),
    (_doc(entries=[{"name": "a", "size": -3, "md5": MD5}], total_bytes=-3), "bad entry"),
    (_doc(entries=[{"name": "a", "size": 3}]), "KeyError"),
    (_doc(entries=[{"name": "a", "size": 1, "md5": MD5}] * 3, files=3), "duplicate"),
])
def test_unusable_manifests_raise_integrity_error(text, reason):
    with pytest.raises(errors.IntegrityError, match=reason) as info:
        Manifest.from_json(text, container="c", obj="input.manifest.json")
    assert info.value.container == "c" and info.value.obj == "input.manifest.json"
