"""The detached runner of one local job: get -> run -> put, recording each step in the job table.

Started by pman (or by a finishing runner, to start the next queued job) as
``python -m pman.engines.local.runner --db <pman.sqlite> --jid <jid>`` in its own session.  It
outlives a restart of pman.  Each step's stdout and stderr go to ``<job_dir>/logs/<step>.log``.

Steps:

- **get**: Swift (``pman-swift-publisher get``), or a copy of ``<store_base>/key-<jid>/incoming``
  (pfioh's mount-mode layout) into ``<job_dir>/incoming``;
- **run**: the processor, its ``/share/...`` paths mapped into the job dir (see :func:`local_argv`);
- **put**: Swift (``pman-swift-publisher put``), or a copy of ``<job_dir>/outgoing`` to
  ``<store_base>/key-<jid>/outgoing``, staged and swapped in with renames so it never looks
  half-written (:func:`safearchive.staging.staged`).
  The output is put even when the processor failed (it may hold the processor's own report).

The job succeeds only if all three steps do; otherwise ``reason`` names the first failing one.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import re
import shlex
import shutil
import signal
import stat
import sys
from pathlib import Path
from typing import Mapping

from pman.engines import base
from pman.engines.local import containment, jobdb, privileges, processes
from safearchive import dirfd, locks, staging

STEPS = ("get", "run", "put")
# How long a publish into a mount-mode store waits for pulls of its key to finish.
LOCK_TIMEOUT = 600.0
REASONS = {"get": "InputError", "run": "ProcessorError", "put": "PublisherError"}
_SHARE = re.compile(r"(?<![\w/.-])/share(?=/|$|\s|['\"])")


def local_argv(command: tuple[str, ...], incoming: str, outgoing: str, job_dir: Path) -> list[str]:
    """The processor's argv with its container paths mapped into ``job_dir``.

    The incoming/outgoing dirs (normally the last two tokens) become ``<job_dir>/incoming`` and
    ``<job_dir>/outgoing``, and any other ``/share/...`` path becomes ``<job_dir>/...``.  Inside
    shell text (our ``/bin/sh -c`` line, or any token with whitespace such as the script of a
    ``sh -c '...'``) the same substitutions are made with shell quoting.
    """
    mapping = ((incoming, str(job_dir / "incoming")), (outgoing, str(job_dir / "outgoing")))
    return [_map_token(token, mapping, job_dir) for token in command]


def _map_text(text: str, mapping, job_dir: Path, quote) -> str:
    for src, dst in mapping:
        text = re.sub(rf"(?<![\w/.-]){re.escape(src)}(?![\w.-])", lambda _m, d=dst: quote(d), text)
    return _SHARE.sub(lambda _m: quote(str(job_dir)), text)


def _map_token(token: str, mapping, job_dir: Path) -> str:
    if any(c.isspace() for c in token):
        return _map_text(token, mapping, job_dir, shlex.quote)
    prefix, sep, value = token.partition("=") if token.startswith("-") and "=" in token else ("", "", token)
    for src, dst in mapping:
        if value == src or value.startswith(src.rstrip("/") + "/"):
            return prefix + sep + dst + value[len(src):]
    if value == "/share" or value.startswith("/share/"):
        return prefix + sep + str(job_dir) + value[len("/share"):]
    return prefix + sep + _map_text(value, mapping, job_dir, lambda d: d)


def copy_tree(src: Path, dst: Path, log) -> tuple[int, int]:
    """Copy regular files and directories; skip symlinks and special files (logged), so nothing
    outside ``src`` can be reached through the copy.  :returns: (files, bytes)."""
    root = dirfd.open_root(src)  # (a link at src itself: ELOOP)
    try:
        return copy_from(root, src, dst, log)
    finally:
        os.close(root)


def copy_from(root_fd: int, label: Path, dst: Path, log) -> tuple[int, int]:
    """Copy the tree of the open directory ``root_fd`` (``label`` in the log) into ``dst``.

    Listed and read through directory descriptors (:mod:`safearchive.dirfd`): a directory below
    swapped for a link during the copy fails it instead of being followed.
    """
    def skipped(parts: tuple[str, ...], mode: int) -> None:
        kind = "symbolic link" if stat.S_ISLNK(mode) else "special file"
        log.write(f"skipped {kind} {label.joinpath(*parts)}\n")

    files = size = 0
    dst.mkdir(parents=True, exist_ok=True)
    for entry in dirfd.list_tree(root_fd, dirs=True, on_skip=skipped):
        target = dst.joinpath(*entry.parts)
        if entry.is_dir:
            target.mkdir(exist_ok=True)
            continue
        with open(dirfd.open_file(root_fd, entry.parts), "rb") as f, open(target, "wb") as out:
            shutil.copyfileobj(f, out)
            files, size = files + 1, size + out.tell()
    return files, size


def _key_dir(store_base: str, jid: str) -> Path:
    """``<store_base>/key-<jid>``, refusing a symbolic link there (anyone who can write the store
    base could plant one, to read or overwrite what it points to with pman's rights).

    :raises OSError: ELOOP, naming the link.
    """
    path = Path(store_base) / f"key-{jid}"
    if path.is_symlink():
        raise OSError(errno.ELOOP, f"{path} is a symbolic link: never followed")
    return path


def _open_no_follow(path: Path) -> int:
    """An fd of the directory ``path``, opened without following a link at ``path`` itself."""
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)


def mount_get(store_base: str, jid: str, job_dir: Path, log) -> int:
    keydir = _key_dir(store_base, jid)
    src = keydir / "incoming"
    if src.is_symlink():
        raise OSError(errno.ELOOP, f"{src} is a symbolic link: never followed")
    if not src.is_dir():
        log.write(f"no input: {src} does not exist (push the input with pfioh first)\n")
        return 1
    fd = _open_no_follow(src)  # copied through the open directory: a link swapped in now is ignored
    try:
        files, size = copy_from(fd, src, job_dir / "incoming", log)
    finally:
        os.close(fd)
    log.write(f"copied {files} file(s), {size} bytes from {src}\n")
    return 0


def mount_put(store_base: str, jid: str, job_dir: Path, log) -> int:
    """Publish the job's output into the store's ``key-<jid>/outgoing``: copied aside, then
    swapped in holding the key's lock exclusively, as pfioh's pulls hold it shared, so a pull
    racing the publish streams the old output or the new one, never a mix."""
    final = _key_dir(store_base, jid) / "outgoing"  # (a link at outgoing itself: staged refuses it)
    keylocks, held = locks.for_store(store_base, timeout=LOCK_TIMEOUT), None
    try:
        with staging.staged(final, replace=True, tag="part") as tmp:
            if final.parent.is_symlink():  # planted between the check and the staging: undo, refuse
                raise OSError(errno.ELOOP, f"{final.parent} is a symbolic link: never followed")
            files, size = copy_tree(job_dir / "outgoing", tmp, log)
            held = keylocks.acquire(jid)  # staged() swaps it in as this block ends
    finally:
        if held is not None:
            keylocks.release(held, jid)
    log.write(f"published {files} file(s), {size} bytes to {final}\n")
    return 0


def describe(code: int) -> str:
    if code > 128:
        try:
            return f"killed by {signal.Signals(code - 128).name}"
        except ValueError:
            pass
    return f"exit code {code}"


class Runner:
    """Runs one job's steps and records them in the job table."""

    def __init__(self, store: jobdb.JobStore, row: jobdb.JobRow, environ: Mapping[str, str] | None = None):
        """:param environ: pman's environment, for the publisher only (default: ours)."""
        self.store, self.row, self.plan = store, row, row.plan
        self.environ = dict(os.environ if environ is None else environ)
        self.job_dir = Path(self.plan["job_dir"])
        self.logs = self.job_dir / "logs"
        self.user = privileges.JobUser.from_plan(self.plan.get("job_user"))

    def step(self, name: str) -> int:
        self.store.update(self.row.jid, step=name)
        log_path = self.logs / f"{name}.log"
        try:
            if name == "run":
                return self._run(log_path)
            if self.plan["mode"] == "swift":
                return self._publisher(name, log_path)
            with open(log_path, "a") as log:
                fn = mount_get if name == "get" else mount_put
                return fn(self.plan["store_base"], self.row.jid, self.job_dir, log)
        except (OSError, locks.LockTimeout) as e:
            with open(log_path, "a") as log:
                log.write(f"{name} failed: {e}\n")
            return 1

    def _run(self, log_path: Path) -> int:
        spec = self.row.spec
        argv = local_argv(tuple(spec["command"]), spec["incoming_dir"], spec["outgoing_dir"], self.job_dir)
        env = privileges.job_env(os.environ, self.job_dir, spec.get("resources") or {}, spec.get("env") or {},
                                 self.user)
        (self.job_dir / "tmp").mkdir(mode=0o700, exist_ok=True)  # (a job submitted by an older pman has none)
        if self.user is None:
            return containment.run_contained(argv, log_path, env=env, cwd=self.job_dir)
        # The job user gets its dirs for this step only.  Until now they were ours (nobody could plant
        # links for the get step to write through); afterwards, with every process of the job dead,
        # they are taken back (outgoing first: put reads it), so neither a later job of the same user
        # can read them nor can anything change the output while it is published.
        lent = ("incoming", "outgoing", "tmp")
        for name in lent:
            privileges.chown_tree(self.job_dir / name, self.user.uid, self.user.gid)
        try:
            return containment.run_contained(argv, log_path, env=env, cwd=self.job_dir, user=self.user)
        finally:
            for name in sorted(lent, key=lambda n: n != "outgoing"):
                privileges.chown_tree(self.job_dir / name, os.geteuid(), os.getegid())

    def _publisher(self, name: str, log_path: Path) -> int:
        argv = [self.plan["publisher"], name, "--key", self.row.jid,
                "--incoming", str(self.job_dir / "incoming"), "--outgoing", str(self.job_dir / "outgoing"),
                "--layout", self.plan.get("layout", "tree")]
        if name == "put" and not self.plan.get("compress", True):  # (jobs planned before it: on)
            argv += ["--compress", "off"]
        env = dict(self.environ)  # pman's: the publisher may need its Swift credentials, proxies, CAs
        if self.plan.get("credentials"):
            env["SWIFT_CREDENTIALS"] = self.plan["credentials"]
        return containment.run_contained(argv, log_path, env=env, cwd=self.job_dir)

    def execute(self) -> None:
        codes: dict[str, int] = {}
        for name in STEPS:
            if name != "get" and codes.get("get", 0) != 0:
                break  # no input: nothing to run, nothing to publish
            if self.cancelled():
                return  # deleted: its data must not be written again (pman kills us anyway)
            codes[name] = self.step(name)
            self.store.update(self.row.jid, step_codes=codes)
        self.finish(codes)

    def cancelled(self) -> bool:
        """A delete marked the job done (or removed it) behind our back."""
        row = self.store.get(self.row.jid)
        return row is None or row.state == "done"

    def _last_line(self, name: str) -> str:
        """': <the last line of the step's log>' (short), or ''."""
        try:
            with open(self.logs / f"{name}.log", "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
                lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return ""
        return f": {lines[-1].strip()[:200]}" if lines else ""

    def finish(self, codes: dict[str, int]) -> None:
        failed = [name for name in STEPS if codes.get(name, 0) != 0]
        ok = not failed and len(codes) == len(STEPS)
        if ok:
            message = "finished: get, run and put succeeded"
        else:
            message = "; ".join(f"{name} failed ({describe(codes[name])}){self._last_line(name)}" for name in failed)
        self.store.update(self.row.jid, state="done", step="", step_codes=codes, exit_code=codes.get("run"),
                          status=(base.JobStatus.finishedSuccessfully if ok
                                  else base.JobStatus.finishedWithError).value,
                          reason="" if ok else REASONS[failed[0]], message=message, finished_at=jobdb.now_iso())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pman.engines.local.runner", description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the job table (pman.sqlite)")
    parser.add_argument("--jid", required=True, help="the job to run")
    args = parser.parse_args(argv)
    # Before pman's environment is read: no process of our user but root may read our memory.
    containment.make_undumpable()
    environ = read_environ()
    # SIGTERM (delete): the step's supervisor kills every process of the step, then we exit at once
    # (the row is being deleted anyway).
    signal.signal(signal.SIGTERM, _on_sigterm)
    store = jobdb.JobStore(args.db)
    row = store.get(args.jid)
    if row is None or row.state == "done":
        return 0
    store.update(args.jid, runner_pid=os.getpid(), runner_start=processes.start_time(os.getpid()))
    runner = Runner(store, row, environ)
    try:
        runner.execute()
    except Exception as e:  # record it: a job must never stay "started" forever
        store.update(args.jid, state="done", status=base.JobStatus.finishedWithError.value, reason="RunnerError",
                     message=f"the job runner failed: {e.__class__.__name__}: {e}", finished_at=jobdb.now_iso())
        raise
    finally:
        processes.schedule(store, environ=environ)  # start the next queued job, even while pman is down
    return 0


def read_environ() -> dict[str, str]:
    """pman's environment, sent by :func:`processes.launch` on our stdin (ours when stdin is a terminal)."""
    if os.isatty(0):
        return dict(os.environ)
    data = sys.stdin.buffer.read()
    return json.loads(data) if data.strip() else {}


def _on_sigterm(*_) -> None:
    containment.stop_current_supervisor()
    os._exit(143)


if __name__ == "__main__":
    sys.exit(main())
