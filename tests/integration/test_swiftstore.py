"""swiftstore against the real loopback Swift: trees, manifests, SLO, JSON, delete, archives."""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

import swiftstore
from swiftstore import errors
from swiftstore.transfer import digest_of
from tests.support import trees
from tests.support.trees import listed, read_tree

MIB = 1 << 20


@pytest.fixture
def store(small_slo_store):
    return small_slo_store


FILES = {
    "a.txt": b"hello\n",
    "empty": b"",
    "sub/deep/er/zero": b"",
    "sub/ünï cödé (1).bin": os.urandom(4096),
    "sub/many/" + "x" * 200: b"long name",
    "big.bin": os.urandom(5 * MIB + 123),  # above the 2 MiB threshold: an SLO of 6 segments
}


def make_tree(root: Path, files: dict[str, bytes] = FILES) -> Path:
    return trees.make_tree(root, files)


def object_of(store, container: str, prefix: str, rel: str) -> str:
    """The object that holds file ``rel`` of the prefix's current version."""
    manifest = store.read_manifest(container, prefix)
    return next(manifest.object_of(e) for e in manifest.entries if e.name == rel)


def test_tree_round_trip(store, unique_container, swift_connection, tmp_path):
    src = make_tree(tmp_path / "src")
    manifest = store.put_tree(unique_container, "input/", src)
    assert {e.name: e.md5 for e in manifest.entries} == {k: digest_of(v, MIB if len(v) > 2 * MIB else 0)
                                                          for k, v in FILES.items()}
    headers = swift_connection.head_object(unique_container, object_of(store, unique_container, "input/", "big.bin"))
    assert headers["x-static-large-object"] == "True"
    segments = [n for n in listed(swift_connection, unique_container) if "/s/big.bin/" in n]
    assert len(segments) == 6 and set(segments) <= set(manifest.owned())
    with pytest.raises(Exception, match="404"):  # never a second container: that name could be another key's
        swift_connection.head_container(unique_container + "_segments")
    got = store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert got == manifest and read_tree(tmp_path / "dst") == FILES
    assert [p.name for p in tmp_path.iterdir()] != [] and not any(p.name.startswith(".") for p in tmp_path.iterdir())

def test_objects_and_manifest_as_swift_sees_them(store, unique_container, swift_connection, tmp_path):
    manifest = store.put_tree(unique_container, "output/", make_tree(tmp_path / "src", {"r/x.txt": b"x"}))
    # Small files travel in bundles: one object for the whole (small) tree, then the manifest.
    assert listed(swift_connection, unique_container) == [
        "output.manifest.json", f"output.v/{manifest.version}/b/000000"]
    manifest = store.read_manifest(unique_container, "output/")
    assert [(e.name, e.size) for e in manifest.entries] == [("r/x.txt", 1)] and manifest.total_bytes == 1
    assert store.read_manifest(unique_container, "input/") is None
    assert store.read_manifest("no-such-container-" + unique_container, "input/") is None

def test_get_refuses_a_prefix_without_manifest_unless_forced(store, unique_container, swift_connection, tmp_path):
    store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", {"a": b"1", "b/c": b"2"}))
    swift_connection.delete_object(unique_container, "input.manifest.json")
    with pytest.raises(errors.IncompleteError, match="no manifest"):
        store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()
    # Forced, objects placed under the prefix by other tools (the swift CLI) are taken as they are.
    swift_connection.put_object(unique_container, "input/a", b"1")
    swift_connection.put_object(unique_container, "input/b/c", b"2")
    store.get_tree(unique_container, "input/", tmp_path / "dst", force=True)
    assert read_tree(tmp_path / "dst") == {"a": b"1", "b/c": b"2"}

def test_get_refuses_objects_that_do_not_match_the_manifest(store, unique_container, swift_connection, tmp_path):
    store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", {"a": b"12345", "b": b"x"}))
    swift_connection.put_object(unique_container, object_of(store, unique_container, "input/", "a"), b"123456")
    with pytest.raises(errors.IntegrityError, match="missing or changed"):
        store.get_tree(unique_container, "input/", tmp_path / "dst")
    swift_connection.delete_object(unique_container, object_of(store, unique_container, "input/", "b"))
    with pytest.raises(errors.IntegrityError, match="missing or changed"):
        store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()

def test_atomic_get_leaves_nothing_when_one_object_is_corrupt(store, unique_container, swift_connection, tmp_path):
    files = {f"f{i:02d}": os.urandom(1000) for i in range(20)}
    store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", files))
    # Same size, other bytes: If-Match on the ETag the manifest recorded refuses it.
    swift_connection.put_object(unique_container, object_of(store, unique_container, "input/", "f13"), os.urandom(1000))
    dst = tmp_path / "job" / "incoming"
    with pytest.raises(errors.IntegrityError, match="missing or changed"):
        store.get_tree(unique_container, "input/", dst)
    assert list((tmp_path / "job").iterdir()) == []  # no dst, no hidden temp dir

def test_get_into_a_non_empty_directory(store, unique_container, tmp_path):
    store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", {"new": b"n"}))
    dst = make_tree(tmp_path / "dst", {"old": b"o"})
    with pytest.raises(errors.DestinationExists):
        store.get_tree(unique_container, "input/", dst)
    assert read_tree(dst) == {"old": b"o"}
    store.get_tree(unique_container, "input/", dst, replace=True)
    assert read_tree(dst) == {"new": b"n"}


def test_re_puts_keep_one_previous_version_and_delete_older_ones(swift, unique_container, swift_connection, tmp_path):
    creds = swiftstore.load_credentials(swift.credentials_file)
    store = swiftstore.SwiftStore.from_credentials(creds, slo_threshold=2 * MIB, segment_size=MIB, retire_grace=0)
    one = store.put_tree(unique_container, "input/", make_tree(tmp_path / "one"))
    two = store.put_tree(unique_container, "input/", make_tree(tmp_path / "two", {"only.txt": b"only"}))
    assert set(listed(swift_connection, unique_container)) == {"input.manifest.json", *one.owned(), *two.owned()}
    three = store.put_tree(unique_container, "input/", make_tree(tmp_path / "three", {"x": b"3"}))
    assert set(listed(swift_connection, unique_container)) == {"input.manifest.json", *two.owned(), *three.owned()}
    store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert read_tree(tmp_path / "dst") == {"x": b"3"}

def test_empty_tree(store, unique_container, tmp_path):
    (tmp_path / "src").mkdir()
    manifest = store.put_tree(unique_container, "output/", tmp_path / "src")
    assert manifest.entries == () and manifest.total_bytes == 0
    store.get_tree(unique_container, "output/", tmp_path / "dst")
    assert (tmp_path / "dst").is_dir() and list((tmp_path / "dst").iterdir()) == []


def test_delete_prefix_then_container(store, unique_container, swift_connection, tmp_path):
    src = make_tree(tmp_path / "src")
    store.put_tree(unique_container, "input/", src)
    store.put_tree(unique_container, "input/", src)
    output = store.put_tree(unique_container, "output/", src)
    store.delete(unique_container, "input/")
    assert store.read_manifest(unique_container, "input/") is None
    assert set(listed(swift_connection, unique_container)) == {"output.manifest.json", *output.owned()}
    store.delete(unique_container)
    assert not store.exists(unique_container)
    with pytest.raises(errors.NotFound):
        store.delete(unique_container)

def test_json_and_list(store, unique_container):
    store.ensure_container(unique_container)
    store.ensure_container(unique_container)  # idempotent
    store.put_json(unique_container, "jobStatus.json", {"status": "finished", "ü": [1, None]})
    assert store.get_json(unique_container, "jobStatus.json") == {"status": "finished", "ü": [1, None]}
    (info,) = store.list(unique_container)
    assert info.name == "jobStatus.json" and info.size > 0 and len(info.etag) == 32
    assert store.list(unique_container, prefix="nope") == []
    with pytest.raises(errors.NotFound):
        store.get_json(unique_container, "missing.json")
    with pytest.raises(errors.NotFound):
        store.list(unique_container + "-missing")


def test_put_file_get_file_and_iter_object(store, unique_container, tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(3 * MIB + 1))
    store.ensure_container(unique_container)
    info = store.put_file(unique_container, "some/f.bin", path)
    assert info.size == path.stat().st_size and info.etag == digest_of(path.read_bytes(), MIB)
    store.get_file(unique_container, "some/f.bin", tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == path.read_bytes()
    assert b"".join(store.iter_object(unique_container, "some/f.bin", chunk_size=4096)) == path.read_bytes()


@pytest.mark.parametrize("name", ["", "a/b", "x" * 257])
def test_invalid_container_names(store, name, tmp_path):
    for call in (lambda: store.ensure_container(name), lambda: store.put_tree(name, "input/", tmp_path),
                 lambda: store.get_tree(name, "input/", tmp_path / "d"), lambda: store.exists(name)):
        with pytest.raises(errors.InvalidName):
            call()


# -- archive layout: interoperate with the original publisher images --------------------------

def _original_zip(src: Path) -> bytes:
    """A zip made the way the originals' put_data.py / pfurl made one: entries relative, deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, _, files in os.walk(src):
            for f in files:
                path = os.path.join(root, f)
                zf.write(path, os.path.relpath(path, src))
    return buf.getvalue()


def test_get_archive_reads_what_the_originals_wrote(store, unique_container, swift_connection, tmp_path):
    src = make_tree(tmp_path / "src")
    swift_connection.put_container(unique_container)
    swift_connection.put_object(unique_container, "input/data", _original_zip(src))
    got = store.get_archive(unique_container, "input/", tmp_path / "incoming")
    assert got.files == len(FILES) and read_tree(tmp_path / "incoming") == FILES


def test_put_archive_is_what_the_originals_read(store, unique_container, swift_connection, tmp_path):
    src = make_tree(tmp_path / "src")
    info = store.put_archive(unique_container, "output/", src)
    assert info.name == "output/data"
    _, data = swift_connection.get_object(unique_container, "output/data")  # the originals' get_data.py
    out = tmp_path / "out"
    zipfile.ZipFile(io.BytesIO(data)).extractall(out)
    assert read_tree(out) == FILES


def test_get_archive_rejects_zip_slip(store, unique_container, swift_connection, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("fine.txt", b"ok")
        zf.writestr("../../escaped.txt", b"evil")
    swift_connection.put_container(unique_container)
    swift_connection.put_object(unique_container, "input/data", buf.getvalue())
    with pytest.raises(errors.UnsafeArchive):
        store.get_archive(unique_container, "input/", tmp_path / "a" / "incoming")
    assert list((tmp_path / "a").iterdir()) == [] and not (tmp_path / "escaped.txt").exists()


@pytest.mark.parametrize("form", ["password_credentials", "appcred_credentials"])
def test_tree_round_trip_through_keystone(keystone, form, tmp_path):
    """The pool's connections share one keystoneauth1 session plugin (v3 password / application credential)."""
    creds = swiftstore.load_credentials(getattr(keystone, form))
    container = f"test-ks-store-{os.urandom(6).hex()}"
    files = {f"d{i % 3}/f{i}": os.urandom(3000) for i in range(12)}
    with swiftstore.SwiftStore.from_credentials(creds, threads=4) as store:
        try:
            store.put_tree(container, "input/", make_tree(tmp_path / "src", files))
            store.get_tree(container, "input/", tmp_path / "dst")
            assert read_tree(tmp_path / "dst") == files
        finally:
            store.delete(container)
        assert not store.exists(container)


def test_swiftclients_request_log_shows_no_part_of_the_token(swift, unique_container, tmp_path, caplog):
    """swiftclient logs each request (a failed one at INFO, the rest at DEBUG: pfioh's -v 1 and
    -v 2) with sensitive headers cut to 16 characters by default, half of a tempauth token's
    secret; swiftstore has it show none."""
    store = swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file))
    try:
        with caplog.at_level("DEBUG", logger="swiftclient"):
            store.put_tree(unique_container, "input/", str(make_tree(tmp_path / "src", {"a": b"1"})))
            assert store.read_manifest(unique_container, "nothing/") is None  # a 404, logged at INFO
        token = store.connection().token
    finally:
        store.close()
    assert token.startswith("AUTH_tk") and len(token) > 20
    logged = [r.getMessage() for r in caplog.records if r.name == "swiftclient"]
    assert any("X-Auth-Token: ..." in m for m in logged) and any(r.levelname == "INFO" for r in caplog.records)
    assert not any(token[len("AUTH_tk"):len("AUTH_tk") + 8] in m for m in logged)
