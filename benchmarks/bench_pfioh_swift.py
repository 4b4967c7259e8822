"""Benchmark pfioh in Swift mode against the original pfioh 2.2.0.8 in Swift mode, as users run it.

Both servers run in the same run against the same loopback Swift, authenticating to the same real
Keystone (the original only speaks Keystone v3), taking turns.  Each tree is pushed and pulled

* through the real ``pfurl`` CLI (what pfcon 2 ran),
* through our ``pfioh-client`` (against ours it zips while it sends; against the original it
  sends a finished zip, as that server needs a Content-Length),
* and at the server alone: a ready-made zip sent through pfioh.client's request (no zipping or
  unzipping in the timing).

Trees (``--scale`` shrinks sizes and counts): 1000 x 10 KiB; a DICOM-like study of 2000 files of
50-500 KiB; 10 x 10 MiB; one file above swiftstore's SLO threshold (1 GiB).  Before a pull, the
job's output is put in place the way each system's publisher would (ours: a tree version, small
files compressed; the original: the directory zipped with DEFLATE into one ``output/data``), and
that is timed too (the "publish" rows).  Every pulled tree is compared with the pushed one.

Ratio = the original's time / ours (above 1: we are faster).  Through pfurl, each tree is also
pushed to and pulled from a server that does nothing (benchmarks/pfurl_sink.py: it drops the
push, and answers the pull with the zip ours sent, from a file): the original's time over that is
the "ceiling", the best ratio any server could reach through pfurl, whose own zipping, sending
and unzipping no server can take away.  Usage::

    .venv/bin/python -m benchmarks.bench_pfioh_swift --scale 0.1 --sets small,dicom
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.common import BIN, KiB, MiB, Result, compile_like_pip, same_tree, tree_bytes
from benchmarks.pfurl_sink import Sink
from benchmarks.pfioh_bench_lib import (Server, check_zip, ensure_reference, make_zip, pull, push, start,
                                         zip_tree)
from tools import keystone_aio, saio

ORIGINAL = "pfioh 2.2.0.8"
# The original leaves a copy of every push (/tmp/<key>.zip) and of the last pull in /tmp, whatever
# TMPDIR says: removed after each round, or they fill /tmp (12 GB after a day of runs here).
ORIGINAL_TMP = Path("/tmp")
ORIGINAL_PULL_COPY = ORIGINAL_TMP / "incomingData.zip"
OURS = "pfioh (ours)"
SINK = "no server (sink)"
# The original reads its credentials from /etc/swift/swift-credentials.cfg only: point it at ours.
# Its --forever serves from a thread and lets the main thread end, and from Python 3.9 on the
# interpreter then refuses the futures swiftclient's SwiftService needs ("cannot schedule new
# futures after interpreter shutdown"): its Swift mode only works if the main thread waits.
ORIGINAL_LAUNCH = (
    "import os, runpy, sys, threading\n"
    "from pfioh import swift_store\n"
    "make = swift_store.SwiftStore._createSwiftService\n"
    "swift_store.SwiftStore._createSwiftService = lambda self, _: make(self, os.environ['BENCH_CREDENTIALS'])\n"
    "sys.argv[0] = 'pfioh'\n"
    "runpy.run_path(os.environ['BENCH_PFIOH'], run_name='__main__')\n"
    "for t in threading.enumerate():\n"
    "    if t is not threading.main_thread():\n"
    "        t.join()\n")


def make_sets(scale: float, wanted: list[str]) -> dict[str, list[int]]:
    """Each tree as the list of its file sizes."""
    rnd = random.Random(7)
    sets = {
        "small": [10 * KiB] * max(10, int(1000 * scale)),
        "dicom": [rnd.randint(50 * KiB, 500 * KiB) for _ in range(max(10, int(2000 * scale)))],
        "medium": [max(1, int(10 * MiB * scale))] * 10,
        "slo": [max(1, int((1 << 30) * scale)) + 10 * MiB],
    }
    return {name: sizes for name, sizes in sets.items() if name in wanted}


def write_tree(root: Path, sizes: list[int]) -> Path:
    if root.is_dir():
        return root
    tmp = root.with_name(root.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    for i, size in enumerate(sizes):
        path = tmp / f"series{i % 4}" / f"img{i:05d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:  # half random, half zeros: compresses like images do
            f.write(os.urandom(size // 2))
            f.write(bytes(size - size // 2))
    tmp.rename(root)
    return root


def run(argv: list[str], cwd: Path, env: dict | None = None) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=7200,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr[-1500:]}{done.stdout[-500:]}")


def pfurl(url: str, msg: dict, cwd: Path) -> None:
    run([str(BIN / "pfurl"), "--verb", "POST", "--raw", "--quiet", "--http", f"{url.split('//')[1]}/api/v1/cmd",
         "--msg", json.dumps(msg)], cwd)


COMPRESS = {"mechanism": "compress", "compress": {"archive": "zip", "unpack": True, "cleanup": True}}


def client_ops(client: str, server: Server | Sink, key: str, tree: Path, zip_path: Path, work: Path):
    """``(push, pull)`` callables for one client; pull leaves the tree in ``work/pulled``."""
    dest, url = work / "pulled", server.url
    if client == "pfurl":
        return (lambda: pfurl(url, {"action": "pushPath", "meta": {"remote": {"key": key}, "local": {"path": str(tree)},
                                                                    "transport": COMPRESS}}, work),
                lambda: pfurl(url, {"action": "pullPath", "meta": {"remote": {"key": key},
                                                                    "local": {"path": str(dest), "createDir": True},
                                                                    "transport": COMPRESS}}, work))
    if client == "pfioh-client":
        return (lambda: run([str(BIN / "pfioh-client"), "--pfioh", url, "-q", "push", key, str(tree)], work),
                lambda: run([str(BIN / "pfioh-client"), "--pfioh", url, "-q", "pull", key, str(dest)], work))
    return (lambda: push(server.client, key, zip_path), lambda: pull(server.client, key, work / "pulled.zip"))


def verify(client: str, tree: Path, work: Path) -> None:
    if client == "server":
        check_zip(work / "pulled.zip", tree)
    elif not same_tree(tree, work / "pulled"):
        raise RuntimeError(f"{client}: the pulled tree differs from the pushed one")


def publish_output(system: str, store, key: str, tree: Path, scratch: Path) -> None:
    """What each system's publisher does with a job's output: ours puts a tree version; the
    original zips the directory (DEFLATE, zlib's default level) and puts one ``output/data``."""
    if system == OURS:
        store.put_tree(key, "output/", str(tree))
        return
    zip_path = scratch / "output.zip"
    zip_tree(tree, zip_path)
    store.ensure_container(key)
    store.put_file(key, "output/data", str(zip_path), content_type="application/zip")
    zip_path.unlink()


def one_round(results, servers, store, name, tree, zip_path, nbytes, client, work, sink: Sink | None = None):
    """Push, publish and pull ``tree`` through ``client`` on each server; through pfurl also to
    and from ``sink``, with the zip ours sent (the ceiling)."""
    sent_by_ours = work / f"sent-by-ours-{uuid.uuid4().hex[:10]}.zip"
    for system, server in servers.items():  # taking turns, same data
        key = f"bench-{uuid.uuid4().hex[:10]}"
        scratch = work / f"scratch-{key}"
        scratch.mkdir(parents=True)
        do_push, do_pull = client_ops(client, server, key, tree, zip_path, scratch)
        try:
            results.append(timed(name, "push", f"{system} / {client}", nbytes, do_push))
            # Timed too: what a pull gets depends on what the publisher spent making it.
            results.append(timed(name, "publish", f"{system} / publisher", nbytes,
                                 lambda: publish_output(system, store, key, tree, scratch)))
            results.append(timed(name, "pull", f"{system} / {client}", nbytes, do_pull))
            verify(client, tree, scratch)
            if sink is not None and client == "pfurl" and system == OURS:
                pull(server.client, key, sent_by_ours)  # what the sink will answer (untimed)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            store.delete(key)
            if system == ORIGINAL:
                (ORIGINAL_TMP / f"{key}.zip").unlink(missing_ok=True)
    if sent_by_ours.exists():
        try:
            sink_round(results, sink, sent_by_ours, name, tree, nbytes, work)
        finally:
            sent_by_ours.unlink()


def sink_round(results, sink: Sink, zip_path: Path, name: str, tree: Path, nbytes: int, work: Path) -> None:
    """pfurl's push of ``tree`` to the sink, and its pull of ``zip_path`` from it: pfurl's own time."""
    key = f"bench-{uuid.uuid4().hex[:10]}"
    scratch = work / f"scratch-{key}"
    scratch.mkdir(parents=True)
    sink.pulls[key] = zip_path
    do_push, do_pull = client_ops("pfurl", sink, key, tree, zip_path, scratch)
    try:
        results.append(timed(name, "push", f"{SINK} / pfurl", nbytes, do_push))
        results.append(timed(name, "pull", f"{SINK} / pfurl", nbytes, do_pull))
        verify("pfurl", tree, scratch)
    finally:
        del sink.pulls[key]
        shutil.rmtree(scratch, ignore_errors=True)


def timed(tree: str, op: str, system: str, nbytes: int, fn) -> Result:
    os.sync()
    t0 = time.perf_counter()
    fn()
    r = Result(tree, op, system, time.perf_counter() - t0, nbytes / 1e6)
    print(f"  {tree:7} {op:7} {system:34} {r.seconds:8.2f} s {r.mbps:8.1f} MB/s", flush=True)
    return r


def ratios(results: list[Result]) -> list[tuple[str, str, str, float, float | None]]:
    """``(tree, op, client, original's time / ours, original's time / the sink's or None)``,
    medians over the repeats."""
    times: dict = {}
    for r in results:
        system, client = r.system.split(" / ")
        times.setdefault((r.tree, r.op, client, system), []).append(r.seconds)
    median = {k: statistics.median(ts) for k, ts in times.items()}
    out = []
    for (tree, op, client, system), ours in median.items():
        theirs = median.get((tree, op, client, ORIGINAL))
        if system == OURS and theirs is not None:
            floor = median.get((tree, op, client, SINK))
            out.append((tree, op, client, theirs / ours, None if floor is None else theirs / floor))
    return out


def start_servers(work: Path, creds: str) -> dict:
    exe = ensure_reference()
    python = exe.parent / "python"
    # The original passes osProjectDomain as a domain *name* ("Default"; swiftstore also takes
    # the id "default"), and its swiftclient takes the user's domain from the environment.
    original_creds = work / "original-credentials.cfg"
    original_creds.write_text(Path(creds).read_text().replace("osProjectDomain = default", "osProjectDomain = Default"))
    env = {"BENCH_CREDENTIALS": str(original_creds), "BENCH_PFIOH": str(exe), "OS_USER_DOMAIN_NAME": "Default",
           "TMPDIR": str(work / "orig-tmp"), "PYTHONPATH": ""}  # never this repository's pfioh
    (work / "orig-tmp").mkdir(parents=True, exist_ok=True)
    ours = start(OURS, [str(BIN / "pfioh"), "--forever", "--httpResponse", "--swift-storage",
                        "--swift-credentials", creds, "--storeBase", str(work / "ours")], work / "ours.log")
    # Without --httpResponse: the original then writes its JSON reply into the body, which pfurl
    # 2.3.0.1 (and pfcon) parse; with it, a second status line and headers land in the body.
    # -P: the working directory (this repository, with its own pfioh) must not shadow the original.
    try:
        original = start(ORIGINAL, lambda port: [str(python), "-P", "-c", ORIGINAL_LAUNCH, "--forever",
                                                 "--swift-storage", "--createDirsAsNeeded", "--ip", "127.0.0.1",
                                                 "--port", str(port)], work / "original.log", env=env)
    except BaseException:
        ours.stop()  # the caller only stops the servers it got back
        raise
    return {OURS: ours, ORIGINAL: original}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="multiply sizes and counts by this (default 1)")
    p.add_argument("--sets", default="small,dicom,medium,slo", help="trees: small, dicom, medium, slo")
    p.add_argument("--clients", default="server,pfurl,pfioh-client", help="server, pfurl, pfioh-client")
    p.add_argument("--repeat", type=int, default=1, help="rounds per measurement (medians)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pfioh-swift-bench")
    args = p.parse_args(argv)
    work = args.work
    (work / "run").mkdir(parents=True, exist_ok=True)
    import swiftstore
    compile_like_pip()  # pfioh-client runs once per transfer
    print("starting a loopback Swift and Keystone ...", flush=True)
    saio.start(work / "saio", 0)
    # Tokens cached by the proxy for 300 s, as authtoken does by default in a deployment: without
    # it every Swift request of either pfioh waits ~0.25 s for Keystone to validate its token.
    ks = keystone_aio.start(work / "keystone", saio_base=work / "saio", token_cache_time=300)
    servers = {}
    sink = Sink().start()
    try:
        creds = ks.password_credentials
        servers = start_servers(work / "run", creds)
        store = swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(creds))
        sets = make_sets(args.scale, args.sets.split(","))
        results: list[Result] = []
        warm = write_tree(work / "data" / "warm", [1000] * 3)
        one_round([], servers, store, "warm", warm, make_zip(warm, work / "data" / "warm.zip"), 3000, "server",
                  work / "run")  # connections and tokens in place before anything is timed
        for name, sizes in sets.items():
            tree = write_tree(work / "data" / f"{name}-{args.scale}", sizes)
            zip_path = make_zip(tree, work / "data" / f"{name}-{args.scale}.zip")
            nbytes = tree_bytes(tree)
            print(f"{name}: {len(sizes)} files, {nbytes / 1e6:.1f} MB", flush=True)
            for client in args.clients.split(","):
                for _ in range(args.repeat):
                    one_round(results, servers, store, name, tree, zip_path, nbytes, client, work / "run", sink)
        table = ratios(results)
        print("\nratio = original's time / ours (above 1: ours is faster); ceiling = original's time / "
              "no server's (the best any server could do through that client)")
        for tree, op, client, ratio, ceiling in table:
            print(f"  {tree:7} {op:7} {client:13} {ratio:6.2f}x" + (f"  ceiling {ceiling:5.2f}x" if ceiling else ""))
        worst, best = min(table, key=lambda t: t[3]), max(table, key=lambda t: t[3])
        print(f"worst for us: {worst[0]} {worst[1]} via {worst[2]}: {worst[3]:.2f}x; "
              f"best: {best[0]} {best[1]} via {best[2]}: {best[3]:.2f}x")
        (work / "results.json").write_text(json.dumps({"scale": args.scale, "ratios": table,
                                                       "results": [r.__dict__ for r in results]}, indent=1))
    finally:
        sink.stop()
        for server in servers.values():
            server.stop()
        ORIGINAL_PULL_COPY.unlink(missing_ok=True)
        keystone_aio.stop(work / "keystone")
        saio.stop(work / "saio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
