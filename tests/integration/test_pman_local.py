"""pman's local engine end to end in mount mode (the store shared with pfioh): the real server on
gunicorn, the real pfurl CLI, a restart of pman in the middle of a job, delete of a running job."""
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from pman.engines.local import jobdb
from tests.support.pman_driver import gated, pfurl, pman_argv, rest, wait_message, wait_pfurl, wait_rest


@pytest.fixture
def dirs(tmp_path):
    (tmp_path / "cwd").mkdir()
    return tmp_path / "work", tmp_path / "store", tmp_path / "cwd"


@pytest.fixture
def gates():
    """A directory for gate and marker files that a job sees also when it runs as another user (a
    root pman's default; pytest's own temporary directories are private to root)."""
    top = Path(tempfile.mkdtemp(prefix="pman-gates-"))
    os.chmod(top, 0o1777)
    yield top
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def start_pman(server_factory, dirs):
    def start(*extra):
        return server_factory(pman_argv(dirs[0], "--storeBase", str(dirs[1]), *extra))
    return start


def push(store, jid, files):
    for name, text in files.items():
        path = store / f"key-{jid}" / "incoming" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def new_jid():
    return f"chris-jid-{uuid.uuid4().hex[:8]}"


def test_message_api_with_the_real_pfurl(start_pman, dirs):
    server = start_pman()
    store, cwd = dirs[1], dirs[2]
    jid = new_jid()
    push(store, jid, {"a.txt": "hello"})
    hello = pfurl(server.url, "hello", {"askAbout": "timestamp"}, cwd)
    assert hello["status"] is True and hello["d_ret"]["name"] == "pman"
    run = pfurl(server.url, "run", {"jid": jid, "cmd": "cp -r /share/incoming /share/outgoing", "auid": "chris",
                                    "threaded": True, "number_of_workers": "1", "cpu_limit": "1000m",
                                    "memory_limit": "200Mi", "gpu_limit": 0,
                                    "container": {"target": {"image": "busybox", "cmdParse": False}}}, cwd)
    assert run["status"] is True and run["action"] == "run"
    d_ret = wait_pfurl(server.url, jid, cwd)["d_ret"]
    assert d_ret["l_status"] == ["finishedSuccessfully"]
    assert (store / f"key-{jid}" / "outgoing" / "incoming" / "a.txt").read_text() == "hello"
    # pfcon's own status form
    reply = pfurl(server.url, "status", {"remote": {"key": jid}}, cwd)
    assert reply["d_ret"]["l_status"] == ["finishedSuccessfully"]
    done = pfurl(server.url, "done", {"key": "jid", "value": jid}, cwd)
    assert "l_status" not in done["d_ret"] and done["d_ret"]["exitcode"] == 0
    info = pfurl(server.url, "info", {"key": "jid", "value": jid}, cwd)
    assert info["d_ret"]["0.1"][jid]["endInfo"]["allJobsDone"] is True
    missing = pfurl(server.url, "status", {"key": "jid", "value": "no-such-job"}, cwd)
    assert missing["status"] is False and "no-such-job" in missing["error"]
    assert pfurl(server.url, "delete", {"key": "jid", "value": jid}, cwd)["d_ret"]["status"] == "deleted"
    assert rest(server.url, "GET", f"/api/v1/{jid}/")[0] == 404


def test_nonzero_exit_over_rest(start_pman, dirs):
    server = start_pman()
    jid = new_jid()
    push(dirs[1], jid, {"a.txt": "x"})
    status, job = rest(server.url, "POST", "/api/v1/", {
        "jid": jid, "image": "busybox", "entrypoint": ["sh", "-c"],
        "args": ["echo report > /share/outgoing/report.txt; echo broken >&2; exit 4"]})
    assert status == 201, job
    job = wait_rest(server.url, jid)
    assert (job["status"], job["exitcode"], job["reason"]) == ("finishedWithError", 4, "ProcessorError")
    assert "broken" in job["logs_by_step"]["run"]
    assert (dirs[1] / f"key-{jid}" / "outgoing" / "report.txt").read_text() == "report\n"
    assert rest(server.url, "POST", "/api/v1/", {"jid": jid, "image": "i", "cmd": "true"})[0] == 409


def test_restart_of_pman_in_the_middle_of_a_job(start_pman, dirs, gates):
    server = start_pman()
    jid = new_jid()
    push(dirs[1], jid, {"a.txt": "x"})
    gate = gates / "gate"
    cmd = gated(gate, "cp /share/incoming/a.txt /share/outgoing/b.txt")
    assert pfurl(server.url, "run", {"jid": jid, "cmd": cmd, "threaded": True}, dirs[2])["status"] is True
    wait_message(server.url, jid, "running: step run")
    assert pfurl(server.url, "status", {"key": "jid", "value": jid}, dirs[2])["d_ret"]["l_status"] == ["started"]
    server.stop()  # SIGTERM to pman's process group: gunicorn exits, the job's runner does not
    server = start_pman()
    assert rest(server.url, "GET", f"/api/v1/{jid}/")[1]["message"] == "running: step run"
    gate.touch()  # only now may the job finish: it was running through the restart
    d_ret = wait_pfurl(server.url, jid, dirs[2])["d_ret"]
    assert d_ret["l_status"] == ["finishedSuccessfully"], d_ret
    assert (dirs[1] / f"key-{jid}" / "outgoing" / "b.txt").read_text() == "x"


def test_delete_of_a_running_job(start_pman, dirs, gates):
    server = start_pman()
    jid = new_jid()
    push(dirs[1], jid, {"a.txt": "x"})
    marker = gates / "never"
    cmd = gated(gates / "never-created", f"touch {marker}")
    pfurl(server.url, "run", {"jid": jid, "cmd": cmd, "threaded": True}, dirs[2])
    wait_message(server.url, jid, "running: step run")
    job_dir = Path(jobdb.JobStore(dirs[0] / "pman.sqlite").get(jid).plan["job_dir"])
    assert job_dir.is_dir()
    assert rest(server.url, "DELETE", f"/api/v1/{jid}/")[0] == 204
    assert rest(server.url, "GET", f"/api/v1/{jid}/")[0] == 404
    assert not job_dir.exists()
    # the processor's group was killed: nothing of it is left running
    assert subprocess.run(["pgrep", "-f", f"touch {marker}"], capture_output=True).returncode == 1
    assert not marker.exists()


def test_queue_beyond_max_jobs_and_bad_requests(start_pman, dirs, gates):
    server = start_pman("--max-jobs", "1")
    jids = [new_jid(), new_jid()]
    gate = gates / "gate"
    for jid in jids:
        push(dirs[1], jid, {"a": "a"})
        assert rest(server.url, "POST", "/api/v1/", {"jid": jid, "image": "i", "cmd": gated(gate, "true")})[0] == 201
    wait_message(server.url, jids[0], "running: step run")
    second = rest(server.url, "GET", f"/api/v1/{jids[1]}/")[1]
    assert second["status"] == "notstarted" and second["message"].startswith("queued"), second
    gate.touch()
    assert wait_rest(server.url, jids[1])["status"] == "finishedSuccessfully"
    assert wait_rest(server.url, jids[0])["status"] == "finishedSuccessfully"
    status, err = rest(server.url, "POST", "/api/v1/", {"jid": "x1", "image": "i", "cmd": "true",
                                                        "resources": {"cpu_limit": "abc"}})
    assert status == 400 and err["fields"] == ["resources.cpu_limit"]


def test_token_auth_with_pfurl(start_pman, dirs, tmp_path):
    tokens = tmp_path / "pman_config.cfg"
    tokens.write_text("[AUTH TOKENS]\ntoken = pman-s3cret\n")
    server = start_pman("--enableTokenAuth", "--tokenPath", str(tokens))
    refused = pfurl(server.url, "hello", {}, dirs[2])
    assert refused["status"] is False and "token" in refused["error"]
    assert pfurl(server.url, "hello", {}, dirs[2], token="wrong")["status"] is False
    assert pfurl(server.url, "hello", {}, dirs[2], token="pman-s3cret")["d_ret"]["name"] == "pman"
    assert rest(server.url, "GET", "/api/v1/")[0] == 401
    assert rest(server.url, "GET", "/api/v1/health")[0] == 200


def test_quit_stops_the_server(start_pman, dirs):
    server = start_pman()
    assert pfurl(server.url, "quit", {"when": "now", "saveDB": True}, dirs[2])["status"] is True
    assert server.proc.wait(20) == 0
