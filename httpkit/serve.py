"""Run a WSGI app on gunicorn from our own command line (``pfioh``, ``pman``), not ``http.server``.

gunicorn gives real HTTP/1.1 framing, ``Expect: 100-continue`` (libcurl sends it for large uploads)
and graceful shutdown on SIGTERM/SIGINT.  The worker is gthread with the request head read by the
poller (:mod:`httpkit.worker`): slow or idle clients never hold a thread (docs/serving.md).
"""
from __future__ import annotations

import logging
import os
import socket
from typing import Callable

from gunicorn.app.base import BaseApplication

from httpkit import worker

log = logging.getLogger("httpkit.serve")
DEFAULT_READ_TIMEOUT = 60.0


class _Application(BaseApplication):
    def __init__(self, app_factory: Callable, options: dict):
        self._factory = app_factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        # Called in each worker after the fork, so engines, thread pools and connections are
        # created in the process that uses them.
        return self._factory()


def options(*, host: str, port: int, workers: int = 1, threads: int = 8, timeout: int = 3600,
            name: str = "app", access_log: bool = False, loglevel: str = "info",
            listen_fd: int | None = None, read_timeout: float = DEFAULT_READ_TIMEOUT) -> dict:
    """gunicorn settings for one of our services (a pure function, so it can be tested).

    :param listen_fd: serve on this inherited, already bound socket instead of binding
        ``host:port``: whoever started us bound it (port 0 for any) and so knows the port with
        no window in which another process could take it.
    :param read_timeout: seconds a client may take to send a request head (plus a small body),
        and may stall while sending a large body, before the server gives up on it.
    """
    return {
        "bind": f"fd://{listen_fd}" if listen_fd is not None else f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": worker.worker_class(read_timeout),
        # Idle and slow connections cost a file descriptor and a buffer each, not a thread.
        "worker_connections": 1000,
        # Long transfers are normal here (GiB pushes); a worker that is streaming is not hung.
        "timeout": timeout,
        "graceful_timeout": 30,
        "keepalive": 5,
        "proc_name": name,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": loglevel,
        # pfurl/pfcon put a Python-literal meta dict in the query string: allow long request lines.
        "limit_request_line": 16384,
        "forwarded_allow_ips": "127.0.0.1",
        # gunicorn >= 25 opens a control socket at one path per user ($HOME/.gunicorn/gunicorn.ctl):
        # every server of ours would fight over it, and we never use it.
        "control_socket_disable": True,
    }


def socket_address(fd: int) -> tuple[str, int]:
    """The (host, port) an inherited socket is bound to.

    :raises OSError: ``fd`` is not an open, bound TCP socket (say so before gunicorn starts).
    """
    try:
        dup = os.dup(fd)
    except OSError as e:
        raise OSError(f"file descriptor {fd}: {e.strerror}") from None
    with socket.socket(fileno=dup) as sock:
        if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
            raise OSError(f"file descriptor {fd} is not a TCP socket")
        host, port = sock.getsockname()[:2]
    if not port:
        raise OSError(f"the socket of file descriptor {fd} is not bound to a port")
    return host, port


def run(app_factory: Callable, *, host: str, port: int, workers: int = 1, threads: int = 8,
        timeout: int = 3600, name: str = "app", access_log: bool = False, loglevel: str = "info",
        listen_fd: int | None = None, read_timeout: float = DEFAULT_READ_TIMEOUT) -> None:
    """Serve ``app_factory()`` until SIGTERM/SIGINT.  Blocks.  See :func:`options`."""
    opts = options(host=host, port=port, workers=workers, threads=threads, timeout=timeout,
                   name=name, access_log=access_log, loglevel=loglevel, listen_fd=listen_fd,
                   read_timeout=read_timeout)
    if listen_fd is not None:
        host, port = socket_address(listen_fd)
    log.info("%s listening on http://%s:%d (%d worker(s) x %d threads)", name, host, port, workers, threads)
    _Application(app_factory, opts).run()

