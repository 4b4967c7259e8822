"""Helpers for the pman integration tests: a real pman server, the real pfurl CLI, polling."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def pfurl(url: str, action: str, meta: dict, cwd: Path, token: str | None = None) -> dict:
    """One message through the real pfurl CLI (as the docs and pfcon do), its JSON reply."""
    argv = [str(BIN / "pfurl"), "--verb", "POST", "--raw", "--quiet", "--http", f"{url}/api/v1/cmd",
            "--jsonwrapper", "payload", "--msg", json.dumps({"action": action, "meta": meta})]
    if token:
        argv += ["--authToken", token]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def rest(url: str, method: str, path: str, body: dict | None = None, token: str | None = None
         ) -> tuple[int, dict | None]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_rest(url: str, jid: str, timeout: float = 60) -> dict:
    """Poll ``GET /api/v1/<jid>/`` until the job has finished."""
    deadline = time.monotonic() + timeout
    while True:
        status, job = rest(url, "GET", f"/api/v1/{jid}/")
        assert status == 200, job
        if "finished" in job["status"]:
            return job
        assert time.monotonic() < deadline, f"{jid} not finished: {job}"
        time.sleep(0.2)


def wait_pfurl(url: str, jid: str, cwd: Path, timeout: float = 60) -> dict:
    """pfcon's loop: poll status until every l_status item contains "finished"."""
    deadline = time.monotonic() + timeout
    while True:
        reply = pfurl(url, "status", {"key": "jid", "value": jid}, cwd)
        if all("finished" in s for s in reply["d_ret"]["l_status"]):
            return reply
        assert time.monotonic() < deadline, f"{jid} not finished: {reply['d_ret']}"
        time.sleep(0.3)


def pman_argv(workdir: Path, *extra: str) -> list[str]:
    """pman's command line for ``server_factory`` (which adds the socket to listen on)."""
    return ["pman", "--workdir", str(workdir), *extra]


def wait_message(url: str, jid: str, message: str, timeout: float = 60) -> dict:
    """Poll ``GET /api/v1/<jid>/`` until the job's message is ``message`` (e.g. "running: step run")."""
    deadline = time.monotonic() + timeout
    while True:
        status, job = rest(url, "GET", f"/api/v1/{jid}/")
        assert status == 200, job
        if job["message"] == message:
            return job
        assert time.monotonic() < deadline, f"{jid} never reached {message!r}: {job}"
        time.sleep(0.1)


def gated(gate: Path, then: str) -> str:
    """A job command that waits until the test creates ``gate``, then runs the shell line ``then``:
    the test decides when the job ends, not a fixed sleep."""
    return f"sh -c 'while [ ! -e {gate} ]; do sleep 0.05; done; {then}'"
