"""Data integrity against the real Swift: no key reaches another key's objects, and every reader
gets exactly one complete stored version or a clear error (issue: data integrity)."""
from __future__ import annotations

import hashlib
import io
import os
import urllib.parse
import zipfile

import pytest
import requests

import swiftstore
from swiftstore import errors
from tests.support import pfioh_driver as sup
from tests.support.trees import listed, make_tree, read_tree

MIB = 1 << 20


@pytest.fixture
def store(swift):
    """A writer that deletes replaced versions as soon as it may (the previous one survives one
    more put): the harshest case for readers."""
    creds = swiftstore.load_credentials(swift.credentials_file)
    with swiftstore.SwiftStore.from_credentials(creds, threads=4, slo_threshold=2 * MIB, segment_size=MIB,
                                                retire_grace=0) as s:
        yield s


@pytest.fixture
def victim(store, unique_container, tmp_path):
    """A key whose tree has an SLO (segments), and a copy of what it must keep reading."""
    files = {"big.bin": os.urandom(5 * MIB), "small.txt": b"victim"}
    store.put_tree(unique_container, "input/", make_tree(tmp_path / "victim", files))
    store.put_file(unique_container, "input/data", tmp_path / "victim" / "big.bin")  # an SLO object too
    return unique_container, files


def _victim_intact(store, swift_connection, key, files, tmp_path, before):
    assert listed(swift_connection, key) == before
    dst = tmp_path / f"check-{len(os.listdir(tmp_path))}"
    store.get_tree(key, "input/", dst)
    assert read_tree(dst) == files
    store.get_file(key, "input/data", dst.parent / (dst.name + ".data"))


@pytest.mark.parametrize("suffix", ["_segments", "+segments", ".v", "/input"])
def test_keys_named_after_anothers_internals_never_touch_it(store, swift_connection, victim, tmp_path, suffix):
    """A push to ``<victim>_segments`` once deleted the victim's SLO segments (409 on read)."""
    key, files = victim
    before = listed(swift_connection, key)
    other = key + suffix
    try:
        swiftstore.validate_container_name(other)
    except errors.InvalidName:
        return  # such a key is refused before any request: nothing can be touched
    try:
        for i in range(3):  # re-puts delete what earlier puts of *this* key named
            store.put_tree(other, "input/", make_tree(tmp_path / f"o{i}", {"big.bin": os.urandom(3 * MIB)}))
            store.put_file(other, "input/data", tmp_path / f"o{i}" / "big.bin")
        store.get_tree(other, "input/", tmp_path / "other-out")
        store.delete(other, "input/")
        store.delete(other)
    finally:
        if store.exists(other):
            store.delete(other)
    _victim_intact(store, swift_connection, key, files, tmp_path, before)


def test_pushing_to_the_segments_name_through_pfioh_leaves_the_victim_whole(
        server_factory, tmp_path, swift, store, swift_connection, victim):
    key, files = victim
    before = listed(swift_connection, key)
    server = sup.start_pfioh(server_factory, tmp_path, "--swift-storage",
                             env={"SWIFT_CREDENTIALS": swift.credentials_file})
    other = key + "_segments"
    try:
        for i in range(2):
            payload = sup.zip_tree(make_tree(tmp_path / f"p{i}", {"input/big.bin/x": os.urandom(1000)}))
            assert sup.pfcon3_push(server.url, other, payload).status_code == 200
    finally:
        store.delete(other)
    _victim_intact(store, swift_connection, key, files, tmp_path, before)


def _versions(tmp_path, n_files=24, size=MIB):
    """Two trees with the same names and sizes, other bytes (what a careless re-publish does)."""
    names = [f"f{i:02d}.dcm" for i in range(n_files)]
    v1 = make_tree(tmp_path / "v1", {n: os.urandom(size) for n in names})
    v2 = make_tree(tmp_path / "v2", {n: os.urandom(size) for n in names})
    return v1, v2


def _pull_stream(url, key):
    meta = {"remote": {"key": key}, "local": {"path": f"/share/{key}", "createDir": True}, "transport": sup.COMPRESS}
    query = urllib.parse.urlencode({"action": "pullPath", "meta": meta})
    return requests.get(f"{url}/api/v1/cmd/?{query}", stream=True, timeout=120)


def _which(zip_bytes: bytes, trees) -> set[int]:
    """Which of ``trees`` each pulled file came from."""
    digests = [{p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in t.iterdir()} for t in trees]
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        return {next(i for i, d in enumerate(digests) if d[n] == hashlib.md5(zf.read(n)).hexdigest())
                for n in zf.namelist()}


def test_a_pull_racing_a_republish_gets_the_version_it_started_on(
        server_factory, tmp_path, swift, store, unique_container):
    """It once served 5 files of v1 and 15 of v2 in one valid zip."""
    v1, v2 = _versions(tmp_path)
    server = sup.start_pfioh(server_factory, tmp_path, "--swift-storage",
                             env={"SWIFT_CREDENTIALS": swift.credentials_file})
    store.put_tree(unique_container, "output/", v1)
    with _pull_stream(server.url, unique_container) as resp:
        assert resp.status_code == 200
        chunks = resp.iter_content(64 * 1024)
        first = next(chunks)
        store.put_tree(unique_container, "output/", v2)  # republished while the pull is under way
        data = first + b"".join(chunks)
    assert _which(data, [v1, v2]) == {0}
    assert _which(sup.pfcon3_pull(server.url, unique_container).content, [v1, v2]) == {1}


def test_a_pull_whose_version_is_deleted_fails_instead_of_mixing(
        server_factory, tmp_path, swift, store, unique_container):
    # Files too big to bundle, many more than pfioh reads ahead: most are still to be fetched
    # when the version goes (a GET already under way is served to its end by Swift).
    v1, v2 = _versions(tmp_path, n_files=24, size=3 * MIB // 2)
    server = sup.start_pfioh(server_factory, tmp_path, "--swift-storage",
                             env={"SWIFT_CREDENTIALS": swift.credentials_file})
    store.put_tree(unique_container, "output/", v1)
    with _pull_stream(server.url, unique_container) as resp:
        chunks = resp.iter_content(64 * 1024)
        data = next(chunks)
        store.put_tree(unique_container, "output/", v2)
        store.put_tree(unique_container, "output/", v1)  # v1's first stored version is now deleted
        with pytest.raises(requests.exceptions.RequestException):
            for chunk in chunks:
                data += chunk
    with pytest.raises(zipfile.BadZipFile):  # the client never holds a valid zip of a mix
        zipfile.ZipFile(io.BytesIO(data))


def test_with_the_default_grace_a_pull_survives_many_republishes(server_factory, tmp_path, swift, unique_container):
    v1, v2 = _versions(tmp_path)
    server = sup.start_pfioh(server_factory, tmp_path, "--swift-storage",
                             env={"SWIFT_CREDENTIALS": swift.credentials_file})
    with swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file)) as writer:
        writer.put_tree(unique_container, "output/", v1)
        with _pull_stream(server.url, unique_container) as resp:
            chunks = resp.iter_content(64 * 1024)
            data = next(chunks)
            for tree in (v2, v1, v2):
                writer.put_tree(unique_container, "output/", tree)
            data += b"".join(chunks)
    assert _which(data, [v1, v2]) == {0}


def test_get_tree_racing_republishes_reads_one_whole_version(store, swift, unique_container, tmp_path):
    v1, v2 = _versions(tmp_path, n_files=12, size=100_000)
    store.put_tree(unique_container, "input/", v1)
    writer = swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file),
                                                    retire_grace=0)
    seen = []

    def republish_once(files_done, files_total, bytes_done, bytes_total):
        if 0 < bytes_done < bytes_total and not seen:
            seen.append(files_done)
            writer.put_tree(unique_container, "input/", v2)
            writer.put_tree(unique_container, "input/", v1)  # the version being read is deleted now

    with writer:
        store.get_tree(unique_container, "input/", tmp_path / "dst", progress=republish_once)
    got = read_tree(tmp_path / "dst")
    assert seen and got in ({p.name: p.read_bytes() for p in v.iterdir()} for v in (v1, v2))


def test_a_dead_writers_leftovers_are_invisible_then_swept(store, unique_container, swift_connection, tmp_path):
    first = store.put_tree(unique_container, "input/", make_tree(tmp_path / "one", {"a": b"1"}))
    # A writer that died after uploading its objects, long ago (its version id dates it).
    dead = swiftstore.names.version_object("input/", "20200101T000000Z-0123456789ab", "a")
    swift_connection.put_object(unique_container, dead, b"half a tree")
    store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert read_tree(tmp_path / "dst") == {"a": b"1"}
    second = store.put_tree(unique_container, "input/", make_tree(tmp_path / "two", {"a": b"2"}))
    assert set(listed(swift_connection, unique_container)) == {"input.manifest.json", *first.owned(),
                                                               *second.owned()}


def _tree_bytes(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_two_pfioh_replicas_and_publishers_on_one_key_never_mix(server_factory, tmp_path, swift, unique_container):
    """pfioh scales out with all its state in Swift: its per-key locks are per process, so two
    replicas (and the publishers) must be safe without them.  Every read sees one whole version."""
    import concurrent.futures
    key = unique_container
    replicas = [sup.start_pfioh(server_factory, tmp_path / f"r{i}", "--swift-storage",
                                env={"SWIFT_CREDENTIALS": swift.credentials_file}) for i in range(2)]
    store = swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file),
                                                   slo_threshold=2 * MIB, segment_size=MIB)  # as publishers run
    versions = [make_tree(tmp_path / f"v{i}", {f"s{i}/{j:02d}.dcm": os.urandom(20_000 + j) for j in range(30)}
                          | {"big.bin": os.urandom(3 * MIB + i)}) for i in range(4)]
    known = [_tree_bytes(v) for v in versions]
    store.put_tree(key, "output/", versions[0])

    def push(i):
        return sup.pfcon3_push(replicas[i % 2].url, key, sup.zip_tree(versions[i])).status_code

    def publish(i):
        store.put_tree(key, "output/", versions[i])
        return 200

    def pull(i):
        resp = sup.pfcon3_pull(replicas[i % 2].url, key)
        assert resp.status_code == 200
        return _tree_bytes(sup.unzip_bytes(resp.content, tmp_path / f"pulled{i}"))

    def get(i):
        store.get_tree(key, "input/", tmp_path / f"got{i}")
        return _tree_bytes(tmp_path / f"got{i}")

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        writes = [pool.submit(push, i) for i in range(4)] + [pool.submit(publish, i) for i in range(4)]
        reads = [pool.submit(pull, i) for i in range(6)]
        assert [w.result() for w in writes] == [200] * 8
        readers = [pool.submit(get, i) for i in range(4)]
        for r in reads + readers:
            assert r.result() in known  # one whole version, whichever
    final_in, final_out = store.read_manifest(key, "input/"), store.read_manifest(key, "output/")
    store.get_tree(key, "input/", tmp_path / "final")
    assert _tree_bytes(tmp_path / "final") in known
    assert final_in.version and final_out.version
