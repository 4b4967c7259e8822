"""Loopback ports without races: the server binds first, then we learn its port.

Probing a free port (bind 0, close, hand the number on) is a race: the kernel gives that number
to any outgoing connection as its source port until the server binds it, and on a busy CI machine
that happens.  So nothing here hands out a port that nobody holds:

- :func:`bound_socket` binds a socket (port 0 = any) that we hand to a gunicorn server as an
  inherited file descriptor (``--listen-fd N`` for pfioh and pman, ``--bind fd://N`` for
  Keystone), via :func:`popen_with_socket`; the port is ours from the bind on;
- :func:`wait_listening_port` reads the port a process listens on from ``/proc``;
- :func:`listen_on_unreserved_port` starts a server that can take neither an inherited socket nor
  port 0 (memcached: ``-p 0`` means "no TCP"; Swift refuses ``bind_port = 0``) on a random port
  outside the kernel's ephemeral range, which no outgoing connection is ever given; if another
  server holds it, ours exits and we retry with another port, so nothing fails silently;
- :func:`dead_port` holds a bound, non-listening socket: connections to it are refused for as
  long as it is held, and no server can appear there.

Standard library only.  Linux only: ``/proc`` is read.
"""
from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

HOST = "127.0.0.1"
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def bound_socket(port: int = 0, host: str = HOST) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: the kernel picks), not listening yet.

    An explicit port gets SO_REUSEADDR, so it can be bound again while old connections are in
    TIME_WAIT; port 0 does not: Linux lets two SO_REUSEADDR sockets share a port until one listens.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def popen_with_socket(make_argv: Callable[[int], list[str]], port: int = 0,
                      **popen_kw) -> tuple[subprocess.Popen, int]:
    """Start a server on a socket bound here and inherited by it.

    :param make_argv: builds the argv from the socket's file descriptor number (in the child it
        has the same number).
    :returns: the process and its port, which is bound before the process even starts.
    """
    with bound_socket(port) as sock:
        fd = sock.fileno()
        proc = subprocess.Popen(make_argv(fd), pass_fds=(fd,), **popen_kw)
        return proc, sock.getsockname()[1]
    # Our copy closes here; the child's stays open (and listening once the server starts).


@contextlib.contextmanager
def dead_port() -> Iterator[int]:
    """A loopback port that refuses connections while the ``with`` block runs.

    The socket is bound but never listens: the port cannot be taken by anyone else meanwhile.
    """
    with bound_socket() as sock:
        yield sock.getsockname()[1]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for entry in os.scandir(fd_dir):
        try:
            target = os.readlink(entry.path)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (from /proc; empty if it has gone)."""
    try:
        inodes = _socket_inodes(pid)
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def wait_listening_port(pid: int, alive: Callable[[], bool], timeout: float, what: str,
                        expect: int | None = None) -> int:
    """Wait until process ``pid`` listens on ``expect``, or (None) on exactly one TCP port; return it.

    :param alive: False once the process has died (then waiting is pointless).
    :raises RuntimeError: it died, or did not listen within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        ports = listening_ports(pid)
        if expect is not None:
            if expect in ports:
                return expect
        elif len(ports) == 1:
            return ports.pop()
        elif len(ports) > 1:
            raise RuntimeError(f"{what} listens on several ports: {sorted(ports)}")
        if not alive():
            raise RuntimeError(f"{what} exited before listening")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen within {timeout:.0f}s")
        time.sleep(0.05)


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of source ports for outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def unreserved_port(rng: random.Random | None = None) -> int:
    """A random port outside the ephemeral range (and above 10000, clear of well-known services).

    No outgoing connection is given such a port, so only a server binding it explicitly can hold
    it: the caller must check that its server did bind it, and retry with another one if not.
    """
    rng = rng or random.Random()
    low, high = ephemeral_range()
    candidates = [r for r in (range(10000, low), range(high + 1, 65536)) if len(r)]
    if not candidates:
        raise RuntimeError(f"no ports outside the ephemeral range {low}-{high}")
    weights = [len(r) for r in candidates]
    return rng.choice(rng.choices(candidates, weights)[0])


def listen_on_unreserved_port(launch: Callable[[int], int], alive: Callable[[int], bool], what: str,
                              deadline: float, attempts: int = 8) -> int:
    """Start a server on a random port outside the ephemeral range; retry if it cannot bind it.

    :param launch: starts the server on the given port, returns its pid.
    :param alive: whether that pid still runs (a server that cannot bind its port must exit).
    :returns: the port the server listens on.
    :raises RuntimeError: it did not listen by ``deadline`` (``time.monotonic()``), or no attempt
        could bind.
    """
    for _ in range(attempts):
        port = unreserved_port()
        pid = launch(port)
        try:
            return wait_listening_port(pid, lambda pid=pid: alive(pid), max(0.0, deadline - time.monotonic()),
                                       what, expect=port)
        except RuntimeError:
            if alive(pid) or time.monotonic() > deadline:
                raise
            # it exited: most likely the port was taken; try another
    raise RuntimeError(f"{what} exited on each of {attempts} random ports (see its log)")
