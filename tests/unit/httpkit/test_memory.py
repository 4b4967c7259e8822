"""httpkit.memory: freed memory goes back to the system when the last transfer ends."""
import threading

from httpkit import memory


class Trims:
    """A trim that counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1


def test_trims_when_the_last_transfer_ends_not_before():
    trims = Trims()
    gauge = memory.TransferGauge(trims)
    gauge.started()
    gauge.started()
    gauge.finished()
    assert (gauge.running, trims.calls) == (1, 0)  # another one still runs
    gauge.finished()
    assert (gauge.running, trims.calls) == (0, 1)


def test_concurrent_transfers_are_counted_exactly():
    trims = Trims()
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
