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


def test_segment_names_carry_the_upload_id():
    seg = names.segment_name("input/a b/c.bin", "abc123", 7)
    assert seg == "input/a b/c.bin/slo/abc123/00000007"
    assert names.segment_upload_id(seg) == ("input/a b/c.bin", "abc123")
    assert names.segment_upload_id("input/plain.bin") is None


@pytest.mark.parametrize("rel", ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/.", "", "a\\..\\b", "a\x00b"])
def test_unsafe_relative_paths_are_rejected(rel):
    with pytest.raises(errors.InvalidName):
        names.safe_relpath(rel)


@pytest.mark.parametrize("rel", ["a", "a/b/c.txt", "ünï cödé/x", "..a", "a..b/c"])
def test_safe_relative_paths_pass(rel):
    assert names.safe_relpath(rel) == rel
