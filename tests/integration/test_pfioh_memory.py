"""pfioh's memory does not grow with what it transfers (issue 14's goal: the server's peak RSS at
most 150 MB on large transfers).  A tree is pushed through pfioh in Swift mode, stored as the
job's output by swiftstore (as the publisher does), then pulled, and the peak RSS of every
process of the server (the kernel's VmHWM, reset before each transfer) is summed, as
benchmarks/bench_memory.py counts it.  Two trees, as their paths through the server differ:

- one 512 MiB file of random bytes, with pfioh-client: streamed into 128 MiB segments while it
  arrives (82 MB here; about 95 MB for a 2 GiB file in the benchmark); a server that held the
  file, or a good part of it, fails;
- a DICOM-like series, 1200 files of 50-500 KiB that compress like images, with the real pfurl,
  which sends its finished zip as fast as the server takes it: each file is inflated on a thread
  to be checked and kept as it came, in bundles, several in flight at once, which is where a push
  of many files spends its memory (120 MB here; 135-148 MB for a 2 GiB tree pushed five times
  in the benchmark).  With three or six times the bundles in flight
  (``swiftstore.writer.MAX_PENDING_BYTES``) it peaks at 176-179 MB and fails."""
from __future__ import annotations

import random
from pathlib import Path

import psutil
import pytest

import swiftstore
from pfioh.client import PfiohClient
from tests.support import pfioh_driver as sup
from tests.support import trees

SIZE = 512 << 20  # four 128 MiB segments: the push uploads them while the file arrives
GOAL_MB = 150


def _one_large_file(root: Path) -> Path:
    return sup.make_tree(root, {"volume.nii": SIZE})


def _dicom_like_series(root: Path) -> Path:
    """About 330 MB: enough bundles for the push to reach its steady state of work in flight."""
    rnd = random.Random(14)
    for i in range(1200):
        size = rnd.randint(50 << 10, 500 << 10)
        path = root / f"series{i % 4}" / f"img{i:05d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(trees.image_like(size))
    return root


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


def _with_pfioh_client(url: str, key: str, src: Path, dest: Path, _cwd: Path) -> tuple:
    client = PfiohClient(url, show_progress=False)
    return (lambda: client.push(key, src)), (lambda: client.pull(key, dest))


def _with_pfurl(url: str, key: str, src: Path, dest: Path, cwd: Path) -> tuple:
    """The real pfurl zips the tree first, then sends it as fast as the server takes it: the
    push where work piles up most in the server."""
    def check(out: dict) -> None:
        assert out["stdout"]["status"] is True, out
    return (lambda: check(sup.pfurl_push(url, key, src, cwd))), (lambda: check(sup.pfurl_pull(url, key, dest, cwd)))


@pytest.mark.parametrize("make_src, client", [(_one_large_file, _with_pfioh_client), (_dicom_like_series, _with_pfurl)],
                         ids=["one-file-pfioh-client", "dicom-series-pfurl"])
def test_a_large_push_and_pull_stay_within_the_memory_goal(server_factory, tmp_path, swift, unique_container,
                                                           make_src, client):
    server = sup.start_pfioh(server_factory, tmp_path, "--swift-storage",
                             env={"SWIFT_CREDENTIALS": swift.credentials_file})
    warm = sup.make_tree(tmp_path / "warm", {"a": 1000, "b/c": 300_000})
    PfiohClient(server.url, show_progress=False).push(unique_container, warm)  # connections, token, pools first
    src = make_src(tmp_path / "src")
    (tmp_path / "cwd").mkdir()
    push, pull = client(server.url, unique_container, src, tmp_path / "pulled", tmp_path / "cwd")
    pids = _server_pids(server)

    _reset_peaks(pids)
    push()
    pushed = _peak_mb(pids)
    store = swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file))
    store.put_tree(unique_container, "output/", str(src))  # the job's output, as the publisher puts it
    _reset_peaks(pids)
    pull()
    pulled = _peak_mb(pids)

    assert sup.same_tree(src, tmp_path / "pulled")
    assert _server_pids(server) == pids  # the same processes all along: their peaks are the peaks
    assert pushed <= GOAL_MB and pulled <= GOAL_MB, f"peak RSS: push {pushed:.0f} MB, pull {pulled:.0f} MB"
