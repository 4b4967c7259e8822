"""SwiftStore over an in-memory Connection (our seam): the order of writes that makes "complete"
explicit, SLO planning, verification and the translation of swiftclient's failures."""
import os

import pytest
from swiftclient.exceptions import ClientException

from swiftstore import errors, names
import swiftstore
from tests.support.fake_swiftclient import FakeConnection, FakeSwift, md5

MIB = 1 << 20


@pytest.fixture
def fake_swift():
    return FakeSwift()


@pytest.fixture
def store(fake_swift):
    with swiftstore.SwiftStore(fake_swift.connect, threads=4, slo_threshold=2 * MIB, segment_size=MIB) as s:
        yield s


def _tree(root, files):
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def digest(data: bytes, threshold: int = 2 * MIB, segment: int = MIB) -> str:
    """What a manifest records for a file: its MD5, or above the SLO threshold the SLO's ETag."""
    from swiftstore import transfer
    return transfer.digest_of(data, segment if len(data) > threshold else 0)


def _current(fake_swift, container="c", prefix="input/"):
    """The manifest stored now, parsed as a reader would."""
    return swiftstore.Manifest.from_json(fake_swift.objects(container)[names.manifest_name(prefix)])


def _obj(fake_swift, rel, container="c", prefix="input/"):
    """The object holding file ``rel`` of the current version."""
    m = _current(fake_swift, container, prefix)
    return next(m.object_of(e) for e in m.entries if e.name == rel)


FILES = {"a.txt": b"hello", "sub/deep/empty": b"", "ünï/cödé.bin": os.urandom(1000), "big.bin": os.urandom(5 * MIB + 7)}


def test_put_tree_writes_the_manifest_last_and_only_new_names_before_it(store, fake_swift, tmp_path):
    src = _tree(tmp_path / "src", FILES)
    old = store.put_tree("c", "input/", src)
    fake_swift.calls.clear()
    manifest = store.put_tree("c", "input/", src)
    writes = [c for c in fake_swift.calls if c[0] in ("PUT", "DELETE") and c[2]]
    switch = writes.index(("PUT", "c", "input.manifest.json"))
    # Before the switch: only objects of the new version are written, nothing is deleted.
    assert all(c[0] == "PUT" and names.version_of("input/", c[2]) == manifest.version for c in writes[:switch])
    assert manifest.version != old.version and [set(r.objects) for r in manifest.retired] == [set(old.owned())]
    assert {e.name: (e.size, e.md5) for e in manifest.entries} == {k: (len(v), digest(v)) for k, v in FILES.items()}
    assert store.read_manifest("c", "input") == manifest

def test_large_files_become_slos_with_verified_segments_in_the_same_container(store, fake_swift, tmp_path):
    src = _tree(tmp_path / "src", FILES)
    manifest = store.put_tree("c", "input/", src)
    assert set(fake_swift.containers) == {"c"}  # never a "<key>_segments" container: that name is another key's
    big = fake_swift.containers["c"][_obj(fake_swift, "big.bin")]
    prefix = names.version_segments("input/", manifest.version, "big.bin")
    segments = [o for o in fake_swift.objects("c") if o.startswith(prefix)]
    assert len(segments) == 6 and set(segments) <= set(manifest.owned())
    assert big["headers"]["x-static-large-object"] == "True"
    assert big["headers"]["x-object-meta-swiftstore-segment-size"] == str(MIB)
    assert {e.name: e.md5 for e in manifest.entries}["big.bin"] == digest(FILES["big.bin"])
    out = tmp_path / "out"
    store.get_tree("c", "input/", out)
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == FILES

def test_interrupted_re_put_leaves_the_previous_version_readable(store, fake_swift, tmp_path):
    src = _tree(tmp_path / "src", FILES)
    first = store.put_tree("c", "input/", src)
    fake_swift.fail_suffix[("PUT", "/b/000000")] = RuntimeError("killed mid-upload")  # the small files' bundle
    (src / "a.txt").write_bytes(b"second version")
    with pytest.raises(RuntimeError):
        store.put_tree("c", "input/", src)
    assert _current(fake_swift) == first
    store.get_tree("c", "input/", tmp_path / "out")
    assert (tmp_path / "out/a.txt").read_bytes() == b"hello"


def test_interrupted_first_put_leaves_no_manifest(store, fake_swift, tmp_path):
    fake_swift.fail_suffix[("PUT", "/b/000000")] = RuntimeError("killed mid-upload")
    with pytest.raises(RuntimeError):
        store.put_tree("c", "input/", _tree(tmp_path / "src", FILES))
    assert "input.manifest.json" not in fake_swift.objects("c")
    with pytest.raises(errors.IncompleteError, match="no manifest"):
        store.get_tree("c", "input/", tmp_path / "out")
    assert not (tmp_path / "out").exists()

def test_etag_mismatch_is_detected_and_the_object_removed(store, fake_swift, tmp_path):
    src = _tree(tmp_path / "src", {"a": b"abc", "b": b"def"})
    fake_swift.bad_etag_suffix = "/b/000000"
    real_put = FakeConnection.put_object

    def lying_put(self, container, name, *args, **kw):
        etag = real_put(self, container, name, *args, **kw)
        return "0" * 32 if name.endswith(fake_swift.bad_etag_suffix) else etag
    FakeConnection.put_object = lying_put
    try:
        with pytest.raises(errors.IntegrityError, match="upload not verified") as info:
            store.put_tree("c", "input/", src)
    finally:
        FakeConnection.put_object = real_put
    assert info.value.obj.endswith("/b/000000")
    assert info.value.obj not in fake_swift.objects("c") and "input.manifest.json" not in fake_swift.objects("c")

def test_re_puts_keep_replaced_versions_readable_for_the_retire_grace(store, fake_swift, tmp_path):
    one = store.put_tree("c", "input/", _tree(tmp_path / "one", {"a": b"1"}))
    two = store.put_tree("c", "input/", _tree(tmp_path / "two", {"a": b"2"}))
    three = store.put_tree("c", "input/", _tree(tmp_path / "three", {"a": b"3"}))
    assert [r.version for r in three.retired] == [two.version, one.version]
    assert set(fake_swift.objects("c")) == {"input.manifest.json", *one.owned(), *two.owned(), *three.owned()}


def test_re_puts_delete_the_version_before_the_previous_one_after_the_manifest(fake_swift, tmp_path):
    store = swiftstore.SwiftStore(fake_swift.connect, threads=4, slo_threshold=2 * MIB, segment_size=MIB, retire_grace=0)
    one = store.put_tree("c", "input/", _tree(tmp_path / "one", FILES))
    two = store.put_tree("c", "input/", _tree(tmp_path / "two", {"new.txt": b"new"}))
    # The previous version stays readable for one more generation (a reader may be on it).
    assert set(fake_swift.objects("c")) == {"input.manifest.json", *one.owned(), *two.owned()}
    fake_swift.calls.clear()
    three = store.put_tree("c", "input/", _tree(tmp_path / "three", {"x": b"3"}))
    assert set(fake_swift.objects("c")) == {"input.manifest.json", *two.owned(), *three.owned()}
    switch = fake_swift.calls.index(("PUT", "c", "input.manifest.json"))
    deletes = [i for i, c in enumerate(fake_swift.calls) if c[0] == "DELETE"]
    assert deletes and min(deletes) > switch

def test_get_refuses_an_object_replaced_behind_the_manifests_back(store, fake_swift, tmp_path):
    store.put_tree("c", "input/", _tree(tmp_path / "src", {"a": b"abc", "b": b"def"}))
    fake_swift.containers["c"][_obj(fake_swift, "a")].update(data=b"xyz", etag=md5(b"xyz"))  # same size, other bytes
    with pytest.raises(errors.IntegrityError, match="missing or changed"):
        store.get_tree("c", "input/", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_reader_whose_version_is_deleted_meanwhile_reads_the_new_one(fake_swift, tmp_path):
    store = swiftstore.SwiftStore(fake_swift.connect, threads=4, retire_grace=0)
    store.put_tree("c", "input/", _tree(tmp_path / "v1", {"a": b"one", "b": b"one"}))
    stale = _current(fake_swift)
    store.put_tree("c", "input/", _tree(tmp_path / "v2", {"a": b"two", "b": b"two"}))
    store.put_tree("c", "input/", _tree(tmp_path / "v3", {"a": b"three", "b": b"three"}))  # v1 is now deleted
    reads = iter([stale])
    real = swiftstore.tree.read_manifest
    swiftstore.tree.read_manifest = lambda *a: next(reads, None) or real(*a)  # the reader saw v1 first
    try:
        store.get_tree("c", "input/", tmp_path / "out")
    finally:
        swiftstore.tree.read_manifest = real
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == {"a": b"three", "b": b"three"}

def test_corrupt_download_leaves_no_destination(store, fake_swift, tmp_path):
    store.put_tree("c", "input/", _tree(tmp_path / "src", {"a": b"abc", "b/c": b"def"}))
    rec = fake_swift.containers["c"][_obj(fake_swift, "b/c")]
    rec["data"] = b"xyz"  # corrupted on disk: the ETag Swift answers is still the old one
    with pytest.raises(errors.IntegrityError, match="expected"):
        store.get_tree("c", "input/", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]

def test_get_without_manifest_but_forced_takes_the_listing(store, fake_swift, tmp_path):
    store.ensure_container("c")
    fake_swift.containers["c"]["input/x"] = {"data": b"1", "etag": md5(b"1"), "headers": {}}
    with pytest.raises(errors.IncompleteError):
        store.get_tree("c", "input/", tmp_path / "out")
    store.get_tree("c", "input/", tmp_path / "out", force=True)
    assert (tmp_path / "out/x").read_bytes() == b"1"


def test_delete_prefix_removes_manifest_first_then_every_version(store, fake_swift, tmp_path):
    store.put_tree("c", "input/", _tree(tmp_path / "src", FILES))
    store.put_tree("c", "input/", _tree(tmp_path / "src", FILES))
    store.put_json("c", "status.json", {"ok": True})
    fake_swift.calls.clear()
    store.delete("c", "input/")
    deletes = [c for c in fake_swift.calls if c[0] == "DELETE"]
    assert deletes[0] == ("DELETE", "c", "input.manifest.json")
    assert set(fake_swift.objects("c")) == {"status.json"}
    store.delete("c")
    assert "c" not in fake_swift.containers
    with pytest.raises(errors.NotFound):
        store.delete("c")


def test_keys_named_like_segment_containers_are_just_other_keys(store, fake_swift, tmp_path):
    """A push to ``<victim>_segments`` once deleted the victim's SLO segments."""
    store.put_tree("victim", "input/", _tree(tmp_path / "v", {"big": os.urandom(3 * MIB)}))
    before = dict(fake_swift.objects("victim"))
    for _ in range(3):
        store.put_tree("victim_segments", "input/", _tree(tmp_path / "a", {"big": os.urandom(3 * MIB)}))
    store.delete("victim_segments", "input/")
    store.delete("victim_segments")
    assert fake_swift.objects("victim") == before
    store.get_tree("victim", "input/", tmp_path / "out")

def test_json_round_trip_and_exists(store):
    store.ensure_container("c")
    store.put_json("c", "r.json", {"ü": [1, 2]})
    assert store.get_json("c", "r.json") == {"ü": [1, 2]}
    assert store.exists("c") and store.exists("c", "r.json") and store.exists("c", "r.")
    assert not store.exists("c", "nope") and not store.exists("nope")


def test_invalid_container_names_fail_before_any_request(store, fake_swift, tmp_path):
    for call in (lambda: store.put_tree("a/b", "input/", tmp_path), lambda: store.get_tree("", "input/", tmp_path),
                 lambda: store.exists("x" * 300), lambda: store.delete("a/b"), lambda: store.put_json("", "n", 1)):
        with pytest.raises(errors.InvalidName):
            call()
    assert fake_swift.calls == []


@pytest.mark.parametrize("status,cls", [(404, errors.NotFound), (401, errors.AuthenticationError),
                                        (403, errors.AuthenticationError), (503, errors.TransferError),
                                        (500, errors.TransferError)])
def test_client_failures_are_translated_with_context(store, fake_swift, status, cls):
    fake_swift.fail[("PUT", "c")] = ClientException("boom", http_status=status, http_response_content="x" * 5000)
    with pytest.raises(cls) as info:
        store.ensure_container("c")
    assert info.value.container == "c" and info.value.http_status == status
    assert isinstance(info.value.__cause__, ClientException) and len(str(info.value)) < 400


def test_one_connection_per_thread_and_close(fake_swift, tmp_path):
    store = swiftstore.SwiftStore(fake_swift.connect, threads=3)
    store.put_tree("c", "input/", _tree(tmp_path / "src", {f"f{i}": b"x" for i in range(20)}))
    assert 1 <= fake_swift.connections <= 4  # the caller's thread + at most the pool's three
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


def test_put_file_and_get_file_verified(store, fake_swift, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(os.urandom(3 * MIB))
    store.ensure_container("c")
    info = store.put_file("c", "output/data", path)
    assert info.size == 3 * MIB and info.etag == digest(path.read_bytes())
    first = {o for o in fake_swift.objects("c") if o.startswith("output/data.slo/")}
    store.put_file("c", "output/data", path)  # the first upload's segments are dropped
    segments = {o for o in fake_swift.objects("c") if o.startswith("output/data.slo/")}
    assert len(segments) == 3 and not segments & first and set(fake_swift.containers) == {"c"}
    got = store.get_file("c", "output/data", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == path.read_bytes() and got.size == 3 * MIB
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    small = tmp_path / "small"
    small.write_bytes(b"now small")
    store.put_file("c", "output/data", small)  # an SLO replaced by a plain object: its segments go too
    assert set(fake_swift.objects("c")) == {"output/data"}

def test_symlinks_are_not_followed_and_are_logged(store, fake_swift, tmp_path, caplog):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the tree")
    src = _tree(tmp_path / "src", {"a.txt": b"a"})
    (src / "link.txt").symlink_to(secret)
    (src / "linkdir").symlink_to(tmp_path)
    with caplog.at_level("INFO", logger="swiftstore"):
        manifest = store.put_tree("c", "input/", src)
    assert [e.name for e in manifest.entries] == ["a.txt"]
    assert set(fake_swift.objects("c")) == {manifest.object_of(manifest.entries[0]), "input.manifest.json"}
    messages = [r.getMessage() for r in caplog.records if r.name == "swiftstore"]
    assert any("link.txt: not a regular file" in m for m in messages)
    assert any("linkdir: not a regular file" in m for m in messages)
    assert any(m.startswith("put c/input/: 1 files") for m in messages)


def test_missing_local_directory(store, tmp_path):
    with pytest.raises(errors.NotFound, match="does not exist"):
        store.put_tree("c", "input/", tmp_path / "nope")


def test_store_options_are_checked(fake_swift):
    with pytest.raises(ValueError):
        swiftstore.SwiftStore(fake_swift.connect, segment_size=1000)
    with pytest.raises(ValueError):
        swiftstore.SwiftStore(fake_swift.connect, threads=0)


def test_segments_grow_to_stay_within_swifts_manifest_limit(fake_swift, tmp_path, monkeypatch):
    from swiftstore import uploads
    monkeypatch.setattr(uploads, "MAX_SEGMENTS", 4)
    store = swiftstore.SwiftStore(fake_swift.connect, slo_threshold=MIB, segment_size=MIB)
    src = _tree(tmp_path / "src", {"big": os.urandom(10 * MIB)})
    store.put_tree("c", "input/", src)
    sizes = sorted(len(v) for k, v in fake_swift.objects("c").items() if "/s/big/" in k)
    assert len(sizes) == 4 and sum(sizes) == 10 * MIB


def test_deleting_a_container_lists_again_after_a_409(store, fake_swift, monkeypatch):
    """Swift answers 409 when a lagging listing missed an object: it is listed and deleted again."""
    from tests.support.fake_swiftclient import FakeConnection
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
    assert "c" not in fake_swift.containers and answers == []
