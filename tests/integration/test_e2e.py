"""The quickstart pipeline end to end against the real loopback Swift: pfioh (--swift-storage) and
pman (local engine, Swift) as real processes, driven over HTTP by our clients and by the real pfurl.

- happy path: the DICOM preview processor's output is verified, and the input objects and manifest
  are in Swift;
- a processor that exits non-zero: finishedWithError, logs through pman, partial output still pulled;
- a pfcon-2-style sequence with the real pfurl CLI: push, run (payload wrapper), poll until every
  l_status item contains "finished", pull.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest

from pfioh import client as pfioh_client
from pman import client as pman_client
from processors import samples
from tools import ports, quickstart

ROOT = Path(__file__).resolve().parents[2]
PFURL = str(Path(sys.executable).parent / "pfurl")
PROCESSOR = ROOT / "processors" / "dicom_preview.py"
TRANSPORT = {"mechanism": "compress", "compress": {"archive": "zip", "unpack": True, "cleanup": True}}
FAILING = """\
import pathlib, sys
out = pathlib.Path(sys.argv[-1])
out.mkdir(parents=True, exist_ok=True)
(out / "partial.txt").write_text("written before the failure\\n")
print("processing slice 1 of 2", flush=True)
print("boom: slice 2 is corrupt", file=sys.stderr, flush=True)
sys.exit(3)
"""


@dataclass
class Stack:
    pfioh: str
    pman: str


@pytest.fixture
def stack(swift, server_factory, tmp_path) -> Stack:
    run = tmp_path / "run"
    run.mkdir()
    pfioh = server_factory(["pfioh", "--forever", "--httpResponse", "--swift-storage", "--createDirsAsNeeded",
                            "--swift-credentials", swift.credentials_file,
                            # its own staging area: pfioh sweeps it on start, so a shared default
                            # (/tmp/.pfioh-staging) loses the uploads of any other pfioh running
                            "--storeBase", str(run / "pfioh")], cwd=str(run))
    pman = server_factory(quickstart.pman_argv(swift.credentials_file, run / "pman"), cwd=str(run))
    return Stack(pfioh.url, pman.url)


def _frames(src: Path) -> int:
    """The slice count, computed from the input independently of the processor."""
    return sum(int(pydicom.dcmread(p, stop_before_pixels=True).get("NumberOfFrames", 1) or 1)
               for p in src.rglob("*.dcm"))


def _object_names(conn, container: str) -> set[str]:
    return {o["name"] for o in conn.get_container(container, full_listing=True)[1]}


def test_happy_path_dicom_previews_through_swift(stack, unique_container, swift_connection, tmp_path):
    key = unique_container
    dataset = tmp_path / "dataset"
    pushed = samples.build_sample_dataset(dataset)
    pfioh = pfioh_client.PfiohClient(stack.pfioh, show_progress=False)
    pman = pman_client.PmanClient(stack.pman)
    assert pfioh.push(key, dataset)["status"] is True
    manifest = json.loads(swift_connection.get_object(key, "input.manifest.json")[1])
    assert {e["name"] for e in manifest["entries"]} == {p.as_posix() for p in pushed}
    assert set(manifest["objects"]) <= _object_names(swift_connection, key)

    pman.run(key, f"{sys.executable} {PROCESSOR} /share/incoming /share/outgoing")
    state = pman.wait(key, interval=0.5, timeout=240)
    assert state.succeeded, state.logs

    files = pfioh.pull(key, tmp_path / "results")
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    pngs = [f for f in files if f.endswith(".png")]
    assert len(pngs) == summary["slices"] == _frames(dataset)
    assert summary["series_count"] == 3
    assert {s["modality"] for s in summary["series"]} == {"CT", "MR"}
    for series in summary["series"]:
        assert series["rows"] > 0 and series["columns"] > 0 and series["pixel_spacing"]
        assert series["stats"]["min"] <= series["stats"]["mean"] <= series["stats"]["max"]
    assert "output.manifest.json" in _object_names(swift_connection, key)


def test_failing_processor_reports_error_logs_and_partial_output(stack, unique_container, tmp_path):
    key = unique_container
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    pfioh = pfioh_client.PfiohClient(stack.pfioh, show_progress=False)
    pman = pman_client.PmanClient(stack.pman)
    samples.build_sample_dataset(tmp_path / "dataset")
    pfioh.push(key, tmp_path / "dataset")
    pman.run(key, f"{sys.executable} {script} /share/incoming /share/outgoing")
    state = pman.wait(key, interval=0.5, timeout=240)
    assert state.finished and "finishedWithError" in state.l_status
    logs = pman.logs(key)
    assert "boom: slice 2 is corrupt" in logs
    files = pfioh.pull(key, tmp_path / "results")
    assert "partial.txt" in files
    assert (tmp_path / "results" / "partial.txt").read_text() == "written before the failure\n"


def _pfurl(url: str, msg: dict, cwd: Path, wrapper: str | None = None) -> dict:
    host = url.split("//", 1)[1]
    argv = [PFURL, "--verb", "POST", "--raw", "--quiet", "--http", f"{host}/api/v1/cmd", "--msg", json.dumps(msg)]
    if wrapper:
        argv += ["--jsonwrapper", wrapper]
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def test_pfcon2_sequence_with_the_real_pfurl(stack, unique_container, tmp_path):
    key, cwd = unique_container, tmp_path / "cwd"
    cwd.mkdir()
    dataset = tmp_path / "dataset"
    samples.build_sample_dataset(dataset)
    push = _pfurl(stack.pfioh, {"action": "pushPath", "meta": {
        "remote": {"key": key}, "local": {"path": str(dataset)}, "transport": TRANSPORT}}, cwd)
    assert push["stdout"]["status"] is True

    run_meta = {"cmd": f"{sys.executable} {PROCESSOR} /share/incoming /share/outgoing", "auid": "chris",
                "jid": key, "threaded": True, "number_of_workers": "1", "cpu_limit": "1000m",
                "memory_limit": "200Mi", "gpu_limit": 0,
                "container": {"target": {"image": "local", "cmdParse": False}}}
    assert _pfurl(stack.pman, {"action": "run", "meta": run_meta}, cwd, "payload")["status"] is True

    deadline = time.monotonic() + 240
    while True:
        reply = _pfurl(stack.pman, {"action": "status", "meta": {"key": "jid", "value": key}}, cwd, "payload")
        l_status = reply["d_ret"]["l_status"]
        if l_status and all("finished" in s for s in l_status):
            break
        assert time.monotonic() < deadline, f"job still {l_status}"
        time.sleep(1)
    assert l_status == ["finishedSuccessfully"]

    dest = tmp_path / "pulled"
    pull = _pfurl(stack.pfioh, {"action": "pullPath", "meta": {
        "remote": {"key": key}, "local": {"path": str(dest), "createDir": True}, "transport": TRANSPORT}}, cwd)
    assert pull["stdout"]["status"] is True
    summary = json.loads((dest / "summary.json").read_text())
    assert len(list(dest.rglob("*.png"))) == summary["slices"] == _frames(dataset)
    assert [p.name for p in cwd.iterdir() if p.suffix == ".zip"] == []  # pfurl cleaned up its zips


def _quickstart(args: list[str]) -> subprocess.CompletedProcess:
    """``python -m tools.quickstart`` from the repository root, as scripts/quickstart runs it."""
    return subprocess.run([sys.executable, "-m", "tools.quickstart", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def test_quickstart_runs_the_whole_pipeline(swift, swift_connection, tmp_path):
    """The main job (steps 2-8) on the test session's Swift: results, summary, services stopped."""
    results = tmp_path / "results"
    proc = _quickstart(["--swift-credentials", swift.credentials_file, "--results", str(results)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    (key_dir,) = results.iterdir()
    summary = json.loads((key_dir / "summary.json").read_text())
    assert f"Results: {key_dir}" in proc.stdout and f"{summary['slices']} slice(s) in 3 series" in proc.stdout
    assert len(list(key_dir.rglob("*.png"))) == summary["slices"]
    assert "[2/8] start pfioh and pman: ok" in proc.stderr and "Swift all-in-one:" not in proc.stderr
    assert "[8/8] stop what this run started: ok" in proc.stderr
    assert "stopped: pman (pid" in proc.stderr and "pfioh (pid" in proc.stderr
    try:
        assert "input.manifest.json" in _object_names(swift_connection, key_dir.name)
    finally:  # the key is the container: remove it from the shared Swift
        for name in _object_names(swift_connection, key_dir.name):
            swift_connection.delete_object(key_dir.name, name)
        swift_connection.delete_container(key_dir.name)


def test_quickstart_names_the_failing_step(tmp_path):
    with ports.dead_port() as port:  # refuses connections, and nothing can start listening there
        dead = f"http://127.0.0.1:{port}"
        proc = _quickstart(["--pfioh", dead, "--pman", dead, "--results", str(tmp_path / "r")])
    assert proc.returncode == 1
    assert "step 3/8 (push the sample DICOM dataset as chris-jid-" in proc.stderr
    assert "cannot connect to pfioh" in proc.stderr
    assert not (tmp_path / "r").exists()
    assert "logs kept" not in proc.stderr  # nothing was started: no run directory is left behind
    # Honest about services it was given: it neither started nor stopped them.
    assert "[2/8] use the given services (nothing to start) ..." in proc.stderr
    assert f"pfioh: {dead} (given: used, not started or stopped here)" in proc.stderr
    assert "[8/8] nothing to stop: this run started no service" in proc.stderr
    assert "start Swift" not in proc.stderr and "stop what this run started" not in proc.stderr


def _cli(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).parent / name)
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_console_clients_against_real_servers_in_mount_mode(server_factory, tmp_path):
    """pfioh-client and pman-client as users run them, against real pfioh and pman processes
    sharing a mount-mode store (pfcon's op=plugin incoming/outgoing split)."""
    store, work = tmp_path / "store", tmp_path / "work"
    store.mkdir()
    pfioh = server_factory(["pfioh", "--forever", "--createDirsAsNeeded", "--storeBase", str(store)])
    pman = server_factory(["pman", "--engine", "local",  # (as root: a job user, if it can run this Python)
                           "--storeBase", str(store), "--workdir", str(work), *quickstart.job_user_flags()])
    dataset = tmp_path / "dataset"
    samples.build_sample_dataset(dataset)
    f = ["--pfioh", pfioh.url, "--plugin"]
    assert json.loads(_cli("pfioh-client", *f, "hello", cwd=tmp_path).stdout)["name"] == "pfioh"
    push = _cli("pfioh-client", *f, "push", "jid-m1", str(dataset), cwd=tmp_path)
    assert push.returncode == 0, push.stderr
    assert "pfioh-client: pushed " in push.stderr and "zipping" not in push.stderr  # no terminal: the summary only
    run = _cli("pman-client", "--pman", pman.url, "run", "--wait", "jid-m1", "--", sys.executable,
               str(PROCESSOR), "/share/incoming", "/share/outgoing", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1].startswith("jid-m1: finishedSuccessfully")
    logs = _cli("pman-client", "--pman", pman.url, "logs", "jid-m1", cwd=tmp_path).stdout
    assert "done:" in logs and "slice(s)" in logs
    pull = _cli("pfioh-client", *f, "pull", "jid-m1", str(tmp_path / "out"), cwd=tmp_path)
    assert pull.returncode == 0, pull.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert len(list((tmp_path / "out").rglob("*.png"))) == summary["slices"] == _frames(dataset)
    status = _cli("pman-client", "--pman", pman.url, "status", "jid-nope", cwd=tmp_path)
    assert status.returncode == 1 and "pman-client: error: status" in status.stderr  # 404: a failure
