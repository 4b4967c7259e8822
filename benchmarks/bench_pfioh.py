"""Benchmark pfioh: push and pull trees through the real servers, against the ceilings.

Trees: 1000 x 10 KiB, 10 x 10 MiB, 1 x 500 MiB (``--scale`` shrinks the file sizes).  The client
sends a ready-made zip (built before timing; pfurl's form, through pfioh.client's request) and
streams the pulled zip to disk.

(a) our pfioh in Swift mode vs a raw python-swiftclient upload + download of the same tree;
(b) our pfioh in mount mode vs the original pfioh 2.2.0.8 from PyPI in mount mode (installed into
    ``.venv-reference`` by this script if missing).

Reports MB/s, ratios and the server's peak RSS (process tree, sampled by psutil).  Usage::

    eval "$(.venv/bin/python -m tools.saio env)"    # Swift credentials for (a)
    .venv/bin/python -m benchmarks.bench_pfioh --scale 0.05
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from benchmarks.common import SETS, Result
from benchmarks.pfioh_bench_lib import (BIN, MiB, Server, check_zip, ensure_reference, make_tree, make_zip, pull,
                                        push, raw_swift_download, raw_swift_upload, start, swift_delete, tree_bytes)
from pfioh.client import ClientError


# ---------------------------------------------------------------- scenarios

def timed(results: list, tree: str, op: str, system: str, nbytes: int, fn, server: Server | None = None):
    # Start each measurement with no dirty pages from the previous one (fair to every system).
    os.sync()
    if server:
        server.sampler.reset()
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    if server:
        time.sleep(server.sampler.interval * 2)
    peak = server.sampler.peak / MiB if server else None
    r = Result(tree, op, system, seconds, nbytes / 1e6, peak)
    results.append(r)
    rss = f"{peak:7.1f} MB" if peak is not None else "      -   "
    print(f"  {tree:11} {op:5} {system:22} {seconds:8.2f} s {r.mbps:9.1f} MB/s  peak RSS {rss}", flush=True)


def warm_up(server: Server, work: Path) -> None:
    """One small push (and pull attempt) first, so no measurement pays for a cold worker."""
    tiny = work / "warm"
    tiny.mkdir(parents=True, exist_ok=True)
    (tiny / "a").write_bytes(b"warm")
    key = f"bench-warm-{uuid.uuid4().hex[:8]}"
    push(server.client, key, make_zip(tiny, work / "warm.zip"))
    try:
        pull(server.client, key, work / "warm-pulled.zip")
    except ClientError:
        pass  # Swift mode has no output/ for it: a 404 is fine here


def swift_scenario(results, data, work: Path, log_dir: Path) -> None:
    import swiftstore
    server = start("pfioh-swift", [str(BIN / "pfioh"), "--forever", "-v", "1", "--swift-storage",
                                   "--storeBase", str(work / "swift-staging")], log_dir / "pfioh-swift.log")
    store = swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials())
    try:
        warm_up(server, work)
        for name, tree, zip_path, nbytes in data:
            ceil = f"bench-ceil-{uuid.uuid4().hex[:8]}"
            down = work / "down"
            try:
                timed(results, name, "push", "swiftclient (ceiling)", nbytes, lambda: raw_swift_upload(ceil, tree))
                timed(results, name, "pull", "swiftclient (ceiling)", nbytes, lambda: raw_swift_download(ceil, down))
            finally:
                shutil.rmtree(down, ignore_errors=True)
                swift_delete(ceil)
            key = f"bench-{uuid.uuid4().hex[:8]}"
            try:
                timed(results, name, "push", "pfioh swift (ours)", nbytes,
                      lambda: push(server.client, key, zip_path), server)
                store.put_tree(key, "output/", str(tree))  # what the job's publisher would do
                timed(results, name, "pull", "pfioh swift (ours)", nbytes,
                      lambda: pull(server.client, key, work / "pulled.zip"), server)
                check_zip(work / "pulled.zip", tree)
            finally:
                (work / "pulled.zip").unlink(missing_ok=True)
                swift_delete(key)
    finally:
        server.stop()


def mount_scenario(results, data, work: Path, log_dir: Path, reference: bool) -> None:
    servers = []
    servers.append(start("pfioh mount (ours)", [str(BIN / "pfioh"), "--forever", "-v", "1", "--createDirsAsNeeded",
                                                "--storeBase", str(work / "ours")], log_dir / "pfioh-mount.log"))
    if reference:
        exe = ensure_reference()
        (work / "orig").mkdir(parents=True, exist_ok=True)
        servers.append(start("pfioh 2.2.0.8 (original)",
                             lambda port: [str(exe), "--forever", "--createDirsAsNeeded", "--ip", "127.0.0.1",
                                           "--port", str(port), "--storeBase", str(work / "orig")],
                             log_dir / "pfioh-orig.log"))
    try:
        for server in servers:
            warm_up(server, work)
        for name, tree, zip_path, nbytes in data:
            for server in servers:
                key = f"bench-{uuid.uuid4().hex[:8]}"
                try:
                    timed(results, name, "push", server.name, nbytes,
                          lambda: push(server.client, key, zip_path), server)
                    timed(results, name, "pull", server.name, nbytes,
                          lambda: pull(server.client, key, work / "pulled.zip"), server)
                    check_zip(work / "pulled.zip", tree)
                finally:
                    (work / "pulled.zip").unlink(missing_ok=True)
                    for base in ("ours", "orig"):
                        shutil.rmtree(work / base / f"key-{key}", ignore_errors=True)
    finally:
        for server in servers:
            server.stop()


def summarize(results: list[Result]) -> list[str]:
    lines = []
    by = {(r.tree, r.op, r.system): r for r in results}
    pairs = (("pfioh swift (ours)", "swiftclient (ceiling)", 0.7),
             ("pfioh mount (ours)", "pfioh 2.2.0.8 (original)", 3.0))
    for tree in dict.fromkeys(r.tree for r in results):
        for op in ("push", "pull"):
            for ours, base, goal in pairs:
                a, b = by.get((tree, op, ours)), by.get((tree, op, base))
                if a and b:
                    ratio = a.mbps / b.mbps
                    lines.append(f"  {tree:11} {op:5} {ours} / {base}: {ratio:5.2f}x (goal >= {goal}) "
                                 f"{'ok' if ratio >= goal else 'BELOW GOAL'}")
    peaks = [r.peak_rss_mb for r in results if r.peak_rss_mb is not None and "ours" in r.system]
    if peaks:
        lines.append(f"  our server's peak RSS over all runs: {max(peaks):.1f} MB (goal < 150 MB)")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="multiply file sizes by this (e.g. 0.01 to try it out)")
    p.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "pfioh-bench"),
                   help="data, server stores and logs (default %(default)s; keep it off watched or "
                   "network file systems, which slow file creation down)")
    p.add_argument("--sets", default=",".join(s[0] for s in SETS), help="which trees (comma-separated)")
    p.add_argument("--no-swift", action="store_true", help="skip (a), the Swift comparison")
    p.add_argument("--no-reference", action="store_true", help="skip the original pfioh in (b)")
    args = p.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = []
    for name, count, size in SETS:
        if name in args.sets.split(","):
            size = max(1, int(size * args.scale))
            tree = make_tree(work / "data" / f"{name}-{size}", count, size)
            data.append((name, tree, make_zip(tree, work / "data" / f"{name}-{size}.zip"), tree_bytes(tree)))
    results: list[Result] = []
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    print(f"pfioh benchmark, scale {args.scale}: " + ", ".join(f"{n} ({b / 1e6:.1f} MB)" for n, _, _, b in data))
    if not args.no_swift:
        print("(a) Swift mode vs raw swiftclient")
        swift_scenario(results, data, run_dir, work)
    print("(b) mount mode vs the original pfioh 2.2.0.8")
    mount_scenario(results, data, run_dir, work, reference=not args.no_reference)
    print("summary (throughput ratios):")
    lines = summarize(results)
    print("\n".join(lines))
    (work / "results.json").write_text(json.dumps({"scale": args.scale, "results": [
        {**asdict(r), "mbps": r.mbps} for r in results], "summary": lines}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
