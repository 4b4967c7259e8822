"""Stopping the server from inside a request (a ``quit`` message, or pfioh's one-shot mode)."""
from __future__ import annotations

import os
import signal


def stop_server() -> None:
    """Ask the gunicorn arbiter (our parent) for a graceful shutdown: it lets the worker finish
    the reply being sent, then stops."""
    os.kill(os.getppid(), signal.SIGTERM)
