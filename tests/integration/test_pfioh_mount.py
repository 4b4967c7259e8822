"""pfioh in mount mode as a real gunicorn-served process, driven by the real pfurl CLI and by a
pfcon-3-style ``requests`` client: round trips byte for byte, auth, bad input, concurrency, kill -9."""
from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import socket
import stat
import time

import psutil
import pytest
import requests

from pfioh import instance
from tests.support import pfioh_driver as sup


@pytest.fixture
def pfioh(server_factory, tmp_path):
    return sup.start_pfioh(server_factory, tmp_path)


@pytest.fixture
def cwd(tmp_path):
    path = tmp_path / "cwd"
    path.mkdir()
    return path


def test_pfurl_hello(pfioh, cwd):
    out = sup.pfurl(pfioh.url, {"action": "hello", "meta": {"askAbout": "echoBack", "echoBack": "ping"}}, cwd)
    d_ret = out["stdout"]["d_ret"]
    assert d_ret["name"] == "pfioh" and d_ret["echoBack"] == {"msg": "ping"} and "PycURL" in d_ret["User-agent"]


def test_pfurl_push_pull_multi_mb_byte_for_byte(pfioh, tmp_path, cwd):
    """A multi-MB push makes libcurl send ``Expect: 100-continue``; gunicorn must handle it."""
    src = sup.make_tree(tmp_path / "src", {"a.bin": 6 << 20, "sub/b.bin": 1234, "sub/deep/c.txt": 10, "empty": 0})
    out = sup.pfurl_push(pfioh.url, "mk1", src, cwd)
    remote = out["stdout"]["compress"]["remoteServer"]
    assert out["stdout"]["status"] is True and remote["msg"] == "File written successfully!"
    assert sup.same_tree(src, pfioh.store / "key-mk1")
    out = sup.pfurl_pull(pfioh.url, "mk1", tmp_path / "pulled", cwd)
    assert out["stdout"]["status"] is True
    assert sup.same_tree(src, tmp_path / "pulled")
    assert instance.leftovers(pfioh.store / ".pfioh-staging") == []


def test_pfurl_pull_of_empty_output(pfioh, tmp_path, cwd):
    (pfioh.store / "key-e1").mkdir(parents=True)
    out = sup.pfurl_pull(pfioh.url, "e1", tmp_path / "pulled", cwd)
    assert out["stdout"]["status"] is True and list((tmp_path / "pulled").iterdir()) == []


def test_pfcon3_requests_client_plugin_round_trip(pfioh, tmp_path):
    src = sup.make_tree(tmp_path / "src", {"x.dcm": 300_000, "d/y.dcm": 5})
    resp = sup.pfcon3_push(pfioh.url, "jid-7", sup.zip_tree(src))
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json"
    share = resp.json()["postop"]["shareDir"]
    assert sup.same_tree(src, pfioh.store / "key-jid-7" / "incoming")
    # The job writes its output where pman's local engine would.
    shutil.copytree(src, os.path.join(share, "outgoing"), dirs_exist_ok=True)
    resp = sup.pfcon3_pull(pfioh.url, "jid-7")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/zip"
    assert sup.same_tree(src, sup.unzip_bytes(resp.content, tmp_path / "out"))


def test_token_auth_with_pfurl_and_requests(server_factory, tmp_path, cwd):
    tokens = tmp_path / "pfioh_config.cfg"
    tokens.write_text("[AUTH TOKENS]\ntoken = password\n")
    server = sup.start_pfioh(server_factory, tmp_path, "--enableTokenAuth", "--tokenPath", str(tokens))
    src = sup.make_tree(tmp_path / "src", {"a": 100})
    out = sup.pfurl_push(server.url, "a1", src, cwd, token="password")
    assert out["stdout"]["status"] is True and sup.same_tree(src, server.store / "key-a1")
    assert sup.pfcon3_push(server.url, "a2", sup.zip_tree(src)).status_code == 401
    assert sup.pfcon3_push(server.url, "a2", sup.zip_tree(src), token="wrong").status_code == 401
    assert not (server.store / "key-a2").exists()
    assert sup.pfcon3_pull(server.url, "a1", token="password", plugin=False).status_code == 200
    assert "password" not in server.log_text()


@pytest.mark.parametrize("name, payload, status", [
    ("traversal", {"../../escape.txt": b"x"}, 400),
    ("absolute", {"/tmp/abs-escape.txt": b"x"}, 400),
    ("bomb", {"zeros": bytes(64 << 20)}, 413),
    ("symlink", {("link", stat.S_IFLNK | 0o777): b"/etc/passwd"}, 400),
    ("device", {("dev", stat.S_IFCHR | 0o600): b""}, 400),
])
def test_bad_zips_over_http(pfioh, tmp_path, name, payload, status):
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, d in payload.items():
            if isinstance(n, tuple):
                info = zipfile.ZipInfo(n[0])
                info.create_system, info.external_attr = 3, n[1] << 16
                zf.writestr(info, d)
            else:
                zf.writestr(n, d)
    resp = sup.pfcon3_push(pfioh.url, f"bad-{name}", buf.getvalue(), plugin=False)
    assert resp.status_code == status and resp.json()["status"] is False and resp.json()["error"]
    assert not (pfioh.store / f"key-bad-{name}").exists() and not (pfioh.store.parent / "escape.txt").exists()


def test_truncated_zip_and_bad_key_and_oversize(server_factory, tmp_path):
    server = sup.start_pfioh(server_factory, tmp_path, "--max-upload-size", "1M")
    src = sup.make_tree(tmp_path / "src", {"a": 5000})
    resp = sup.pfcon3_push(server.url, "t1", sup.zip_tree(src)[:-40], plugin=False)
    assert resp.status_code == 400 and "corrupt" in resp.json()["error"]
    resp = sup.pfcon3_push(server.url, "a/b", sup.zip_tree(src), plugin=False)
    assert resp.status_code == 400 and "key" in resp.json()["error"]
    resp = sup.pfcon3_push(server.url, "big", os.urandom(2 << 20), plugin=False)
    assert resp.status_code == 413 and "too large" in resp.json()["error"]
    resp = requests.get(f"{server.url}/api/v1/cmd/?action=pullPath&meta=%7B%27remote", timeout=10)
    assert resp.status_code == 400 and "meta" in resp.json()["error"]
    assert sorted(os.listdir(server.store)) == [".pfioh-staging"]


def test_unknown_action_and_missing_meta_over_http(pfioh):
    resp = requests.post(f"{pfioh.url}/api/v1/cmd/", data='{"action": "bogus", "meta": {}}', timeout=10)
    assert resp.status_code == 400 and "bogus" in resp.json()["error"]
    resp = requests.get(f"{pfioh.url}/api/v1/cmd/?action=pullPath", timeout=10)
    assert resp.status_code == 400 and "meta" in resp.json()["error"]


def test_parallel_pushes_to_different_keys(pfioh, tmp_path):
    trees = {f"p{i}": sup.make_tree(tmp_path / f"src{i}", {"a": 200_000 + i, "s/b": i}) for i in range(6)}
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda k: sup.pfcon3_push(pfioh.url, k, sup.zip_tree(trees[k]),
                                                         plugin=False).status_code, trees))
    assert codes == [200] * 6
    assert all(sup.same_tree(src, pfioh.store / f"key-{k}") for k, src in trees.items())


def test_parallel_pushes_to_same_key_never_mix(pfioh, tmp_path):
    trees = [sup.make_tree(tmp_path / f"src{i}", {f"only-{i}/f{j}": 50_000 for j in range(5)}) for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda t: sup.pfcon3_push(pfioh.url, "same", sup.zip_tree(t),
                                                         plugin=False).status_code, trees))
    assert codes == [200] * 6
    assert sum(sup.same_tree(t, pfioh.store / "key-same") for t in trees) == 1


def test_kill_9_during_push_leaves_nothing_and_restart_serves(server_factory, tmp_path):
    server = sup.start_pfioh(server_factory, tmp_path)
    body_head = b"--B\r\nContent-Disposition: form-data; name=\"d_msg\"\r\n\r\n" \
        b'{"action": "pushPath", "meta": {"remote": {"key": "killed"}}}\r\n--B\r\n' \
        b"Content-Disposition: form-data; name=\"local\"; filename=\"x.zip\"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /api/v1/cmd/ HTTP/1.1\r\nHost: x\r\nMode: file\r\n"
                     b"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 50000000\r\n\r\n" + body_head)
        for _ in range(20):
            sock.sendall(os.urandom(1 << 20))
        staging = server.store / ".pfioh-staging"
        deadline = time.monotonic() + 30
        while not any(staging.glob("inst-*/upload-*")):
            assert time.monotonic() < deadline, "the upload never reached the staging area"
            time.sleep(0.05)
        server.stop(signal.SIGKILL)
        sup.wait_instances_gone(staging)
    assert not (server.store / "key-killed").exists()
    restarted = sup.start_pfioh(server_factory, tmp_path)
    assert instance.leftovers(staging) == []  # the leftover upload was swept
    assert len(list(staging.glob("inst-*.lock"))) == 1  # only the running instance's
    src = sup.make_tree(tmp_path / "src", {"a": 1000})
    assert sup.pfcon3_push(restarted.url, "killed", sup.zip_tree(src), plugin=False).status_code == 200
    assert sup.same_tree(src, restarted.store / "key-killed")


@pytest.mark.parametrize("workers, sig", [("1", signal.SIGTERM), ("2", signal.SIGTERM), ("1", signal.SIGINT)])
def test_a_clean_stop_leaves_no_staging_for_the_next_start_to_sweep(server_factory, tmp_path, workers, sig):
    """SIGTERM or SIGINT: the instance's staging directory and lock go with it, so the next start
    has nothing to sweep and says nothing (its warning is kept for a crash, as above).  With two
    workers, a worker leaving first must not take the staging from under the other."""
    server = sup.start_pfioh(server_factory, tmp_path, "--workers", workers)
    staging = server.store / ".pfioh-staging"
    src = sup.make_tree(tmp_path / "src", {"a": 3 << 20, "b/c": 1000})
    for key in ("k1", "k2", "k3"):  # with two workers, both very likely serve one
        assert sup.pfcon3_push(server.url, key, sup.zip_tree(src), plugin=False).status_code == 200
    if workers == "2":  # one worker leaves (gunicorn starts another): the instance lives on
        worker = psutil.Process(server.proc.pid).children()[0]
        worker.terminate()
        worker.wait(30)
        assert len(list(staging.glob("inst-*/"))) == 1
        for key in ("k4", "k5", "k6"):
            assert sup.pfcon3_push(server.url, key, sup.zip_tree(src), plugin=False).status_code == 200
    assert server.stop(sig) == 0
    assert sorted(p.name for p in staging.iterdir()) == ["locks"]
    restarted = sup.start_pfioh(server_factory, tmp_path)
    assert "leftover" not in restarted.log_text()
    assert sup.same_tree(src, restarted.store / "key-k3")


def test_one_shot_without_forever_exits_after_one_command(server_factory, tmp_path):
    server = server_factory(["pfioh", "--storeBase", str(tmp_path / "s")])
    assert requests.get(f"{server.url}/api/v1/health", timeout=5).status_code == 200
    resp = requests.post(f"{server.url}/api/v1/cmd", data='{"action": "hello", "meta": {}}', timeout=5)
    assert resp.status_code == 200
    assert server.proc.wait(timeout=30) == 0


def test_quit_stops_the_server(pfioh, cwd):
    out = sup.pfurl(pfioh.url, {"action": "quit", "meta": {"ctl": {"serverCmd": "quit"}}}, cwd)
    assert out == {"msg": "Server shut down", "status": True} or out["status"] is True
    assert pfioh.proc.wait(timeout=30) == 0
    # Like a signal, a quit leaves no staging behind (docs/pfioh.md, "Staging").
    assert sorted(p.name for p in (pfioh.store / ".pfioh-staging").iterdir()) == ["locks"]


def test_second_pfioh_on_the_same_store_spares_the_first_ones_push(server_factory, tmp_path):
    """Issue 12.5: starting another pfioh on a storeBase used to empty the shared staging area,
    killing the first one's in-flight push."""
    first = sup.start_pfioh(server_factory, tmp_path)
    src = sup.make_tree(tmp_path / "src", {"a": 3 << 20, "b/c": 1000})
    payload = sup.zip_tree(src)
    head = (b"--B\r\nContent-Disposition: form-data; name=\"d_msg\"\r\n\r\n"
            b'{"action": "pushPath", "meta": {"remote": {"key": "inflight"}}}\r\n--B\r\n'
            b"Content-Disposition: form-data; name=\"local\"; filename=\"x.zip\"\r\n\r\n")
    body = head + payload + b"\r\n--B--\r\n"
    half = len(head) + len(payload) // 2
    staging = first.store / ".pfioh-staging"
    with socket.create_connection(("127.0.0.1", first.port)) as sock:
        sock.sendall(b"POST /api/v1/cmd/ HTTP/1.1\r\nHost: x\r\nMode: file\r\nConnection: close\r\n"
                     b"Content-Type: multipart/form-data; boundary=B\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:half])
        deadline = time.monotonic() + 30
        while not any(staging.glob("inst-*/upload-*")):
            assert time.monotonic() < deadline, "the upload never reached the staging area"
            time.sleep(0.05)
        second = sup.start_pfioh(server_factory, tmp_path)  # sweeps at start
        assert requests.get(second.url + "/api/v1/health", timeout=10).status_code == 200
        sock.sendall(body[half:])
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert sup.same_tree(src, first.store / "key-inflight")
    assert len(list(staging.glob("inst-*.lock"))) == 2  # both instances' own
