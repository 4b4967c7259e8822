"""The entry policy: names, types, duplicates, clashes and limits, all before anything is written."""
import zipfile

import pytest

from safearchive import entries, errors

from tests.support.zips import CHAR_DEVICE, FIFO, LINK


def _check(path, limits=entries.Limits()):
    with zipfile.ZipFile(path) as zf:
        return entries.check(zf, limits)


@pytest.mark.parametrize("name, why", [
    ("../evil", "'..'"), ("a/../../evil", "'..'"), ("a/..", "'..'"),
    ("/etc/evil", "absolute"), ("C:/evil", "absolute"), ("c:evil", "absolute"),
    ("a\\..\\evil", "backslash"), ("a\x00b", "NUL"), ("", "empty"),
])
def test_unsafe_names_are_refused(name, why):
    with pytest.raises(errors.UnsafeName, match=why) as info:
        entries.relative_name(name)
    assert info.value.entry == name and isinstance(info.value, errors.UnsafeEntry)


@pytest.mark.parametrize("name, rel", [("a/b.txt", "a/b.txt"), ("./a", "a"), ("a//b", "a/b"), ("d/", "d"),
                                       ("./", ""), ("ünï cödé", "ünï cödé"), ("..a/b..", "..a/b..")])
def test_harmless_names_are_normalised(name, rel):
    assert entries.relative_name(name) == rel


def test_traversal_in_an_archive_is_refused(make_zip):
    with pytest.raises(errors.UnsafeName, match="'..'"):
        _check(make_zip([("ok.txt", b"fine"), ("../evil", b"evil")]))


@pytest.mark.parametrize("mode, word", [(LINK, "symbolic link"), (CHAR_DEVICE, "device"), (FIFO, "special file")])
def test_links_and_devices_are_refused(make_zip, mode, word):
    with pytest.raises(errors.UnsafeEntry, match=word):
        _check(make_zip([("x", b"/etc/passwd", mode)]))


def test_files_directories_and_bare_permissions_are_accepted(make_zip):
    checked = _check(make_zip([("f", b"1", 0o100644), ("run.sh", b"2", 0o755), ("d/", b"", 0o40755), ("./", b"")]))
    assert [(e.name, e.is_dir) for e in checked] == [("f", False), ("run.sh", False), ("d", True)]


def test_duplicates_are_refused(make_zip):
    with pytest.warns(UserWarning):  # zipfile itself warns about the duplicate name
        path = make_zip([("a", b"1"), ("a", b"2")])
    with pytest.raises(errors.UnsafeEntry, match="'a' appears twice"):
        _check(path)


def test_names_that_differ_only_before_normalising_are_duplicates(make_zip):
    with pytest.raises(errors.UnsafeEntry, match="'d/a' appears twice"):
        _check(make_zip([("d/a", b"1"), ("d//./a", b"2")]))


def test_a_name_that_is_a_file_and_a_directory_is_refused(make_zip):
    with pytest.raises(errors.UnsafeEntry, match="'a' conflicts"):
        _check(make_zip([("a", b"file"), ("a/b", b"under the file")]))


def test_entry_count_limit(make_zip):
    path = make_zip([(f"f{i}", b"") for i in range(3)])
    with pytest.raises(errors.LimitExceeded, match="3 entries, more than the limit 2"):
        _check(path, entries.Limits(max_files=2))
    assert len(_check(path, entries.Limits(max_files=3))) == 3


def test_total_size_limit_uses_the_declared_sizes(make_zip):
    path = make_zip([("a", b"x" * 600), ("b", b"y" * 600)])
    with pytest.raises(errors.LimitExceeded, match="more than 1000 bytes"):
        _check(path, entries.Limits(max_bytes=1000))
    assert len(_check(path, entries.Limits(max_bytes=1200))) == 2


def test_one_entry_compressed_too_well_is_a_bomb(make_zip):
    path = make_zip([("zeros", bytes(2 << 20))])
    with pytest.raises(errors.LimitExceeded, match="'zeros' is compressed more than 200:1"):
        _check(path)
    assert len(_check(path, entries.Limits(max_ratio=1100))) == 1  # DEFLATE's honest maximum is ~1032:1


def test_many_small_entries_compressed_too_well_are_a_bomb_too(make_zip):
    """Each entry stays under the 1 MiB below which ratios are not checked; the whole archive does not."""
    path = make_zip([(f"z{i}", bytes(1 << 20)) for i in range(3)])
    with pytest.raises(errors.LimitExceeded, match="archive is compressed more than"):
        _check(path)


def test_small_compressible_files_are_fine(make_zip):
    assert len(_check(make_zip([(f"z{i}", bytes(10240)) for i in range(20)]))) == 20


def test_defaults_are_the_servers():
    assert entries.Limits() == entries.Limits(max_bytes=50 << 30, max_files=1_000_000, max_ratio=200.0)
