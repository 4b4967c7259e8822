"""Container logs read only when they can have changed, and bounded at the API server.

- A **terminated** container's log cannot change: it is read once and kept (keyed by pod uid and
  container) until the cache's byte budget pushes it out.
- A **running** container's log is read again only after ``log_refresh_seconds``; in between,
  every status of the job shows the same text.
- Every read asks for ``tailLines`` **and** ``limitBytes``, so a chatty processor cannot make the
  API server and kubelet send megabytes to pman.  ``limitBytes`` cuts from the start of the
  ``tailLines`` window, not its end: when the answer is cut, pman asks again for as many lines
  as its average line length says fit in the tail it keeps.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, NamedTuple

CACHE_BYTES = 32 << 20
"""The most bytes of log text kept in all (least recently used out first)."""
LIMIT_FACTOR = 4
"""``limitBytes`` of a read: this many times the tail pman keeps."""


class Entry(NamedTuple):
    text: str
    final: bool
    """Read after the container terminated: it cannot change."""
    read_at: float


class LogCache:
    def __init__(self, refresh_seconds: float, clock: Callable[[], float], max_bytes: int = CACHE_BYTES):
        self.refresh_seconds, self.clock, self.max_bytes = refresh_seconds, clock, max_bytes
        self.reads = self.hits = 0
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str], terminated: bool) -> str | None:
        """The cached log if it is still good: final, or fresh enough for a running container."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (terminated and not entry.final):
                return None  # a log read while it ran misses its end
            if not entry.final and self.clock() - entry.read_at >= self.refresh_seconds:
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry.text

    def put(self, key: tuple[str, str], text: str, terminated: bool) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.text)
            self._entries[key] = Entry(text, terminated, self.clock())
            self._bytes += len(text)
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                _key, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped.text)

    def forget_pod(self, pod_uid: str) -> None:
        """Drop a deleted pod's logs."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == pod_uid]:
                self._bytes -= len(self._entries.pop(key).text)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def read_tail(read: Callable[[int, int], str], tail_lines: int, tail_bytes: int) -> str:
    """The last ``tail_bytes`` of a log, read with ``read(tail_lines, limit_bytes)``.

    When the server cut the answer at ``limit_bytes`` (the head of the window), ask once more for
    the number of lines that should fit, from the average line length seen.
    """
    limit = max(tail_bytes * LIMIT_FACTOR, 4096)
    text = read(tail_lines, limit)
    if len(text.encode("utf-8", errors="replace")) >= limit:
        lines = max(1, text.count("\n"))
        fit = max(1, min(tail_lines - 1, int(tail_bytes / (limit / lines) * 2)))
        text = read(fit, limit)
    return text[-tail_bytes:] if len(text) > tail_bytes else text
