"""pman-client at its own seam, without network: ``socket.create_connection`` is replaced by a fake
socket that records every write and replays an original-pman reply; and the client's exact bytes
through our pman app in-process."""
import io
import json

import pytest

from pman import client as pman_client
from pman.engines import base as pman_engine_base

# ----------------------------------------------------------------------------- pman


class FakeSocket:
    """Records each write; replays ``reply`` to HTTPResponse through makefile()."""

    def __init__(self, reply: bytes):
        self.writes, self.reply, self.closed = [], reply, False

    def sendall(self, data):
        self.writes.append(bytes(data))

    def makefile(self, mode):
        return io.BytesIO(self.reply)

    def close(self):
        self.closed = True


def pman_reply(obj, status="200 OK") -> bytes:
    """The original pman's framing: HTTP/1.1, application/html, Content-Length, connection kept."""
    body = json.dumps(obj, indent=4).encode()
    return (f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nContent-Type: application/html\r\n\r\n"
            ).encode() + body


@pytest.fixture
def pman_socket(monkeypatch):
    """``pman_socket(*replies)``: the next connections get these replies; returns the sockets."""
    made = []

    def install(*replies):
        queue = list(replies)

        def connect(address, timeout=None):
            if not queue:
                raise ConnectionRefusedError(111, "Connection refused")
            sock = FakeSocket(queue.pop(0))
            made.append(sock)
            return sock

        monkeypatch.setattr(pman_client.socket, "create_connection", connect)
        return made

    return install


def _request(sock: FakeSocket):
    head, _, body = sock.writes[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return lines[0], dict(line.split(": ", 1) for line in lines[1:]), json.loads(body)


def test_pman_request_is_one_write_with_the_payload_wrapper(pman_socket):
    socks = pman_socket(pman_reply({"status": True, "d_ret": {"name": "pman", "version": "x"}}))
    d_ret = pman_client.PmanClient("127.0.0.1:5010", token="tok").hello()
    assert d_ret["name"] == "pman"
    assert len(socks[0].writes) == 1 and socks[0].closed
    start, headers, body = _request(socks[0])
    assert start == "POST /api/v1/cmd HTTP/1.1"
    assert headers["Mode"] == "control" and headers["Authorization"] == "bearer tok"
    assert int(headers["Content-Length"]) == len(json.dumps(body))
    assert body == {"payload": {"action": "hello", "meta": {"askAbout": "timestamp"}}}


def test_pman_run_sends_pfcons_run_message(pman_socket):
    socks = pman_socket(pman_reply({"status": True, "action": "run"}))
    pman_client.PmanClient().run("chris-jid-9", "python p.py /share/incoming /share/outgoing", image="img")
    meta = _request(socks[0])[2]["payload"]["meta"]
    assert meta["jid"] == "chris-jid-9" and meta["threaded"] is True
    assert meta["cmd"].split()[-2:] == ["/share/incoming", "/share/outgoing"]
    assert meta["number_of_workers"] == "1" and isinstance(meta["gpu_limit"], int)
    assert meta["container"]["target"]["image"] == "img"


def test_pman_run_without_image_sends_no_container_section(pman_socket):
    """The original pman treats a "container" section as "run in a container (swarm)"."""
    socks = pman_socket(pman_reply({"status": True}))
    pman_client.PmanClient().run("j", "true /share/incoming /share/outgoing")
    assert "container" not in _request(socks[0])[2]["payload"]["meta"]


def test_pman_status_false_without_message_shows_d_ret(pman_socket):
    pman_socket(pman_reply({"status": False, "d_ret": {"l_status": []}}))
    with pytest.raises(pman_client.ClientError, match=r'status false, d_ret \{"l_status": \[\]\}'):
        pman_client.PmanClient().status("nojob")


def test_pman_status_and_wait_until_every_item_finished(pman_socket, monkeypatch):
    monkeypatch.setattr(pman_client.time, "sleep", lambda s: None)
    states = [["notstarted"], ["started"], ["finishedWithError"]]
    socks = pman_socket(*[pman_reply({"status": True, "d_ret": {"l_status": s, "l_logs": ["boom\n"]}})
                          for s in states])
    seen = []
    state = pman_client.PmanClient().wait("j", on_poll=lambda st: seen.append(st.l_status))
    assert seen == [tuple(s) for s in states] and len(socks) == 3
    assert state.finished and not state.succeeded and "boom" in state.logs
    assert _request(socks[0])[2]["payload"] == {"action": "status", "meta": {"key": "jid", "value": "j"}}


def test_job_state_rules():
    assert pman_client.JobState("j", ("finishedSuccessfully", "finishedSuccessfully")).succeeded
    assert not pman_client.JobState("j", ("finishedSuccessfully", "started")).finished
    assert not pman_client.JobState("j", ()).finished


def test_pman_error_reply_is_a_client_error(pman_socket):
    pman_socket(pman_reply({"status": False, "error": "unknown job j"}, status="404 NOT FOUND"))
    with pytest.raises(pman_client.ClientError, match="status: pman answered HTTP 404: unknown job j"):
        pman_client.PmanClient().status("j")


def test_pman_cli_exit_codes(pman_socket, capsys):
    """0 success, 1 any failure (a job that failed, a server error reply, no server), 2 usage."""
    pman_socket(pman_reply({"status": True, "d_ret": {"l_status": ["finishedWithError"],
                                                      "description": "exit code 3"}}))
    assert pman_client.main(["status", "j"]) == 1
    assert capsys.readouterr().out.strip() == "j: finishedWithError - exit code 3"
    socks = pman_socket(pman_reply({"status": True}))
    assert pman_client.main(["run", "j2", "--", "python", "a b.py", "/share/incoming", "/share/outgoing"]) == 0
    assert _request(socks[-1])[2]["payload"]["meta"]["cmd"] == "python 'a b.py' /share/incoming /share/outgoing"
    pman_socket(pman_reply({"status": False, "error": "unknown job j"}, status="404 NOT FOUND"),
                pman_reply({"status": False, "error": "job 'j2' exists already"}, status="409 CONFLICT"))
    assert pman_client.main(["delete", "j"]) == 1
    assert pman_client.main(["run", "j2", "--", "true"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "pman-client: error: delete: pman answered HTTP 404: unknown job j",
        "pman-client: error: run: pman answered HTTP 409: job 'j2' exists already"]
    assert pman_client.main(["--pman", "127.0.0.1:9", "--timeout", "1", "logs", "j"]) == 1  # no more replies: refused


def test_pman_cli_delete_sends_the_delete_message(pman_socket, capsys):
    """It used not to without --json (the call sat inside the print's condition)."""
    socks = pman_socket(pman_reply({"status": True, "d_ret": {"status": "deleted"}}))
    assert pman_client.main(["delete", "j"]) == 0
    assert _request(socks[0])[2]["payload"] == {"action": "delete", "meta": {"key": "jid", "value": "j"}}
    assert capsys.readouterr().out == "j: deleted\n"


def test_pman_cli_delete_says_what_became_of_the_data(pman_socket, capsys):
    pman_socket(pman_reply({"status": True, "d_ret": {"status": "deleted", "data": "deleted",
                                                      "data_detail": "Swift container j"}}))
    assert pman_client.main(["delete", "j"]) == 0
    assert capsys.readouterr().out == "j: deleted; its data: deleted (Swift container j)\n"


@pytest.mark.parametrize("argv, message", [
    (["run", "j"], "pman-client run: error: no command given"),
    (["run", "j", "--"], "pman-client run: error: no command given"),
    (["--pman", "ftp://h:1", "hello"], "pman-client: error: not a pman URL: 'ftp://h:1'"),
    (["status"], "pman-client status: error: the following arguments are required: JID"),
    (["--timeout", "soon", "hello"], "pman-client: error: argument --timeout: invalid float value"),
])
def test_pman_cli_usage_errors_exit_2_before_any_request(pman_socket, capsys, argv, message):
    socks = pman_socket()
    with pytest.raises(SystemExit) as exc:
        pman_client.main(argv)
    assert exc.value.code == 2 and socks == []
    err = capsys.readouterr().err
    assert err.startswith("usage: pman-client") and message in err


# ----------------------------------------------------------------------------- our pman, in-process


class FakeEngine(pman_engine_base.Engine):
    """An engine at pman's own seam: jobs finish with the exit code their command asks for."""

    name = "fake"

    def __init__(self):
        self.jobs = {}

    def submit(self, spec):
        code = 3 if "fail" in spec.command else 0
        status = (pman_engine_base.JobStatus.finishedWithError if code
                  else pman_engine_base.JobStatus.finishedSuccessfully)
        self.jobs[spec.jid] = pman_engine_base.JobInfo(spec.jid, spec.image, " ".join(spec.command), status,
                                                       message=f"exit code {code}", exit_code=code)
        return self.jobs[spec.jid]

    def info(self, jid):
        if jid not in self.jobs:
            raise pman_engine_base.JobNotFound(f"unknown job {jid}")
        return self.jobs[jid]

    def logs(self, jid, tail=None):
        self.info(jid)
        return {"run": f"log of {jid}\n"}

    def remove(self, jid):
        self.info(jid)
        del self.jobs[jid]
        return pman_engine_base.Removal()


def test_pman_client_against_our_pman_app(monkeypatch):
    """The client's exact bytes through our pman app (legacy message API), engine faked."""
    from pman import app as pman_app, config as pman_config
    flask_app = pman_app.create_app(pman_config.PmanConfig(), engine=FakeEngine(), shutdown=lambda: None)
    test_client = flask_app.test_client()
    client = pman_client.PmanClient("127.0.0.1:5010")

    def exchange(body):
        raw = client._request_bytes(body)
        head, _, payload = raw.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
        r = test_client.post(client.path, data=payload, headers=headers)
        return r.status_code, r.get_data()

    monkeypatch.setattr(client, "_exchange", exchange)
    assert client.hello()["name"] == "pman"
    client.run("jid-ok", "python p.py /share/incoming /share/outgoing")
    assert client.status("jid-ok").succeeded
    client.run("jid-bad", "python fail /share/incoming /share/outgoing")
    state = client.wait("jid-bad", interval=0)
    assert state.finished and not state.succeeded and "log of jid-bad" in state.logs
    client.delete("jid-ok")
    with pytest.raises(pman_client.ClientError, match="status: pman answered HTTP 404"):
        client.status("jid-ok")
