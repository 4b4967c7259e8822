"""pfioh in Swift mode against the real loopback Swift: the real pfurl CLI and a pfcon-3-style
client push and pull byte for byte; objects are checked directly in Swift."""
from __future__ import annotations

import concurrent.futures
import io
import json
import os
import signal
import socket
import time
import zipfile
import zlib
from pathlib import Path

import pytest
import requests

from pfioh import instance
from swiftstore import bundles
from tests.support import pfioh_driver as sup
from tests.support import trees


def _start(server_factory, tmp_path, swift, *extra):
    return sup.start_pfioh(server_factory, tmp_path, "--swift-storage", *extra,
                           env={"SWIFT_CREDENTIALS": swift.credentials_file})


@pytest.fixture
def pfioh(server_factory, tmp_path, swift):
    return _start(server_factory, tmp_path, swift)


@pytest.fixture
def store(swift):
    import swiftstore
    return swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file))


@pytest.fixture
def cwd(tmp_path):
    path = tmp_path / "cwd"
    path.mkdir()
    return path


def _objects(conn, container, prefix=""):
    _, listing = conn.get_container(container, prefix=prefix, full_listing=True)
    return {o["name"]: o for o in listing}


def test_pfurl_push_lands_as_objects_and_pull_round_trips(pfioh, tmp_path, cwd, unique_container,
                                                           swift_connection, store):
    key = unique_container
    src = sup.make_tree(tmp_path / "src", {"a.bin": 3 << 20, "sub/b.txt": 17, "sub/deep/c": 0})
    out = sup.pfurl_push(pfioh.url, key, src, cwd)
    assert out["stdout"]["compress"]["remoteServer"]["msg"] == "File/Directory stored in Swift"
    manifest = store.read_manifest(key, "input/")
    assert {e.name for e in manifest.entries} == {"a.bin", "sub/b.txt", "sub/deep/c"}
    for e in manifest.entries:  # each file readable alone (small ones by range from their bundle)
        assert b"".join(store.iter_entry(key, manifest, e)) == (src / e.name).read_bytes()
    # The job's publisher writes output/ (with its manifest); pull serves it.
    store.put_tree(key, "output/", str(src))
    out = sup.pfurl_pull(pfioh.url, key, tmp_path / "pulled", cwd)
    assert out["stdout"]["status"] is True and sup.same_tree(src, tmp_path / "pulled")


def test_compressed_small_files_are_stored_as_pfurl_sent_them_and_read_back_whole(
        pfioh, tmp_path, cwd, unique_container, swift_connection, store):
    """pfurl deflates; the bundles keep its DEFLATE streams (Swift stores about half the bytes of
    images), and every reader gets the files back, each checked against its MD5."""
    key = unique_container
    src = tmp_path / "src"
    for i in range(40):  # like images: noise and flat regions
        (src / f"series{i % 2}").mkdir(parents=True, exist_ok=True)
        (src / f"series{i % 2}" / f"img{i:02d}.dcm").write_bytes(os.urandom(2000 + i) + bytes(6000))
    (src / "noise.bin").write_bytes(os.urandom(5000))  # deflate cannot shrink it: kept as it is
    sup.pfurl_push(pfioh.url, key, src, cwd)
    manifest = store.read_manifest(key, "input/")
    deflated = {e.name for e in manifest.entries if e.deflated is not None}
    assert deflated == {e.name for e in manifest.entries} - {"noise.bin"}
    # The CRC-32 the unpacker checked is the one recorded (a pull passes it on to the client's unzip).
    assert all(e.crc32 == zlib.crc32((src / e.name).read_bytes()) for e in manifest.entries if e.name in deflated)
    bundle_objects = {e.object for e in manifest.entries}
    stored = sum(int(swift_connection.head_object(key, b)["content-length"]) for b in bundle_objects)
    assert stored == sum(e.stored_size for e in manifest.entries) < manifest.total_bytes * 0.4
    # Each bundle's CRC-32, recorded as pfioh uploaded it, is that of what Swift keeps (a pull checks it).
    assert all(e.object_crc32 == zlib.crc32(swift_connection.get_object(key, e.object)[1]) for e in manifest.entries)
    for e in manifest.entries:
        assert b"".join(store.iter_entry(key, manifest, e)) == (src / e.name).read_bytes()
    store.get_tree(key, "input/", tmp_path / "got")  # what the job's get step does
    assert sup.same_tree(src, tmp_path / "got")
    # Published as output (compressed), then pulled through pfioh, which passes the compressed
    # streams into the zip as they are (the client's unzip checks each file's CRC-32).
    out = sup.pfurl_pull(pfioh.url, key, tmp_path / "pulled", cwd)
    assert out["stdout"]["status"] is False  # no output yet: input is never served as output
    writer = store.tree_writer(key, "output/")
    for e in manifest.entries:
        data = (src / e.name).read_bytes()
        writer.add_bytes(e.name, data, deflated=bundles.deflate(data, level=6))
    output = writer.commit()
    out = sup.pfurl_pull(pfioh.url, key, tmp_path / "pulled", cwd)
    assert out["stdout"]["status"] is True and sup.same_tree(src, tmp_path / "pulled")
    resp = sup.pfcon3_pull(pfioh.url, key)
    assert resp.status_code == 200 and len(resp.content) < output.total_bytes * 0.45
    assert resp.headers["Content-Length"] == str(len(resp.content))  # computed before it was built
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        assert zf.testzip() is None
        assert {i.filename for i in zf.infolist() if i.compress_type == zipfile.ZIP_DEFLATED} == deflated
        assert {i.filename: i.compress_size for i in zf.infolist()} == \
            {e.name: e.stored_size for e in output.entries}


def test_larger_compressed_files_are_stored_as_pfurl_sent_them_and_read_back_whole(
        pfioh, tmp_path, cwd, unique_container, swift_connection, store):
    """A file too large to bundle that came deflated is stored as its DEFLATE stream, in an object
    of its own (Swift takes in, and a job's get reads, about half the bytes of an image); one that
    deflate could not shrink is stored as it is.  Every reader gets the files back."""
    key = unique_container
    src = tmp_path / "src"
    src.mkdir()
    (src / "ct.dcm").write_bytes(os.urandom(3 << 19) + bytes(3 << 19))  # 3 MiB, half flat
    (src / "noise.bin").write_bytes(os.urandom(2 << 20))
    (src / "small.txt").write_bytes(b"hello\n")
    sup.pfurl_push(pfioh.url, key, src, cwd)
    manifest = store.read_manifest(key, "input/")
    kept = {e.name: e for e in manifest.entries if e.kept_deflated}
    assert set(kept) == {"ct.dcm"} and kept["ct.dcm"].crc32 == zlib.crc32((src / "ct.dcm").read_bytes())
    stored = int(swift_connection.head_object(key, kept["ct.dcm"].object)["content-length"])
    assert stored == kept["ct.dcm"].deflated < 0.6 * kept["ct.dcm"].size
    assert all(e.object_crc32 == zlib.crc32(swift_connection.get_object(key, e.object)[1]) for e in manifest.entries)
    for e in manifest.entries:
        assert b"".join(store.iter_entry(key, manifest, e)) == (src / e.name).read_bytes()
    store.get_tree(key, "input/", tmp_path / "got")  # what the job's get step does
    assert sup.same_tree(src, tmp_path / "got")
    # Output kept the same way (as the publisher may store it) goes into the pulled zip as it is.
    writer = store.tree_writer(key, "output/")
    spool = tmp_path / "ct.deflated"
    spool.write_bytes(bundles.deflate((src / "ct.dcm").read_bytes()))
    writer.add_deflated_file("ct.dcm", str(spool), 3 << 20, spool.stat().st_size, kept["ct.dcm"].crc32)
    writer.add("noise.bin", str(src / "noise.bin"), 2 << 20)
    writer.add_bytes("small.txt", b"hello\n")
    writer.commit()
    out = sup.pfurl_pull(pfioh.url, key, tmp_path / "pulled", cwd)
    assert out["stdout"]["status"] is True and sup.same_tree(src, tmp_path / "pulled")
    resp = sup.pfcon3_pull(pfioh.url, key)
    assert resp.headers["Content-Length"] == str(len(resp.content))
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        assert zf.testzip() is None
        info = zf.getinfo("ct.dcm")
        assert info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size == spool.stat().st_size


def test_pfurl_hello_in_swift_mode(pfioh, cwd):
    out = sup.pfurl(pfioh.url, {"action": "hello", "meta": {"askAbout": "timestamp"}}, cwd)
    assert out["stdout"]["d_ret"]["name"] == "pfioh" and "timestamp" in out["stdout"]["d_ret"]


def test_pfcon3_client_round_trip(pfioh, tmp_path, unique_container, store):
    key = unique_container
    src = sup.make_tree(tmp_path / "src", {"x.dcm": 100_000, "y/z.dcm": 10})
    resp = sup.pfcon3_push(pfioh.url, key, sup.zip_tree(src))
    assert resp.status_code == 200 and resp.json()["status"] is True
    assert store.read_manifest(key, "input/") is not None
    assert sup.pfcon3_pull(pfioh.url, key).status_code == 404  # no output yet
    store.put_tree(key, "output/", str(src))
    resp = sup.pfcon3_pull(pfioh.url, key)
    assert resp.status_code == 200 and sup.same_tree(src, sup.unzip_bytes(resp.content, tmp_path / "out"))


def test_archive_layout_uses_input_data_and_output_data(server_factory, tmp_path, swift, unique_container,
                                                        swift_connection):
    server = _start(server_factory, tmp_path, swift, "--swift-layout", "archive")
    key = unique_container
    src = sup.make_tree(tmp_path / "src", {"a": 5000})
    payload = sup.zip_tree(src)
    assert sup.pfcon3_push(server.url, key, payload).status_code == 200
    assert set(_objects(swift_connection, key)) == {"input/data"}
    assert swift_connection.get_object(key, "input/data")[1] == payload
    swift_connection.put_object(key, "output/data", payload)
    resp = sup.pfcon3_pull(server.url, key)
    assert resp.status_code == 200 and resp.content == payload


def test_token_auth_in_swift_mode(server_factory, tmp_path, swift, unique_container, swift_connection):
    tokens = tmp_path / "t.cfg"
    tokens.write_text("[AUTH TOKENS]\ntoken = password\n")
    server = _start(server_factory, tmp_path, swift, "--enableTokenAuth", "--tokenPath", str(tokens))
    payload = sup.zip_tree(sup.make_tree(tmp_path / "src", {"a": 10}))
    assert sup.pfcon3_push(server.url, unique_container, payload).status_code == 401
    assert unique_container not in [c["name"] for c in swift_connection.get_account()[1]]
    assert sup.pfcon3_push(server.url, unique_container, payload, token="password").status_code == 200


def test_bad_zip_and_bad_key_write_nothing(pfioh, tmp_path, unique_container, swift_connection):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../etc/x", b"1")
    resp = sup.pfcon3_push(pfioh.url, unique_container, buf.getvalue())
    assert resp.status_code == 400 and "'..'" in resp.json()["error"]
    assert unique_container not in [c["name"] for c in swift_connection.get_account()[1]]
    resp = sup.pfcon3_push(pfioh.url, "x" * 300, sup.zip_tree(sup.make_tree(tmp_path / "s", {"a": 1})))
    assert resp.status_code == 400 and "key" in resp.json()["error"]


def test_parallel_pushes_same_key_never_mix(pfioh, tmp_path, unique_container, swift_connection, store):
    key = unique_container
    trees = [sup.make_tree(tmp_path / f"src{i}", {f"only-{i}/f{j}": 20_000 for j in range(4)}) for i in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda t: sup.pfcon3_push(pfioh.url, key, sup.zip_tree(t)).status_code, trees))
    assert codes == [200] * 4
    manifest = store.read_manifest(key, "input/")
    names = {e.name for e in manifest.entries}
    winners = [t for t in trees if names == {p.relative_to(t).as_posix() for p in t.rglob("*") if p.is_file()}]
    assert len(winners) == 1
    assert set(_objects(swift_connection, key, f"input.v/{manifest.version}/")) == set(manifest.owned())


def test_parallel_pushes_different_keys(pfioh, tmp_path, swift_connection, store):
    import uuid
    keys = [f"test-{uuid.uuid4().hex[:12]}" for _ in range(4)]
    src = sup.make_tree(tmp_path / "src", {"a": 300_000, "b/c": 5})
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(lambda k: sup.pfcon3_push(pfioh.url, k, sup.zip_tree(src)).status_code, keys))
        assert codes == [200] * 4
        assert all(store.read_manifest(k, "input/") is not None for k in keys)
    finally:
        for k in keys:
            store.delete(k)


def test_kill_9_during_push_leaves_nothing_in_swift(server_factory, tmp_path, swift, unique_container,
                                                    swift_connection):
    server = _start(server_factory, tmp_path, swift)
    d_msg = json.dumps({"action": "pushPath", "meta": {"remote": {"key": unique_container}}}).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /api/v1/cmd/ HTTP/1.1\r\nHost: x\r\nMode: file\r\nContent-Length: 90000000\r\n"
                     b"Content-Type: multipart/form-data; boundary=B\r\n\r\n--B\r\n"
                     b'Content-Disposition: form-data; name="d_msg"\r\n\r\n' + d_msg + b"\r\n--B\r\n"
                     b'Content-Disposition: form-data; name="local"; filename="x.zip"\r\n\r\n')
        for _ in range(10):
            sock.sendall(os.urandom(1 << 20))
        # Kill it once the upload is being received (spooled in staging), not after a guessed delay.
        staging = server.store / ".pfioh-staging"
        deadline = time.monotonic() + 30
        while not any(staging.glob("inst-*/upload-*")):
            assert time.monotonic() < deadline, "the upload never reached the staging area"
            time.sleep(0.05)
        server.stop(signal.SIGKILL)
        sup.wait_instances_gone(staging)
    assert unique_container not in [c["name"] for c in swift_connection.get_account()[1]]
    restarted = _start(server_factory, tmp_path, swift)
    assert instance.leftovers(restarted.store / ".pfioh-staging") == []
    src = sup.make_tree(tmp_path / "src", {"a": 10})
    assert sup.pfcon3_push(restarted.url, unique_container, sup.zip_tree(src)).status_code == 200


def test_ready_is_503_when_swift_refuses_the_credentials(server_factory, tmp_path, swift):
    """Health says ok either way (liveness); readiness does an authenticated HEAD of the account
    with pfioh's own credentials, against the real Swift (issue 12.8)."""
    import re
    good = _start(server_factory, tmp_path / "good", swift)
    resp = requests.get(good.url + "/api/v1/ready", timeout=30)
    assert resp.status_code == 200 and resp.json()["status"] == "ready"
    wrong = tmp_path / "wrong-key.cfg"
    with open(swift.credentials_file) as f:
        text = f.read()
    wrong.write_text(re.sub(r"(?m)^key\s*=.*$", "key = not-the-key", text))
    assert "not-the-key" in wrong.read_text()
    bad = sup.start_pfioh(server_factory, tmp_path / "bad", "--swift-storage", env={"SWIFT_CREDENTIALS": str(wrong)})
    assert requests.get(bad.url + "/api/v1/health", timeout=30).status_code == 200
    resp = requests.get(bad.url + "/api/v1/ready", timeout=30)
    body = resp.json()
    assert resp.status_code == 503 and body["status"] == "not ready" and "401" in body["failing"]["store"]
    assert "not-the-key" not in resp.text


def _on_swifts_disk(swift, data: bytes):
    """The object file under the loopback Swift's devices that holds ``data``."""
    for path in (Path(swift.base) / "data").rglob("*.data"):
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return path
    raise AssertionError("no object file holds those bytes")


@pytest.mark.parametrize("files", [60, 1200])  # a zip of one chunk; one of many (its first bytes sent)
def test_a_bundle_rotted_on_swifts_disk_fails_the_pull_instead_of_being_served(
        pfioh, tmp_path, swift, unique_container, store, swift_connection, files):
    """A bundle's bytes change under Swift, its ETag as recorded: Swift serves them (it notices only
    after), pfioh checks them against the CRC-32 their upload recorded, and the client gets an
    error reply naming it or, once the zip has started, a transfer cut short: never a whole zip."""
    key = unique_container
    src = trees.make_tree(tmp_path / "src", {f"img/{i:04d}.dcm": trees.image_like(8000 + i) for i in range(files)})
    manifest = store.put_tree(key, "output/", str(src))
    last = max((e for e in manifest.entries if e.offset is not None), key=lambda e: e.name)
    assert last.object_crc32 is not None
    path = _on_swifts_disk(swift, swift_connection.get_object(key, last.object)[1])
    with open(path, "r+b") as f:  # one bit, in place: Swift's metadata (its ETag) stays as it was
        f.seek(path.stat().st_size - 100)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x10]))
    if files == 60:
        resp = sup.pfcon3_pull(pfioh.url, key)
        assert resp.status_code == 502 and "CRC-32" in resp.json()["error"]
    else:
        with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
            sup.pfcon3_pull(pfioh.url, key)  # fewer bytes than its Content-Length
