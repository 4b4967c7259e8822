"""Processes of the local engine: launch detached runners, tell whether they live, cancel them, schedule.

Each job's runner is a session leader (``start_new_session``), so it survives pman's restart.
``delete`` SIGTERMs the runner's process group; the runner has its step's supervisor kill every
process of the step (see :mod:`~pman.engines.local.containment`) before it exits.
A pid is only trusted together with the process start time recorded at launch (pids get reused).
"""
from __future__ import annotations

import datetime
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping

from pman.engines.local import jobdb, privileges

log = logging.getLogger("pman.local")


def start_time(pid: int) -> str | None:
    """The start time (clock ticks since boot) of a live, non-zombie process, else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    if not fields or fields[0] in ("Z", "X", "x"):
        return None
    return fields[19] if len(fields) > 19 else None


def is_alive(pid: int | None, started: str | None) -> bool:
    """True if process ``pid`` lives and is the one that started at ``started``."""
    if not pid:
        return False
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def launch(db_path: str, jid: str, job_dir: Path, environ: Mapping[str, str]) -> subprocess.Popen:
    """Start the detached runner of ``jid``; its own crash output goes to ``<job_dir>/logs/runner.log``.

    The runner's environment is :func:`privileges.runner_env` (nothing secret); ``environ`` (pman's,
    with its secrets, for the publisher) goes through a pipe on its stdin, which no other process sees.
    """
    logs = job_dir / "logs"
    logs.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(logs / "runner.log", "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pman.engines.local.runner", "--db", db_path, "--jid", jid],
            stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, cwd=str(job_dir),
            env=privileges.runner_env(environ), start_new_session=True, close_fds=True)
    try:
        proc.stdin.write(json.dumps(dict(environ)).encode())
    except BrokenPipeError:  # the runner died at once; reap_dead will tell
        log.error("the runner of %s exited before reading its environment", jid)
    finally:
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    return proc


def schedule(store: jobdb.JobStore, *, on_launch=None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Start queued jobs while fewer than the ``max_jobs`` setting run.  Safe from several processes.

    :param on_launch: called with each new runner's ``Popen`` (pman keeps them to reap them).
    :param environ: pman's environment, passed to the runners' publisher (default ``os.environ``).
    :returns: the jids started.
    """
    environ = os.environ if environ is None else environ
    limit = int(store.setting("max_jobs", 1))
    with store.transaction() as db:
        running = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()[0]
        free = max(0, limit - running)
        rows = db.execute("SELECT jid, plan FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT ?", (free,)).fetchall()
        claimed = [(row["jid"], row["plan"]) for row in rows]
        for jid, _ in claimed:
            db.execute("UPDATE jobs SET state = 'running', step = 'starting', started_at = ? WHERE jid = ?",
                       (jobdb.now_iso(), jid))
    started = []
    for jid, plan in claimed:
        job_dir = Path(json.loads(plan)["job_dir"])
        try:
            proc = launch(store.path, jid, job_dir, environ)
        except OSError as e:
            log.error("cannot start the runner of %s: %s", jid, e)
            store.update(jid, state="done", status="finishedWithError", reason="RunnerError",
                         message=f"cannot start the job runner: {e}", finished_at=jobdb.now_iso())
            continue
        store.update(jid, runner_pid=proc.pid, runner_start=start_time(proc.pid))
        if on_launch:
            on_launch(proc)
        started.append(jid)
    return started


def reap_dead(store: jobdb.JobStore, grace_seconds: float = 30) -> list[str]:
    """Mark running jobs whose runner died (pman or host restart, OOM kill) as failed.

    A job claimed less than ``grace_seconds`` ago may not have its pid recorded yet: left alone.
    :returns: the jids marked.
    """
    marked = []
    for row in store.in_state("running"):
        if row.runner_pid is None:
            age = time.time() - _epoch(row.started_at)
            if age < grace_seconds:
                continue
        elif is_alive(row.runner_pid, row.runner_start):
            continue
        current = store.get(row.jid)  # it may have finished between the two reads
        if current is None or current.state != "running":
            continue
        step = current.step or "start"
        store.update(row.jid, state="done", status="finishedWithError", reason="RunnerDied",
                     message=f"the job runner died during step '{step}'", finished_at=jobdb.now_iso())
        log.warning("job %s: its runner died during step %s", row.jid, step)
        marked.append(row.jid)
    return marked


def _epoch(iso: str | None) -> float:
    if not iso:
        return 0.0
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def kill_group(pid: int | None, started: str | None, grace: float = 5.0) -> bool:
    """SIGTERM the runner's process group, then SIGKILL after ``grace`` seconds.

    :returns: True if a live group was signalled.
    """
    if not is_alive(pid, started):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 5
    while _group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return True


def _group_alive(pgid: int) -> bool:
    """Any non-zombie process left in group ``pgid``?"""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with os.scandir("/proc") as entries:  # closed on the early return too
        for entry in entries:
            if entry.name.isdigit():
                try:
                    with open(f"/proc/{entry.name}/stat", "rb") as f:
                        stat = f.read().decode(errors="replace")
                except OSError:
                    continue
                fields = stat[stat.rfind(")") + 2:].split()
                if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
                    return True
    return False
