"""How contained a local-engine job is (issue 12, point 6), against the real pman server.

- a job sees none of pman's secrets: not in its environment, not in its ancestors' environments
  (as a job user: not in any process's environment it can read);
- as a job user (pman as root: ``nobody`` by default, or ``--local-job-user``), a job can neither
  read nor write pman's job table, token file or logs, nor signal its runner; pman refuses a job
  user that could;
- a non-root pman runs jobs as its own user, says so at startup, and refuses ``--local-job-user``;
- delete and the death of the runner kill every process of the job, ``setsid`` grandchildren too.

CI runs as root, so the job-user cases run there; elsewhere they are skipped (pman cannot change
user without root).  pman's work dir is either in a directory the job user can enter (``/tmp/pman-*``,
0711), or private to root as pytest's own temporary directories are (as ``/root`` is for root's
default work dir): pman then puts the jobs' work dirs elsewhere.
"""
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from pathlib import Path

import pytest

from pman.engines.local import jobdb
from tests.support.pman_driver import pman_argv, rest
from tests.support.waiting import wait_until

IS_ROOT = os.geteuid() == 0
JOB_USER = "nobody"
needs_root = pytest.mark.skipif(not IS_ROOT, reason="running jobs as another user needs pman to be root")
# --local-job-user: self (pman's own user), not given (nobody for a root pman), a user named.
MODES = [pytest.param("self", id="pman-user"), pytest.param(None, id="default"),
         pytest.param(JOB_USER, id="job-user", marks=needs_root)]
TOKEN = "pman-containment-token"


def runs_as(mode):
    """The user the jobs of a pman started with ``mode`` run as (None: pman's own)."""
    return None if mode == "self" or (mode is None and not IS_ROOT) else JOB_USER


@pytest.fixture
def shared(tmp_path):
    """A directory the job user may enter (not list): pman's work dir lives in it."""
    top = Path(tempfile.mkdtemp(prefix="pman-containment-", dir="/tmp"))
    os.chmod(top, 0o711)
    yield top
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def pman(server_factory, shared, tmp_path):
    """``pman(job_user, *flags, env=...)``: a real pman (local engine, mount mode) with token auth."""
    tokens = shared / "pman_config.cfg"
    tokens.write_text(f"[AUTH TOKENS]\ntoken = {TOKEN}\n")
    os.chmod(tokens, 0o600)

    def start(job_user=None, *flags, env=None, workdir=None):
        extra = ["--local-job-user", job_user] if job_user else []
        argv = pman_argv(workdir or shared / "work", "--storeBase", str(tmp_path / "store"), "--enableTokenAuth",
                         "--tokenPath", str(tokens), *extra, *flags)
        return server_factory(argv, env=env)
    return start


def call(url, method, path, body=None):
    return rest(url, method, path, body, token=TOKEN)


def run_job(url, store, script, jid=None):
    """Submit ``sh -c script`` (with an input file pushed), return its jid."""
    jid = jid or f"chris-jid-{uuid.uuid4().hex[:8]}"
    (store / f"key-{jid}" / "incoming").mkdir(parents=True)
    (store / f"key-{jid}" / "incoming" / "a.txt").write_text("a")
    status, job = call(url, "POST", "/api/v1/", {"jid": jid, "image": "busybox", "entrypoint": ["sh", "-c"],
                                                 "args": [script]})
    assert status == 201, job
    return jid


def finished(url, jid, timeout=60):
    def done():
        status, job = call(url, "GET", f"/api/v1/{jid}/")
        assert status == 200, job
        return job if "finished" in job["status"] else None
    return wait_until(done, f"job {jid} to finish", timeout)


def pids_matching(pattern):
    """pids of live processes whose command line contains ``pattern``."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


# ---------------------------------------------------------------- secrets

@pytest.mark.parametrize("job_user", MODES)
def test_a_job_sees_no_secret_of_pman(pman, tmp_path, job_user):
    secret = f"s3cret-{uuid.uuid4().hex}"
    server = pman(job_user, env={"ST_KEY": secret, "OS_PASSWORD": secret, "MY_API_TOKEN": secret,
                                 "HTTPS_PROXY": f"http://user:{secret}@proxy.invalid:3128"})
    # The job's environment, its supervisor's ($PPID) and its runner's (the supervisor's parent).
    script = ("out=/share/outgoing; env > $out/env.txt; "
              "cat /proc/$PPID/environ > $out/parent.txt 2>&1; "
              "runner=$(awk '/^PPid:/ {print $2}' /proc/$PPID/status); "
              "cat /proc/$runner/cmdline /proc/$runner/environ > $out/runner.txt 2>&1; true")
    if runs_as(job_user):  # and every process it can read: pman's own are root's
        script += "; for f in /proc/[0-9]*/environ; do cat $f; done > $out/all.txt 2>/dev/null; true"
    jid = run_job(server.url, tmp_path / "store", script)
    job = finished(server.url, jid)
    assert job["status"] == "finishedSuccessfully", job
    out = tmp_path / "store" / f"key-{jid}" / "outgoing"
    seen = {p.name: p.read_bytes() for p in out.iterdir()}
    for name, data in seen.items():
        assert secret.encode() not in data, f"{name} shows pman's secret"
    assert b"pman.engines.local.runner" in seen["runner.txt"]  # the runner was found
    env = dict(line.split("=", 1) for line in seen["env.txt"].decode().splitlines() if "=" in line)
    documented = {"PATH", "LANG", "LANGUAGE", "TZ", "HOME", "TMPDIR", "USER", "LOGNAME", "NUMBER_OF_WORKERS",
                  "CPU_LIMIT", "MEMORY_LIMIT", "GPU_LIMIT"}
    shell = {"PWD", "OLDPWD", "SHLVL", "_"}
    assert {k for k in env if not k.startswith("LC_")} <= documented | shell, env
    assert env["HOME"].endswith(f"/jobs/{jid}/tmp")
    if runs_as(job_user):
        assert env["USER"] == JOB_USER and len(seen["all.txt"]) > 0
    else:
        assert "USER" not in env


# ---------------------------------------------------------------- pman's state

def job_dir_of(workdir, jid):
    """Where pman put the work dir of job ``jid`` (read from its job table, as root)."""
    store = jobdb.JobStore(Path(workdir) / "pman.sqlite")
    try:
        return Path(store.get(jid).plan["job_dir"])
    finally:
        store.close()


@needs_root
@pytest.mark.parametrize("mode,place", [pytest.param(JOB_USER, "enterable", id="job-user"),
                                        pytest.param(None, "enterable", id="default-enterable-workdir"),
                                        pytest.param(None, "private", id="default-private-workdir")])
def test_a_job_user_cannot_touch_pmans_state(pman, shared, tmp_path, mode, place):
    # pman's work dir: one the job user can enter (e.g. /var/lib/pman), or one it cannot (the default
    # of a root pman, ~/.local/share/pman under /root 0700; here under pytest's private tmp_path)
    work = shared / "work" if place == "enterable" else tmp_path / "work"
    server = pman(mode, workdir=work)
    db = work / "pman.sqlite"
    other = run_job(server.url, tmp_path / "store", "true")
    assert finished(server.url, other)["status"] == "finishedSuccessfully"
    other_dir = job_dir_of(work, other)
    attempts = {
        "read the job table": f"cat {db}",
        "write the job table": f"echo x >> {db}",
        "write the WAL of the job table": f"echo x >> {db}-wal",
        "replace the job table": f"mv {db} {db}.old",
        "read the token file": f"cat {shared / 'pman_config.cfg'}",
        "list the jobs": f"ls {other_dir.parent}",
        "list the work dir of pman": f"ls {work}",
        "create a file beside the jobs": f"touch {other_dir.parent / 'planted'}",
        "read the output of another job": f"ls {other_dir / 'outgoing'}",
        "read the input of another job": f"ls {other_dir / 'incoming'}",
        "write its own logs": "echo x >> ../logs/put.log",
        "plant a link for the runner": "ln -s /etc/shadow ../logs/put2.log",
        "signal its supervisor": "kill -0 $PPID",
        "signal its runner": "kill -0 $(awk '/^PPid:/ {print $2}' /proc/$PPID/status)",
        "read the memory map of its runner": "cat /proc/$(awk '/^PPid:/ {print $2}' /proc/$PPID/status)/maps",
        "read the environment of its runner": "cat /proc/$(awk '/^PPid:/ {print $2}' /proc/$PPID/status)/environ",
    }
    script = ("id -u > /share/outgoing/uid; touch $TMPDIR/mine; stat -c %u $TMPDIR/mine > /share/outgoing/owner; "
              "cd /share/incoming; { " + "; ".join(
                  f"if ( {cmd} ) >/dev/null 2>&1; then echo 'ALLOWED: {what}'; else echo 'denied: {what}'; fi"
                  for what, cmd in attempts.items()) + "; } > /share/outgoing/attempts.txt")
    jid = run_job(server.url, tmp_path / "store", script)
    job = finished(server.url, jid)
    assert job["status"] == "finishedSuccessfully", job
    # the output reached the store pfioh pulls from; the job ran, and made its files, as the job user
    out = tmp_path / "store" / f"key-{jid}" / "outgoing"
    nobody = pwd.getpwnam(JOB_USER).pw_uid
    assert int((out / "uid").read_text()) == nobody and int((out / "owner").read_text()) == nobody
    lines = (out / "attempts.txt").read_text().splitlines()
    assert lines == [f"denied: {what}" for what in attempts], lines
    # pman's files are its own, private; and the other job is still what it was
    assert os.stat(db).st_uid == 0 and os.stat(db).st_mode & 0o077 == 0
    assert call(server.url, "GET", f"/api/v1/{other}/")[1]["status"] == "finishedSuccessfully"
    jobs = job_dir_of(work, jid).parent
    assert (os.stat(jobs).st_uid, os.stat(jobs).st_mode & 0o777) == (0, 0o711)
    if place == "enterable":
        assert jobs == work / "jobs"
    else:  # elsewhere, made by pman, and used again after a restart
        assert work not in jobs.parents
        server.stop()
        server = pman(mode, workdir=work)
        again = run_job(server.url, tmp_path / "store", "true")
        assert finished(server.url, again)["status"] == "finishedSuccessfully"
        assert job_dir_of(work, again).parent == jobs


@needs_root
def test_pman_refuses_a_job_user_that_could_read_its_secrets(pman, shared):
    os.chmod(shared / "pman_config.cfg", 0o644)
    with pytest.raises(RuntimeError) as refused:
        pman()  # the default job user: as explicit ones
    assert f"the job user {JOB_USER}" in str(refused.value) and "pman_config.cfg" in str(refused.value)


@needs_root
def test_pman_refuses_a_place_for_jobs_the_job_user_cannot_enter(server_factory, tmp_path):
    # Neither the work dir nor the temporary directory (where pman would put the jobs instead) is enterable.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir(mode=0o700)
    argv = pman_argv(tmp_path / "work", "--storeBase", str(tmp_path / "store"))
    with pytest.raises(RuntimeError) as refused:
        server_factory(argv, env={"TMPDIR": str(private_tmp)})
    assert "can enter neither" in str(refused.value) and str(private_tmp) in str(refused.value)
    assert "--local-job-user self" in str(refused.value)


def python_for(user):
    """(argv, PYTHONPATH) of a Python that ``user`` can run with pman importable: ours, or, when ours
    lies in a private directory (pyenv under /root), the system's of the same version with our
    packages; None when there is none."""
    paths = [p for p in [os.environ.get("PYTHONPATH", ""), str(Path(__file__).resolve().parents[2])] if p]
    candidates = [(sys.executable, paths)]
    system = shutil.which("python3", path="/usr/bin:/bin")
    if system:
        candidates.append((system, paths + [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]))
    version = "%d.%d" % sys.version_info[:2]
    for python, path in candidates:
        try:
            done = subprocess.run([python, "-c", "import sys, pman; print('%d.%d' % sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=60, user=user, extra_groups=[], cwd="/",
                                  env={"PATH": os.defpath, "PYTHONPATH": os.pathsep.join(path)})
        except PermissionError:
            continue
        if done.returncode == 0 and done.stdout.strip() == version:
            return python, os.pathsep.join(path)
    return None


@needs_root  # (it starts pman as another user than root: nobody)
def test_a_pman_that_is_not_root_says_what_its_jobs_can_do_and_takes_no_job_user(tmp_path):
    found = python_for(JOB_USER)
    if found is None:
        pytest.skip(f"no Python that {JOB_USER} can run imports pman here")
    python, pythonpath = found
    home = Path(tempfile.mkdtemp(prefix="pman-not-root-"))
    try:
        os.chown(home, pwd.getpwnam(JOB_USER).pw_uid, pwd.getpwnam(JOB_USER).pw_gid)
        env = {"PATH": os.defpath, "PYTHONPATH": pythonpath, "HOME": str(home)}
        as_nobody = {"user": JOB_USER, "group": pwd.getpwnam(JOB_USER).pw_gid, "extra_groups": [], "env": env,
                     "cwd": str(home), "capture_output": True, "text": True, "timeout": 60}
        refused = subprocess.run([python, "-m", "pman", "--ip", "127.0.0.1", "--port", "5010", "--workdir",
                                  str(home / "w"), "--local-job-user", JOB_USER], **as_nobody)
        assert refused.returncode == 2, refused.stderr
        assert "--local-job-user (PMAN_LOCAL_JOB_USER) needs pman to run as root" in refused.stderr
        # The engine as a non-root pman starts it: one warning line, and its jobs have no job user.
        script = ("import logging; logging.basicConfig(format='%(levelname)s %(message)s'); "
                  "from pman import config; from pman.engines.local import engine; "
                  f"e = engine.create(config.from_sources({{'workdir': {str(home / 'w')!r}}}, {{}}).local); "
                  "print('job user:', e.job_user); e.close()")
        started = subprocess.run([python, "-c", script], **as_nobody)
        assert started.returncode == 0, started.stderr
        assert started.stdout == "job user: None\n"
        warnings = [line for line in started.stderr.splitlines() if line.startswith("WARNING")]
        assert len(warnings) == 1 and "jobs run as pman's own user (uid " in warnings[0], started.stderr
        assert "can read and change pman's job table" in warnings[0]
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_an_unknown_job_user_is_a_clear_startup_error(tmp_path):
    done = subprocess.run([*_pman_command(), "--workdir", str(tmp_path / "w"), "--local-job-user", "no-such-user-x"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--local-job-user (PMAN_LOCAL_JOB_USER)" in done.stderr, done.stderr
    assert "no user 'no-such-user-x'" in done.stderr


def _pman_command():
    # It refuses to start before it binds anything: no port is needed.
    return [str(Path(sys.executable).parent / "pman"), "--ip", "127.0.0.1", "--port", "5010"]


# ---------------------------------------------------------------- processes

def _ppid(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith("PPid:")))


def _sleepers(url, store):
    """A job whose shell starts a ``setsid`` grandchild and waits: (jid, [marker of each process])."""
    tag = f"{uuid.uuid4().int % 10**6:06d}"
    detached, waiting = f"sleep 301.{tag}", f"sleep 302.{tag}"
    jid = run_job(url, store, f"setsid {detached} & {waiting}; wait")
    for marker in (detached, waiting):
        wait_until(lambda m=marker: pids_matching(m), f"{marker} to start")
    return jid, [detached, waiting]


@pytest.mark.parametrize("job_user", MODES)
def test_delete_kills_a_setsid_grandchild(pman, tmp_path, job_user):
    server = pman(job_user)
    jid, markers = _sleepers(server.url, tmp_path / "store")
    assert call(server.url, "DELETE", f"/api/v1/{jid}/")[0] == 204
    for marker in markers:
        wait_until(lambda m=marker: not pids_matching(m), f"{marker} to be killed", timeout=15)


@pytest.mark.parametrize("how", ["runner", "runner-group"])
@pytest.mark.parametrize("job_user", MODES)
def test_a_killed_runner_takes_its_job_with_it(pman, shared, tmp_path, job_user, how):
    server = pman(job_user)
    jid, markers = _sleepers(server.url, tmp_path / "store")
    matches = pids_matching(f"pman.engines.local.runner --db .* --jid {re.escape(jid)}$")
    runner, = [pid for pid in matches if _ppid(pid) not in matches]  # (its step's supervisor is a fork of it)
    if how == "runner":
        os.kill(runner, signal.SIGKILL)  # the OOM killer's way
    else:
        os.killpg(runner, signal.SIGKILL)  # an operator's kill -9 -<pgid>
    for marker in markers:
        wait_until(lambda m=marker: not pids_matching(m), f"{marker} to die with its runner", timeout=15)
    job = finished(server.url, jid)
    assert (job["status"], job["reason"]) == ("finishedWithError", "RunnerDied")
