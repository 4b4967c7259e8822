"""SwiftStore over an in-memory Connection (our seam): the order of writes that makes "complete"
explicit, SLO planning, verification and the translation of swiftclient's failures."""
import os

import pytest
from swiftclient.exceptions import ClientException

from swiftstore import errors, names
import swiftstore
from tests.unit.swiftstore.fake_conn import FakeSwift, md5

MIB = 1 << 20


@pytest.fixture
def swift():
    return FakeSwift()


@pytest.fixture
def store(swift):
    with swiftstore.SwiftStore(swift.connect, threads=4, slo_threshold=2 * MIB, segment_size=MIB) as s:
        yield s


def _tree(root, files):
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


FILES = {"a.txt": b"hello", "sub/deep/empty": b"", "ünï/cödé.bin": os.urandom(1000), "big.bin": os.urandom(5 * MIB + 7)}


def test_put_tree_deletes_old_manifest_first_and_writes_the_new_one_last(store, swift, tmp_path):
    src = _tree(tmp_path / "src", FILES)
    manifest = store.put_tree("c", "input/", src)
    calls = [c for c in swift.calls if c[0] in ("PUT", "DELETE") and c[2]]
    assert calls[0] == ("DELETE", "c", "input.manifest.json")
    assert calls[-1] == ("PUT", "c", "input.manifest.json")
    assert {e.name: (e.size, e.md5) for e in manifest.entries} == {k: (len(v), md5(v)) for k, v in FILES.items()}
    assert store.read_manifest("c", "input") == manifest


def test_large_files_become_slos_with_verified_segments(store, swift, tmp_path):
    src = _tree(tmp_path / "src", FILES)
    store.put_tree("c", "input/", src)
    segments = swift.objects("c_segments")
    assert len(segments) == 6 and all(names.segment_upload_id(s)[0] == "input/big.bin" for s in segments)
    big = swift.containers["c"]["input/big.bin"]
    assert big["headers"]["x-static-large-object"] == "True"
    assert big["headers"]["x-object-meta-swiftstore-md5"] == md5(FILES["big.bin"])
    out = tmp_path / "out"
    store.get_tree("c", "input/", out)
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == FILES


def test_interrupted_put_leaves_no_manifest(store, swift, tmp_path):
    src = _tree(tmp_path / "src", FILES)
    store.put_tree("c", "input/", src)
    swift.fail[("PUT", "input/ünï/cödé.bin")] = RuntimeError("killed mid-upload")
    with pytest.raises(RuntimeError):
        store.put_tree("c", "input/", src)
    assert "input.manifest.json" not in swift.objects("c")
    with pytest.raises(errors.IncompleteError, match="no manifest"):
        store.get_tree("c", "input/", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_etag_mismatch_is_detected_and_the_object_removed(store, swift, tmp_path):
    src = _tree(tmp_path / "src", {"a": b"abc", "b": b"def"})
    swift.bad_etag.add("input/b")
    with pytest.raises(errors.IntegrityError, match="upload not verified") as info:
        store.put_tree("c", "input/", src)
    assert info.value.obj == "input/b"
    assert "input/b" not in swift.objects("c") and "input.manifest.json" not in swift.objects("c")


def test_re_put_removes_stale_objects_and_segments_after_the_manifest(store, swift, tmp_path):
    store.put_tree("c", "input/", _tree(tmp_path / "one", FILES))
    store.put_tree("c", "input/", _tree(tmp_path / "two", {"new.txt": b"new"}))
    assert set(swift.objects("c")) == {"input/new.txt", "input.manifest.json"}
    assert swift.objects("c_segments") == {}
    last_manifest = max(i for i, c in enumerate(swift.calls) if c == ("PUT", "c", "input.manifest.json"))
    first_stale = min(i for i, c in enumerate(swift.calls) if c == ("DELETE", "c", "input/a.txt"))
    assert first_stale > last_manifest


def test_get_refuses_a_manifest_that_does_not_match(store, swift, tmp_path):
    store.put_tree("c", "input/", _tree(tmp_path / "src", {"a": b"abc", "b": b"def"}))
    swift.containers["c"]["input/a"].update(data=b"abcd", etag=md5(b"abcd"))  # overwritten behind our back
    with pytest.raises(errors.IntegrityError, match="4 bytes, manifest says 3"):
        store.get_tree("c", "input/", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    store.get_tree("c", "input/", tmp_path / "forced", force=True)
    assert (tmp_path / "forced/a").read_bytes() == b"abcd" and (tmp_path / "forced/b").read_bytes() == b"def"


def test_corrupt_download_leaves_no_destination(store, swift, tmp_path):
    store.put_tree("c", "input/", _tree(tmp_path / "src", {"a": b"abc", "b/c": b"def"}))
    rec = swift.containers["c"]["input/b/c"]
    rec["data"], rec["etag"] = b"xyz", md5(b"xyz")  # same size, other bytes
    with pytest.raises(errors.IntegrityError, match="expected"):
        store.get_tree("c", "input/", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_get_without_manifest_but_forced_takes_the_listing(store, swift, tmp_path):
    store.ensure_container("c")
    swift.containers["c"]["input/x"] = {"data": b"1", "etag": md5(b"1"), "headers": {}}
    with pytest.raises(errors.IncompleteError):
        store.get_tree("c", "input/", tmp_path / "out")
    store.get_tree("c", "input/", tmp_path / "out", force=True)
    assert (tmp_path / "out/x").read_bytes() == b"1"


def test_delete_prefix_removes_manifest_first_then_objects_and_segments(store, swift, tmp_path):
    store.put_tree("c", "input/", _tree(tmp_path / "src", FILES))
    store.put_json("c", "status.json", {"ok": True})
    swift.calls.clear()
    store.delete("c", "input/")
    deletes = [c for c in swift.calls if c[0] == "DELETE"]
    assert deletes[0] == ("DELETE", "c", "input.manifest.json")
    assert set(swift.objects("c")) == {"status.json"} and swift.objects("c_segments") == {}
    store.delete("c")
    assert "c" not in swift.containers and "c_segments" not in swift.containers
    with pytest.raises(errors.NotFound):
        store.delete("c")


def test_json_round_trip_and_exists(store):
    store.ensure_container("c")
    store.put_json("c", "r.json", {"ü": [1, 2]})
    assert store.get_json("c", "r.json") == {"ü": [1, 2]}
    assert store.exists("c") and store.exists("c", "r.json") and store.exists("c", "r.")
    assert not store.exists("c", "nope") and not store.exists("nope")


def test_invalid_container_names_fail_before_any_request(store, swift, tmp_path):
    for call in (lambda: store.put_tree("a/b", "input/", tmp_path), lambda: store.get_tree("", "input/", tmp_path),
                 lambda: store.exists("x" * 300), lambda: store.delete("a/b"), lambda: store.put_json("", "n", 1)):
        with pytest.raises(errors.InvalidName):
            call()
    assert swift.calls == []


@pytest.mark.parametrize("status,cls", [(404, errors.NotFound), (401, errors.AuthenticationError),
                                        (403, errors.AuthenticationError), (503, errors.TransferError),
                                        (500, errors.TransferError)])
def test_client_failures_are_translated_with_context(store, swift, status, cls):
    swift.fail[("PUT", "c")] = ClientException("boom", http_status=status, http_response_content="x" * 5000)
    with pytest.raises(cls) as info:
        store.ensure_container("c")
    assert info.value.container == "c" and info.value.http_status == status
    assert isinstance(info.value.__cause__, ClientException) and len(str(info.value)) < 400


def test_one_connection_per_thread_and_close(swift, tmp_path):
    store = swiftstore.SwiftStore(swift.connect, threads=3)
    store.put_tree("c", "input/", _tree(tmp_path / "src", {f"f{i}": b"x" for i in range(20)}))
    assert 1 <= swift.connections <= 4  # the caller's thread + at most the pool's three
    conns = list(store._connections)
    store.close()
    assert all(c.closed for c in conns)


def test_progress_reports_every_file_and_byte(store, tmp_path):
    seen = []
    store.put_tree("c", "input/", _tree(tmp_path / "src", FILES), progress=lambda *a: seen.append(a))
    total = sum(len(v) for v in FILES.values())
    assert seen[-1] == (4, 4, total, total)
    seen.clear()
    store.get_tree("c", "input/", tmp_path / "out", progress=lambda *a: seen.append(a))
    assert seen[-1] == (4, 4, total, total)


def test_put_file_and_get_file_verified(store, swift, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(os.urandom(3 * MIB))
    store.ensure_container("c")
    info = store.put_file("c", "output/data", path)
    assert info.size == 3 * MIB and info.etag == md5(path.read_bytes())
    store.put_file("c", "output/data", path)  # the first upload's segments are dropped
    assert len(swift.objects("c_segments")) == 3
    got = store.get_file("c", "output/data", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == path.read_bytes() and got.size == 3 * MIB
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_symlinks_are_not_followed_and_are_logged(store, swift, tmp_path, caplog):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the tree")
    src = _tree(tmp_path / "src", {"a.txt": b"a"})
    (src / "link.txt").symlink_to(secret)
    (src / "linkdir").symlink_to(tmp_path)
    with caplog.at_level("INFO", logger="swiftstore"):
        manifest = store.put_tree("c", "input/", src)
    assert [e.name for e in manifest.entries] == ["a.txt"]
    assert set(swift.objects("c")) == {"input/a.txt", "input.manifest.json"}
    messages = [r.getMessage() for r in caplog.records if r.name == "swiftstore"]
    assert any("link.txt: not a regular file" in m for m in messages)
    assert any("linkdir: not a regular file" in m for m in messages)
    assert any(m.startswith("put c/input/: 1 files") for m in messages)


def test_missing_local_directory(store, tmp_path):
    with pytest.raises(errors.NotFound, match="does not exist"):
        store.put_tree("c", "input/", tmp_path / "nope")


def test_store_options_are_checked(swift):
    with pytest.raises(ValueError):
        swiftstore.SwiftStore(swift.connect, segment_size=1000)
    with pytest.raises(ValueError):
        swiftstore.SwiftStore(swift.connect, threads=0)


def test_segments_grow_to_stay_within_swifts_manifest_limit(swift, tmp_path, monkeypatch):
    from swiftstore import uploads
    monkeypatch.setattr(uploads, "MAX_SEGMENTS", 4)
    store = swiftstore.SwiftStore(swift.connect, slo_threshold=MIB, segment_size=MIB)
    src = _tree(tmp_path / "src", {"big": os.urandom(10 * MIB)})
    store.put_tree("c", "input/", src)
    sizes = sorted(len(v) for v in swift.objects("c_segments").values())
    assert len(sizes) == 4 and sum(sizes) == 10 * MIB


def test_deleting_a_container_lists_again_after_a_409(store, swift, monkeypatch):
    """Swift answers 409 when a lagging listing missed an object: it is listed and deleted again."""
    from tests.unit.swiftstore.fake_conn import FakeConnection
    store.ensure_container("c")
    store.put_json("c", "a.json", 1)
    real_delete = FakeConnection.delete_container
    answers = [ClientException("Conflict", http_status=409)]

    def delete_container(self, container):
        if container == "c" and answers:
            self.swift.containers["c"]["late.json"] = {"data": b"1", "etag": md5(b"1"), "headers": {}}
            raise answers.pop()
        return real_delete(self, container)
    monkeypatch.setattr(FakeConnection, "delete_container", delete_container)
    store.delete("c")
    assert "c" not in swift.containers and answers == []
