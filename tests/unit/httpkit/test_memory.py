"""httpkit.memory: freed memory goes back to the system when the last transfer ends; few arenas."""
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from httpkit import memory
from tests.support.calls import Calls


def test_trims_when_the_last_transfer_ends_not_before():
    trims = Calls()
    gauge = memory.TransferGauge(trims)
    gauge.started()
    gauge.started()
    gauge.finished()
    assert (gauge.running, trims.calls) == (1, 0)  # another one still runs
    gauge.finished()
    assert (gauge.running, trims.calls) == (0, 1)


def test_concurrent_transfers_are_counted_exactly():
    trims = Calls()
    gauge = memory.TransferGauge(trims)
    barrier = threading.Barrier(8)

    def transfer():
        for i in range(200):
            gauge.started()
            if i == 0:
                barrier.wait()  # all eight overlap at least once
            gauge.finished()
    threads = [threading.Thread(target=transfer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gauge.running == 0 and trims.calls >= 1


def test_glibc_trim_is_found_and_runs_here():
    """This machine's C library is glibc: the default gauge really trims (without it, a no-op)."""
    trim = memory._glibc_trim()
    assert trim is not None
    trim()


# Four threads each allocate a block glibc serves from its arena (above obmalloc's 512 bytes,
# below the mmap threshold), all alive at once, then count the arenas glibc made for them: each
# is a heap mapped at a 64 MiB-aligned address (HEAP_MAX_SIZE on 64-bit), its used part
# read-write and the rest of the 64 MiB reserved without access.
ARENAS = r"""
import json, sys, threading
from httpkit import memory
limited = memory.limit_arenas() if sys.argv[1] == "limit" else None  # the default cap pfioh sets
barrier = threading.Barrier(5)
def work():
    block = bytearray(64 << 10)  # noqa: F841 (held until the count is done)
    barrier.wait()
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
barrier.wait()
with open("/proc/self/maps") as maps:
    regions = [(*(int(a, 16) for a in line.split()[0].split("-")), line.split()[1]) for line in maps]
heaps = sum(1 for (start, end, perms), (_, reserve_end, reserve_perms) in zip(regions, regions[1:])
            if start % (64 << 20) == 0 and perms == "rw-p" and reserve_perms == "---p"
            and reserve_end == start + (64 << 20))
barrier.wait()
print(json.dumps([limited, heaps]))
"""


def _arenas(mode: str, **env) -> list:
    root = Path(__file__).resolve().parents[3]
    inherited = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    proc = subprocess.run([sys.executable, "-c", ARENAS, mode], capture_output=True, text=True, timeout=60,
                          env={**inherited, "PYTHONPATH": str(root), **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_limit_arenas_stops_threads_from_making_arenas_of_their_own():
    unlimited, limited = _arenas("free"), _arenas("limit")
    assert unlimited == [None, 4]  # each thread got an arena of its own (glibc's default: 8 per core)
    assert limited == [True, 0]  # all of them share the main one


def test_limit_arenas_leaves_the_operators_setting_alone():
    assert _arenas("limit", MALLOC_ARENA_MAX="3")[0] is False
