"""The last-resort error handlers both services install: werkzeug's HTTP errors (404, 405,
413...) and anything unexpected become JSON replies like every other error."""
from __future__ import annotations

import logging
from typing import Callable

import flask
import werkzeug.exceptions

Render = Callable[[int, str], flask.Response]
"""Builds the service's JSON error reply from a status and a message."""


def register(app: flask.Flask, render: Render, log: logging.Logger) -> None:
    """Install the fallback handlers on ``app``; the service's own errors keep their handlers
    (Flask picks the most specific one)."""
    @app.errorhandler(werkzeug.exceptions.HTTPException)
    def _http_error(e: werkzeug.exceptions.HTTPException):
        message = e.description or e.name
        limit = app.config.get("MAX_CONTENT_LENGTH")
        if isinstance(e, werkzeug.exceptions.RequestEntityTooLarge) and limit:
            message = f"upload too large: the limit is {limit} bytes"
        return render(e.code or 500, message)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        # The traceback goes to the log; the client learns only the kind of failure.
        log.exception("unexpected error")
        return render(500, f"internal error ({e.__class__.__name__})")
