"""Swift naming rules, checked before any request, and the path rules of downloads."""
import pytest

from swiftstore import errors, names
import swiftstore


@pytest.mark.parametrize("name", ["", "a/b", "/", "x" * 257, "é" * 129, "bad\udcff"])
def test_invalid_container_names_are_rejected(name):
    with pytest.raises(errors.InvalidName):
        swiftstore.validate_container_name(name)


@pytest.mark.parametrize("name", ["chris-jid-1", "x" * 256, "é" * 128, "with space", "ünï"])
def test_valid_container_names_pass(name):
    assert swiftstore.validate_container_name(name) == name


def test_invalid_name_is_a_value_error_with_a_reason():
    with pytest.raises(ValueError, match="257 bytes"):
        swiftstore.validate_container_name("x" * 257)


def test_object_name_limit_counts_utf8_bytes():
    names.validate_object_name("é" * 512)
    with pytest.raises(errors.InvalidName, match="1026 bytes"):
        names.validate_object_name("é" * 513)


@pytest.mark.parametrize("prefix,expected", [("input", "input/"), ("input/", "input/"), ("a/b", "a/b/")])
def test_prefix_is_normalized(prefix, expected):
    assert names.normalize_prefix(prefix) == expected


@pytest.mark.parametrize("prefix", ["", "/", "/abs/", "../x/", "a/../b"])
def test_bad_prefixes_are_rejected(prefix):
    with pytest.raises(errors.InvalidName):
        names.normalize_prefix(prefix)


def test_manifest_name_sits_beside_the_prefix():
    assert names.manifest_name("input/") == "input.manifest.json"
    assert names.manifest_name("output") == "output.manifest.json"
    assert names.manifest_name("a/b/") == "a/b.manifest.json"


def test_versions_and_segments_live_under_the_prefixs_own_names():
    version = names.new_version_id()
    assert names.version_created(version) is not None and names.version_created("nope") is None
    obj = names.version_object("input/", version, "a b/c.bin")
    assert obj == f"input.v/{version}/f/a b/c.bin" and names.version_of("input/", obj) == version
    assert names.version_of("output/", obj) is None and names.version_of("input/", "input/x") is None
    segs = names.version_segments("input/", version, "a b/c.bin")
    assert names.segment_name(segs, 7) == f"input.v/{version}/s/a b/c.bin/00000007"
    assert names.object_segments("input/data", "u1") == "input/data.slo/u1/"


@pytest.mark.parametrize("prefix", ["input.v/", "a/b.slo/", "x.v/y/"])
def test_prefixes_cannot_reach_into_stored_versions(prefix):
    with pytest.raises(errors.InvalidName, match="ending in"):
        names.normalize_prefix(prefix)


@pytest.mark.parametrize("rel", ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "", "a\\..\\b", "a\x00b"])
def test_unsafe_relative_paths_are_rejected(rel):
    with pytest.raises(errors.InvalidName):
        names.safe_relpath(rel)


@pytest.mark.parametrize("rel", ["a", "a/b/c.txt", "ünï cödé/x", "..a", "a..b/c"])
def test_safe_relative_paths_pass(rel):
    assert names.safe_relpath(rel) == rel
