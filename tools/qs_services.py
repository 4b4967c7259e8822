"""Start and stop what the quickstart runs: the loopback Swift, pfioh, pman and pman's jobs.

Each service runs as its own process group, serves a loopback socket bound here (``--listen-fd``:
no port is probed and bound later), logs to a file in the run directory, and counts as up once
``GET /api/v1/health`` answers.  Everything started is recorded in ``<run_dir>/quickstart-state.json``
as it starts, so :func:`stop_recorded` (``quickstart --stop RUN_DIR``) can stop it from another
process: what ``--keep-running`` left, or what a killed quickstart left behind.

pman's local engine runs each job's runner in a session of its own, so that jobs outlive a restart
of pman; stopping pman therefore does not stop them.  Jobs are cancelled first: through pman's API
for the jobs the quickstart submitted, then any runner still recorded as running in the job table
of a pman started here has its process group killed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tools import ports, saio
from pman.engines.local import jobdb as localdb, processes as localproc

BIN = Path(sys.executable).parent
STATE = "quickstart-state.json"


class ServiceError(Exception):
    """A service did not come up; the message includes the end of its log."""


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Process:
    """A started service: its process group leader, identified by pid and start time."""

    name: str
    pid: int
    started: str | None
    url: str
    log: str

    def alive(self) -> bool:
        return localproc.is_alive(self.pid, self.started)

    def stop(self) -> bool:
        """SIGTERM its process group (SIGKILL after a grace period).  :returns: it was running."""
        return localproc.kill_group(self.pid, self.started, grace=15)


def _healthy(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/api/v1/health", timeout=2).close()
        return True
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Services:
    """What the quickstart started (and must stop), recorded in ``<run_dir>/quickstart-state.json``."""

    run_dir: Path
    processes: list[Process] = field(default_factory=list)
    saio_base: Path | None = None
    pman_workdir: Path | None = None  # the job table of a pman started here
    jobs: list[tuple[str, str]] = field(default_factory=list)  # (pman URL, key) not known to be finished
    _popens: list[subprocess.Popen] = field(default_factory=list, repr=False)

    @property
    def started_anything(self) -> bool:
        return bool(self.processes or self.saio_base)

    def save(self) -> None:
        state = {"processes": [asdict(p) for p in self.processes], "jobs": self.jobs,
                 "saio_base": str(self.saio_base) if self.saio_base else None,
                 "pman_workdir": str(self.pman_workdir) if self.pman_workdir else None}
        tmp = self.run_dir / f".{STATE}.tmp"
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.run_dir / STATE)

    @classmethod
    def load(cls, run_dir: Path) -> "Services":
        state = json.loads((run_dir / STATE).read_text())
        return cls(run_dir, [Process(**p) for p in state["processes"]],
                   Path(state["saio_base"]) if state["saio_base"] else None,
                   Path(state["pman_workdir"]) if state["pman_workdir"] else None,
                   [tuple(j) for j in state["jobs"]])

    def start_swift(self) -> saio.Settings:
        """A private Swift all-in-one in the run directory."""
        self.saio_base = self.run_dir / "swift"
        self.save()  # before it starts: a stop must find it even if the start is interrupted
        return saio.start(self.saio_base)

    def start(self, name: str, argv: list[str], *, timeout: float = 60, env: dict | None = None) -> Process:
        """Run a console script from this venv on a socket bound here, until it answers its health check.

        :raises ServiceError: if it exits or is not healthy within ``timeout`` seconds.
        """
        exe = BIN / argv[0]
        argv = [str(exe) if exe.exists() else argv[0], *argv[1:]]
        log = self.run_dir / f"{name}.log"
        with open(log, "ab") as out:
            # Own process group (new session): stop() reaches its gunicorn workers too, and Ctrl-C in
            # the terminal reaches only us, so we stop things in order.
            proc, port = ports.popen_with_socket(
                lambda fd: [*argv, "--listen-fd", str(fd)], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, cwd=self.run_dir, env={**os.environ, **(env or {})},
                start_new_session=True)
        self._popens.append(proc)
        process = Process(name, proc.pid, localproc.start_time(proc.pid), f"http://127.0.0.1:{port}", str(log))
        self.processes.append(process)
        self.save()
        deadline = time.monotonic() + timeout
        while not _healthy(process.url):
            if proc.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {proc.returncode}" if proc.poll() is not None else "not healthy in time"
                raise ServiceError(f"{name} {state}; last lines of {log}:\n{tail(log)}")
            time.sleep(0.2)
        return process

    def submitted(self, pman_url: str, key: str) -> None:
        """Record a job before it is submitted, so an interruption at any point cancels it."""
        self.jobs.append((pman_url, key))
        self.save()

    def finished(self, pman_url: str, key: str) -> None:
        self.jobs.remove((pman_url, key))
        self.save()

    def stop_all(self, token: str | None = None) -> list[str]:
        """Cancel unfinished jobs, stop the services in reverse order, then Swift.  Safe to call twice.

        :param token: for pman's API, when the jobs went to a running pman with token auth.
        :returns: what was stopped, in words.
        """
        done = []
        cancelled = self._cancel_jobs(token)
        if cancelled:
            done.append(f"{cancelled} unfinished job(s)")
        while self.processes:
            process = self.processes.pop()
            if process.stop():
                done.append(f"{process.name} (pid {process.pid})")
            self.save()
        for proc in self._popens:
            proc.poll()  # reap our children
        if self.saio_base is not None:
            saio.stop(self.saio_base, keep=True)  # the run dir is removed (or kept) by the caller
            done.append("Swift all-in-one")
            self.saio_base = None
            self.save()
        return done

    def _cancel_jobs(self, token: str | None) -> int:
        """Delete the unfinished jobs through pman, then kill any runner left in our pman's job table."""
        from pman import client as pman_client
        cancelled = set()
        for url, key in list(self.jobs):
            try:
                pman_client.PmanClient(url, token=token, timeout=30).delete(key)
                cancelled.add(key)
            except Exception:  # noqa: BLE001 - not there, or pman is down: the table sweep follows
                pass
            self.jobs.remove((url, key))
        if self.pman_workdir is not None and (self.pman_workdir / "pman.sqlite").exists():
            store = localdb.JobStore(str(self.pman_workdir / "pman.sqlite"))
            try:
                for row in store.in_state("running"):
                    if localproc.kill_group(row.runner_pid, row.runner_start):
                        cancelled.add(row.jid)
            finally:
                store.close()
        self.save()
        return len(cancelled)


def stop_recorded(run_dir: Path) -> list[str]:
    """Stop everything recorded in ``run_dir`` (by a quickstart still running or not) and remove it.

    :returns: what was stopped, in words.
    """
    services = Services.load(run_dir)
    done = services.stop_all()
    shutil.rmtree(run_dir, ignore_errors=True)
    return done
