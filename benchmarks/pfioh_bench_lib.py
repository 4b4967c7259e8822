"""Building blocks of bench_pfioh.py: test trees, server processes with RSS sampling, and clients
(a pfurl-shaped streaming push, a streaming pull, raw swiftclient upload/download)."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks import common
from benchmarks.common import BIN, KiB, MiB, ROOT, make_tree, popen_server, tree_bytes  # noqa: F401 (re-exported)
CHUNK = 1 << 20
COMPRESS = {"mechanism": "compress", "compress": {"archive": "zip", "unpack": True, "cleanup": True}}


# ---------------------------------------------------------------- data



def make_zip(tree: Path, dest: Path) -> Path:
    if not dest.exists():
        with zipfile.ZipFile(dest.with_suffix(".tmp"), "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for path in sorted(tree.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(tree).as_posix())
        dest.with_suffix(".tmp").rename(dest)
    return dest




# ---------------------------------------------------------------- servers

class RssSampler(threading.Thread):
    """Samples the RSS of a process and its children; :meth:`reset` starts a new peak.

    Listing children scans all of /proc, which is costly enough to slow the server down on a
    small machine, so the process list is refreshed only once a second.
    """

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.proc, self.interval, self.peak, self._stop = psutil.Process(pid), interval, 0, threading.Event()

    def run(self):
        procs, listed = [self.proc], 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - listed > 1.0:
                    procs, listed = [self.proc, *self.proc.children(recursive=True)], time.monotonic()
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                listed = 0.0
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




def start(name: str, argv, log: Path, env: dict | None = None) -> Server:
    """Start a server (``argv``: see :func:`common.popen_server`) and wait until it answers."""
    deadline = time.monotonic() + 60
    with open(log, "ab") as out:
        proc, port = popen_server(argv, deadline, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                  env={**os.environ, **(env or {})})
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start, see {log}") from None
            time.sleep(0.2)
    time.sleep(0.5)
    sampler = RssSampler(proc.pid)
    sampler.start()
    return Server(name, proc, port, sampler)


def ensure_reference() -> Path:
    """The original pfioh 2.2.0.8 in its own venv (created on first use)."""
    return common.ensure_reference("pfioh", "pfioh==2.2.0.8")


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
    return n


def check_zip(path: Path, tree: Path) -> None:
    """The pulled zip holds the tree (zipfile finds the end record despite the original's trailing JSON)."""
    with zipfile.ZipFile(path) as zf:
        if zf.testzip() is not None:
            raise RuntimeError(f"{path}: corrupt zip")
        names = {i.filename: i.file_size for i in zf.infolist() if not i.is_dir()}
    expected = {p.relative_to(tree).as_posix(): p.stat().st_size for p in tree.rglob("*") if p.is_file()}
    if names != expected:
        raise RuntimeError(f"{path}: does not hold the pushed tree")


def swift_options() -> dict:
    try:
        return {"auth": os.environ["ST_AUTH"], "user": os.environ["ST_USER"], "key": os.environ["ST_KEY"],
                "auth_version": "1.0"}
    except KeyError:
        sys.exit("Swift mode needs ST_AUTH/ST_USER/ST_KEY: eval \"$(.venv/bin/python -m tools.saio env)\"")


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
