"""The local engine's pieces (command mapping, env, copies) and the engine itself in mount mode,
with real processes in temporary directories (no network)."""
import os
import signal
import time
from pathlib import Path

import pytest

from pman import config, jobs
from pman.engines import base
from pman.engines.local import engine as local, jobdb, privileges, processes, runner


def wait_finished(engine, jid, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        info = engine.info(jid)
        if info.status.finished:
            return info
        assert time.monotonic() < deadline, f"{jid} not finished: {info}"
        time.sleep(0.05)


def wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "work", tmp_path / "store"


def make_engine(dirs, **settings):
    cfg = config.from_sources({"workdir": str(dirs[0]), "store_base": str(dirs[1]), **settings}, {})
    return local.LocalEngine(cfg.local, reconcile_interval=0.2)


@pytest.fixture
def engine(dirs):
    e = make_engine(dirs)
    yield e
    e.close()


def push_input(store: Path, jid: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = store / f"key-{jid}" / "incoming" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def submit(engine, jid, cmd):
    return engine.submit(jobs.from_run_meta({"jid": jid, "cmd": cmd}))


# ---------------------------------------------------------------- pure pieces

def test_local_argv_maps_share_paths(tmp_path):
    argv = runner.local_argv(("app", "--in=/share/incoming/x", "/share/other", "/share/incoming", "/share/outgoing"),
                             "/share/incoming", "/share/outgoing", tmp_path)
    assert argv == ["app", f"--in={tmp_path}/incoming/x", f"{tmp_path}/other", f"{tmp_path}/incoming",
                    f"{tmp_path}/outgoing"]


def test_local_argv_custom_dirs_and_shell(tmp_path):
    assert runner.local_argv(("app", "/data/in", "/data/out"), "/data/in", "/data/out", tmp_path) == \
        ["app", f"{tmp_path}/incoming", f"{tmp_path}/outgoing"]
    wd = tmp_path / "a b"
    argv = runner.local_argv(("/bin/sh", "-c", "ls /share/incoming > /share/outgoing/ls.txt; echo /shared"),
                             "/share/incoming", "/share/outgoing", wd)
    assert argv == ["/bin/sh", "-c", f"ls '{wd}/incoming' > '{wd}/outgoing'/ls.txt; echo /shared"]


def test_job_env_is_an_explicit_list(tmp_path):
    env = privileges.job_env({"PATH": "/bin", "ST_KEY": "k", "OS_PASSWORD": "p", "SWIFT_CREDENTIALS": "/c",
                              "GITHUB_TOKEN": "t", "LANG": "C", "LC_ALL": "C.UTF-8", "HOME": "/root",
                              "PYTHONPATH": "/src", "SOME_KEY": "v"},
                             tmp_path, {"number_of_workers": 2, "cpu_limit": "1000m"}, {"MINE": "1"})
    assert env == {"PATH": "/bin", "LANG": "C", "LC_ALL": "C.UTF-8", "HOME": f"{tmp_path}/tmp",
                   "TMPDIR": f"{tmp_path}/tmp", "MINE": "1", "NUMBER_OF_WORKERS": "2", "CPU_LIMIT": "1000m",
                   "MEMORY_LIMIT": "", "GPU_LIMIT": "0"}
    user = privileges.JobUser("nobody", 65534, 65534)
    assert privileges.job_env({}, tmp_path, {}, {}, user)["USER"] == "nobody"
    assert privileges.job_env({}, tmp_path, {}, {})["PATH"] == os.defpath


def test_runner_env_has_nothing_but_what_python_needs():
    assert privileges.runner_env({"PATH": "/bin", "PYTHONPATH": "/src", "ST_KEY": "k", "LC_CTYPE": "C",
                                  "HOME": "/root", "HTTPS_PROXY": "http://u:p@proxy"}) == \
        {"PATH": "/bin", "PYTHONPATH": "/src", "LC_CTYPE": "C"}


def test_copy_tree_skips_symlinks(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_text("a")
    (src / "link").symlink_to("/etc/passwd")
    log = []

    class Log:
        write = log.append
    assert runner.copy_tree(src, tmp_path / "dst", Log) == (1, 1)
    assert (tmp_path / "dst" / "sub" / "a.txt").read_text() == "a"
    assert not os.path.lexists(tmp_path / "dst" / "link")
    assert "skipped symbolic link" in log[0]


# ---------------------------------------------------------------- the engine

def test_success_copies_output_back_to_the_store(engine, dirs):
    push_input(dirs[1], "j1", {"a.txt": "hello", "d/b.txt": "bee"})
    info = submit(engine, "j1", "cp -r /share/incoming /share/outgoing")
    assert info.status in (base.JobStatus.notstarted, base.JobStatus.started)
    info = wait_finished(engine, "j1")
    assert (info.status, info.exit_code, info.reason) == (base.JobStatus.finishedSuccessfully, 0, "")
    out = dirs[1] / "key-j1" / "outgoing" / "incoming"
    assert (out / "a.txt").read_text() == "hello" and (out / "d" / "b.txt").read_text() == "bee"
    assert info.started_at and info.finished_at
    assert [k for k in os.listdir(dirs[1] / "key-j1") if k.startswith(".")] == []


def test_nonzero_exit_still_puts_output(engine, dirs):
    push_input(dirs[1], "j2", {"a.txt": "x"})
    submit(engine, "j2", "sh -c 'echo partial > /share/outgoing/r.txt; echo oops >&2; exit 3'")
    info = wait_finished(engine, "j2")
    assert (info.status, info.exit_code, info.reason) == (base.JobStatus.finishedWithError, 3, "ProcessorError")
    assert "run failed (exit code 3): oops" in info.message
    assert (dirs[1] / "key-j2" / "outgoing" / "r.txt").read_text() == "partial\n"
    assert "oops" in engine.logs("j2")["run"]


def test_missing_input_fails_the_get_step(engine):
    submit(engine, "j3", "true")
    info = wait_finished(engine, "j3")
    assert (info.reason, info.exit_code) == ("InputError", None)
    assert "no input" in engine.logs("j3")["get"] and "run" not in engine.logs("j3")


def test_concurrency_limit_queues(dirs, gates):
    engine = make_engine(dirs, max_jobs=1)
    gate = gates / "gate"  # the jobs end when the test says so, not after a guessed delay
    try:
        for jid in ("q1", "q2"):
            push_input(dirs[1], jid, {"a": "a"})
            submit(engine, jid, f"sh -c 'while [ ! -e {gate} ]; do sleep 0.05; done'")
        wait_for(lambda: engine.info("q1").message == "running: step run")
        assert engine.info("q2").status is base.JobStatus.notstarted
        assert "queued" in engine.info("q2").message
        gate.touch()
        wait_finished(engine, "q1")
        assert wait_finished(engine, "q2").status is base.JobStatus.finishedSuccessfully
    finally:
        engine.close()


def test_duplicate_and_unknown(engine, dirs):
    push_input(dirs[1], "d1", {"a": "a"})
    submit(engine, "d1", "true")
    with pytest.raises(base.JobExists):
        submit(engine, "d1", "true")
    with pytest.raises(base.JobNotFound):
        engine.info("nope")
    with pytest.raises(base.JobNotFound):
        engine.remove("nope")


def test_delete_kills_a_running_job(engine, dirs):
    push_input(dirs[1], "k1", {"a": "a"})
    submit(engine, "k1", "sh -c 'echo pid $$; exec sleep 60'")
    wait_for(lambda: engine.logs("k1").get("run", "").endswith("\n"))
    pid = int(engine.logs("k1")["run"].split()[1])
    job_dir = Path(engine.store.get("k1").plan["job_dir"])
    assert job_dir.is_dir()
    engine.remove("k1")
    assert processes.start_time(pid) is None
    with pytest.raises(base.JobNotFound):
        engine.info("k1")
    assert not job_dir.exists()


def test_runner_survives_engine_restart_and_dead_runner_is_marked(dirs):
    push_input(dirs[1], "s1", {"a": "a"})
    push_input(dirs[1], "s2", {"a": "a"})
    first = make_engine(dirs)
    submit(first, "s1", "sleep 0.8")
    submit(first, "s2", "sleep 60")
    wait_for(lambda: first.store.get("s2").runner_pid)
    first.close()
    row = jobdb.JobStore(dirs[0] / "pman.sqlite").get("s2")
    os.killpg(row.runner_pid, signal.SIGKILL)  # the runner dies (e.g. host OOM), not only pman
    second = make_engine(dirs)
    try:
        assert wait_finished(second, "s1").status is base.JobStatus.finishedSuccessfully
        info = wait_finished(second, "s2")
        assert (info.status, info.reason) == (base.JobStatus.finishedWithError, "RunnerDied")
    finally:
        second.close()
