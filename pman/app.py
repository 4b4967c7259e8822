"""The pman HTTP layer: the app factory, auth and the ONE place where errors become HTTP replies.

Routes: the message API ``POST /api/v1/cmd[/]`` (:mod:`pman.api_legacy`), the REST API under
``/api/v1/`` (:mod:`pman.api_rest`), ``GET /api/v1/health`` and ``GET /metrics`` (no auth).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import flask

from httpkit import auth, fallback, readiness, shutdown as http_shutdown
from httpkit import errors as http_errors, metrics as http_metrics
from pman import api_legacy, api_rest, jobs, redact
from pman.config import VERSION, PmanConfig
from pman.engines import base, factory

log = logging.getLogger("pman")
# Endpoints anyone may read: probes, Prometheus, the API description.
OPEN_ENDPOINTS = {"health", "ready", "_metrics", "rest.openapi"}


@dataclass(frozen=True)
class Context:
    """What the API modules need, built once per app."""

    config: PmanConfig
    engine: base.Engine
    defaults: base.Resources
    shutdown: Callable[[], None]


def create_app(config: PmanConfig, *, engine: base.Engine | None = None,
               shutdown: Callable[[], None] = http_shutdown.stop_server) -> flask.Flask:
    """Build the Flask app.

    :param config: the validated configuration.
    :param engine: the compute engine; by default the one ``config.engine`` names.
    :param shutdown: called after the reply to a ``quit`` message.
    :raises httpkit.auth.TokenFileError: token auth is on and the token file is unusable.
    :raises pman.engines.base.EngineError: the engine cannot be built.
    """
    tokens = auth.TokenStore.from_file(config.token_path) if config.token_auth else None
    if engine is None:
        engine = factory.create(config.engine, config.engine_settings)
    redactor = redact.PathRedactor(config.local.workdir) if config.engine == "local" else redact.PathRedactor()
    engine = redact.RedactingEngine(engine, redactor)
    ctx = Context(config, engine, base.Resources(cpu_limit=config.default_cpu_limit,
                                                 memory_limit=config.default_memory_limit), shutdown)
    app = flask.Flask("pman")
    app.json.sort_keys = False
    http_metrics.instrument(app, service="pman")
    _register_errors(app, redactor)
    # Any route, any body: werkzeug refuses more than this (a 413), whether declared or chunked.
    app.config["MAX_CONTENT_LENGTH"] = api_legacy.MAX_MESSAGE_BYTES

    @app.before_request
    def _limit_body():
        # Before auth and before any read: a declared body over the limit is refused unread.
        length = flask.request.content_length
        if length is not None and length > api_legacy.MAX_MESSAGE_BYTES:
            raise jobs.RequestError(f"message larger than {api_legacy.MAX_MESSAGE_BYTES} bytes", ["body"], status=413)

    @app.before_request
    def _authorize():
        if tokens is None or flask.request.endpoint in OPEN_ENDPOINTS:
            return
        reason = tokens.refusal(flask.request.headers.get("Authorization"))
        if reason:
            raise jobs.RequestError(reason, status=401)

    @app.get("/api/v1/health")
    def health():
        return flask.jsonify({"status": "ok", "service": "pman", "version": VERSION, "engine": engine.name})

    readiness.register(app, "pman", readiness.Readiness({"engine": engine.ready}))
    api_legacy.register(app, ctx)
    api_rest.register(app, ctx)
    return app


def _error(status: int, message: str, **extra) -> flask.Response:
    # A message-API request gets its envelope back too (pfurl/pfcon read the same fields).
    envelope = {k: v for k, v in flask.g.get("pman_envelope", {}).items() if k not in ("status", "error")}
    response = http_errors.json_error(status, message, **extra, **envelope)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="pman"'
    return response


def _register_errors(app: flask.Flask, redactor: redact.PathRedactor) -> None:
    @app.errorhandler(jobs.RequestError)
    def _request_error(e: jobs.RequestError):
        extra = {"fields": e.fields} if e.fields else {}
        return _error(e.status, str(e), **extra)

    @app.errorhandler(base.EngineError)
    def _engine_error(e: base.EngineError):
        status = e.status_code if 400 <= e.status_code < 600 else 503
        if status >= 500:
            log.error("engine: %s", e)
        return _error(status, redactor.text(str(e)))

    fallback.register(app, _error, log)
