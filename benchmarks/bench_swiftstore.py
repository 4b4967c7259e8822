"""Benchmark swiftstore: put_tree/get_tree against python-swiftclient's ``swift upload``/``swift download``.

Trees of random bytes: 1000 x 10 KiB, 10 x 10 MiB, 1 x 500 MiB (``--scale`` shrinks the file
sizes, and the number of small files); on request 300 x 100 KiB of image-like files (half
zeros), which swiftstore stores compressed.  Both sides run as separate processes on the same data
against the same Swift, in the same run, one after the other; each is timed from process start
to exit (what a user or a pod sees) and its peak RSS is read from ``os.wait4`` (that process and
its children).  The downloaded trees are compared with the originals (outside the timing).

With ``--baseline-ref REF`` a third side runs swiftstore as it was at git ref ``REF`` (``git
archive`` of ``swiftstore/`` into the work directory) on the same data, taking turns with ours:
how a change moved throughput, measured in one run on one machine.

Usage::

    eval "$(.venv/bin/python -m tools.saio env)"   # reuse the running SAIO (else a private one is started)
    .venv/bin/python -m benchmarks.bench_swiftstore --scale 0.05
    .venv/bin/python -m benchmarks.bench_swiftstore --baseline-ref f83373c --repeat 3
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from benchmarks.common import (BIN, KiB, MiB, ROOT, SETS, Result, compile_like_pip, make_tree, same_tree,
                               tree_bytes)

# One file over swiftstore's SLO threshold (1 GiB): uploaded as segments in parallel, checked
# segment by segment.  Only with --only (it moves 3 GiB per round).
SLO_SET = ("1xSLO", 1, (1 << 30) + 10 * MiB)
# Image-like small files (half noise, half zeros), which swiftstore stores compressed: only with --only.
IMAGE_SET = ("300x100KiB-img", 300, 100 * KiB)
ASKED_FOR = (SLO_SET, IMAGE_SET)  # the trees run only when named

CHILD = r"""
import sys, swiftstore
op, container, path, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(), threads=threads) as store:
    if op == "put":
        store.put_tree(container, "input/", path)
    else:
        store.get_tree(container, "input/", path)
"""


def make_image_tree(root: Path, count: int, size: int) -> Path:
    """:func:`make_tree`'s files with their second half zeros (cut short, then extended)."""
    make_tree(root, count, size)
    for path in root.rglob("*.bin"):
        os.truncate(path, size - size // 2)
        os.truncate(path, size)
    return root


def run_measured(argv: list[str], env: dict, cwd: str | None = None) -> tuple[float, float, float]:
    """Run ``argv`` to completion: ``(wall seconds, peak RSS in MB, CPU seconds)``; raises on a non-zero exit."""
    os.sync()  # no dirty pages of the previous step charged to this one
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if proc.returncode:
        raise RuntimeError(f"{argv[:3]} failed ({proc.returncode}): {err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # ru_maxrss is in KiB on Linux


def swift_env() -> tuple[dict, object]:
    """Environment with ST_AUTH/ST_USER/ST_KEY of a running Swift, and a stop function."""
    env = {k: v for k, v in os.environ.items() if k != "SWIFT_CREDENTIALS" and not k.startswith("OS_")}
    if os.environ.get("ST_AUTH"):
        return env, lambda: None
    from tools import saio
    base = Path(tempfile.mkdtemp(prefix="bench-saio-"))
    s = saio.start(base)
    print(f"started a private SAIO on {s.auth_url}", file=sys.stderr)
    env.update(ST_AUTH=s.auth_url, ST_USER=s.user, ST_KEY=s.key)
    return env, lambda: saio.stop(base)


def cleanup(env: dict, *containers: str) -> None:
    for c in containers:
        for name in (c, c + "_segments"):
            subprocess.run([str(BIN / "swift"), "delete", name], env=env, capture_output=True)


def extract_baseline(ref: str, work: Path) -> Path:
    """``swiftstore/`` as it was at git ``ref``, unpacked under ``work`` (its parent goes on PYTHONPATH)."""
    tree = work / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", ref, "swiftstore"], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def bench_tree(label: str, src: Path, nbytes: int, work: Path, env: dict, threads: int,
               baseline: tuple[str, Path] | None = None, baseline_first: bool = False) -> list[Result]:
    mb, results = nbytes / 1e6, []
    ours, theirs = f"bench-ss-{uuid.uuid4().hex[:8]}", f"bench-cli-{uuid.uuid4().hex[:8]}"
    dl_ours, dl_cli = work / "get-swiftstore", work / "get-cli"
    # -P and PYTHONPATH: exactly this swiftstore, whatever the working directory holds.
    child = [sys.executable, "-P", "-c", CHILD]
    sides = [("swiftstore", ours, dl_ours, {**env, "PYTHONPATH": str(ROOT)})]
    if baseline:
        sides.append((f"swiftstore {baseline[0]}", f"bench-base-{uuid.uuid4().hex[:8]}", work / "get-baseline",
                      {**env, "PYTHONPATH": str(baseline[1])}))
        if baseline_first:  # alternated by the caller: neither side always goes first
            sides.reverse()
    steps = [*[("put", name, child + ["put", c, str(src), str(threads)], e) for name, c, _, e in sides],
             ("put", "swift CLI", [str(BIN / "swift"), "upload", "--object-name", "input", theirs, str(src)], env),
             *[("get", name, child + ["get", c, str(dl), str(threads)], e) for name, c, dl, e in sides],
             ("get", "swift CLI", [str(BIN / "swift"), "download", theirs, "--prefix", "input/", "--remove-prefix",
                                   "--output-dir", str(dl_cli)], env)]
    try:
        for op, system, argv, step_env in steps:
            seconds, rss, cpu = run_measured(argv, step_env)
            results.append(Result(label, op, system, seconds, mb, rss, cpu))
            print(f"  {label:11} {op} {system:10} {seconds:7.2f} s {mb / seconds:8.1f} MB/s  peak RSS {rss:6.1f} MB"
                  f"  CPU {cpu:5.2f} s", file=sys.stderr)
        for got in [dl for _, _, dl, _ in sides] + [dl_cli]:
            if not same_tree(src, got):
                raise RuntimeError(f"{got} differs from {src}")
    finally:
        cleanup(env, theirs, *[c for _, c, _, _ in sides])
        for got in [dl for _, _, dl, _ in sides] + [dl_cli]:
            shutil.rmtree(got, ignore_errors=True)
    return results


def summarize(results: list[Result]) -> list[dict]:
    """Median per (tree, op, system) over the repeats, with the swiftstore/CLI ratio."""
    rows = []
    order = [s[0] for s in (*SETS, *ASKED_FOR)]
    keys = sorted({(r.tree, r.op) for r in results}, key=lambda k: (order.index(k[0]), k[1] != "put"))
    for tree, op in keys:
        def med(system, attr):
            return statistics.median(getattr(r, attr) for r in results
                                     if (r.tree, r.op, r.system) == (tree, op, system))
        ours, cli = med("swiftstore", "mbps"), med("swift CLI", "mbps")
        base = [r.mbps for r in results if (r.tree, r.op) == (tree, op) and r.system.startswith("swiftstore ")]
        rows.append({"tree": tree, "op": op, "swiftstore_mbps": round(ours, 1), "cli_mbps": round(cli, 1),
                     "ratio": round(ours / cli, 2),
                     **({"baseline_mbps": round(statistics.median(base), 1),
                         "vs_baseline": round(ours / statistics.median(base), 2)} if base else {}),
                     "swiftstore_peak_rss_mb": round(med("swiftstore", "peak_rss_mb"), 1),
                     "cli_peak_rss_mb": round(med("swift CLI", "peak_rss_mb"), 1),
                     "swiftstore_cpu_s": round(med("swiftstore", "cpu_seconds"), 2),
                     "cli_cpu_s": round(med("swift CLI", "cpu_seconds"), 2)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="shrink the trees (0 < scale <= 1), default 1")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tree (medians are reported)")
    parser.add_argument("--threads", type=int, default=10, help="swiftstore's transfer threads (default 10, "
                        "the library's default and the CLI's object threads)")
    parser.add_argument("--only", choices=[s[0] for s in (*SETS, *ASKED_FOR)], action="append",
                        help=f"run only these trees ({SLO_SET[0]}: a 1 GiB + 10 MiB file, an SLO; {IMAGE_SET[0]}: "
                        "image-like files, half noise and half zeros; these two only when asked for)")
    parser.add_argument("--baseline-ref", help="also run swiftstore as of this git ref (e.g. a commit before a "
                        "change), taking turns with ours on the same data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "swiftstore",
                        help="where results.json goes")
    args = parser.parse_args(argv)
    env, stop = swift_env()
    work = Path(tempfile.mkdtemp(prefix="bench-swiftstore-"))
    results: list[Result] = []
    try:
        baseline = (args.baseline_ref, extract_baseline(args.baseline_ref, work)) if args.baseline_ref else None
        compile_like_pip()
        if baseline:
            compile_like_pip(baseline[1])
        for label, count, size in (*SETS, *ASKED_FOR):
            if (args.only and label not in args.only) or (not args.only and (label, count, size) in ASKED_FOR):
                continue
            n = max(1, round(count * args.scale)) if size < MiB else count
            s = size if size < MiB else max(KiB, int(size * args.scale))
            src = work / label
            nbytes = tree_bytes((make_image_tree if label == IMAGE_SET[0] else make_tree)(src, n, s))
            print(f"{label}: {n} x {s} bytes", file=sys.stderr)
            for i in range(args.repeat):
                results.extend(bench_tree(label, src, nbytes, work, env, args.threads, baseline, i % 2 == 1))
            shutil.rmtree(src)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        stop()
    rows = summarize(results)
    print(f"\n{'tree':11} {'op':3} {'swiftstore MB/s':>15} {'swift CLI MB/s':>14} {'ratio':>6} "
          f"{'RSS ours MB':>11} {'RSS CLI MB':>10} {'CPU ours s':>10} {'CPU CLI s':>9}")
    for r in rows:
        print(f"{r['tree']:11} {r['op']:3} {r['swiftstore_mbps']:15.1f} {r['cli_mbps']:14.1f} {r['ratio']:6.2f} "
              f"{r['swiftstore_peak_rss_mb']:11.1f} {r['cli_peak_rss_mb']:10.1f} {r['swiftstore_cpu_s']:10.2f} "
              f"{r['cli_cpu_s']:9.2f}")
    if baseline:
        print(f"\nswiftstore now against swiftstore at {args.baseline_ref} (same run; above 1: now is faster)")
        for r in rows:
            print(f"  {r['tree']:11} {r['op']:3} {r['swiftstore_mbps']:8.1f} vs {r['baseline_mbps']:8.1f} MB/s"
                  f"  {r['vs_baseline']:5.2f}x")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(
        {"scale": args.scale, "repeat": args.repeat, "threads": args.threads, "summary": rows,
         "runs": [asdict(r) for r in results]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
