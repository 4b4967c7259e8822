"""scripts/quickstart and tools/quickstart.py as a user runs them: arguments checked before the
install, Ctrl-C/SIGTERM mid-job stops everything it started (the job too), and --keep-running
prints one command that stops everything it left running."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from pman.engines.local import processes as localproc

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = [sys.executable, "-m", "tools.quickstart"]


def _stat(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def descendants(root: int) -> dict[int, str | None]:
    """Every live process below ``root`` in the process tree, with its start time (its identity)."""
    children = defaultdict(list)
    for entry in os.scandir("/proc"):
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields:
            children[int(fields[1])].append(int(entry.name))
    found, todo = {}, [root]
    while todo:
        for child in children.pop(todo.pop(), []):
            found[child] = localproc.start_time(child)
            todo.append(child)
    return {pid: started for pid, started in found.items() if started is not None}


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def survivors(procs: dict[int, str | None]) -> list[str]:
    return [f"{pid} {cmdline(pid)}" for pid, started in procs.items() if localproc.is_alive(pid, started)]


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the quickstart exited ({proc.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)


def test_arguments_are_checked_before_installing(tmp_path):
    """--help is the one real help text with or without .venv; a bad argument exits 2 at once."""
    copy = tmp_path / "clone"  # a clone without .venv, whose bootstrap only leaves a mark
    for rel in ("scripts/quickstart", "tools/__init__.py", "tools/qs_args.py"):
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, copy / rel)
    marker = tmp_path / "bootstrap-ran"
    (copy / "scripts" / "bootstrap").write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    (copy / "scripts" / "bootstrap").chmod(0o755)
    env = {**os.environ, "COLUMNS": "100"}
    run = lambda *a: subprocess.run([str(copy / "scripts" / "quickstart"), *a], capture_output=True,
                                    text=True, env=env, timeout=60)
    real = subprocess.run([*QUICKSTART, "--help"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert real.returncode == 0 and "--keep-running" in real.stdout and "--stop RUN_DIR" in real.stdout
    shown = run("--help")
    assert (shown.returncode, shown.stdout) == (0, real.stdout)
    for bad, reason in ((["--bogus"], "unrecognized arguments: --bogus"),
                        (["--pfioh", "http://x"], "--pfioh or --pman alone needs --swift-credentials"),
                        (["--swift-credentials", str(tmp_path / "none.cfg")], "no such file"),
                        (["--stop", str(tmp_path)], "is not the run directory of a quickstart")):
        out = run(*bad)
        assert out.returncode == 2 and reason in out.stderr, out.stderr
        assert "[1/8]" not in out.stderr
    assert not marker.exists(), "bootstrap ran for bad arguments"
    assert run().returncode == 1 and marker.exists()  # good arguments: then the install step runs


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_mid_job_stops_everything_it_started(tmp_path, sig):
    """Interrupted while the job publishes its output: no process it started is left, the job's
    runner and publisher included (they run in sessions of their own, outside pman's group)."""
    publisher = tmp_path / "publisher"  # stands for a put retrying against Swift: it never ends
    publisher.write_text('#!/bin/sh\nif [ "$1" = put ]; then exec sleep 600; fi\n'
                         f'exec {Path(sys.executable).parent / "pman-swift-publisher"} "$@"\n')
    publisher.chmod(0o755)
    log = tmp_path / "quickstart.log"
    with open(log, "wb") as out:
        # Started with SIGINT ignored, as a background job of a non-interactive shell (CI's) is:
        # Ctrl-C must stop it all the same.
        proc = subprocess.Popen([*QUICKSTART, "--results", str(tmp_path / "r")], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "PMAN_PUBLISHER_CLI": str(publisher)},
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        # Waited for as the sleep itself: a mark the script made just before its exec could be
        # seen while the shell had not become ``sleep`` yet (it failed one CI run so).
        wait_for(lambda: any("sleep 600" in cmdline(pid) for pid in descendants(proc.pid)), 240,
                 "the job reached its put step", proc, log)
        started = descendants(proc.pid)
        names = " ".join(cmdline(pid) for pid in started)
        for part in ("memcached", "swift-proxy-server", "pfioh", "pman", "pman.engines.local.runner", "sleep 600"):
            assert part in names
        proc.send_signal(sig)
        assert proc.wait(timeout=120) == 1
    finally:
        _stop_all(proc)
    assert survivors(started) == []
    text = log.read_text()
    assert "step 5/8 (wait for the job) failed: interrupted" in text
    assert "stopped: 1 unfinished job(s), pman (pid" in text and "Swift all-in-one" in text


def _stop_all(proc: subprocess.Popen) -> None:
    """After a failure part-way: the quickstart stops what it started on SIGTERM; whatever is
    still there after that (it hung, say) is killed, so no Swift or pfioh outlives the test."""
    if proc.poll() is not None:
        return
    seen = descendants(proc.pid)
    proc.terminate()
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for pid, started in seen.items():
        if localproc.is_alive(pid, started):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # gone meanwhile


def test_keep_running_prints_one_command_that_stops_everything(tmp_path):
    done = subprocess.run([*QUICKSTART, "--keep-running", "--results", str(tmp_path / "r")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    left = next(line for line in done.stderr.splitlines() if line.startswith("[8/8] left running"))
    assert "Swift all-in-one in" in left and "pfioh http://" in left and "pman http://" in left
    command = next(line for line in done.stderr.splitlines() if "to stop them all:" in line).split(": ", 1)[1]
    argv = command.split()
    assert argv[:2] == [str(ROOT / "scripts" / "quickstart"), "--stop"]
    run_dir = Path(argv[2])
    # Everything it left: the processes working in the run directory (the services' cwd, Swift's
    # configs), whoever their parent is now.
    left_running = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cwd = os.readlink(f"/proc/{entry.name}/cwd")
            except OSError:
                continue
            pid = int(entry.name)
            if cwd.startswith(str(run_dir)) or str(run_dir) in cmdline(pid):
                left_running[pid] = localproc.start_time(pid)
    names = " ".join(cmdline(pid) for pid in left_running)
    for part in ("memcached", "swift-account-server", "swift-proxy-server", "pfioh", "pman"):
        assert part in names
    stop = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    assert "stopped pman (pid" in stop.stderr and "Swift all-in-one" in stop.stderr
    assert survivors(left_running) == []
    assert not run_dir.exists()
