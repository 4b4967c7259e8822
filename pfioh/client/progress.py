"""A dependency-free progress bar for transfers, drawn on stderr.

On a terminal it redraws one line (at most ten times a second); otherwise (CI logs, pipes) it stays
quiet until the end and then prints a single summary line, so logs are not flooded.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 28


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - the loop always returns


class Progress:
    """Counts bytes of one transfer and draws them.

    :param label: what is moving, e.g. ``"push chris-jid-1"``.
    :param total: expected bytes, or None when unknown (no percentage then).
    :param enabled: False draws nothing at all (``--quiet``).
    """

    def __init__(self, label: str, total: int | None, *, stream: TextIO | None = None,
                 enabled: bool = True):
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and self.stream.isatty()
        self.started = time.monotonic()
        self._drawn = 0.0

    def __call__(self, n: int) -> None:
        self.update(n)

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.live and now - self._drawn >= 0.1:
            self._drawn = now
            self.stream.write("\r" + self.line() + " ")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = f"{human_bytes(self.done / elapsed)}/s"
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * WIDTH) + "." * (WIDTH - int(frac * WIDTH))
            return f"{self.label} [{bar}] {frac:4.0%} {human_bytes(self.done)}/{human_bytes(self.total)} {rate}"
        return f"{self.label} {human_bytes(self.done)} {rate}"

    def close(self) -> None:
        if not self.enabled:
            return
        self.stream.write(("\r" if self.live else "") + self.line()
                          + f" in {time.monotonic() - self.started:.1f}s\n")
        self.stream.flush()
