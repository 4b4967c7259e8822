"""Building blocks of the pfioh benchmarks: test zips, server processes with RSS sampling, the
server-alone transfers (a ready-made zip through pfioh.client's request, as pfurl sends it; the
pulled zip streamed to disk) and raw swiftclient upload/download (the ceiling)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks import common
from benchmarks.common import BIN, KiB, MiB, ROOT, make_tree, popen_server, tree_bytes  # noqa: F401 (re-exported)
from pfioh.client import ClientError, PfiohClient, wire

CHUNK = 1 << 20
TRANSFER_TIMEOUT = 3600  # seconds the server may take to answer (a 1 GiB tree into Swift included)


# ---------------------------------------------------------------- data

def make_zip(tree: Path, dest: Path) -> Path:
    """The zip pfurl and pfcon send for ``tree``: DEFLATE at zlib's default level
    (made once per data set; the file name says so, so an older stored zip is never reused)."""
    dest = dest.with_name(dest.stem + "-deflated.zip")
    if not dest.exists():
        zip_tree(tree, dest.with_suffix(".tmp"))
        dest.with_suffix(".tmp").rename(dest)
    return dest


def zip_tree(tree: Path, dest: Path) -> None:
    """Zip the files of ``tree`` into ``dest`` as the originals do: DEFLATE, zlib's default level."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for path in sorted(tree.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(tree).as_posix())


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
    client: PfiohClient
    """Our pfioh client, for this server (no progress display, long transfers allowed)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.client.session.close()
        self.sampler.stop()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def start(name: str, argv, log: Path, env: dict | None = None) -> Server:
    """Start a server (``argv``: see :func:`common.popen_server`) and wait until it answers hello."""
    deadline = time.monotonic() + 60
    with open(log, "ab") as out:
        proc, port = popen_server(argv, deadline, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                  env={**os.environ, **(env or {})})
    client = PfiohClient(f"http://127.0.0.1:{port}", timeout=TRANSFER_TIMEOUT, show_progress=False)
    while True:
        try:
            client.hello()
            break
        except ClientError:
            if proc.poll() is not None or time.monotonic() > deadline:
                client.session.close()
                raise RuntimeError(f"{name} did not start, see {log}") from None
            time.sleep(0.2)
    sampler = RssSampler(proc.pid)
    sampler.start()
    return Server(name, proc, port, sampler, client)


def ensure_reference() -> Path:
    """The original pfioh 2.2.0.8 in its own venv (created on first use)."""
    return common.ensure_reference("pfioh", "pfioh==2.2.0.8")


# ---------------------------------------------------------------- clients

def push(client: PfiohClient, key: str, zip_path: Path) -> dict:
    """A ready-made zip sent as pfurl sends one (three form fields, ``Mode: file``): the server's
    work alone, no zipping or checkRemote in the timing.  :returns: the reply (``status`` true)."""
    meta = wire.path_meta(key, f"/bench/{key}", check_remote=False)
    body = wire.MultipartUpload({"action": "pushPath", "meta": meta}, zip_path, zip_path.name)
    try:
        reply = wire.parse_reply(client.request("POST", f"push {key}", data=body, headers=body.headers).content)
    finally:
        body.close()
    if not reply.get("status"):
        raise RuntimeError(f"push {key}: {str(reply)[:300]}")
    return reply


def pull(client: PfiohClient, key: str, dest: Path) -> int:
    """Stream the pulled zip to ``dest`` (not unpacked); copes with the original's JSON after the
    zip.  :returns: the bytes received."""
    meta = wire.path_meta(key, str(dest), check_remote=False, create_dir=True)
    n = 0
    with client.request("GET", f"pull {key}", params=wire.query("pullPath", meta), stream=True) as resp, \
            open(dest, "wb") as f:
        for chunk in resp.iter_content(CHUNK):
            f.write(chunk)
            n += len(chunk)
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
