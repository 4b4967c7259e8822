"""Memory of pfioh: ours idle (Swift and mount mode) against the original pfioh 2.2.0.8 idle, and
ours' peak while 2 GiB are pushed and pulled in Swift mode, as one file and as a DICOM-like tree.

Every server runs with the flags a user gives it (default workers and threads) on a private
loopback Swift (tools/saio.py) and, unless ``--no-keystone``, a real Keystone (tools/keystone_aio.py:
the original's Swift mode only speaks Keystone v3, and Keystone is what ChRIS deployments use):

* ours, Swift mode with tempauth credentials, and with Keystone password credentials;
* ours, mount mode;
* the original, mount mode, and Swift mode (with Keystone).

"Idle" is after one ``hello`` request (and, for ours, the readiness probe a pod gets every few
seconds), once the processes' memory has stopped moving.  For each process (gunicorn's master and
its worker for ours; one process for the original) it reports RSS and PSS (``smaps_rollup``:
shared pages are split between the processes sharing them, so the PSS total is what the server
really costs, while the RSS total counts shared pages once per process), their totals and the
ratio ours / the original.  Our servers run this checkout's code (``PYTHONPATH`` is set to it for
them, and cleared for the original, so neither shadows the other).  Usage::

    .venv/bin/python -m benchmarks.bench_memory                    # idle only, ~1 min
    .venv/bin/python -m benchmarks.bench_memory --transfer-gib 2   # + peak RSS on 2 GiB pushes + pulls

The transfers: one file of random bytes, pushed and pulled once; then a DICOM-like tree of the
same size (``bench_pfioh_swift``'s files of 50-500 KiB that compress like images), pushed
``TREE_PUSHES`` times, as its peak moves from push to push (which files' work piles up at the
same moment), then pulled.  A push sends a ready-made zip as fast as the server takes it (as pfurl
does).  The peak is the RSS of all the server's processes, sampled every 50 ms.

Results: ``benchmarks/out/memory/results.json``.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from benchmarks.bench_pfioh_swift import ORIGINAL_LAUNCH, make_sets, write_tree
from benchmarks.common import BIN, MiB, ROOT, make_tree, tree_bytes
from benchmarks.pfioh_bench_lib import check_zip, ensure_reference, make_zip, pull, push, start
from tools import keystone_aio, saio


OURS_ENV = {"PYTHONPATH": str(ROOT)}
ORIGINAL_ENV = {"PYTHONPATH": ""}  # an empty PYTHONPATH is ignored: site-packages' pfioh is found
SETTLE_SECONDS = 15.0  # at most, waiting for a server's memory to stop moving
TREE_PUSHES = 5


@dataclass
class ProcessMemory:
    role: str  # master, worker, or server (the original's single process)
    pid: int
    rss_mb: float
    pss_mb: float


@dataclass
class Idle:
    server: str
    processes: list[ProcessMemory]

    @property
    def rss_mb(self) -> float:
        return sum(p.rss_mb for p in self.processes)

    @property
    def pss_mb(self) -> float:
        return sum(p.pss_mb for p in self.processes)


def measure(server) -> Idle:
    """RSS and PSS of the server's process and its children (gunicorn's workers)."""
    root = psutil.Process(server.proc.pid)
    procs = [root, *root.children(recursive=True)]
    found = []
    for proc in procs:
        info = proc.memory_full_info()  # reads /proc/<pid>/smaps_rollup
        role = ("master" if len(procs) > 1 else "server") if proc is root else "worker"
        found.append(ProcessMemory(role, proc.pid, info.rss / MiB, info.pss / MiB))
    return Idle(server.name, found)


def settled(server) -> Idle:
    """The memory once four samples in a row, 0.25 s apart, agree within 0.5 MB (or after
    SETTLE_SECONDS: a server still moving then is reported as it is, and says so)."""
    deadline, samples = time.monotonic() + SETTLE_SECONDS, [measure(server)]
    while time.monotonic() < deadline:
        time.sleep(0.25)
        samples.append(measure(server))
        last = [s.rss_mb for s in samples[-4:]]
        if len(last) == 4 and max(last) - min(last) < 0.5:
            return samples[-1]
    print(f"  note: {server.name}'s memory was still moving after {SETTLE_SECONDS:.0f} s", flush=True)
    return samples[-1]


def request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def warm_up(server, ours: bool) -> None:
    """One hello (pfurl's first request to any pfioh); for ours also the readiness probe, which
    in Swift mode makes an authenticated request to Swift, as a pod's probe does every few seconds."""
    hello = {"action": "hello", "meta": {"askAbout": "sysinfo", "echoBack": "memory"}}
    if not ours:
        try:  # the original frames its replies loosely: a reply at all is what matters here
            request(server.port, "POST", "/api/v1/cmd", hello)
        except http.client.HTTPException:
            pass
        return
    for method, path, body in (("POST", "/api/v1/cmd", hello), ("GET", "/api/v1/ready", None)):
        status, text = request(server.port, method, path, body)
        if status != 200:
            raise RuntimeError(f"{server.name}: {method} {path}: HTTP {status}: {text[:300]!r}")


def ours_argv(work: Path, *mode: str) -> list[str]:
    return [str(BIN / "pfioh"), "--forever", "--storeBase", str(work), *mode]


def start_all(work: Path, tempauth_creds: str, keystone_creds: str | None) -> dict[str, object]:
    """Every server to measure, by name (ours first, then the original)."""
    servers = {}

    def add(name: str, argv, env: dict) -> None:
        servers[name] = start(name, argv, work / f"{name.replace(' ', '-')}.log", env=env)

    add("ours swift tempauth",
        ours_argv(work / "ours-ta", "--swift-storage", "--swift-credentials", tempauth_creds), OURS_ENV)
    if keystone_creds:
        add("ours swift keystone",
            ours_argv(work / "ours-ks", "--swift-storage", "--swift-credentials", keystone_creds), OURS_ENV)
    add("ours mount", ours_argv(work / "ours-mount"), OURS_ENV)
    exe = ensure_reference()
    python = str(exe.parent / "python")
    (work / "orig-mount").mkdir(parents=True, exist_ok=True)
    add("original mount", lambda port: [python, "-P", str(exe), "--forever", "--createDirsAsNeeded", "--ip",
                                        "127.0.0.1", "--port", str(port), "--storeBase", str(work / "orig-mount")],
        ORIGINAL_ENV)
    if keystone_creds:
        # As bench_pfioh_swift.py runs it: the original takes the project domain by name, its
        # swiftclient the user's domain from the environment, and its credentials file path is fixed.
        creds = work / "original-credentials.cfg"
        creds.write_text(Path(keystone_creds).read_text().replace("osProjectDomain = default",
                                                                  "osProjectDomain = Default"))
        (work / "orig-tmp").mkdir(parents=True, exist_ok=True)
        add("original swift", lambda port: [python, "-P", "-c", ORIGINAL_LAUNCH, "--forever", "--swift-storage",
                                            "--createDirsAsNeeded", "--ip", "127.0.0.1", "--port", str(port)],
            {**ORIGINAL_ENV, "BENCH_CREDENTIALS": str(creds), "BENCH_PFIOH": str(exe),
             "OS_USER_DOMAIN_NAME": "Default", "TMPDIR": str(work / "orig-tmp")})
    return servers


def print_idle(idle: list[Idle]) -> None:
    print(f"\n{'idle':22} {'process':8} {'RSS MB':>8} {'PSS MB':>8}")
    for entry in idle:
        for p in entry.processes:
            print(f"{entry.server:22} {p.role:8} {p.rss_mb:8.1f} {p.pss_mb:8.1f}")
        if len(entry.processes) > 1:
            print(f"{'':22} {'total':8} {entry.rss_mb:8.1f} {entry.pss_mb:8.1f}")
    by_name = {e.server: e for e in idle}
    for ours, theirs in (("ours swift keystone", "original swift"), ("ours swift tempauth", "original swift"),
                         ("ours swift tempauth", "original mount"), ("ours mount", "original mount")):
        if ours in by_name and theirs in by_name:
            a, b = by_name[ours], by_name[theirs]
            print(f"{ours} / {theirs}: RSS {a.rss_mb / b.rss_mb:.2f}x, PSS {a.pss_mb / b.pss_mb:.2f}x")


def transfer_peak(server, store, gib: float, data: Path, work: Path) -> dict:
    """Push then pull ``gib`` GiB through ``server``, as one file and as a DICOM-like tree: its
    peak RSS (all processes) during each, and its idle memory afterwards."""
    size = int(gib * 1024 * MiB)
    one = make_tree(data / f"one-{size}", 1, size)
    scale = size / (2000 * (275 << 10))  # make_sets' dicom tree at scale 1: 2000 files of 275 KiB on average
    dicom = write_tree(data / f"dicom-{gib:g}gib", make_sets(scale, ["dicom"])["dicom"])
    out: dict = {"server": server.name, "bytes": size}
    for label, tree, pushes in (("file", one, 1), ("dicom", dicom, TREE_PUSHES)):
        out[label] = _transfers(server, store, label, tree, make_zip(tree, data / f"{tree.name}.zip"), pushes, work)
    out["idle_after"] = asdict(settled(server))
    return out


def _transfers(server, store, label: str, tree: Path, zip_path: Path, pushes: int, work: Path) -> dict:
    """``pushes`` pushes of ``zip_path`` to one key, then a pull of the job output stored from
    ``tree``: each one's seconds and peak RSS."""
    key = f"bench-mem-{uuid.uuid4().hex[:8]}"
    out: dict = {"push": [], "pull": []}

    def measure(op: str, transfer) -> None:
        os.sync()
        server.sampler.reset()
        t0 = time.perf_counter()
        transfer()
        seconds, peak = time.perf_counter() - t0, server.sampler.peak / MiB
        out[op].append({"seconds": seconds, "peak_rss_mb": peak})
        print(f"  {op} {label} ({tree_bytes(tree) / (1 << 30):.2f} GiB) through {server.name}: {seconds:.1f} s, "
              f"peak RSS {peak:.1f} MB", flush=True)
    try:
        for _ in range(pushes):
            measure("push", lambda: push(server.client, key, zip_path))
        store.put_tree(key, "output/", str(tree))  # what the job's publisher would leave
        measure("pull", lambda: pull(server.client, key, work / "pulled.zip"))
        check_zip(work / "pulled.zip", tree)
    finally:
        (work / "pulled.zip").unlink(missing_ok=True)
        store.delete(key)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--no-keystone", action="store_true", help="no Keystone: ours in Swift mode with tempauth "
                   "only, and the original in mount mode only (faster to start)")
    p.add_argument("--transfer-gib", type=float, default=0, metavar="GIB",
                   help="also push and pull this many GiB, as one file and as a DICOM-like tree, through "
                        "ours in Swift mode (Keystone if started, else tempauth) and report the peak RSS "
                        "(default 0: idle only)")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pfioh-memory-bench")
    args = p.parse_args(argv)
    work = args.work
    shutil.rmtree(work / "run", ignore_errors=True)
    (work / "run").mkdir(parents=True)
    print("starting a loopback Swift" + ("" if args.no_keystone else " and Keystone") + " ...", flush=True)
    swift = saio.start(work / "saio", 0)
    keystone_creds = None
    if not args.no_keystone:
        keystone_creds = keystone_aio.start(work / "keystone", saio_base=work / "saio").password_credentials
    servers: dict = {}
    results: dict = {"idle": []}
    try:
        servers = start_all(work / "run", swift.credentials_file, keystone_creds)
        for name, server in servers.items():
            warm_up(server, ours=name.startswith("ours"))
        idle = [settled(server) for server in servers.values()]
        print_idle(idle)
        results["idle"] = [{"server": e.server, "rss_mb": e.rss_mb, "pss_mb": e.pss_mb,
                            "processes": [asdict(p) for p in e.processes]} for e in idle]
        if args.transfer_gib:
            import swiftstore
            name = "ours swift keystone" if keystone_creds else "ours swift tempauth"
            creds = swiftstore.load_credentials(keystone_creds or swift.credentials_file)
            store = swiftstore.SwiftStore.from_credentials(creds)
            results["transfer"] = transfer_peak(servers[name], store, args.transfer_gib, work / "data",
                                                work / "run")
            after = results["transfer"]["idle_after"]
            print(f"  idle after the transfer: RSS {sum(p['rss_mb'] for p in after['processes']):.1f} MB, "
                  f"PSS {sum(p['pss_mb'] for p in after['processes']):.1f} MB")
    finally:
        for server in servers.values():
            server.stop()
        if keystone_creds:
            keystone_aio.stop(work / "keystone")
        saio.stop(work / "saio")
    out = ROOT / "benchmarks" / "out" / "memory"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
