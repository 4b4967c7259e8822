"""Keep the C allocator's memory down: fewer arenas, and free memory given back when a worker's
last transfer ends.

A transfer allocates and frees large blocks (1-8 MiB reads, zip and bundle buffers) on several
threads, and glibc keeps what was freed in the arena of the thread that used it: after one 2 GiB
push and pull, a pfioh worker idled with about 35 MB more RSS than before, in ten such arenas.
``malloc_trim(0)`` hands every arena's free pages back.  It runs only once no transfer is left
(trimming while others run would only make them grow the arenas again) and costs a walk over
the arenas: a few milliseconds here after 8 threads freed 120 MB in 200 KB blocks, far less than
any transfer.  Without glibc (musl has no ``malloc_trim``) it does nothing.

What trim cannot reach is each arena's top (glibc shrinks it only on a free, above a threshold
that grows to ~2 MiB after big blocks), nor the holes between blocks still in use, so
:func:`limit_arenas` also caps the arenas at one instead of glibc's eight per core: Python
allocates under the GIL, so the threads gain nothing from arenas of their own.  Two arenas (the
first cap) left the idle worker 17 MB lower after a 2 GiB push and pull than eight did; but each
push of many small files peaked higher than the one before, as the files' buffers, freed by
one thread and needed by another, fragmented both: a 2 GiB DICOM-like tree pushed five times
peaked at 127, then 154-169 MB, over issue 14's 150 MB.  With one arena: 135, then 143-148 MB,
at the same speed (6.3-7.2 s a push against 6.5-7.0 s; benchmarks/README.md, "memory").
"""
from __future__ import annotations

import os
import threading
from typing import Callable

Trim = Callable[[], None]
M_ARENA_MAX = -8  # glibc's malloc.h
DEFAULT_ARENAS = 1


def limit_arenas(count: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas for the threads this process starts from now on.

    Call it before the threads exist.  An operator's ``MALLOC_ARENA_MAX`` (applied by glibc at
    start) is left alone.  :returns: whether the cap was set (False without glibc).
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    import ctypes  # only here: a library that may run on another C library
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_ARENA_MAX, count) == 1


def _glibc_trim() -> Trim | None:
    import ctypes  # here, not at import: a worker that never transfers need not load it
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library the interpreter already uses
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


class TransferGauge:
    """Counts the transfers in progress; when the last one ends, releases the free memory.

    :param trim: what releases it (default: glibc's ``malloc_trim``, looked up on first use).
    """

    def __init__(self, trim: Trim | None = None):
        self._trim, self._looked_up = trim, trim is not None
        self._running = 0
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        return self._running

    def started(self) -> None:
        with self._lock:
            self._running += 1

    def finished(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running:
                return
            if not self._looked_up:
                self._trim, self._looked_up = _glibc_trim(), True
            trim = self._trim
        if trim:
            trim()
