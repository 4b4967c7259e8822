"""The local engine (the default): jobs run as processes on this host, in per-job work directories.

Each job gets ``<workdir>/jobs/<jid>/`` with ``incoming/``, ``outgoing/`` and ``logs/`` (or the same in
a directory of ours under ``$TMPDIR`` when the job user cannot enter the work dir), and a row in the
SQLite job table ``<workdir>/pman.sqlite``.  A detached runner per job (see
:mod:`pman.engines.local.runner`) does get -> run -> put, so restarting pman loses nothing: on start the
engine marks the jobs whose runner died and starts queued ones.  At most ``max_jobs`` run at once.

The image and the cpu/memory/gpu limits are recorded but not enforced here (no containers); the
limits reach the processor as ``NUMBER_OF_WORKERS``, ``CPU_LIMIT``, ``MEMORY_LIMIT``, ``GPU_LIMIT``.
This is not a sandbox: what a job can and cannot reach is in docs/engines.md ("The local engine").
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from pathlib import Path

import swiftstore
from pman import jobdata
from pman.engines import base
from pman.engines.local import jobdb, privileges, processes
from pman.engines.local.settings import SELF, LocalSettings

log = logging.getLogger("pman.local")
STATUS_OF_STATE = {"queued": base.JobStatus.notstarted, "running": base.JobStatus.started}
# The job table's setting naming the jobs' work dirs when they cannot be under the work dir.
SHARED_JOBS_DIR = "shared_jobs_dir"
LOG_FILES = (("get", "get.log"), ("run", "run.log"), ("put", "put.log"), ("runner", "runner.log"))


class LocalEngine(base.Engine):
    """Processes on this host, state in SQLite.  Thread-safe."""

    name = "local"

    def __init__(self, settings: LocalSettings, *, reconcile_interval: float = 2.0):
        self.settings = settings
        self.job_user = settings.resolved_job_user()
        # A job user may enter <jobs>/<jid>/ (knowing the jid) but not list the jobs.
        privileges.private_dir(settings.jobs_dir, 0o711 if self.job_user else 0o700)
        self.store = jobdb.JobStore(settings.db_path)
        if self.job_user is not None:
            privileges.unlistable(Path(settings.workdir))  # a job user may enter it (to its jobs), not list it
        self.jobs_dir = self._choose_jobs_dir()
        self._check_containment()
        self.store.set_setting("max_jobs", settings.max_jobs)
        self._children: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.reconcile()
        self._thread = None
        if reconcile_interval > 0:
            self._thread = threading.Thread(target=self._loop, args=(reconcile_interval,), name="pman-reconcile",
                                            daemon=True)
            self._thread.start()

    # ---------------------------------------------------------------- Engine

    def ready(self) -> str | None:
        """The work directory takes a file, and the job table answers a query (a fresh
        connection, so a database removed or locked since startup shows)."""
        try:
            fd, path = tempfile.mkstemp(prefix=".ready-", dir=self.jobs_dir)
            os.close(fd)
            os.unlink(path)
        except OSError as e:
            return f"the work directory is not writable ({e.strerror})"
        try:
            conn = sqlite3.connect(f"file:{self.settings.db_path}?mode=rw", uri=True, timeout=5)
            try:
                conn.execute("SELECT count(*) FROM jobs").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as e:
            return f"the job database cannot be read ({e})"
        return None

    def submit(self, spec: base.JobSpec) -> base.JobInfo:
        job_dir = self.jobs_dir / spec.jid
        plan = {"job_dir": str(job_dir), "mode": "swift" if self.settings.swift_storage else "mount",
                "store_base": self.settings.store_base, "publisher": self.settings.publisher_cli,
                "credentials": self.settings.swift_credentials, "layout": self.settings.swift_layout,
                "compress": self.settings.compress,
                "job_user": self.job_user.as_plan() if self.job_user else None}
        try:
            self.store.insert(spec.jid, _spec_dict(spec), plan)
        except jobdb.DuplicateJob:
            raise base.JobExists(f"job {spec.jid!r} exists already (delete it first)") from None
        try:
            shutil.rmtree(job_dir, ignore_errors=True)  # leftovers of a deleted job of the same name
            # ours; the runner lends incoming, outgoing and tmp to the job user for the run step only
            privileges.private_dir(job_dir, 0o755 if self.job_user else 0o700)
            for sub in ("incoming", "outgoing", "logs", "tmp"):
                (job_dir / sub).mkdir(mode=0o700)
        except OSError as e:
            self.store.delete(spec.jid)
            raise base.EngineError(f"cannot create the work directory {job_dir}: {e}") from e
        self._schedule()
        return self.info(spec.jid)

    def info(self, jid: str) -> base.JobInfo:
        row = self._row(jid)
        status = STATUS_OF_STATE.get(row.state) or base.JobStatus(row.status)
        if row.state == "queued":
            message = f"queued: waiting for a free slot (max {self.settings.max_jobs} jobs at once)"
        elif row.state == "running":
            message = f"running: step {row.step or 'starting'}"
        else:
            message = row.message
        return base.JobInfo(jid=row.jid, image=row.spec.get("image", ""), cmd=shlex.join(row.spec["command"]),
                            status=status, message=message, reason=row.reason, exit_code=row.exit_code,
                            timestamp=row.submitted_at, started_at=row.started_at, finished_at=row.finished_at)

    def logs(self, jid: str, tail: int | None = None) -> dict[str, str]:
        row = self._row(jid)
        tail = tail or self.settings.log_tail_bytes
        logs_dir = Path(row.plan["job_dir"]) / "logs"
        out = {}
        for step, filename in LOG_FILES:
            text = _tail(logs_dir / filename, tail)
            if text is not None and (step != "runner" or text):
                out[step] = text
        return out

    def remove(self, jid: str) -> base.Removal:
        """Cancel, delete the data, forget.  The order makes sure nothing of the job writes its
        data again once deleted: the row is marked done first (a runner not yet at its put step
        stops there, the scheduler starts it no more), then the runner read back from the row
        (one launched meanwhile included) is killed, and waits for every process of its step
        to be killed and reaped (see :mod:`~pman.engines.local.containment`).  Only then is the
        data deleted; the row goes last, so a delete that fails to delete the data can be repeated.
        """
        self._row(jid)
        # Mark it first, so the scheduler cannot start it while we kill/delete.
        self.store.update(jid, state="done", status=base.JobStatus.finishedWithError.value, reason="Cancelled",
                          message="cancelled by a delete request")
        row = self._row(jid)
        if processes.kill_group(row.runner_pid, row.runner_start):
            log.info("job %s: cancelled its running process group %s", jid, row.runner_pid)
        removal = self._delete_data(row)
        self.store.delete(jid)
        shutil.rmtree(row.plan["job_dir"], ignore_errors=True)
        self._schedule()
        return removal

    def _delete_data(self, row: jobdb.JobRow) -> base.Removal:
        """The job's data where its plan says it is (pman's settings may have changed since)."""
        if self.settings.keep_data_on_delete:
            return jobdata.KEPT
        if row.plan.get("mode") != "swift":
            return jobdata.delete_mount(row.plan["store_base"], row.jid)
        try:
            creds = swiftstore.load_credentials(row.plan.get("credentials"))
        except swiftstore.errors.CredentialsError as e:
            return jobdata.without_credentials(row.jid, e)
        with swiftstore.SwiftStore.from_credentials(creds, threads=4) as store:
            return jobdata.delete_swift(store, row.jid)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._reap_children()
        self._release_children()
        self.store.close()

    # ---------------------------------------------------------------- internals

    def _check_containment(self) -> None:
        """Refuse to start when the job user could reach what it must not, or not reach its work dirs.

        :raises base.EngineError: naming the path and the fix.
        """
        if self.job_user is None:
            _warn_same_user()
            return
        who = f"the job user {self.job_user.name} (uid {self.job_user.uid})"
        if not privileges.reachable_by(self.job_user, self.jobs_dir):
            raise base.EngineError(
                f"{who} cannot enter {self.jobs_dir}: a parent directory is not searchable by it; "
                f"choose a --workdir whose parents are (e.g. /var/lib/pman), or run jobs as pman's own user with "
                f"--local-job-user {SELF}")
        db = str(self.settings.db_path)
        secrets = [*self.settings.protected_files, self.settings.swift_credentials or ""]
        if self.settings.swift_storage and not self.settings.swift_credentials:
            secrets += [self.settings.default_credentials]  # where the publisher looks when none is given
        exposed = privileges.exposed_to(self.job_user, [db, db + "-wal", db + "-shm", *secrets],
                                        writable_only=[self.settings.workdir, str(self.jobs_dir)])
        if exposed:
            raise base.EngineError(f"{who} could read or write {', '.join(exposed)}: make them readable by "
                                   f"pman's user only (e.g. chmod 600 the files, chmod go-w the directory)")

    def _choose_jobs_dir(self) -> Path:
        """Where the jobs' work dirs go: ``<workdir>/jobs``, unless a job user cannot enter it (a
        parent is private, as ``/root`` is for root's default work dir).  Then a directory of ours
        under the system's temporary directory, 0711 (entered, not listed), made once and recorded
        in the job table so that restarts use it again."""
        own = self.settings.jobs_dir
        if self.job_user is None or privileges.reachable_by(self.job_user, own):
            return own
        recorded = self.store.setting(SHARED_JOBS_DIR)
        if recorded and privileges.is_private_dir(Path(recorded)) and privileges.reachable_by(self.job_user,
                                                                                             Path(recorded)):
            return Path(recorded)
        made = Path(tempfile.mkdtemp(prefix="pman-jobs-"))  # (a new name, created by us: nothing planted)
        os.chmod(made, 0o711)
        if not privileges.reachable_by(self.job_user, made):
            made.rmdir()
            raise base.EngineError(
                f"the job user {self.job_user.name} can enter neither {own} nor {made} (made in the temporary "
                f"directory, $TMPDIR) for the jobs' work dirs: a parent directory is not searchable by it; "
                f"choose a --workdir whose parents are (e.g. /var/lib/pman), or run jobs as pman's own user "
                f"with --local-job-user {SELF}")
        self.store.set_setting(SHARED_JOBS_DIR, str(made))
        log.warning("local engine: the job user %s cannot enter %s, so the jobs' work dirs are in %s "
                    "(choose a --workdir it can enter, e.g. /var/lib/pman, to keep them together)",
                    self.job_user.name, own, made)
        return made

    def _row(self, jid: str) -> jobdb.JobRow:
        row = self.store.get(jid)
        if row is None:
            raise base.JobNotFound(f"no job {jid!r}")
        return row

    def _schedule(self) -> None:
        def keep(proc: subprocess.Popen) -> None:
            with self._lock:
                self._children.append(proc)
        processes.schedule(self.store, on_launch=keep)

    def _reap_children(self) -> None:
        with self._lock:
            self._children = [p for p in self._children if p.poll() is None]

    def _release_children(self) -> None:
        """Leave each runner still running to a daemon thread that reaps it when it ends.

        Runners outlive the engine by design; in a process that lives on (an engine reopened,
        the tests) this keeps them from staying zombies, and no ``Popen`` of a live process is
        dropped (which Python reports as a ResourceWarning)."""
        with self._lock:
            children, self._children = self._children, []
        for proc in children:
            threading.Thread(target=proc.wait, name=f"pman-reap-{proc.pid}", daemon=True).start()

    def reconcile(self) -> None:
        """Mark jobs whose runner died, reap finished runners, start queued jobs."""
        for jid in processes.reap_dead(self.store):
            log.warning("job %s marked finishedWithError: its runner is gone", jid)
        self._reap_children()
        self._schedule()

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.reconcile()
            except Exception:  # keep reconciling; a locked database or a full disk may pass
                log.exception("reconcile failed")


def _warn_same_user() -> None:
    """The one line at startup that says what jobs run as pman's own user can do."""
    if os.geteuid() == 0:
        log.warning("local engine: jobs run as root (--local-job-user %s): they can read and change everything "
                    "pman can (its job table, tokens, credentials, other jobs); see docs/engines.md", SELF)
    else:
        log.warning("local engine: jobs run as pman's own user (uid %d; only a root pman can run them as another "
                    "user): a job can read and change pman's job table, logs and files, read its token and "
                    "credentials files, and signal its processes; see docs/engines.md", os.geteuid())


def create(settings: LocalSettings) -> LocalEngine:
    """The engine, with its job table and work directories under ``settings.workdir``.

    :raises OSError: the work directory or the job table cannot be created.
    """
    return LocalEngine(settings)


def _spec_dict(spec: base.JobSpec) -> dict:
    data = dataclasses.asdict(spec)
    data["command"] = list(spec.command)
    data["env"] = dict(spec.env)
    return data


def _tail(path: Path, limit: int) -> str | None:
    """The last ``limit`` bytes of a log file (None if there is none)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                f.seek(size - limit)
            data = f.read(limit)
    except FileNotFoundError:
        return None
    text = data.decode("utf-8", errors="replace")
    return ("[... earlier output cut ...]\n" + text) if size > limit else text
