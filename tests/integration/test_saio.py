"""The project's Swift all-in-one launcher: idempotent start, real tempauth, clean stop."""
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tools import ports, saio

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def private_saio(tmp_path):
    base = tmp_path / "saio"
    yield base
    saio.stop(base)


def test_start_is_idempotent_and_stop_cleans_up(private_saio):
    base = private_saio
    first = saio.start(base)
    pids = saio._pids(base)
    assert set(pids) == {"memcached", "account", "container", "object", "proxy"}
    # Each server listens on the port the rings and the proxy's config name (read back, not probed).
    bound = json.loads((base / "ports.json").read_text())
    assert {name: ports.listening_ports(pid) for name, pid in pids.items()} == {
        name: {port} for name, port in bound.items()}
    low, high = ports.ephemeral_range()
    assert not any(low <= port <= high for name, port in bound.items() if name != "proxy")
    second = saio.start(base)
    assert second == first
    assert saio._pids(base) == pids, "a second start must reuse the running servers"
    saio.stop(base)
    assert not base.exists()
    assert not any(saio._alive(pid) for pid in pids.values())


def test_tempauth_and_object_round_trip(private_saio):
    s = saio.start(private_saio)
    token, url = saio._get_token(s)
    assert url == s.storage_url
    for method, path, data in (("PUT", "/c", None), ("PUT", "/c/o", b"payload")):
        req = urllib.request.Request(url + path, data=data, method=method, headers={"X-Auth-Token": token})
        urllib.request.urlopen(req).close()
    req = urllib.request.Request(url + "/c/o", headers={"X-Auth-Token": token})
    with urllib.request.urlopen(req) as resp:
        assert resp.read() == b"payload"
    bad = urllib.request.Request(url + "/c/o", headers={"X-Auth-Token": "nope"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(bad)
    assert e.value.code == 401


def test_credentials_file_is_written_in_tempauth_form(private_saio):
    s = saio.start(private_saio)
    with open(s.credentials_file) as f:
        text = f.read()
    assert f"osAuthUrl = {s.auth_url}" in text and "[TEMPAUTH]" in text and "user = test:tester" in text


def test_cli_prints_exports_and_status(private_saio):
    base = private_saio
    run = lambda *a: subprocess.run([sys.executable, "-m", "tools.saio", *a, "--base", str(base)],
                                    cwd=ROOT, capture_output=True, text=True)
    started = run("start", "--port", "0")
    assert started.returncode == 0, started.stderr
    assert f"export ST_AUTH={saio.settings(base).auth_url}" in started.stdout
    assert run("status").returncode == 0
    assert run("stop").returncode == 0
    stopped = run("status")
    assert stopped.returncode == 1 and "no healthy" in stopped.stderr


def test_stop_kills_and_reaps_a_daemon_that_ignores_sigterm(tmp_path):
    base = tmp_path / "saio"
    for sub in ("log", "run"):
        (base / sub).mkdir(parents=True)
    # SIGTERM ignored across the exec: one process that only SIGKILL ends.
    saio.spawn(base, "stubborn", ["sh", "-c", "trap '' TERM; exec sleep 60"])
    pid = saio._pids(base)["stubborn"]
    assert saio._alive(pid)
    saio.stop(base, timeout=0.2)
    assert not saio._alive(pid)
    # Reaped, not left for the interpreter's exit to warn about ("subprocess ... is still running").
    assert pid not in saio._spawned
    assert not base.exists()


# A daemon whose main thread ends on SIGTERM a second before its other thread ends the process.
LINGERING = """
import ctypes, os, signal, sys, threading, time
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # the thread below inherits the mask
open(sys.argv[1], "w").close()
signal.sigwait({signal.SIGTERM})
threading.Thread(target=lambda: (time.sleep(1), os._exit(0))).start()
ctypes.CDLL(None).pthread_exit(None)
"""


def test_stop_reaps_a_multithreaded_daemon(tmp_path):
    """A multi-threaded daemon (memcached) whose main thread has ended shows as a zombie until its
    other threads end, and cannot be reaped until then.  stop must wait until it is reaped, not just
    until it looks dead: a Popen left unreaped warns "subprocess ... is still running" at the
    interpreter's exit (as one did once in CI)."""
    base = tmp_path / "saio"
    for sub in ("log", "run"):
        (base / sub).mkdir(parents=True)
    ready = tmp_path / "ready"
    saio.spawn(base, "lingering", [sys.executable, "-c", LINGERING, str(ready)])
    pid = saio._pids(base)["lingering"]
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert saio._alive(pid) and time.monotonic() < deadline, "it did not start"
        time.sleep(0.01)
    saio.stop(base)
    assert pid not in saio._spawned
    with pytest.raises(ChildProcessError):  # reaped: no longer our child at all
        os.waitpid(pid, os.WNOHANG)
