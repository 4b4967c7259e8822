"""Run a WSGI app on gunicorn from our own command line (``pfioh``, ``pman``), not ``http.server``.

gunicorn's gthread worker gives real HTTP/1.1 framing, ``Expect: 100-continue`` (libcurl sends it for
large uploads) and graceful shutdown on SIGTERM/SIGINT.
"""
from __future__ import annotations

import logging
from typing import Callable

from gunicorn.app.base import BaseApplication

log = logging.getLogger("httpkit.serve")


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
            name: str = "app", access_log: bool = False, loglevel: str = "info") -> dict:
    """gunicorn settings for one of our services (a pure function, so it can be tested)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
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
    }


def run(app_factory: Callable, *, host: str, port: int, workers: int = 1, threads: int = 8,
        timeout: int = 3600, name: str = "app", access_log: bool = False, loglevel: str = "info") -> None:
    """Serve ``app_factory()`` until SIGTERM/SIGINT.  Blocks."""
    opts = options(host=host, port=port, workers=workers, threads=threads, timeout=timeout,
                   name=name, access_log=access_log, loglevel=loglevel)
    log.info("%s listening on http://%s:%d (%d worker(s) x %d threads)", name, host, port, workers, threads)
    _Application(app_factory, opts).run()
