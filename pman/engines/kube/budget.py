"""An overall deadline for one status request, and the per-call timeouts that fit in it.

A status used to make 3 to 6 API calls in a row with 30 s each, so a slow API server could hold a
request thread for minutes.  Now each call gets ``min(30 s, what is left)``, and once nothing is
left the request answers 503 with a message that says so.  The deadline covers ``info`` and the
``logs`` that follow it in the same request (see :class:`Deadlines`).
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from pman.engines import base

MIN_CALL = 0.05
"""Seconds below which a call is not worth starting."""


class Deadline:
    def __init__(self, jid: str, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.jid, self.seconds, self.clock = jid, seconds, clock
        self.expires = clock() + seconds

    def remaining(self) -> float:
        return self.expires - self.clock()

    def timeout(self, per_call: float) -> float:
        """The timeout of the next call.  :raises base.EngineError: 503, the deadline has passed."""
        left = self.remaining()
        if left < MIN_CALL:
            raise self.error()
        return min(per_call, left)

    def error(self, detail: str = "") -> base.EngineError:
        more = f": {detail}" if detail else ""
        return base.EngineError(f"the status of job {self.jid!r} took longer than its {self.seconds:g} s deadline "
                                f"(the Kubernetes API is slow or unreachable){more}", 503)


class Deadlines:
    """The deadline of the request a thread is serving, handed from ``info(jid)`` to ``logs(jid)``.

    Both APIs answer a status with ``info`` then ``logs`` of the same jid; ``info`` starts a
    deadline, ``logs`` takes it over (and ends it).  ``logs`` alone starts its own.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds, self.clock = seconds, clock
        self._local = threading.local()

    def start(self, jid: str) -> Deadline:
        self._local.current = deadline = Deadline(jid, self.seconds, self.clock)
        return deadline

    def take(self, jid: str) -> Deadline:
        current = getattr(self._local, "current", None)
        self._local.current = None
        return current if current is not None and current.jid == jid else Deadline(jid, self.seconds, self.clock)
