"""Benchmark pman: a trivial job through run and status, ours (local engine) vs the original 2.2.0.4.

Measured for each server, in the same run:

- latency per request: ``hello`` and ``status`` (of a finished job), sequential, one new TCP
  connection per request;
- jobs per second: ``run`` a trivial job, then poll ``status`` every ``--poll`` seconds until
  ``l_status`` says finished (sequentially, ``--jobs`` jobs), and a batch of jobs submitted at once;
- 200 concurrent ``status`` requests (threads released together): errors counted.

Both servers get byte-identical requests from pman.client, each in ONE write (the original is a raw
ZMQ socket that treats each TCP read as a whole request).  The original's concurrency bug
(a status during a short job's bookkeeping can kill a listener) is why polling has a delay and
every request a timeout; a request that times out counts as an error.  The original is installed
into ``.venv-reference`` if missing.  Usage::

    .venv/bin/python -m benchmarks.bench_pman [--jobs 20] [--requests 100] [--poll 0.05]

``--kube`` measures the Kubernetes engine instead (see :func:`kube_benchmark`): status of 200
pending jobs under polling, against a stand-in API server that answers like the recordings of a
real kube-apiserver 1.36 (this machine has none), today's pman (the code at ``--baseline-ref``)
and ours in the same run::

    .venv/bin/python -m benchmarks.bench_pman --kube [--kube-jobs 200] [--kube-seconds 15]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from benchmarks import common
from benchmarks.common import BIN, ROOT, popen_server
from pman.client import ClientError, PmanClient
OUT = ROOT / "benchmarks" / "out" / "pman"


# ---------------------------------------------------------------- wire

ERRORS = (ClientError, TimeoutError)
"""A request that failed or timed out (pman.client says which): counted as an error."""


def client(port: int, timeout: float = 5.0) -> PmanClient:
    """pman.client's message API client: each message in ONE write (the original is a raw ZMQ socket
    that treats each TCP read as a whole request), a new connection per message."""
    return PmanClient(f"http://127.0.0.1:{port}", timeout=timeout)


# ---------------------------------------------------------------- servers

def ensure_reference() -> Path:
    """The original pman 2.2.0.4 in its own venv (created on first use)."""
    return common.ensure_reference("pman", "pman==2.2.0.4")


def start(argv, log: Path, cwd: Path, env: dict | None = None) -> tuple[subprocess.Popen, int]:
    """Start a pman (``argv``: see :func:`common.popen_server`) until it answers hello.
    :returns: the process and its port."""
    deadline = time.monotonic() + 60
    with open(log, "ab") as out:
        proc, port = popen_server(argv, deadline, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                  start_new_session=True)
    while True:
        try:
            client(port, timeout=2).hello()
            return proc, port
        except ClientError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pman did not start, see {log}") from None
            time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5)  # the original ignores SIGTERM once a listener thread is stuck
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


# ---------------------------------------------------------------- measurements

class Target:
    """One server under test and how to prepare a job's input for it."""

    def __init__(self, name: str, port: int, store: Path | None):
        self.name, self.port, self.store = name, port, store

    def prepare(self, jid: str) -> None:
        if self.store is not None:  # our local engine gets its input from the pfioh mount store
            (self.store / f"key-{jid}" / "incoming").mkdir(parents=True, exist_ok=True)


def latency(target: Target, action: str, meta: dict, n: int) -> dict:
    times, errors = [], 0
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            client(target.port).send(action, meta)
            times.append(time.perf_counter() - t0)
        except ClientError:
            errors += 1
    return {"n": n, "errors": errors, "median_ms": 1000 * statistics.median(times) if times else None,
            "mean_ms": 1000 * statistics.fmean(times) if times else None}


def run_job(target: Target, jid: str, poll: float, timeout: float = 20) -> tuple[float, int]:
    """Seconds from run to a finished status, and the number of requests it took."""
    target.prepare(jid)
    t0 = time.perf_counter()
    pman = client(target.port)
    pman.run(jid, "true", auid="bench")
    polls = 1
    while True:
        time.sleep(poll)
        state = pman.status(jid)
        polls += 1
        if state.finished:
            return time.perf_counter() - t0, polls
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{jid} not finished after {timeout}s")


def jobs_sequential(target: Target, n: int, poll: float) -> dict:
    times, errors = [], 0
    t0 = time.perf_counter()
    for _ in range(n):
        try:
            times.append(run_job(target, f"bench-{target.name}-{uuid.uuid4().hex[:8]}", poll)[0])
        except ERRORS as e:
            errors += 1
            print(f"  {target.name}: job error: {e}", file=sys.stderr)
    total = time.perf_counter() - t0
    return {"jobs": n, "errors": errors, "seconds_per_job": statistics.fmean(times) if times else None,
            "jobs_per_second": len(times) / total if total else None}


def jobs_batch(target: Target, n: int, poll: float, timeout: float = 30) -> dict:
    """Submit ``n`` jobs at once, then poll them all until finished."""
    jids = [f"batch-{target.name}-{uuid.uuid4().hex[:8]}" for _ in range(n)]
    for jid in jids:
        target.prepare(jid)
    t0, errors = time.perf_counter(), 0
    pman = client(target.port)
    for jid in jids:
        pman.run(jid, "true", auid="bench")
    pending = set(jids)
    while pending and time.perf_counter() - t0 < timeout:
        time.sleep(poll)
        for jid in sorted(pending):
            try:
                if pman.status(jid).finished:
                    pending.discard(jid)
            except ClientError:
                errors += 1
            time.sleep(poll / 5)
    total = time.perf_counter() - t0
    return {"jobs": n, "unfinished": len(pending), "errors": errors, "seconds": total,
            "jobs_per_second": (n - len(pending)) / total}


def concurrent_status(target: Target, jid: str, n: int = 200) -> dict:
    barrier, results = threading.Barrier(n), []
    lock = threading.Lock()

    def one():
        barrier.wait()
        t0 = time.perf_counter()
        try:
            ok = client(target.port, timeout=30).status(jid).finished
        except ClientError:
            ok = False
        with lock:
            results.append((ok, time.perf_counter() - t0))

    threads = [threading.Thread(target=one) for _ in range(n)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    times = sorted(t for _, t in results)
    return {"requests": n, "errors": sum(1 for ok, _ in results if not ok), "wall_seconds": wall,
            "p50_ms": 1000 * times[len(times) // 2], "max_ms": 1000 * times[-1]}


PHASES = ("latency", "jobs_sequential", "jobs_batch", "concurrent_status")


def measure(name: str, launch, store: Path | None, poll: float, args) -> dict:
    """Each phase on a freshly started server, so a listener the original lost in one phase (its
    concurrency bug) does not spoil the next."""
    print(f"== {name} (poll every {poll}s)", flush=True)
    result = {"poll_seconds": poll}
    for phase in PHASES:
        proc, port = launch()
        target = Target(name, port, store)
        try:
            if phase == "latency":
                result["hello"] = latency(target, "hello", {"askAbout": "timestamp"}, args.requests)
                jid = f"probe-{name}-{uuid.uuid4().hex[:8]}"
                result["first_job_seconds"] = run_job(target, jid, poll)[0]
                result["status"] = latency(target, "status", {"key": "jid", "value": jid}, args.requests)
            elif phase == "jobs_sequential":
                result[phase] = jobs_sequential(target, args.jobs, poll)
            elif phase == "jobs_batch":
                result[phase] = jobs_batch(target, args.jobs, poll)
            else:
                jid = f"probe-{name}-{uuid.uuid4().hex[:8]}"
                run_job(target, jid, poll)
                time.sleep(0.5)
                result[phase] = concurrent_status(target, jid, args.concurrency)
        except ERRORS as e:
            result[phase] = {"failed": f"{e.__class__.__name__}: {e}"}
        finally:
            stop(proc)
        shown = {k: result[k] for k in ("hello", "status")} if phase == "latency" else result.get(phase)
        print(f"  {phase}: {json.dumps(shown)}", flush=True)
    return result


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=20, help="trivial jobs per measurement (default 20)")
    p.add_argument("--requests", type=int, default=100, help="requests per latency measurement (default 100)")
    p.add_argument("--concurrency", type=int, default=200, help="concurrent status requests (default 200)")
    p.add_argument("--poll", type=float, default=0.05, help="delay between status polls for ours, s (default 0.05)")
    p.add_argument("--poll-original", type=float, default=0.2,
                   help="delay between status polls for the original, s (default 0.2: faster polling "
                   "triggers its listener-killing race)")
    p.add_argument("--skip-reference", action="store_true", help="measure our pman only")
    p.add_argument("--kube", action="store_true", help="measure the Kubernetes engine's status instead "
                   "(stand-in API server; today's pman vs ours)")
    p.add_argument("--kube-jobs", type=int, default=200, help="--kube: pending jobs polled (default 200)")
    p.add_argument("--kube-seconds", type=float, default=15, help="--kube: seconds of polling per pman (default 15)")
    p.add_argument("--kube-pollers", type=int, default=8, help="--kube: concurrent pollers (default 8)")
    p.add_argument("--baseline-ref", default=None, help="--kube: git ref of today's pman (default: the "
                   "merge-base of HEAD and main; 'none' measures ours with --status-cache=false instead)")
    args = p.parse_args(argv)
    if args.kube:
        return kube_benchmark(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-pman-"))
    results = {}
    try:
        def ours():
            return start([str(BIN / "pman"), "--workdir", str(work / "ours"), "--storeBase", str(work / "store"),
                          "--max-jobs", "4", "--threads", "32"], OUT / "pman-ours.log", work)
        results["ours"] = measure("ours", ours, work / "store", args.poll, args)
        if not args.skip_reference:
            exe = ensure_reference()
            (work / "ref").mkdir()

            def original():
                return start(lambda port: [str(exe), "--rawmode", "1", "--http", "--port", str(port), "--listeners",
                                           "12", "--ip", "127.0.0.1", "--DBpath", str(work / "ref" / f"db-{port}")],
                             OUT / "pman-orig.log", work / "ref")
            results["original"] = measure("original", original, None, args.poll_original, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summarize(results)
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    return 0


# ---------------------------------------------------------------- the Kubernetes engine's status

def kube_tree(ref: str | None, work: Path) -> tuple[str, Path | None]:
    """(label, source tree) of today's pman: ``git archive`` of ``ref`` (default the merge-base
    with main) unpacked in ``work``; (label, None) to measure ours with the cache off instead."""
    if ref == "none":
        return "ours, --status-cache=false", None
    try:
        ref = ref or subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, check=True,
                                    capture_output=True, text=True).stdout.strip()
        tree = work / "baseline"
        tree.mkdir()
        archive = subprocess.run(["git", "archive", ref, "pman", "httpkit", "swiftstore"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        return f"today ({ref[:9]})", tree
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"  cannot extract the baseline ({e}); measuring ours with the cache off", file=sys.stderr)
        return "ours, --status-cache=false", None


class Keepalive:
    """A pfcon-like poller: the message API's status over one kept-alive connection (pman.client opens
    a connection per message, which the original pman needs; pfcon's pollers keep theirs open)."""

    def __init__(self, port: int):
        import http.client
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def status(self, jid: str) -> dict:
        body = json.dumps({"payload": {"action": "status", "meta": {"key": "jid", "value": jid}}})
        self.conn.request("POST", "/api/v1/cmd", body, {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise ValueError(f"{response.status}: {data[:200]!r}")
        return json.loads(data)


def _counts(api_url: str, reset: bool = False) -> dict:
    import urllib.request
    with urllib.request.urlopen(f"{api_url}/_counts{'?reset=1' if reset else ''}", timeout=10) as r:
        return json.loads(r.read())


def _cpu_seconds(proc: subprocess.Popen) -> float:
    import psutil
    try:
        root = psutil.Process(proc.pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            times = p.cpu_times()
            total += times.user + times.system
        return total
    except psutil.Error:
        return float("nan")


def poll_kube(port: int, jids: list[str], seconds: float, pollers: int) -> dict:
    """``pollers`` threads, each over its own connection, ask the status of the jids round robin."""
    stop_at = time.monotonic() + seconds
    counts, errors, states = [0] * pollers, [0] * pollers, {}

    def poller(i: int) -> None:
        client, n = Keepalive(port), i
        while time.monotonic() < stop_at:
            jid = jids[n % len(jids)]
            n += pollers
            try:
                reply = client.status(jid)
                states[reply["d_ret"]["l_status"][0]] = states.get(reply["d_ret"]["l_status"][0], 0) + 1
                counts[i] += 1
            except (OSError, ValueError, KeyError) as e:
                errors[i] += 1
                if errors[i] == 1:
                    print(f"  poller {i}: {e}", file=sys.stderr)
                client = Keepalive(port)

    threads = [threading.Thread(target=poller, args=(i,)) for i in range(pollers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"statuses": sum(counts), "errors": sum(errors), "seconds": wall, "states": states}


def kube_variant(name: str, tree: Path | None, extra: list[str], api_url: str, work: Path, args) -> dict:
    (work / name).mkdir()
    kubeconfig = work / "kubeconfig"
    env = {**os.environ, "PYTHONPATH": str(tree or ROOT)}

    def argv(port: int) -> list[str]:  # today's pman has no --listen-fd: a port it binds itself
        return [sys.executable, "-m", "pman", "--ip", "127.0.0.1", "--port", str(port), "--engine", "kubernetes",
                "--kubeconfig", str(kubeconfig), "--swift-credentials", str(work / "swift.cfg"), "--namespace",
                "chris", "--threads", "16", "--workdir", str(work / name), *extra]
    proc, port = start(argv, OUT / f"pman-kube-{name}.log", work, env)
    try:
        pman = client(port, timeout=30)
        jids = [f"chris-jid-{name[:4]}-{n}" for n in range(args.kube_jobs)]
        for jid in jids:
            pman.run(jid, "simpledsapp /share/incoming /share/outgoing", image="ghcr.io/fnndsc/pl-simpledsapp:2.1.0",
                     auid="bench")
        poll_kube(port, jids, 2.0, args.kube_pollers)  # warm-up: the cache syncs, connections open
        _counts(api_url, reset=True)
        cpu0 = _cpu_seconds(proc)
        polled = poll_kube(port, jids, args.kube_seconds, args.kube_pollers)
        cpu = _cpu_seconds(proc) - cpu0
        api = _counts(api_url, reset=True)
        rss = _rss_mb(proc)
    finally:
        stop(proc)
    requests = sum(api.values())
    statuses = polled["statuses"]
    return {**polled, "statuses_per_second": statuses / polled["seconds"],
            "api_requests": requests, "api_requests_by_kind": api,
            "api_requests_per_status": requests / statuses if statuses else None,
            "pman_cpu_ms_per_status": 1000 * cpu / statuses if statuses else None, "pman_rss_mb": rss}


def _rss_mb(proc: subprocess.Popen) -> float:
    import psutil
    try:
        root = psutil.Process(proc.pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 1e6
    except psutil.Error:
        return float("nan")


def kube_benchmark(args) -> int:
    """Status of ``--kube-jobs`` pending jobs, polled by ``--kube-pollers`` clients for
    ``--kube-seconds``, on today's pman and ours (one gunicorn worker each, 16 threads), against
    the stand-in API server (tests/support/kube_apiserver.py, its own process).  For
    each: statuses per second, the API requests it made per status (all of them, watches and
    Events included), pman's CPU per status and its RSS."""
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-pman-kube-"))
    server = subprocess.Popen([sys.executable, "-m", "tests.support.kube_apiserver"], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    results = {}
    try:
        api_url = server.stdout.readline().decode().strip()
        if not api_url.startswith("http://"):
            raise RuntimeError("the stand-in API server did not start")
        (work / "kubeconfig").write_text(
            f"apiVersion: v1\nkind: Config\nclusters: [{{name: f, cluster: {{server: \"{api_url}\"}}}}]\n"
            "users: [{name: p, user: {token: t}}]\ncontexts: [{name: f, context: {cluster: f, user: p}}]\n"
            "current-context: f\n")
        (work / "swift.cfg").write_text("[AUTHORIZATION]\nosAuthUrl = http://127.0.0.1:9/auth/v1.0\n"
                                        "[TEMPAUTH]\nuser = a:b\nkey = c\n")  # never used: no job finishes
        label, tree = kube_tree(args.baseline_ref, work)
        extra = [] if tree is not None else ["--status-cache=false"]
        for name, variant_tree, flags in (("today", tree, extra), ("ours", None, [])):
            print(f"== {name if name == 'ours' else label}: {args.kube_jobs} pending jobs, {args.kube_pollers} "
                  f"pollers, {args.kube_seconds:g} s", flush=True)
            results[name] = kube_variant(name, variant_tree, flags, api_url, work, args)
            results[name]["label"] = label if name == "today" else "ours (status cache)"
            print("  " + json.dumps({k: v for k, v in results[name].items() if k != "states"}), flush=True)
    finally:
        server.stdin.close()
        server.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    (OUT / "kube-results.json").write_text(json.dumps(results, indent=2))
    today, ours = results["today"], results["ours"]
    print(f"\n{'':34}{'today':>12}{'ours':>12}   ratio")
    for label_, key in (("statuses/s (one worker)", "statuses_per_second"),
                        ("API requests per status", "api_requests_per_status"),
                        ("pman CPU ms per status", "pman_cpu_ms_per_status"),
                        ("pman RSS MB", "pman_rss_mb"), ("errors", "errors")):
        a, b = today.get(key), ours.get(key)
        ratio = f"{b / a:7.2f}x" if a and b and key == "statuses_per_second" else ""
        print(f"{label_:34}{a:>12.4g}{b:>12.4g}   {ratio}")
    return 0


def summarize(results: dict) -> None:
    rows = [("hello latency, median ms", lambda r: r["hello"]["median_ms"]),
            ("status latency, median ms", lambda r: r["status"]["median_ms"]),
            ("run->finished, s per job (seq.)", lambda r: r["jobs_sequential"]["seconds_per_job"]),
            ("jobs/s (sequential)", lambda r: r["jobs_sequential"]["jobs_per_second"]),
            ("jobs/s (batch)", lambda r: r["jobs_batch"]["jobs_per_second"]),
            ("200 concurrent status: errors", lambda r: r["concurrent_status"]["errors"]),
            ("200 concurrent status: wall s", lambda r: r["concurrent_status"]["wall_seconds"])]
    names = list(results)
    print("\n" + f"{'':34}" + "".join(f"{n:>12}" for n in names) + ("       ratio" if len(names) == 2 else ""))
    for label, get in rows:
        values = []
        for n in names:
            try:
                values.append(get(results[n]))
            except (KeyError, TypeError):
                values.append(None)
        line = f"{label:34}" + "".join(f"{v:>12.4g}" if v is not None else f"{'-':>12}" for v in values)
        if len(values) == 2 and all(values) and "errors" not in label:
            ratio = values[1] / values[0] if "jobs/s" not in label else values[0] / values[1]
            line += f"{ratio:>11.1f}x"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
