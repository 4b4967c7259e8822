"""tools/ports.py: servers bind first and we learn their port; nothing probes a port and binds later."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tools import ports

# A stand-in server: binds the port it is given (or serves an inherited socket), then waits.
SERVER = """import socket, sys
if sys.argv[1] == "fd":
    s = socket.socket(fileno=int(sys.argv[2]))
else:
    s = socket.socket()
    s.bind(("127.0.0.1", int(sys.argv[2])))
s.listen()
sys.stdin.read()
"""


@pytest.fixture
def spawned():
    procs = []

    def spawn(*args, **kw):
        proc = subprocess.Popen([sys.executable, "-c", SERVER, *args], stdin=subprocess.PIPE, **kw)
        procs.append(proc)
        return proc
    yield spawn
    for proc in procs:
        with proc:  # waits, and closes its stdin pipe
            proc.kill()


def _alive(proc):
    return lambda *_: proc.poll() is None


def test_popen_with_socket_knows_the_port_before_the_server_runs():
    proc, port = ports.popen_with_socket(lambda fd: [sys.executable, "-c", SERVER, "fd", str(fd)],
                                         stdin=subprocess.PIPE)
    with proc:  # waits, and closes its stdin pipe
        try:
            assert ports.wait_listening_port(proc.pid, _alive(proc), 20, "server") == port
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        finally:
            proc.kill()


def test_dead_port_refuses_connections_while_held():
    with ports.dead_port() as port:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)
        with pytest.raises(OSError):  # and nobody else can bind it meanwhile
            ports.bound_socket(port).close()
        with socket.socket() as other, pytest.raises(OSError):
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            other.bind(("127.0.0.1", port))


def test_unreserved_ports_are_outside_the_ephemeral_range():
    low, high = ports.ephemeral_range()
    for _ in range(500):
        port = ports.unreserved_port()
        assert 10000 <= port < 65536 and not low <= port <= high


def test_listen_on_unreserved_port_retries_when_the_port_is_taken(monkeypatch, spawned):
    real = ports.unreserved_port
    with ports.bound_socket() as taken:
        taken.listen()
        first = taken.getsockname()[1]
        picks = iter([first])
        monkeypatch.setattr(ports, "unreserved_port", lambda: next(picks, None) or real())
        children, launched = {}, []

        def launch(port):
            launched.append(port)
            proc = spawned("port", str(port), stderr=subprocess.DEVNULL)
            children[proc.pid] = proc
            return proc.pid

        port = ports.listen_on_unreserved_port(launch, lambda pid: children[pid].poll() is None, "server",
                                               time.monotonic() + 30)
    assert launched[0] == first and port == launched[-1] != first
    assert children[next(iter(children))].returncode != 0, "the server on the taken port exited"
    assert ports.listening_ports(list(children)[-1]) == {port}


def test_wait_listening_port_reports_a_server_that_exits(spawned):
    with ports.bound_socket() as taken:
        taken.listen()
        proc = spawned("port", str(taken.getsockname()[1]), stderr=subprocess.DEVNULL)
        with pytest.raises(RuntimeError, match="server exited before listening"):
            ports.wait_listening_port(proc.pid, _alive(proc), 30, "server")
