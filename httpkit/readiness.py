"""``GET /api/v1/ready``: whether the service's dependencies work, for readiness probes.

Health (``/api/v1/health``) stays shallow, for liveness: the process answers.  Readiness runs the
service's checks (pfioh: its store; pman: its engine), each a callable returning ``None`` when
fine or a short phrase saying what is wrong.  The result is cached for ``interval`` seconds, and
while one request runs the checks, others get the previous result instead of waiting, so probes
stay cheap however often they come.  No auth, like health: it reveals only which dependency fails.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import flask

Check = Callable[[], "str | None"]
"""Returns None when the dependency works, else what is wrong (no secrets in it)."""
DEFAULT_INTERVAL = 10.0
MAX_PROBLEM_CHARS = 300

log = logging.getLogger("httpkit.readiness")


class Readiness:
    """Named checks, run at most every ``interval`` seconds."""

    def __init__(self, checks: dict[str, Check], *, interval: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.checks, self.interval, self.clock = checks, interval, clock
        self._lock = threading.Lock()
        self._result: dict[str, str] | None = None  # dependency -> problem (empty: ready)
        self._when = 0.0

    def problems(self) -> dict[str, str]:
        """The failing dependencies and why (empty when ready), fresh or at most ``interval`` old."""
        now = self.clock()
        fresh = self._result is not None and now - self._when < self.interval
        if fresh:
            return self._result
        # One request refreshes; the others answer with the previous result meanwhile.
        if not self._lock.acquire(blocking=self._result is None):
            return self._result
        try:
            if self._result is None or self.clock() - self._when >= self.interval:
                self._result = self._run()
                self._when = self.clock()
            return self._result
        finally:
            self._lock.release()

    def _run(self) -> dict[str, str]:
        found = {}
        for name, check in self.checks.items():
            try:
                problem = check()
            except Exception as e:  # a check that raises has failed, saying how
                problem = f"{e.__class__.__name__}: {e}"
            if problem:
                found[name] = str(problem)[:MAX_PROBLEM_CHARS]
        if found:
            log.warning("not ready: %s", "; ".join(f"{k}: {v}" for k, v in found.items()))
        return found


def register(app: flask.Flask, service: str, readiness: Readiness, endpoint: str = "ready") -> None:
    """Add ``GET /api/v1/ready``: 200 ``{"status": "ready"}`` or 503 naming each failing dependency."""
    @app.get("/api/v1/ready", endpoint=endpoint)
    def ready():
        problems = readiness.problems()
        if not problems:
            return flask.jsonify({"status": "ready", "service": service, "checks": sorted(readiness.checks)})
        failing = ", ".join(sorted(problems))
        response = flask.jsonify({"status": "not ready", "service": service, "failing": problems,
                                  "error": f"not ready: {failing} failing"})
        response.status_code = 503
        return response
