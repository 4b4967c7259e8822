"""Progress of a push or pull, phase by phase, on stderr (no dependencies).

A push is zipping, sending, then waiting while the server stores; a pull is receiving, then
unpacking.  Each phase shows what it knows: counts against totals, a rate for transfers, and
for the server's part (which answers only at the end) the elapsed time, never an invented
percentage.

On a terminal a phase redraws one line (at most ten times a second) and ends with a line of its
own; otherwise (CI logs, pipes) a phase prints a line when it starts, one every few seconds and
one when it ends, so logs show what is going on without being flooded.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, TextIO

REDRAW_SECONDS = 0.1
"""At most this often a terminal line is redrawn."""
LINE_SECONDS = 5.0
"""Without a terminal, a running phase prints a line this often."""
TICK_SECONDS = 1.0
"""How often the elapsed time of a wait is redrawn on a terminal."""


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            break
        n /= 1024
    return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"


def human_rate(n: int, seconds: float) -> str:
    return f"{human_bytes(n / max(seconds, 1e-6))}/s"


def _of(done: float, total: float | None, fmt: Callable[[float], str]) -> str:
    """``3/5`` with a percentage."""
    if total is None:
        return f"{fmt(done)} (unknown total)"
    pct = f" ({min(done / total, 1.0):.0%})" if total else ""
    return f"{fmt(done)}/{fmt(total)}{pct}"


class Display:
    """Where the lines go.

    :param enabled: False prints nothing (``--quiet``, or no terminal without ``--progress``).
    :param live: redraw one line with carriage returns; default: whether ``stream`` is a terminal.
    :param clock: seconds, monotonic (tests pass their own).
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = self.stream.isatty() if live is None else live
        self.interval = REDRAW_SECONDS if self.live else LINE_SECONDS
        self.clock = clock
        self._lock = threading.Lock()  # the wait ticker draws from its own thread
        self._drawn_at = 0.0
        self._width = 0

    def update(self, text: str, *, force: bool = False) -> None:
        """Show a running phase's state, unless the last line is too recent."""
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self._drawn_at < self.interval:
            return
        self._drawn_at = now
        with self._lock:
            if self.live:
                self.stream.write("\r" + text.ljust(self._width))
                self._width = len(text)
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def break_line(self) -> None:
        """End a half-drawn terminal line (before an error message)."""
        if self.enabled and self.live and self._width:
            with self._lock:
                self.stream.write("\n")
                self._width = 0
                self.stream.flush()

    def end(self, text: str) -> None:
        """A phase's closing line (always its own line)."""
        if not self.enabled:
            return
        with self._lock:
            self.stream.write(("\r" + text.ljust(self._width) if self.live else text) + "\n")
            self._width = 0
            self.stream.flush()


class Phase:
    """One counted phase (zipping, sending, receiving, unpacking).

    :param label: what the operation is, e.g. ``"push chris-jid-1"``.
    :param verb: the running form (``"zipping"``).
    :param total_bytes: expected bytes, None when unknown.
    :param total_files: expected files, None when files are not counted in this phase.
    :param rate: show the transfer rate.
    """

    def __init__(self, display: Display, label: str, verb: str, *, total_bytes: int | None = None,
                 total_files: int | None = None, rate: bool = False):
        self.display, self.label, self.verb = display, label, verb
        self.total_bytes, self.total_files, self.rate = total_bytes, total_files, rate
        self.bytes = self.files = 0
        self.started = display.clock()
        self.seconds = 0.0
        display.update(self.line(), force=True)  # what is about to happen, with its totals

    def add(self, nbytes: int, files: int = 0) -> None:
        self.bytes += nbytes
        self.files += files
        self.display.update(self.line())

    def line(self) -> str:
        parts = [] if self.total_files is None else [f"{self.files}/{self.total_files} files"]
        parts.append(_of(self.bytes, self.total_bytes, human_bytes))
        if self.rate and self.bytes:
            parts.append(human_rate(self.bytes, self.display.clock() - self.started))
        return f"{self.label}: {self.verb} " + ", ".join(parts)

    def finish(self, text: str) -> float:
        """Close the phase with ``label: text in N.Ns`` (and the mean rate).
        :returns: its duration in seconds."""
        self.seconds = self.display.clock() - self.started
        rate = f" ({human_rate(self.bytes, self.seconds)})" if self.rate else ""
        self.display.end(f"{self.label}: {text} in {self.seconds:.1f}s{rate}")
        return self.seconds


class Wait:
    """The server's part of a push: it answers only when done, so show what it was given and the
    time elapsed, redrawn by a thread until :meth:`finish`."""

    def __init__(self, display: Display, label: str, what: str):
        self.display, self.label, self.what = display, label, what
        self.started = display.clock()
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if display.enabled:
            display.update(self.line(), force=True)
            self._thread = threading.Thread(target=self._tick, name="pfioh-client-progress", daemon=True)
            self._thread.start()

    def line(self) -> str:
        return f"{self.label}: waiting for the server to {self.what}... {self.display.clock() - self.started:.0f}s"

    def _tick(self) -> None:
        period = TICK_SECONDS if self.display.live else LINE_SECONDS
        while not self._stop.wait(period):
            self.display.update(self.line(), force=True)

    def finish(self, text: str | None) -> float:
        """Stop the ticker; print ``label: text in N.Ns`` (nothing when ``text`` is None: the
        request failed and its error says why).  :returns: the seconds waited."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.seconds = self.display.clock() - self.started
        if text is not None:
            self.display.end(f"{self.label}: {text} in {self.seconds:.1f}s")
        return self.seconds
