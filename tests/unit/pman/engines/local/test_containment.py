"""The local engine's containment pieces with real processes and files (no pman server):
the step supervisor, private files, ownership hand-over, the job user's checks."""
import os
import shutil
import signal
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from pman.engines import base
from pman.engines.local import containment, jobdb, privileges
from pman.engines.local.settings import LocalSettings

IS_ROOT = os.geteuid() == 0
NOBODY = privileges.JobUser("nobody", 65534, 65534)


def gone(pid):
    """Neither running nor a zombie: killed and reaped."""
    return _gone(pid)


def _gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_for(predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


@pytest.fixture
def enterable():
    """A directory another user may enter (pytest's tmp_path is under a root-only one)."""
    top = Path(tempfile.mkdtemp(prefix="pman-unit-", dir="/tmp"))
    os.chmod(top, 0o711)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def run(tmp_path, script, **kw):
    return containment.run_contained(["/bin/sh", "-c", script], tmp_path / "log", env={"PATH": os.defpath}, **kw)


# ---------------------------------------------------------------- the supervisor

def test_exit_codes_as_a_shell_reports_them(tmp_path):
    assert run(tmp_path, "exit 3") == 3
    assert run(tmp_path, "kill -USR1 $$") == 128 + signal.SIGUSR1
    assert containment.run_contained(["/no/such/program"], tmp_path / "log", env={}) == 127
    assert "cannot start /no/such/program" in (tmp_path / "log").read_text()


def test_what_a_step_leaves_running_is_killed_when_it_ends(tmp_path):
    pidfile = tmp_path / "pid"
    code = run(tmp_path, f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 300' & "
                         f"while [ ! -s {pidfile} ]; do sleep 0.01; done; exit 0")
    assert code == 0
    pid = int(pidfile.read_text())
    assert gone(pid)
    assert "[pman] killed 1 process(es) the step left running" in (tmp_path / "log").read_text()


def test_sigterm_to_the_supervisor_kills_every_process_of_the_step(tmp_path):
    pidfile = tmp_path / "pids"
    result = {}
    script = (f"setsid sleep 300 & echo $! >> {pidfile}; (sleep 300 & echo $! >> {pidfile}; wait) & "
              f"echo $$ >> {pidfile}; wait")
    thread = threading.Thread(target=lambda: result.update(code=run(tmp_path, script)))
    thread.start()
    wait_for(lambda: pidfile.exists() and len(pidfile.read_text().split()) == 3)
    pids = [int(p) for p in pidfile.read_text().split()]
    os.kill(containment._current_supervisor, signal.SIGTERM)  # what the runner does on SIGTERM
    thread.join(15)
    assert not thread.is_alive() and result["code"] == 143
    assert [pid for pid in pids if not gone(pid)] == []


def test_descendants_are_found_across_generations(tmp_path):
    import subprocess
    proc = subprocess.Popen(["/bin/sh", "-c", "sleep 300 & sleep 300 & wait"])
    try:
        wait_for(lambda: len(containment.descendants(proc.pid)) == 2)
        assert proc.pid in containment.descendants(os.getpid())
    finally:
        for pid in containment.descendants(proc.pid) + [proc.pid]:
            os.kill(pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.skipif(not IS_ROOT, reason="starting a process as another user needs root")
def test_a_step_runs_as_the_job_user_without_our_groups(tmp_path, enterable):
    out = enterable / "ids"
    os.chmod(enterable, 0o777)
    assert run(tmp_path, f"id -u > {out}; id -G >> {out}", user=NOBODY, cwd="/") == 0
    assert out.read_text().split() == ["65534", "65534"]


# ---------------------------------------------------------------- files

def test_the_job_table_is_private(tmp_path):
    db = tmp_path / "pman.sqlite"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    store = jobdb.JobStore(db)
    store.insert("j", {}, {})
    for path in (db, tmp_path / "pman.sqlite-wal", tmp_path / "pman.sqlite-shm"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    store.close()


def test_chown_tree_never_follows_a_link_and_locks_directories(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("x")
    top = tmp_path / "outgoing"
    (top / "d").mkdir(parents=True, mode=0o777)
    os.chmod(top / "d", 0o777)
    (top / "d" / "f").write_text("f")
    (top / "link").symlink_to(outside)
    before = os.stat(outside)
    privileges.chown_tree(top, os.geteuid(), os.getegid())
    assert os.stat(outside).st_mode == before.st_mode and os.stat(outside).st_uid == before.st_uid
    assert stat.S_IMODE(os.stat(top / "d").st_mode) & 0o022 == 0


@pytest.mark.skipif(not IS_ROOT, reason="changing owners needs root")
def test_chown_tree_hands_a_tree_over_and_back(tmp_path):
    top = tmp_path / "outgoing"
    (top / "d").mkdir(parents=True)
    (top / "d" / "f").write_text("f")
    privileges.chown_tree(top, NOBODY.uid, NOBODY.gid)
    assert {os.stat(p).st_uid for p in (top, top / "d", top / "d" / "f")} == {NOBODY.uid}
    privileges.chown_tree(top, 0, 0)
    assert {os.stat(p).st_uid for p in (top, top / "d", top / "d" / "f")} == {0}


# ---------------------------------------------------------------- the job user

def test_job_user_resolution():
    assert privileges.resolve_user("nobody").uid == 65534
    assert privileges.resolve_user("4242") == privileges.JobUser("4242", 4242, 4242)  # no entry needed
    with pytest.raises(ValueError, match="no user 'no-such-user-x'"):
        privileges.resolve_user("no-such-user-x")
    with pytest.raises(ValueError, match="is root"):
        privileges.resolve_user("0")


def test_job_user_setting_is_validated(tmp_path):
    with pytest.raises(base.SettingError) as bad:
        LocalSettings(workdir=str(tmp_path), job_user="root").validate()
    assert bad.value.field == "job_user"
    if IS_ROOT:
        assert LocalSettings(workdir=str(tmp_path), job_user="nobody").validate().resolved_job_user().uid == 65534
    else:
        with pytest.raises(base.SettingError, match="needs pman to run as root"):
            LocalSettings(workdir=str(tmp_path), job_user="nobody").validate()


def test_a_root_pman_runs_jobs_as_nobody_unless_told_self(tmp_path):
    default = LocalSettings(workdir=str(tmp_path)).validate()
    assert default.job_user_name() == ("nobody" if IS_ROOT else "")
    assert (default.resolved_job_user() is not None) == IS_ROOT
    opted_out = LocalSettings(workdir=str(tmp_path), job_user=" self ").validate()
    assert opted_out.job_user_name() == "" and opted_out.resolved_job_user() is None


@pytest.mark.skipif(not IS_ROOT, reason="asking as another user needs root")
def test_can_run_is_asked_of_the_kernel_as_the_job_user(enterable):
    user = privileges.resolve_user("nobody")
    script = enterable / "script"
    script.write_text("x")
    os.chmod(script, 0o644)
    assert privileges.can_run(user, "/bin/sh", str(script))
    os.chmod(script, 0o600)
    assert not privileges.can_run(user, "/bin/sh", str(script))
    assert not privileges.can_run(user, str(script))  # not executable


@pytest.mark.skipif(not IS_ROOT, reason="asking as another user needs root")
def test_exposure_is_asked_of_the_kernel_as_the_job_user(enterable):
    tmp_path = enterable
    private, public, shared_dir = tmp_path / "private", tmp_path / "public", tmp_path / "shared"
    private.write_text("s")
    os.chmod(private, 0o600)
    public.write_text("s")
    os.chmod(public, 0o644)
    shared_dir.mkdir()
    os.chmod(shared_dir, 0o777)
    assert privileges.exposed_to(NOBODY, [str(private), str(public), str(tmp_path / "absent")],
                                 writable_only=[str(shared_dir), str(tmp_path)]) == [str(public), str(shared_dir)]
    assert privileges.reachable_by(NOBODY, shared_dir)
    os.chmod(tmp_path, 0o700)
    assert not privileges.reachable_by(NOBODY, shared_dir)
