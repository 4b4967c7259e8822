"""Start and stop the quickstart's services: the loopback Swift, pfioh and pman.

Each service runs as its own process group on a free loopback port, logging to a file in the run
directory, and counts as up once ``GET /api/v1/health`` answers.  ``Services.stop_all`` stops what
was started, in reverse order, and is safe to call twice.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import saio

BIN = Path(sys.executable).parent


class ServiceError(Exception):
    """A service did not come up; the message includes the end of its log."""


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Process:
    name: str
    proc: subprocess.Popen
    url: str
    log: Path

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _healthy(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/api/v1/health", timeout=2).close()
        return True
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Services:
    """What the quickstart started (and must stop)."""

    run_dir: Path
    processes: list[Process] = field(default_factory=list)
    saio_base: Path | None = None

    def start_swift(self) -> saio.Settings:
        """A private Swift all-in-one in the run directory, on free ports."""
        self.saio_base = self.run_dir / "swift"
        return saio.start(self.saio_base, saio.free_port_block())

    def start(self, name: str, argv: list[str], port: int, *, timeout: float = 60,
              env: dict | None = None) -> Process:
        """Run a console script from this venv until it answers its health check.

        :raises ServiceError: if it exits or is not healthy within ``timeout`` seconds.
        """
        exe = BIN / argv[0]
        argv = [str(exe) if exe.exists() else argv[0], *argv[1:]]
        log = self.run_dir / f"{name}.log"
        with open(log, "ab") as out:
            # Own process group: stop() reaches gunicorn workers and job processes too.
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.run_dir, env={**os.environ, **(env or {})},
                                    start_new_session=True)
        process = Process(name, proc, f"http://127.0.0.1:{port}", log)
        self.processes.append(process)
        deadline = time.monotonic() + timeout
        while not _healthy(process.url):
            if proc.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {proc.returncode}" if proc.poll() is not None else "not healthy in time"
                raise ServiceError(f"{name} {state}; last lines of {log}:\n{tail(log)}")
            time.sleep(0.2)
        return process

    def stop_all(self) -> None:
        while self.processes:
            self.processes.pop().stop()
        if self.saio_base is not None:
            saio.stop(self.saio_base, keep=True)  # the run dir is removed (or kept) by the caller
            self.saio_base = None
