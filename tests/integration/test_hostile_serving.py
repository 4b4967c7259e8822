"""Issue 12 against the real pfioh and pman processes on loopback: slow and idle clients do not
freeze them, pman bounds bodies on the wire, and neither serves beyond loopback without auth.

Bounded in count (40 slow + 40 idle connections, 2 request threads both held by stalled bodies) and
in time (a 15 s read timeout); no fixed sleeps: every wait is for a condition, with a generous limit.
"""
from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.pman_driver import pman_argv

BIN = Path(sys.executable).parent
READ_TIMEOUT = 15
SLOW, IDLE = 40, 40


def _pfioh(server_factory, tmp_path):
    server = server_factory(["pfioh", "--forever", "--storeBase", str(tmp_path / "store"), "--threads", "2",
                             "--read-timeout", str(READ_TIMEOUT)])
    return server, lambda: requests.post(server.url + "/api/v1/cmd", timeout=30,
                                          data=json.dumps({"payload": {"action": "hello", "meta": {}}}))


def _pman(server_factory, tmp_path):
    server = server_factory(pman_argv(tmp_path / "work", "--threads", "2", "--read-timeout", str(READ_TIMEOUT)))
    return server, lambda: requests.get(server.url + "/api/v1/", timeout=30)


SERVICES = {"pfioh": _pfioh, "pman": _pman}


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def _still_open(sock: socket.socket) -> bool:
    """Nothing to read yet: the server neither answered nor closed this connection."""
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable


def _closed_by_server(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (fails after 60 s + the timeout)."""
    sock.settimeout(READ_TIMEOUT + 60)
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


@pytest.mark.parametrize("service", SERVICES)
def test_slow_and_idle_clients_do_not_freeze_the_service(server_factory, tmp_path, service):
    server, normal_request = SERVICES[service](server_factory, tmp_path)
    slow, idle = [], []
    try:
        for i in range(SLOW):
            sock = _connect(server.port)
            # A head that never ends (half the slow ones mid-line), or a small body that never comes.
            if i % 3 == 0:
                sock.sendall(b"POST /api/v1/cmd HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"pay")
            else:
                sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n" + (b"X-Slow: ab" if i % 2 else b""))
            slow.append(sock)
        idle = [_connect(server.port) for _ in range(IDLE)]
        # Bodies streamed by a request thread that stall: they hold both request threads.
        for _ in range(2):
            sock = _connect(server.port)
            sock.sendall(b"POST /api/v1/cmd HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"10\r\n{\"payload\": {\"ac\r\n")
            slow.append(sock)

        for _ in range(3):  # probes have threads of their own
            health = requests.get(server.url + "/api/v1/health", timeout=30)
            assert health.status_code == 200 and health.json()["status"] == "ok"
        assert all(_still_open(sock) for sock in slow + idle), "the server dropped them early"
        # A normal request gets a thread once the stalled bodies' reads time out.
        reply = normal_request()
        assert reply.status_code == 200, reply.text

        # The server ends them itself: a 408 to those that started a request, then closes.
        for sock in slow[:SLOW]:
            received = _closed_by_server(sock)
            assert received.startswith(b"HTTP/1.1 408 "), received[:200]
            assert b'"request timeout' in received
        for sock in slow[SLOW:]:
            _closed_by_server(sock)  # with whatever error the app makes of the timed-out read
        for sock in idle:
            assert _closed_by_server(sock) == b""
        assert requests.get(server.url + "/api/v1/health", timeout=30).status_code == 200
    finally:
        for sock in slow + idle:
            sock.close()


def test_pman_answers_413_to_a_huge_declared_body_without_reading_it(server_factory, tmp_path):
    server, _ = _pman(server_factory, tmp_path)
    for path in (b"/api/v1/", b"/api/v1/cmd"):
        with _connect(server.port) as sock:
            sock.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 200000000\r\n\r\n{\"jid\": ")
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                assert chunk, head
                head += chunk
            assert head.startswith(b"HTTP/1.1 413 "), head[:200]


def test_pman_echoes_no_credential_header_on_the_wire(server_factory, tmp_path):
    server, _ = _pman(server_factory, tmp_path)
    reply = requests.post(server.url + "/api/v1/cmd", data=json.dumps({"action": "hello", "meta": {}}), timeout=30,
                          headers={"Cookie": "session=c00kie", "Proxy-Authorization": "Basic pr0xy",
                                   "X-Auth-Token": "sw1ft"})
    assert reply.status_code == 200
    assert not {"c00kie", "pr0xy", "sw1ft"} & set(reply.text.replace('"', " ").replace("=", " ").split())
    assert "c00kie" not in reply.text and "Cookie: <redacted>" in "".join(reply.json()["receivedByServer"])


@pytest.mark.parametrize("argv", [
    ["pfioh", "--forever", "--ip", "0.0.0.0", "--port", "1"],
    ["pman", "--ip", "0.0.0.0", "--port", "1"],
    ["pman", "--ip", "::", "--port", "1"],
])
def test_neither_service_serves_beyond_loopback_without_auth(tmp_path, argv):
    """Refused before binding anything (port 1 would need root anyway)."""
    extra = ["--storeBase", str(tmp_path)] if argv[0] == "pfioh" else ["--workdir", str(tmp_path)]
    done = subprocess.run([str(BIN / argv[0]), *argv[1:], *extra], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "without token auth" in done.stderr and "--insecure-open" in done.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_a_request_line_over_gunicorns_limit_is_a_json_414(server_factory, tmp_path, service):
    """gunicorn refuses request lines over 8190 bytes itself: the answer is still our JSON."""
    server, _ = SERVICES[service](server_factory, tmp_path)
    resp = requests.get(f"{server.url}/api/v1/cmd/?pad={'x' * 9000}", timeout=30)
    assert resp.status_code == 414 and resp.headers["Content-Type"] == "application/json"
    assert resp.json()["status"] is False and "8190 bytes" in resp.json()["error"]
    assert requests.get(f"{server.url}/api/v1/health", timeout=30).status_code == 200
