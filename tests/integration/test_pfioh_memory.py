"""pfioh's memory does not grow with what it transfers (issue 14's goal: the server's peak RSS at
most 150 MB on large transfers).  A 512 MiB file goes through pfioh in Swift mode, pushed with
pfioh-client, then (stored as a job's output by swiftstore, as the publisher does) pulled with
it, and the peak RSS of every process of the server (the kernel's VmHWM,
reset before each transfer) is summed, as benchmarks/bench_memory.py counts it (about 100 MB
for a 2 GiB push there).  A server that held the file, or a good part of it, fails."""
from __future__ import annotations

import filecmp
from pathlib import Path

import psutil

import swiftstore
from pfioh.client import PfiohClient
from tests.support import pfioh_driver as sup

SIZE = 512 << 20  # four 128 MiB segments: the push uploads them while the file arrives
GOAL_MB = 150


def _server_pids(server) -> list[int]:
    master = psutil.Process(server.proc.pid)
    return [master.pid, *(p.pid for p in master.children(recursive=True))]


def _reset_peaks(pids: list[int]) -> None:
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: VmHWM starts again from VmRSS


def _peak_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        total_kb += int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
    return total_kb / 1024


def test_a_large_push_and_pull_stay_within_the_memory_goal(server_factory, tmp_path, swift, unique_container):
    server = sup.start_pfioh(server_factory, tmp_path, "--swift-storage",
                             env={"SWIFT_CREDENTIALS": swift.credentials_file})
    client = PfiohClient(server.url, show_progress=False)
    warm = sup.make_tree(tmp_path / "warm", {"a": 1000, "b/c": 300_000})
    client.push(unique_container, warm)  # connections, token and thread pools in place first
    src = sup.make_tree(tmp_path / "src", {"volume.nii": SIZE})
    pids = _server_pids(server)

    _reset_peaks(pids)
    client.push(unique_container, src)
    pushed = _peak_mb(pids)
    store = swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file))
    store.put_tree(unique_container, "output/", str(src))  # the job's output, as the publisher puts it
    _reset_peaks(pids)
    client.pull(unique_container, tmp_path / "pulled")
    pulled = _peak_mb(pids)

    assert filecmp.cmp(src / "volume.nii", tmp_path / "pulled" / "volume.nii", shallow=False)
    assert _server_pids(server) == pids  # the same processes all along: their peaks are the peaks
    assert pushed <= GOAL_MB and pulled <= GOAL_MB, f"peak RSS: push {pushed:.0f} MB, pull {pulled:.0f} MB"
