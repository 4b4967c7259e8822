"""Durability on a replicated Swift (issue 10, point 6): a private 3-replica SAIO
(tests/fixtures/swift_replicated.py) with one object server stopped, and with its proxy restarted
while bytes flow.

With one of three object servers down every write still reaches a quorum (2 of 3) and every read
finds a replica, so swiftstore, pfioh and the publisher must work unchanged, and verify.  A proxy
restart drops the connections in flight: swiftclient retries (a PUT from its start, a GET from the
byte it had reached), so a transfer either completes and verifies, or fails with a
``SwiftStoreError``; never is half of a version visible.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import swiftstore
from swiftstore import errors
from tests.support import pfioh_driver as sup
from tests.support.trees import read_tree
from tools import ports, saio

MiB = 1 << 20
# Small enough that the test tree holds an SLO, large enough that the 10 MiB file is one object.
SLO_THRESHOLD, SEGMENT_SIZE = 11 * MiB, 4 * MiB
ROOT = Path(__file__).resolve().parents[2]
PUBLISHER = str(Path(sys.executable).parent / "pman-swift-publisher")


def small_files(n: int = 150) -> dict[str, int]:
    return {f"series/s{i % 3}/slice{i:03d}.dcm": 2000 + i for i in range(n)}


def tree_spec() -> dict[str, int]:
    """Small files (bundled), a 10 MiB file (one object) and a 13 MiB file (an SLO of 4 segments)."""
    return {**small_files(), "big/ten.bin": 10 * MiB, "big/slo.bin": 13 * MiB}


def open_store(swift, **options) -> swiftstore.SwiftStore:
    options = {"slo_threshold": SLO_THRESHOLD, "segment_size": SEGMENT_SIZE, **options}
    return swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file), **options)


@pytest.fixture
def store(replicated_swift):
    with open_store(replicated_swift) as s:
        yield s


def test_the_cluster_has_three_replicas_on_their_own_servers(replicated_swift):
    from swift.common.ring import RingData
    base = Path(replicated_swift.base)
    bound = json.loads((base / "ports.json").read_text())
    pids = saio._pids(base)
    for kind in saio.BACKENDS:
        ring = RingData.load(str(base / "etc" / f"{kind}.ring.gz"))
        assert ring.replica_count == 3
        assert {(d["port"], d["device"], d["zone"]) for d in ring.devs} == {
            (bound[f"{kind}-{i}"], f"d{i}", i) for i in (1, 2, 3)}
        # every partition has one replica on each server
        assert all(len(set(devs)) == 3 for devs in zip(*ring._replica2part2dev_id))
        for i in (1, 2, 3):  # each server listens on the port its ring names, and only there
            assert ports.listening_ports(pids[f"{kind}-{i}"]) == {bound[f"{kind}-{i}"]}


def test_start_reuses_the_running_cluster_and_the_cli_checks_replicas(replicated_swift):
    base = Path(replicated_swift.base)
    pids = saio._pids(base)
    assert saio.start(base, replicas=3).auth_url == replicated_swift.auth_url
    assert saio._pids(base) == pids and saio.replica_count(base) == 3
    bad = subprocess.run([sys.executable, "-m", "tools.saio", "start", "--replicas", "0", "--base", str(base)],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "--replicas: must be a whole number >= 1" in bad.stderr
    assert saio._pids(base) == pids
    usage = subprocess.run([sys.executable, "-m", "tools.saio", "--help"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "--replicas N" in usage and "saio.stop_server(base" in usage


def test_stop_server_and_start_server_keep_the_port(replicated_swift, servers):
    base = Path(replicated_swift.base)
    port = json.loads((base / "ports.json").read_text())["object-2"]
    old = saio._pids(base)["object-2"]
    servers.stop("object-2")
    assert not saio._alive(old) and "object-2" not in saio._pids(base)
    servers.start("object-2")
    assert ports.listening_ports(saio._pids(base)["object-2"]) == {port}


# -- one object server down -----------------------------------------------------------------------

def test_swiftstore_put_and_get_with_an_object_server_down(object_server_down, store, replicated_container,
                                                           replicated_connection, tmp_path):
    src = sup.make_tree(tmp_path / "src", tree_spec())
    store.put_tree(replicated_container, "input/", src)
    manifest = store.read_manifest(replicated_container, "input/")
    # From the manifest, not a listing: with a server down the container servers' listings differ
    # until a replicator reconciles them (none runs here), and a listing may miss new objects.
    names = manifest.owned()
    for name in names:
        replicated_connection.head_object(replicated_container, name)
    assert any("/b/" in n for n in names), "the small files are bundled"
    assert any(n.endswith("/f/big/ten.bin") for n in names), "the 10 MiB file is one object"
    assert sum("/s/big/slo.bin/" in n for n in names) == 4, "the 13 MiB file is an SLO of 4 segments"
    assert replicated_connection.head_object(replicated_container, next(n for n in names if n.endswith(
        "/f/big/slo.bin")))["x-static-large-object"] == "True"
    store.get_tree(replicated_container, "input/", tmp_path / "got")
    assert sup.same_tree(src, tmp_path / "got")
    # A second version replaces the first (its cleanup deletes with a server down too).
    (src / "series/s0/slice000.dcm").write_bytes(b"v2")
    store.put_tree(replicated_container, "input/", src)
    assert store.read_manifest(replicated_container, "input/").version != manifest.version
    store.get_tree(replicated_container, "input/", tmp_path / "got", replace=True)
    assert sup.same_tree(src, tmp_path / "got")


def test_reads_verify_while_the_stopped_server_is_back_but_missing_the_objects(
        servers, store, replicated_container, tmp_path):
    """Written while object-2 was down, read once it is back (empty-handed for these objects, as no
    replicator runs): the proxy finds the other replicas and every byte still verifies."""
    servers.stop("object-2")
    src = sup.make_tree(tmp_path / "src", tree_spec())
    store.put_tree(replicated_container, "input/", src)
    servers.start("object-2")
    servers.stop("object-1")
    store.get_tree(replicated_container, "input/", tmp_path / "got")
    assert sup.same_tree(src, tmp_path / "got")


def test_pfioh_push_and_pull_with_an_object_server_down(object_server_down, replicated_swift, server_factory,
                                                        replicated_container, tmp_path):
    pfioh = sup.start_pfioh(server_factory, tmp_path, "--swift-storage",
                            env={"SWIFT_CREDENTIALS": replicated_swift.credentials_file})
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    src = sup.make_tree(tmp_path / "src", {**small_files(), "big/ten.bin": 10 * MiB})
    out = sup.pfurl_push(pfioh.url, replicated_container, src, cwd)
    assert out["stdout"]["compress"]["remoteServer"]["msg"] == "File/Directory stored in Swift"
    # What a job publishes is what pull serves.
    with open_store(replicated_swift) as store:
        store.put_tree(replicated_container, "output/", src)
    out = sup.pfurl_pull(pfioh.url, replicated_container, tmp_path / "pulled", cwd)
    assert out["stdout"]["status"] is True and sup.same_tree(src, tmp_path / "pulled")


def publisher(swift, *argv):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ST_", "OS_", "SWIFT_"))}
    env["SWIFT_CREDENTIALS"] = swift.credentials_file
    return subprocess.run([PUBLISHER, *argv], env=env, capture_output=True, text=True, timeout=120)


def test_publisher_get_and_put_with_an_object_server_down(object_server_down, replicated_swift, store,
                                                          replicated_container, tmp_path):
    src = sup.make_tree(tmp_path / "src", tree_spec())
    store.put_tree(replicated_container, "input/", src)
    share = tmp_path / "share"
    dirs = ["--key", replicated_container, "--incoming", str(share / "in"), "--outgoing", str(share / "out")]
    got = publisher(replicated_swift, "get", *dirs)
    assert got.returncode == 0, got.stderr
    assert sup.same_tree(src, share / "in")
    sup.make_tree(share / "out", {"summary.json": 300, "png/a.png": 5 * MiB, **small_files(40)})
    put = publisher(replicated_swift, "put", *dirs)
    assert put.returncode == 0, put.stderr
    store.get_tree(replicated_container, "output/", tmp_path / "published")
    assert sup.same_tree(share / "out", tmp_path / "published")


# -- the proxy restarted mid-transfer -------------------------------------------------------------

class RestartWhileFlowing:
    """A progress callback that, at the first report of a transfer under way, has a thread stop
    the proxy (dropping the connections in flight) and, unless ``keep_down``, start it again.
    The report waits until the proxy is down, so the transfer cannot end before that.

    ``requests_after()`` gives the requests the restarted proxy served (from its log), which
    shows whether and how the transfer went on.
    """

    def __init__(self, servers, keep_down: bool = False):
        self.servers, self.keep_down = servers, keep_down
        self.flowing, self.stopped = threading.Event(), threading.Event()
        self.stopped_at: int | None = None
        self.bytes_total = 0
        self.error: BaseException | None = None
        self._log = Path(servers.base_dir) / "log" / "proxy.log"
        self._log_offset = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def __call__(self, files_done, files_total, bytes_done, bytes_total):
        if 0 < bytes_done < bytes_total and not self.flowing.is_set():
            self.stopped_at, self.bytes_total = bytes_done, bytes_total
            self.flowing.set()
        if self.flowing.is_set():
            self.stopped.wait(30)

    def _run(self):
        self.flowing.wait()
        if self.stopped_at is None:
            return  # finish() without a transfer under way
        try:
            self.servers.stop("proxy")
            self._log_offset = self._log.stat().st_size
            self.stopped.set()
            if not self.keep_down:
                self.servers.start("proxy")
        except BaseException as exc:  # reported by finish()
            self.error = exc
            self.stopped.set()

    def finish(self) -> None:
        self.flowing.set()
        self._thread.join(60)
        assert self.error is None, self.error
        assert self.stopped_at is not None, "the transfer was over before it could be interrupted"

    def requests_after(self, needle: str) -> list[tuple[str, str]]:
        """(method, status) of each request for a path containing ``needle`` served after the stop."""
        with open(self._log, "rb") as log:
            log.seek(self._log_offset)
            lines = log.read().decode(errors="replace").splitlines()
        # proxy-logging: "proxy-server: client remote date METHOD PATH PROTOCOL STATUS ..."
        fields = [line.split() for line in lines if line.startswith("proxy-server: ")]
        return [(f[4], f[7]) for f in fields if len(f) > 7 and needle in f[5]]


BIG = 40 * MiB
# The restart tests move one large file, so the first progress report comes while it flows: as
# one object (PUT retried from its start, GET resumed by range) or as an SLO (4 MiB segments).
KINDS = {"object": {"slo_threshold": 64 * MiB}, "slo": {}}


def big_file(root: Path) -> Path:
    return sup.make_tree(root, {"big/scan.raw": BIG})


@pytest.mark.parametrize("kind", KINDS)
def test_proxy_restart_during_a_put_completes_or_keeps_the_previous_version(
        kind, servers, replicated_swift, replicated_container, tmp_path):
    v1 = sup.make_tree(tmp_path / "v1", {**small_files(30), "big/scan.raw": 3 * MiB})
    v2 = big_file(tmp_path / "v2")
    with open_store(replicated_swift, **KINDS[kind]) as store:
        store.put_tree(replicated_container, "input/", v1)
        restart = RestartWhileFlowing(servers)
        try:
            store.put_tree(replicated_container, "input/", v2, progress=restart)
            expected = v2
        except errors.SwiftStoreError as exc:
            print(f"put failed: {exc!r}")
            expected = v1
        finally:
            restart.finish()
        store.get_tree(replicated_container, "input/", tmp_path / "got")
    assert sup.same_tree(expected, tmp_path / "got")
    after = restart.requests_after("/big/scan.raw")
    print(f"{kind}: proxy stopped at {restart.stopped_at} of {restart.bytes_total} bytes; "
          f"then the restarted proxy served {after}")
    if expected is v2:  # it was under way when the proxy went, so it ended on the new one
        assert ("PUT", "201") in after


@pytest.mark.parametrize("kind", KINDS)
def test_proxy_restart_during_a_get_completes_or_leaves_the_destination(
        kind, servers, replicated_swift, replicated_container, tmp_path):
    src = big_file(tmp_path / "src")
    dest = sup.make_tree(tmp_path / "dest", {"previous.txt": 10})
    before = read_tree(dest)
    with open_store(replicated_swift, **KINDS[kind]) as store:
        store.put_tree(replicated_container, "input/", src)
        restart = RestartWhileFlowing(servers)
        try:
            store.get_tree(replicated_container, "input/", dest, replace=True, progress=restart)
            completed = True
        except errors.SwiftStoreError as exc:
            print(f"get failed: {exc!r}")
            completed = False
        finally:
            restart.finish()
    after = restart.requests_after("/big/scan.raw")
    print(f"{kind}: proxy stopped at {restart.stopped_at} of {restart.bytes_total} bytes; "
          f"then the restarted proxy served {after}")
    if completed:
        assert sup.same_tree(src, dest)
        assert any(method == "GET" and status in ("200", "206") for method, status in after)
    else:
        assert read_tree(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "src"], "no staging directory left"


def test_put_cut_off_by_a_proxy_that_stays_down_keeps_the_previous_version(
        servers, replicated_swift, store, replicated_container, tmp_path):
    """The failure half, made certain: the proxy stays down until swiftclient's retries are spent."""
    v1 = sup.make_tree(tmp_path / "v1", {**small_files(30), "big/scan.raw": 3 * MiB})
    current = store.put_tree(replicated_container, "input/", v1)
    restart = RestartWhileFlowing(servers, keep_down=True)
    with open_store(replicated_swift, retries=1, starting_backoff=0.1) as impatient:
        with pytest.raises(errors.SwiftStoreError) as failed:
            impatient.put_tree(replicated_container, "input/", big_file(tmp_path / "v2"), progress=restart)
    restart.finish()
    print(f"put failed: {failed.value!r}")
    servers.start("proxy")
    assert store.read_manifest(replicated_container, "input/").version == current.version
    store.get_tree(replicated_container, "input/", tmp_path / "got")
    assert sup.same_tree(v1, tmp_path / "got")


def test_get_cut_off_by_a_proxy_that_stays_down_leaves_the_destination(
        servers, replicated_swift, store, replicated_container, tmp_path):
    store.put_tree(replicated_container, "input/", big_file(tmp_path / "src"))
    dest = sup.make_tree(tmp_path / "dest", {"previous.txt": 10, "sub/old.bin": 1000})
    before = read_tree(dest)
    restart = RestartWhileFlowing(servers, keep_down=True)
    with open_store(replicated_swift, retries=1, starting_backoff=0.1) as impatient:
        with pytest.raises(errors.SwiftStoreError) as failed:
            impatient.get_tree(replicated_container, "input/", dest, replace=True, progress=restart)
    restart.finish()
    print(f"get failed: {failed.value!r}")
    assert read_tree(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "src"], "no staging directory left"
