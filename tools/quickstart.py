#!/usr/bin/env python3
"""The quickstart: a radiology job through pfioh, Swift and pman on this machine, end to end.

Run by ``scripts/quickstart`` (which installs everything first, step 1).  Steps 2-8:

2. start a private loopback Swift, pfioh (``--swift-storage``) and pman (local engine, Swift);
3. push a sample DICOM dataset (from the pydicom wheel) through pfioh under a new key;
4. run the DICOM preview processor through pman;
5. poll the job's status until it has finished;
6. pull the output back through pfioh into ``quickstart-results/<key>/``;
7. print where the results are and a short summary;
8. stop the services it started (also on failure or Ctrl-C).

Everything between steps goes over HTTP with the pfurl/pfcon message protocol (pfioh.client and
pman.client).  A failing step is named, with the reason, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

import qs_services  # noqa: E402  (tools/ is on the path now)
from pfioh import client as pfioh_client  # noqa: E402
from pman import client as pman_client  # noqa: E402
from processors import samples  # noqa: E402

TOTAL_STEPS = 8
PROCESSOR = ROOT / "processors" / "dicom_preview.py"


class StepFailed(Exception):
    def __init__(self, number: int, title: str, reason: str):
        super().__init__(f"step {number}/{TOTAL_STEPS} ({title}) failed: {reason}")
        self.number = number


class Steps:
    """Numbers and times the steps; turns any error inside one into :class:`StepFailed`."""

    def __init__(self):
        self.started = time.monotonic()

    def run(self, number: int, title: str, fn, *args, **kw):
        print(f"[{number}/{TOTAL_STEPS}] {title} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            result = fn(*args, **kw)
        except StepFailed:
            raise
        except KeyboardInterrupt:
            raise StepFailed(number, title, "interrupted") from None
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its step
            raise StepFailed(number, title, str(exc) or type(exc).__name__) from exc
        print(f"[{number}/{TOTAL_STEPS}] {title}: ok ({time.monotonic() - t0:.1f}s)", file=sys.stderr, flush=True)
        return result


def start_services(args, services: qs_services.Services) -> tuple[str, str]:
    """Start what was not given on the command line.  :returns: the pfioh and pman URLs."""
    creds = args.swift_credentials
    if creds is None and not (args.pfioh and args.pman):
        creds = services.start_swift().credentials_file
        print(f"    Swift all-in-one: {services.saio_base}", file=sys.stderr)
    pfioh_url, pman_url = args.pfioh, args.pman
    if not pfioh_url:
        port = qs_services.saio.free_port()
        pfioh_url = services.start("pfioh", [
            "pfioh", "--forever", "--httpResponse", "--swift-storage", "--createDirsAsNeeded",
            "--swift-credentials", str(creds), "--ip", "127.0.0.1", "--port", str(port)], port).url
        print(f"    pfioh: {pfioh_url}", file=sys.stderr)
    if not pman_url:
        port = qs_services.saio.free_port()
        pman_url = services.start("pman", pman_argv(port, str(creds), services.run_dir / "pman"), port).url
        print(f"    pman:  {pman_url}", file=sys.stderr)
    return pfioh_url, pman_url


def pman_argv(port: int, credentials: str, work: Path) -> list[str]:
    """pman with the local engine, jobs reading input from and publishing output to Swift."""
    return ["pman", "--ip", "127.0.0.1", "--port", str(port), "--engine", "local", "--swift-storage",
            "--swift-credentials", credentials, "--workdir", str(work)]


def push_dataset(pfioh: pfioh_client.PfiohClient, key: str, staging: Path) -> int:
    files = samples.build_sample_dataset(staging)
    print(f"    {len(files)} DICOM files from the pydicom wheel -> key {key}", file=sys.stderr)
    pfioh.push(key, staging)
    return len(files)


def run_job(pman: pman_client.PmanClient, key: str) -> None:
    # The local engine maps the last two tokens to the job's incoming/outgoing work dirs.
    cmd = f"{sys.executable} {PROCESSOR} /share/incoming /share/outgoing"
    pman.run(key, cmd, memory_limit="512Mi")
    print(f"    {cmd}", file=sys.stderr)


def wait_job(pman: pman_client.PmanClient, key: str, timeout: float) -> pman_client.JobState:
    state = pman.wait(key, interval=0.5, timeout=timeout, on_poll=pman_client.StatusLine())
    if not state.succeeded:
        logs = state.logs.strip() or pman.logs(key).strip() or "(no logs)"
        raise RuntimeError(f"the job ended as {', '.join(state.l_status)}; its logs:\n{logs[-3000:]}")
    return state


def pull_results(pfioh: pfioh_client.PfiohClient, key: str, dest: Path) -> list[str]:
    files = pfioh.pull(key, dest)
    if "summary.json" not in files:
        raise RuntimeError(f"the output has no summary.json (got {len(files)} files)")
    return files


def report(dest: Path, files: list[str], seconds: float) -> str:
    """The closing summary: where the results are, slices, dimensions and statistics."""
    summary = json.loads((dest / "summary.json").read_text())
    pngs = sum(1 for f in files if f.endswith(".png"))
    lines = [f"Results: {dest}",
             f"  {summary['slices']} slice(s) in {summary['series_count']} series, {pngs} PNG preview(s), "
             f"summary.json; took {seconds:.0f}s"]
    for s in summary["series"]:
        st = s["stats"]
        spacing = "x".join(f"{v:g}" for v in s["pixel_spacing"]) + " mm" if s["pixel_spacing"] else "n/a"
        lines.append(f"  s{s['index']:02d} {s['modality']:<3} {s['columns']}x{s['rows']} px, {s['slices']} slice(s), "
                     f"spacing {spacing}, min {st['min']:g} max {st['max']:g} mean {st['mean']:.1f} "
                     f"std {st['std']:.1f}  {s['series_description']}".rstrip())
    return "\n".join(lines)


def pipeline(args, services: qs_services.Services, steps: Steps) -> str:
    pfioh_url, pman_url = steps.run(2, "start Swift, pfioh and pman", start_services, args, services)
    pfioh = pfioh_client.PfiohClient(pfioh_url, token=args.pfioh_token)
    pman = pman_client.PmanClient(pman_url, token=args.pman_token)
    key = args.key or f"chris-jid-{uuid.uuid4().hex[:8]}"
    steps.run(3, f"push the sample DICOM dataset as {key}", push_dataset, pfioh, key, services.run_dir / "dataset")
    steps.run(4, "run the DICOM preview processor through pman", run_job, pman, key)
    steps.run(5, "wait for the job", wait_job, pman, key, args.timeout)
    dest = args.results / key
    files = steps.run(6, "pull the output through pfioh", pull_results, pfioh, key, dest)
    return steps.run(7, "summarise", report, dest, files, time.monotonic() - steps.started)


def keep_logs_only(run_dir: Path) -> Path | None:
    """After a failure keep the services' logs for diagnosis, nothing else (no data, no copies).

    :returns: the directory still holding logs, or None when there were none (it is removed).
    """
    for sub in ("dataset", "pman", "swift/data"):
        shutil.rmtree(run_dir / sub, ignore_errors=True)
    if not any(run_dir.rglob("*.log")):
        shutil.rmtree(run_dir, ignore_errors=True)
        return None
    return run_dir


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="quickstart", description=__doc__.split("\n\n")[0])
    p.add_argument("--swift-credentials", type=Path, help="use this Swift (credentials file) instead of a local one")
    p.add_argument("--pfioh", help="use a running pfioh at this URL instead of starting one")
    p.add_argument("--pman", help="use a running pman at this URL instead of starting one")
    p.add_argument("--pfioh-token", help="token for a running pfioh (--enableTokenAuth)")
    p.add_argument("--pman-token", help="token for a running pman (--enableTokenAuth)")
    p.add_argument("--keep-running", action="store_true", help="leave the started services running at the end")
    p.add_argument("--results", type=Path, default=Path.cwd() / "quickstart-results",
                   help="where the results go, one directory per key (default %(default)s)")
    p.add_argument("--key", help="job key (default: chris-jid-<random>)")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for the job (default %(default)s)")
    return p


def finish(args, services: qs_services.Services, steps: Steps, ok: bool) -> bool:
    """Step 8: stop what was started (unless --keep-running) and tidy the run directory."""
    if args.keep_running and services.processes:
        print("[8/8] services left running (--keep-running): "
              + ", ".join(f"{p.name} {p.url} pid {p.proc.pid}" for p in services.processes)
              + f"; state in {services.run_dir}", file=sys.stderr)
        return ok
    try:
        steps.run(8, "stop the services", services.stop_all)
    except StepFailed as exc:
        print(f"quickstart: {exc}", file=sys.stderr)
        ok = False
    if ok:
        shutil.rmtree(services.run_dir, ignore_errors=True)
    elif kept := keep_logs_only(services.run_dir):
        print(f"quickstart: service logs kept in {kept}", file=sys.stderr)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if bool(args.pfioh) != bool(args.pman) and not args.swift_credentials:
        # The service we start must use the same Swift as the running one it talks to.
        parser.error("--pfioh or --pman alone needs --swift-credentials: the Swift the running service uses")
    if args.swift_credentials and not args.swift_credentials.is_file():
        parser.error(f"--swift-credentials: no such file: {args.swift_credentials}")
    # SIGTERM (and SIGHUP) take the same way out as Ctrl-C, so the services are always stopped.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    services = qs_services.Services(Path(tempfile.mkdtemp(prefix="chris-quickstart-")))
    steps, ok = Steps(), False
    try:
        print(pipeline(args, services, steps))
        ok = True
    except StepFailed as exc:
        print(f"quickstart: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("quickstart: interrupted", file=sys.stderr)
    finally:
        ok = finish(args, services, steps, ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
