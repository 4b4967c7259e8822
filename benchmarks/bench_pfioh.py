"""Benchmark pfioh: push and pull trees through the real servers, against the ceilings.

Trees: 1000 x 10 KiB, 10 x 10 MiB, 1 x 500 MiB (``--scale`` shrinks the file sizes).  The client
sends a ready-made zip (built before timing) and streams the pulled zip to disk.

(a) our pfioh in Swift mode vs a raw python-swiftclient upload + download of the same tree;
(b) our pfioh in mount mode vs the original pfioh 2.2.0.8 from PyPI in mount mode (installed into
    ``.venv-reference`` by this script if missing).

Reports MB/s, ratios and the server's peak RSS (process tree, sampled by psutil).  Usage::

    eval "$(.venv/bin/python tools/saio.py env)"    # Swift credentials for (a)
    .venv/bin/python benchmarks/bench_pfioh.py --scale 0.05
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REFERENCE_VENV = ROOT / ".venv-reference"
KiB, MiB = 1 << 10, 1 << 20
SETS = (("1000x10KiB", 1000, 10 * KiB), ("10x10MiB", 10, 10 * MiB), ("1x500MiB", 1, 500 * MiB))
CHUNK = 1 << 20
COMPRESS = {"mechanism": "compress", "compress": {"archive": "zip", "unpack": True, "cleanup": True}}


@dataclass
class Result:
    tree: str
    op: str
    system: str
    seconds: float
    mbytes: float
    peak_rss_mb: float | None

    @property
    def mbps(self) -> float:
        return self.mbytes / self.seconds if self.seconds else float("inf")


# ---------------------------------------------------------------- data

def make_tree(root: Path, count: int, size: int) -> Path:
    if root.is_dir():
        return root
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for i in range(count):
        path = tmp / f"d{i % 10}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, 8 * MiB)
                f.write(os.urandom(n))
                left -= n
    tmp.rename(root)
    return root


def make_zip(tree: Path, dest: Path) -> Path:
    if not dest.exists():
        with zipfile.ZipFile(dest.with_suffix(".tmp"), "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for path in sorted(tree.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(tree).as_posix())
        dest.with_suffix(".tmp").rename(dest)
    return dest


def tree_bytes(tree: Path) -> int:
    return sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())


# ---------------------------------------------------------------- servers

class RssSampler(threading.Thread):
    """Samples the RSS of a process and its children; :meth:`reset` starts a new peak."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.proc, self.interval, self.peak, self._stop = psutil.Process(pid), interval, 0, threading.Event()

    def run(self):
        while not self._stop.is_set():
            try:
                procs = [self.proc, *self.proc.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(self.interval)

    def reset(self) -> None:
        self.peak = 0

    def stop(self) -> None:
        self._stop.set()


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int
    sampler: RssSampler

    def stop(self):
        self.sampler.stop()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name: str, argv: list[str], port: int, log: Path, env: dict | None = None) -> Server:
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start, see {log}")
            time.sleep(0.2)
    time.sleep(0.5)
    sampler = RssSampler(proc.pid)
    sampler.start()
    return Server(name, proc, port, sampler)


def ensure_reference() -> Path:
    """The original pfioh 2.2.0.8 in its own venv (created on first use)."""
    exe = REFERENCE_VENV / "bin" / "pfioh"
    if not exe.exists():
        print(f"installing the original pfioh 2.2.0.8 into {REFERENCE_VENV} ...", flush=True)
        subprocess.run(["python3", "-m", "venv", str(REFERENCE_VENV)], check=True)
        subprocess.run([str(REFERENCE_VENV / "bin" / "pip"), "install", "-q", "pfioh==2.2.0.8"], check=True)
    return exe


# ---------------------------------------------------------------- clients

class _Body:
    """A multipart body (d_msg, filename, local) streamed from the zip file, with a known length."""

    def __init__(self, boundary: str, d_msg: dict, zip_path: Path):
        b = boundary
        self._head = (f"--{b}\r\nContent-Disposition: form-data; name=\"d_msg\"\r\n\r\n{json.dumps(d_msg)}\r\n"
                      f"--{b}\r\nContent-Disposition: form-data; name=\"filename\"\r\n\r\n{zip_path.name}\r\n"
                      f"--{b}\r\nContent-Disposition: form-data; name=\"local\"; filename=\"{zip_path.name}\"\r\n"
                      f"Content-Type: application/octet-stream\r\n\r\n").encode()
        self._tail = f"\r\n--{b}--\r\n".encode()
        self._file = open(zip_path, "rb")
        self.length = len(self._head) + zip_path.stat().st_size + len(self._tail)
        self._stage = 0

    def read(self, n: int = -1) -> bytes:
        while self._stage < 3:
            if self._stage == 0:
                self._stage = 1
                return self._head
            if self._stage == 1:
                data = self._file.read(n)
                if data:
                    return data
                self._file.close()
                self._stage = 2
                continue
            self._stage = 3
            return self._tail
        return b""


def push(port: int, key: str, zip_path: Path) -> dict:
    """A pfurl-shaped push (three form fields, ``Mode: file``) of a ready-made zip."""
    meta = {"remote": {"key": key}, "local": {"path": f"/bench/{key}"}, "transport": {**COMPRESS, "checkRemote": False}}
    body = _Body(uuid.uuid4().hex, {"action": "pushPath", "meta": meta}, zip_path)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600, blocksize=CHUNK)
    boundary = body._head[2:body._head.index(b"\r\n")].decode()
    conn.request("POST", "/api/v1/cmd/", body=body, headers={
        "Mode": "file", "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(body.length)})
    resp = conn.getresponse()
    text = resp.read().decode(errors="replace")
    conn.close()
    if resp.status != 200 or '"status": true' not in text.replace('"status":true', '"status": true'):
        raise RuntimeError(f"push {key}: HTTP {resp.status}: {text[:300]}")
    return json.loads(text[text.index("{"):text.rindex("}") + 1])


def pull(port: int, key: str, dest: Path) -> int:
    """Stream the pulled zip to ``dest``; copes with the original's JSON after the zip."""
    meta = {"remote": {"key": key}, "local": {"path": str(dest), "createDir": True},
            "transport": {**COMPRESS, "checkRemote": False}}
    query = urllib.parse.urlencode({"action": "pullPath", "meta": str(meta)})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    conn.request("GET", f"/api/v1/cmd/?{query}")
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"pull {key}: HTTP {resp.status}: {resp.read(300)!r}")
    n = 0
    with open(dest, "wb") as f:
        while chunk := resp.read(CHUNK):
            f.write(chunk)
            n += len(chunk)
    conn.close()
    with zipfile.ZipFile(dest) as zf:  # zipfile finds the end record despite trailing JSON
        if zf.testzip() is not None:
            raise RuntimeError(f"pull {key}: corrupt zip")
    return n


def swift_options() -> dict:
    try:
        return {"auth": os.environ["ST_AUTH"], "user": os.environ["ST_USER"], "key": os.environ["ST_KEY"],
                "auth_version": "1.0"}
    except KeyError:
        sys.exit("Swift mode needs ST_AUTH/ST_USER/ST_KEY: eval \"$(.venv/bin/python tools/saio.py env)\"")


def raw_swift_upload(container: str, tree: Path) -> None:
    from swiftclient.service import SwiftService, SwiftUploadObject
    objs = [SwiftUploadObject(str(p), object_name="input/" + p.relative_to(tree).as_posix())
            for p in sorted(tree.rglob("*")) if p.is_file()]
    with SwiftService(options=swift_options()) as svc:
        for r in svc.upload(container, objs):
            if not r["success"]:
                raise RuntimeError(f"swift upload: {r.get('error')}")


def raw_swift_download(container: str, dest: Path) -> None:
    from swiftclient.service import SwiftService
    with SwiftService(options=swift_options()) as svc:
        for r in svc.download(container, options={"out_directory": str(dest), "prefix": "input/"}):
            if not r["success"]:
                raise RuntimeError(f"swift download: {r.get('error')}")


def swift_delete(container: str) -> None:
    from swiftclient.service import SwiftService
    with SwiftService(options=swift_options()) as svc:
        for _ in svc.delete(container):
            pass
        for _ in svc.delete(container + "_segments"):
            pass


# ---------------------------------------------------------------- scenarios

def timed(results: list, tree: str, op: str, system: str, nbytes: int, fn, server: Server | None = None):
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


def swift_scenario(results, data, work: Path, log_dir: Path) -> None:
    import swiftstore
    port = free_port()
    server = start("pfioh-swift", [str(BIN / "pfioh"), "--forever", "-v", "1", "--swift-storage", "--ip", "127.0.0.1",
                                   "--port", str(port), "--storeBase", str(work / "swift-staging")],
                   port, log_dir / "pfioh-swift.log")
    store = swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials())
    try:
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
                timed(results, name, "push", "pfioh swift (ours)", nbytes, lambda: push(port, key, zip_path), server)
                store.put_tree(key, "output/", str(tree))  # what the job's publisher would do
                timed(results, name, "pull", "pfioh swift (ours)", nbytes,
                      lambda: pull(port, key, work / "pulled.zip"), server)
            finally:
                (work / "pulled.zip").unlink(missing_ok=True)
                swift_delete(key)
    finally:
        server.stop()


def mount_scenario(results, data, work: Path, log_dir: Path, reference: bool) -> None:
    servers = []
    port = free_port()
    servers.append(start("pfioh mount (ours)", [str(BIN / "pfioh"), "--forever", "-v", "1", "--createDirsAsNeeded", "--ip",
                                                "127.0.0.1", "--port", str(port), "--storeBase", str(work / "ours")],
                         port, log_dir / "pfioh-mount.log"))
    if reference:
        exe = ensure_reference()
        port = free_port()
        (work / "orig").mkdir(parents=True, exist_ok=True)
        servers.append(start("pfioh 2.2.0.8 (original)", [str(exe), "--forever", "--createDirsAsNeeded", "--ip",
                                                          "127.0.0.1", "--port", str(port), "--storeBase",
                                                          str(work / "orig")], port, log_dir / "pfioh-orig.log"))
    try:
        for name, tree, zip_path, nbytes in data:
            for server in servers:
                key = f"bench-{uuid.uuid4().hex[:8]}"
                try:
                    timed(results, name, "push", server.name, nbytes, lambda: push(server.port, key, zip_path), server)
                    timed(results, name, "pull", server.name, nbytes,
                          lambda: pull(server.port, key, work / "pulled.zip"), server)
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
    pairs = (("pfioh swift (ours)", "swiftclient (ceiling)", 0.7), ("pfioh mount (ours)", "pfioh 2.2.0.8 (original)", 3.0))
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
    p.add_argument("--work", default=str(ROOT / "benchmarks" / "out" / "pfioh"), help="data and logs")
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
