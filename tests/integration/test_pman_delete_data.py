"""pman's delete of a job deletes the job's data, and only the job's: a real pman (local engine)
with the real loopback Swift, and in mount mode with a real store directory; the kube engine's
delete over the recorded API server with the real Swift.

Every test keeps data of other keys beside the job's, named to collide with it
(``<jid>_segments``, ``<jid>x``, and the other way round), and checks they are intact, byte for byte.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest

import swiftstore
from pman.engines import base
from pman.engines.kube import kubernetes as kube, settings as kubesettings
from pman.engines.kube import engine as kube_engine
from tests.fixtures.swift import drop_container
from tests.support.pman_driver import gated, pfurl, pman_argv, rest, wait_message, wait_pfurl, wait_rest
from tests.support.trees import make_tree, read_tree
from tests.support.fake_kube import FakeBatchV1Api, FakeCoreV1Api, recorded

MiB = 1 << 20
FILES = {"a.txt": b"hello", "sub/b.txt": b"bee", "big.bin": os.urandom(3 * MiB)}  # big.bin: an SLO


@pytest.fixture
def store(swift):
    """A store whose SLO threshold puts ``big.bin`` in segments (in the key's own container)."""
    creds = swiftstore.load_credentials(swift.credentials_file)
    with swiftstore.SwiftStore.from_credentials(creds, slo_threshold=MiB, segment_size=MiB) as s:
        yield s


@pytest.fixture
def names(unique_container, swift_connection):
    """The job's container name and colliding ones, all dropped afterwards."""
    found = {"jid": unique_container, "segments": f"{unique_container}_segments", "x": f"{unique_container}x"}
    yield found
    for name in found.values():
        drop_container(swift_connection, name)


@pytest.fixture
def start_pman(server_factory, swift, tmp_path):
    def start(*extra):
        return server_factory(pman_argv(tmp_path / "work", "--swift-storage", "--swift-credentials",
                                        swift.credentials_file, *extra))
    return start


@pytest.fixture
def cwd(tmp_path):
    (tmp_path / "cwd").mkdir()
    return tmp_path / "cwd"


def delete(url: str, jid: str) -> tuple[int, dict, dict | None]:
    """``DELETE /api/v1/<jid>/``: the status, the headers and the JSON body (if any)."""
    req = urllib.request.Request(f"{url}/api/v1/{jid}/", method="DELETE")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            raw = r.read()
            return r.status, dict(r.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def stored(store, key: str, tmp_path, prefix: str = "input/") -> dict[str, bytes]:
    """What a reader gets of ``key``'s ``prefix`` (verified by swiftstore)."""
    dest = tmp_path / f"read-{key}-{prefix.strip('/')}"
    store.get_tree(key, prefix, dest)
    return read_tree(dest)


def container_exists(swift_connection, name: str) -> bool:
    from swiftclient.exceptions import ClientException
    try:
        swift_connection.head_container(name)
        return True
    except ClientException as e:
        if e.http_status == 404:
            return False
        raise


def push(store, key: str, tmp_path) -> None:
    store.ensure_container(key)
    store.put_tree(key, "input/", make_tree(tmp_path / f"src-{key}", {**FILES, "owner.txt": key.encode()}))


def run_to_the_end(url: str, jid: str, cwd) -> None:
    reply = pfurl(url, "run", {"jid": jid, "cmd": "cp -r /share/incoming /share/outgoing", "threaded": True,
                               "container": {"target": {"image": "busybox"}}}, cwd)
    assert reply["status"] is True, reply
    d_ret = wait_pfurl(url, jid, cwd)["d_ret"]
    assert d_ret["l_status"] == ["finishedSuccessfully"], d_ret


# ---------------------------------------------------------------- Swift

@pytest.mark.parametrize("job", ["jid", "segments"])
def test_delete_of_a_finished_job_deletes_its_container_and_nothing_else(start_pman, store, names, swift_connection,
                                                                         tmp_path, cwd, job):
    """The job is ``<u>`` (its neighbours ``<u>_segments``, ``<u>x``) or ``<u>_segments`` (its
    neighbour ``<u>``, whose segments such a name once reached)."""
    for key in names.values():
        push(store, key, tmp_path)
    jid = names[job]
    server = start_pman()
    run_to_the_end(server.url, jid, cwd)
    assert stored(store, jid, tmp_path, "output/")["incoming/big.bin"] == FILES["big.bin"]
    assert any("/s/big.bin/" in o.name for o in store.list(jid))  # SLO segments to delete too

    d_ret = pfurl(server.url, "delete", {"key": "jid", "value": jid}, cwd)["d_ret"]

    assert (d_ret["action"], d_ret["job_id"], d_ret["status"]) == ("Delete Job", jid, "deleted")
    assert (d_ret["data"], d_ret["data_detail"]) == ("deleted", f"Swift container {jid}")
    assert not container_exists(swift_connection, jid)
    for key in set(names.values()) - {jid}:
        assert stored(store, key, tmp_path) == {**FILES, "owner.txt": key.encode()}, key
    assert rest(server.url, "GET", f"/api/v1/{jid}/")[0] == 404
    status, _headers, body = delete(server.url, jid)
    assert status == 404 and body["status"] is False


def test_keep_data_on_delete_keeps_the_container(start_pman, store, names, tmp_path, cwd):
    jid = names["jid"]
    push(store, jid, tmp_path)
    server = start_pman("--keep-data-on-delete")
    run_to_the_end(server.url, jid, cwd)

    status, headers, body = delete(server.url, jid)

    assert (status, body, headers["X-Pman-Data"]) == (204, None, "kept")
    assert "--keep-data-on-delete" in headers["X-Pman-Data-Detail"]
    assert stored(store, jid, tmp_path) == {**FILES, "owner.txt": jid.encode()}
    assert stored(store, jid, tmp_path, "output/")["incoming/a.txt"] == b"hello"
    assert rest(server.url, "GET", f"/api/v1/{jid}/")[0] == 404  # the job is forgotten all the same


def test_delete_of_a_running_job_stops_it_before_deleting_its_data(start_pman, store, names, swift_connection,
                                                                   tmp_path, cwd):
    """The job is in its run step; once deleted, nothing of it is left to publish its output."""
    jid = names["jid"]
    push(store, jid, tmp_path)
    push(store, names["x"], tmp_path)
    server = start_pman()
    gate = cwd / "gate"
    status, _ = rest(server.url, "POST", "/api/v1/", {"jid": jid, "image": "busybox",
                                                      "cmd": gated(gate, "cp -r /share/incoming /share/outgoing")})
    assert status == 201
    wait_message(server.url, jid, "running: step run")

    status, headers, _ = delete(server.url, jid)

    assert (status, headers["X-Pman-Data"]) == (204, "deleted")
    gate.touch()  # were any process of the job left, it would now run on and publish
    assert not container_exists(swift_connection, jid)
    assert not (tmp_path / "work" / "jobs" / jid).exists()  # the runner is gone with its directory
    assert stored(store, names["x"], tmp_path)["owner.txt"] == names["x"].encode()


def test_a_job_without_data_says_none(start_pman, names, cwd):
    jid = names["jid"]
    server = start_pman()
    rest(server.url, "POST", "/api/v1/", {"jid": jid, "image": "i", "cmd": "true"})
    assert wait_rest(server.url, jid)["reason"] == "InputError"  # no container: nothing to get
    d_ret = pfurl(server.url, "delete", {"key": "jid", "value": jid}, cwd)["d_ret"]
    assert (d_ret["status"], d_ret["data"]) == ("deleted", "none")


# ---------------------------------------------------------------- mount mode

@pytest.fixture
def store_base(tmp_path):
    path = tmp_path / "store"
    path.mkdir()
    return path


def mount_input(store_base, key: str) -> None:
    make_tree(store_base / f"key-{key}" / "incoming", {"a.txt": b"hello", "owner.txt": key.encode()})


def test_mount_delete_removes_the_key_directory_only(server_factory, tmp_path, store_base, cwd):
    jid = "chris-jid-7"
    neighbours = [f"{jid}_segments", f"{jid}x", "chris-jid-"]
    for key in [jid, *neighbours]:
        mount_input(store_base, key)
    server = server_factory(pman_argv(tmp_path / "work", "--storeBase", str(store_base)))
    run_to_the_end(server.url, jid, cwd)
    assert (store_base / f"key-{jid}" / "outgoing" / "incoming" / "owner.txt").read_bytes() == jid.encode()

    status, headers, _ = delete(server.url, jid)

    assert (status, headers["X-Pman-Data"]) == (204, "deleted")
    assert headers["X-Pman-Data-Detail"] == str(store_base / f"key-{jid}")
    assert not os.path.lexists(store_base / f"key-{jid}")
    for key in neighbours:
        assert read_tree(store_base / f"key-{key}") == {"incoming/a.txt": b"hello",
                                                        "incoming/owner.txt": key.encode()}, key
    assert not [p for p in (store_base / ".pfioh-staging").iterdir() if p.name != "locks"]  # no trash left


def test_mount_keep_data_on_delete(server_factory, tmp_path, store_base, cwd):
    jid = "chris-jid-8"
    mount_input(store_base, jid)
    server = server_factory(pman_argv(tmp_path / "work", "--storeBase", str(store_base)),
                            env={"PMAN_KEEP_DATA_ON_DELETE": "true"})
    run_to_the_end(server.url, jid, cwd)
    d_ret = pfurl(server.url, "delete", {"key": "jid", "value": jid}, cwd)["d_ret"]
    assert d_ret["data"] == "kept"
    assert (store_base / f"key-{jid}" / "outgoing" / "incoming" / "a.txt").read_bytes() == b"hello"


def test_mount_delete_never_follows_a_link_to_another_keys_data(server_factory, tmp_path, store_base, cwd):
    """Whoever can write the storeBase plants ``key-<jid>`` -> ``key-victim``: refused (409), the
    victim intact, and the job still known (cancelled) until the link is gone."""
    jid = "chris-jid-9"
    mount_input(store_base, "victim")
    os.symlink(store_base / "key-victim", store_base / f"key-{jid}")
    server = server_factory(pman_argv(tmp_path / "work", "--storeBase", str(store_base)))
    rest(server.url, "POST", "/api/v1/", {"jid": jid, "image": "i", "cmd": "true"})
    assert wait_rest(server.url, jid)["reason"] == "InputError"  # get refused the link too

    status, _headers, body = delete(server.url, jid)

    assert status == 409 and body["status"] is False and "symbolic link" in body["error"]
    assert read_tree(store_base / "key-victim") == {"incoming/a.txt": b"hello", "incoming/owner.txt": b"victim"}
    assert rest(server.url, "GET", f"/api/v1/{jid}/")[1]["reason"] == "Cancelled"
    os.unlink(store_base / f"key-{jid}")
    status, headers, _ = delete(server.url, jid)  # repeated once the link is gone
    assert (status, headers["X-Pman-Data"]) == (204, "none")


# ---------------------------------------------------------------- the kube engine

def test_kube_delete_deletes_the_container_with_pmans_credentials(swift, store, names, swift_connection, tmp_path):
    """A finished job (the recorded Job and pods of a success): the Job is deleted, then its
    container, with the store pman builds from its own credentials; neighbours untouched."""
    jid = names["jid"]
    for key in names.values():
        push(store, key, tmp_path)
    store.put_json(jid, "result.json", {"schema": "pman-result/1", "status": "finishedSuccessfully"})
    settings = kubesettings.KubeSettings(swift_credentials=swift.credentials_file)
    reader, writer, data_store = kube_engine.swift_results(settings, "kubernetes")
    batch = FakeBatchV1Api(read=recorded("succeeded/job.json"), delete=recorded("delete-job/delete-response.json"))
    core = FakeCoreV1Api(list_pods=recorded("succeeded/pods.json"))
    engine = kube.KubernetesEngine(kube.ClientApi(batch, core), settings, result_reader=reader, result_writer=writer,
                                   data_store=data_store)
    try:
        removal = engine.remove(jid)
        assert removal == base.Removal(base.DATA_DELETED, f"Swift container {jid}")
        assert not container_exists(swift_connection, jid)
        for key in (names["segments"], names["x"]):
            assert stored(store, key, tmp_path) == {**FILES, "owner.txt": key.encode()}, key
        assert reader(jid) is None  # status after the delete: a 404, the result object gone with it
    finally:
        data_store.close()
