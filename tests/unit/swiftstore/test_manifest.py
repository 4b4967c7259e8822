"""The manifest format: round trip, and every way a manifest can be unusable."""
import json

import pytest

from swiftstore import errors
from swiftstore.manifest import FORMAT, FORMAT_3, FORMAT_4, Manifest, ManifestEntry

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
    (_doc(entries=[{"name": "a", "size": 3}]), "bad entry"),  # no MD5, and no CRC-32 in its place
    (_doc(entries=[{"name": "a", "size": 1, "md5": MD5}] * 3, files=3), "duplicate"),
    # A file kept compressed in an object of its own is checked by its CRC-32: it must have one.
    (_doc(format=FORMAT_4, entries=[{"name": "a", "size": 3, "md5": MD5, "deflated": 2}]), "bad entry"),
    (_doc(format=FORMAT_4, entries=[{"name": "a", "size": 3, "md5": MD5, "deflated": 0, "crc32": 1}]), "bad entry"),
])
def test_unusable_manifests_raise_integrity_error(text, reason):
    with pytest.raises(errors.IntegrityError, match=reason) as info:
        Manifest.from_json(text, container="c", obj="input.manifest.json")
    assert info.value.container == "c" and info.value.obj == "input.manifest.json"


def test_the_format_is_the_oldest_that_says_it_all():
    plain = ManifestEntry("a", 3, MD5, "input.v/20261125T000000Z-0123456789ab/f/a")
    bundled = ManifestEntry("b", 3, MD5, "input.v/20261125T000000Z-0123456789ab/b/0", offset=0, etag=MD5,
                            deflated=2, crc32=7)
    kept = ManifestEntry("c", 9 << 20, MD5, "input.v/20261125T000000Z-0123456789ab/f/c", deflated=4 << 20, crc32=7)
    version = "20261125T000000Z-0123456789ab"
    for entries, fmt in (([plain], FORMAT), ([plain, bundled], FORMAT_3), ([plain, bundled, kept], FORMAT_4)):
        m = Manifest.build("input/", entries, version=version)
        assert json.loads(m.to_json())["format"] == fmt and Manifest.from_json(m.to_json()) == m
    assert kept.kept_deflated and not bundled.kept_deflated and kept.stored_size == 4 << 20
