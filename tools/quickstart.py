#!/usr/bin/env python3
"""The quickstart: a radiology job through pfioh, Swift and pman on this machine, end to end.

Run by ``scripts/quickstart`` (which checks the arguments with tools/qs_args.py, then installs
everything, step 1).  Steps 2-8:

2. start a private loopback Swift, pfioh (``--swift-storage``) and pman (local engine, Swift),
   each unless given (``--swift-credentials``, ``--pfioh``, ``--pman``);
3. push a sample DICOM dataset (from the pydicom wheel) through pfioh under a new key;
4. run the DICOM preview processor through pman;
5. poll the job's status until it has finished;
6. pull the output back through pfioh into ``quickstart-results/<key>/``;
7. print where the results are and a short summary;
8. stop what it started, the job included if it has not finished (also on failure, Ctrl-C or
   SIGTERM); with ``--keep-running``, print the one command that stops it all later
   (``quickstart --stop RUN_DIR``).

Everything between steps goes over HTTP with the pfurl/pfcon message protocol (pfioh.client and
pman.client).  A failing step is named, with the reason, and the exit status is 1.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

from pfioh import client as pfioh_client
from pman import client as pman_client
from processors import samples
from tools import qs_args, qs_services

ROOT = Path(__file__).resolve().parent.parent

TOTAL_STEPS = 8
PROCESSOR = ROOT / "processors" / "dicom_preview.py"


class StepFailed(Exception):
    def __init__(self, number: int, title: str, reason: str, interrupted: bool = False):
        super().__init__(f"step {number}/{TOTAL_STEPS} ({title}) failed: {reason}")
        self.number = number
        self.interrupted = interrupted


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
            raise StepFailed(number, title, "interrupted", interrupted=True) from None
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its step
            raise StepFailed(number, title, str(exc) or type(exc).__name__) from exc
        print(f"[{number}/{TOTAL_STEPS}] {title}: ok ({time.monotonic() - t0:.1f}s)", file=sys.stderr, flush=True)
        return result


def plan(args) -> list[str]:
    """What this run starts: "Swift", "pfioh", "pman" (those not given on the command line)."""
    names = [] if args.swift_credentials or (args.pfioh and args.pman) else ["Swift"]
    return names + [name for name in ("pfioh", "pman") if not getattr(args, name)]


def start_services(args, services: qs_services.Services) -> tuple[str, str]:
    """Start what was not given on the command line.  :returns: the pfioh and pman URLs."""
    creds = args.swift_credentials
    if "Swift" in plan(args):
        creds = services.start_swift().credentials_file
        print(f"    Swift all-in-one: {services.saio_base}", file=sys.stderr)
    pfioh_url, pman_url = args.pfioh, args.pman
    if pfioh_url:
        print(f"    pfioh: {pfioh_url} (given: used, not started or stopped here)", file=sys.stderr)
    else:
        pfioh_url = services.start("pfioh", [
            "pfioh", "--forever", "--httpResponse", "--swift-storage", "--createDirsAsNeeded",
            "--swift-credentials", str(creds),
            # Its own staging area: pfioh sweeps it on start, so the shared default
            # (/tmp/.pfioh-staging) would lose the uploads of any other pfioh running meanwhile.
            "--storeBase", str(services.run_dir / "pfioh")]).url
        print(f"    pfioh: {pfioh_url}", file=sys.stderr)
    if pman_url:
        print(f"    pman:  {pman_url} (given: used, not started or stopped here)", file=sys.stderr)
    else:
        services.pman_workdir = services.run_dir / "pman"
        pman_url = services.start("pman", pman_argv(str(creds), services.pman_workdir)).url
        print(f"    pman:  {pman_url}", file=sys.stderr)
    return pfioh_url, pman_url


def pman_argv(credentials: str, work: Path) -> list[str]:
    """pman with the local engine, jobs reading input from and publishing output to Swift
    (the launcher adds the socket it listens on)."""
    return ["pman", "--engine", "local", "--swift-storage", "--swift-credentials", credentials,
            "--workdir", str(work), *job_user_flags()]


def job_user_flags() -> list[str]:
    """A root pman runs jobs as ``nobody``.  When nobody cannot run this Python or read the processor
    (either lies under a private directory such as /root), the quickstart's job runs as root
    instead (``--local-job-user self``), and says so."""
    if os.geteuid() != 0:
        return []
    from pman.engines.local import privileges, settings
    try:
        user = privileges.resolve_user(settings.DEFAULT_JOB_USER)
    except ValueError:
        return []  # pman refuses to start, naming the problem
    if privileges.can_run(user, sys.executable, str(PROCESSOR)):
        return []
    print(f"    note: the job runs as root (pman --local-job-user {settings.SELF}): {user.name}, a root pman's "
          f"default job user, cannot run {sys.executable} or read {PROCESSOR}", file=sys.stderr)
    return ["--local-job-user", settings.SELF]


def push_dataset(pfioh: pfioh_client.PfiohClient, key: str, staging: Path) -> int:
    files = samples.build_sample_dataset(staging)
    print(f"    {len(files)} DICOM files from the pydicom wheel -> key {key}", file=sys.stderr)
    pfioh.push(key, staging)
    return len(files)


def run_job(pman: pman_client.PmanClient, key: str, services: qs_services.Services) -> None:
    # The local engine maps the last two tokens to the job's incoming/outgoing work dirs.
    cmd = f"{sys.executable} {PROCESSOR} /share/incoming /share/outgoing"
    services.submitted(pman.url, key)  # first: an interruption from here on cancels it
    pman.run(key, cmd, memory_limit="512Mi")
    print(f"    {cmd}", file=sys.stderr)


def wait_job(pman: pman_client.PmanClient, key: str, timeout: float,
             services: qs_services.Services) -> pman_client.JobState:
    state = pman.wait(key, interval=0.5, timeout=timeout, on_poll=pman_client.StatusLine())
    services.finished(pman.url, key)
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
    started = plan(args)
    title = f"start {_words(started)}" if started else "use the given services (nothing to start)"
    pfioh_url, pman_url = steps.run(2, title, start_services, args, services)
    pfioh = pfioh_client.PfiohClient(pfioh_url, token=args.pfioh_token)
    pman = pman_client.PmanClient(pman_url, token=args.pman_token)
    key = args.key or f"chris-jid-{uuid.uuid4().hex[:8]}"
    steps.run(3, f"push the sample DICOM dataset as {key}", push_dataset, pfioh, key, services.run_dir / "dataset")
    steps.run(4, "run the DICOM preview processor through pman", run_job, pman, key, services)
    steps.run(5, "wait for the job", wait_job, pman, key, args.timeout, services)
    dest = args.results.resolve() / key
    files = steps.run(6, "pull the output through pfioh", pull_results, pfioh, key, dest)
    return steps.run(7, "summarise", report, dest, files, time.monotonic() - steps.started)


def _words(names: list[str]) -> str:
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def keep_logs_only(run_dir: Path) -> Path | None:
    """After a failure keep the services' logs for diagnosis, nothing else (no data, no copies).

    :returns: the directory still holding logs, or None when there were none (it is removed).
    """
    for sub in ("dataset", "pfioh", "pman", "swift/data"):
        shutil.rmtree(run_dir / sub, ignore_errors=True)
    if not any(run_dir.rglob("*.log")):
        shutil.rmtree(run_dir, ignore_errors=True)
        return None
    return run_dir


def finish(args, services: qs_services.Services, steps: Steps, ok: bool, interrupted: bool) -> bool:
    """Step 8: stop what was started and tidy the run directory; with --keep-running (and neither
    an interruption nor an unfinished job) leave it running and print how to stop it."""
    stop_hint = f"{ROOT / 'scripts' / 'quickstart'} --stop {services.run_dir}"
    if args.keep_running and services.started_anything and not services.jobs and not interrupted:
        left = [f"{p.name} {p.url} (pid {p.pid})" for p in services.processes]
        if services.saio_base:
            left.insert(0, f"Swift all-in-one in {services.saio_base} (pids "
                        + ", ".join(str(pid) for pid in saio_pids(services.saio_base)) + ")")
        print("[8/8] left running (--keep-running): " + "; ".join(left), file=sys.stderr)
        print(f"    to stop them all: {stop_hint}", file=sys.stderr, flush=True)
        return ok
    if not services.started_anything and not services.jobs:
        print("[8/8] nothing to stop: this run started no service", file=sys.stderr)
        shutil.rmtree(services.run_dir, ignore_errors=True)
        return ok
    try:
        stopped = steps.run(8, "stop what this run started", services.stop_all, args.pman_token)
    except StepFailed as exc:  # keep everything, the state included, for --stop
        print(f"quickstart: {exc}\nquickstart: to stop what is left: {stop_hint}", file=sys.stderr)
        return False
    print(f"    stopped: {', '.join(stopped) or 'nothing was still running'}", file=sys.stderr)
    if ok:
        shutil.rmtree(services.run_dir, ignore_errors=True)
    elif kept := keep_logs_only(services.run_dir):
        print(f"quickstart: service logs kept in {kept}", file=sys.stderr)
    return ok


def saio_pids(base: Path) -> list[int]:
    return sorted(qs_services.saio._pids(base).values())


def stop_command(run_dir: Path) -> int:
    """``--stop RUN_DIR``: stop what an earlier --keep-running run left, and remove RUN_DIR."""
    stopped = qs_services.stop_recorded(run_dir)
    print(f"quickstart: stopped {', '.join(stopped) or 'nothing (it was not running)'}; removed {run_dir}",
          file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = qs_args.parse(argv)
    # SIGTERM (and SIGHUP) take the same way out as Ctrl-C, so everything started is stopped.
    # SIGINT too, explicitly: a process started in the background by a non-interactive shell
    # inherits SIGINT ignored, and Python then leaves it ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    if args.stop is not None:
        return stop_command(args.stop)
    services = qs_services.Services(Path(tempfile.mkdtemp(prefix="chris-quickstart-")))
    steps, ok, interrupted = Steps(), False, False
    try:
        print(pipeline(args, services, steps))
        ok = True
    except StepFailed as exc:
        print(f"quickstart: {exc}", file=sys.stderr)
        interrupted = exc.interrupted
    except KeyboardInterrupt:
        print("quickstart: interrupted", file=sys.stderr)
        interrupted = True
    finally:
        ok = finish(args, services, steps, ok, interrupted)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
