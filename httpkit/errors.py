"""JSON error replies: every client error is a 4xx whose body names the problem."""
from __future__ import annotations

import flask


def json_error(status: int, message: str, **extra) -> flask.Response:
    """A JSON error response: ``{"status": false, "error": message, **extra}``."""
    response = flask.jsonify({"status": False, "error": message, **extra})
    response.status_code = status
    return response
