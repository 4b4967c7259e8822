"""The pfioh HTTP layer: routing only.  pfioh's and swiftstore's exceptions become HTTP replies in
ONE place here (:func:`_register_errors`; swiftstore's by class, :func:`swift_status`).

Routes: ``GET /api/v1/health`` (liveness, no auth), ``GET /api/v1/ready`` (readiness: the store
works, see :mod:`httpkit.readiness`; no auth), ``GET /metrics`` (Prometheus), and the command
endpoint on any other path (the original ignored the path; clients use ``/api/v1/cmd[/]``):
GET = checkRemote or pullPath, POST = control JSON (``Mode: control``/absent) or a push
(multipart, ``Mode: file``).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Callable

import flask

from httpkit import auth, fallback, messages, readiness, shutdown as http_shutdown
from httpkit import errors as http_errors, memory as http_memory, metrics as http_metrics
from pfioh import errors, handlers, multipart, protocol, stores
from pfioh.config import PfiohConfig
from swiftstore import errors as swift_errors
from swiftstore.version import VERSION

log = logging.getLogger("pfioh")
MAX_CONTROL_BYTES = messages.MAX_MESSAGE_BYTES
CMD_PATHS = ("/", "/api/v1/cmd", "/api/v1/cmd/", "/<path:_rest>")
# swiftstore's exceptions, most specific first: the client's fault (bad key, nothing there) or
# the backend's (502: Swift failed or sent bad data; 503: credentials refused).
SWIFT_STATUS = ((swift_errors.InvalidName, 400), (swift_errors.IncompleteError, 404), (swift_errors.NotFound, 404),
                (swift_errors.CredentialsError, 503), (swift_errors.AuthenticationError, 503),
                (swift_errors.SwiftStoreError, 502))


def json_reply(obj: dict, status: int = 200) -> flask.Response:
    """Compact JSON with a real status line and Content-Type (the PFH framing)."""
    return flask.Response(json.dumps(obj, separators=(",", ":")), status=status, mimetype="application/json")


def create_app(config: PfiohConfig, *, store: stores.Store | None = None,
               shutdown: Callable[[], None] = http_shutdown.stop_server) -> flask.Flask:
    """Build the Flask app.

    :param config: the validated configuration.
    :param store: the storage backend; by default the one ``config`` selects.
    :param shutdown: called after a ``quit`` reply, or after the first command without ``--forever``.
    :raises httpkit.auth.TokenFileError: if token auth is on and the token file is unusable.
    """
    store = store or stores.make_store(config)
    ctx = handlers.Context(config, store)
    tokens = auth.TokenStore.from_file(config.token_path) if config.token_auth else None
    app = flask.Flask("pfioh")
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_size
    metrics = http_metrics.instrument(app, service="pfioh")
    transfers = http_memory.TransferGauge()  # gives freed memory back when the last transfer ends
    _register_errors(app)

    @app.get("/api/v1/health")
    def health():
        return json_reply({"status": "ok", "service": "pfioh", "version": VERSION,
                           "storage": store.kind})

    readiness.register(app, "pfioh", readiness.Readiness({"store": store.ready}))

    def command(_rest: str = ""):
        _authorize(tokens)
        request = flask.request
        if request.method == "GET":
            response = _get(ctx, metrics, transfers)
        elif request.headers.get("Mode", "control").strip().lower() == "control":
            response = _control(ctx, shutdown)
        else:
            response = _push(ctx, metrics, transfers)
        if not config.forever:
            response.call_on_close(shutdown)
        return response

    for rule in CMD_PATHS:
        app.add_url_rule(rule, f"cmd{rule}", command, methods=["GET", "POST"])
    return app


def _register_errors(app: flask.Flask) -> None:
    @app.errorhandler(errors.PfiohError)
    def _pfioh_error(e: errors.PfiohError):
        if e.status >= 500:
            log.error("%s", stores.clip(str(e), 300))
        return http_errors.json_error(e.status, str(e), **e.extra)

    @app.errorhandler(swift_errors.SwiftStoreError)
    def _swift_error(e: swift_errors.SwiftStoreError):
        status = swift_status(e)
        if status >= 500:
            log.error("Swift: %s", stores.clip(str(e), 300))
        message = f"invalid key: {e}" if status == 400 else str(e)
        return http_errors.json_error(status, message)

    fallback.register(app, http_errors.json_error, log)


def swift_status(e: swift_errors.SwiftStoreError) -> int:
    """The HTTP status of a swiftstore error (its class, and Swift's own refusals of a name)."""
    status = next(code for cls, code in SWIFT_STATUS if isinstance(e, cls))
    if status == 502 and getattr(e, "http_status", None) in (400, 412):
        status = 400  # Swift refused what the client sent (e.g. a name it does not accept)
    return status


def _authorize(tokens: auth.TokenStore | None) -> None:
    reason = tokens.refusal(flask.request.headers.get("Authorization")) if tokens else None
    if reason:
        raise errors.Unauthorized(reason)


def _user_agent() -> str:
    return flask.request.headers.get("User-Agent", "")


def _get(ctx: handlers.Context, metrics, transfers: http_memory.TransferGauge) -> flask.Response:
    request = protocol.parse_query(protocol.query_args(flask.request.query_string))
    if request.transport.check_remote:
        response = json_reply(handlers.check_remote(ctx, request))
        if request.action == "pushPath":
            response.headers[protocol.CHUNKED_PUSH_HEADER] = "1"
        return response
    started = time.perf_counter()
    pull = handlers.pull(ctx, request).start()
    pull.add_close_callback(
        lambda finished: metrics.observe_transfer("out", time.perf_counter() - started, pull.bytes_sent))
    transfers.started()  # until the zip is sent, or the client went away
    pull.add_close_callback(lambda finished: transfers.finished())
    response = flask.Response(pull, mimetype="application/zip")
    if pull.length is not None:
        response.headers["Content-Length"] = str(pull.length)
    return response


def _control(ctx: handlers.Context, shutdown: Callable[[], None]) -> flask.Response:
    try:
        body = messages.read_body(flask.request.stream, flask.request.content_length, MAX_CONTROL_BYTES)
    except messages.MessageError as e:
        raise errors.TooLarge(f"control {e}") from None
    action, meta = protocol.parse_message(body)
    response = json_reply(handlers.control(ctx, action, meta, _user_agent()))
    if handlers.is_quit(meta):
        log.warning("quit requested by a client: shutting down")
        response.call_on_close(shutdown)
    return response


def _early_unpacker(ctx: handlers.Context, fields: dict):
    """Start unpacking while the zip arrives, when d_msg came first and says it is a zip to unpack.

    Anything odd here just means no early start: the push then reports errors the ordinary way.
    """
    try:
        request = protocol.parse_path_request(*protocol.parse_message(fields["d_msg"]))
    except (KeyError, errors.PfiohError):
        return None
    return ctx.store.early_unpacker(request.key) if request.transport.is_zip else None


def _push(ctx: handlers.Context, metrics, transfers: http_memory.TransferGauge) -> flask.Response:
    transfers.started()
    try:
        return _receive_push(ctx, metrics)
    finally:
        transfers.finished()


def _receive_push(ctx: handlers.Context, metrics) -> flask.Response:
    started = time.perf_counter()
    form = multipart.parse(flask.request.stream, flask.request.headers.get("Content-Type", ""), ctx.store.staging,
                           limit=ctx.config.max_upload_size, on_file=lambda fields: _early_unpacker(ctx, fields))
    try:
        if "d_msg" not in form.fields:
            raise errors.BadRequest("incomplete form: missing field 'd_msg'")
        if form.file is None or form.file_field != "local":
            raise errors.BadRequest("incomplete form: missing file field 'local'")
        action, meta = protocol.parse_message(form.fields["d_msg"])
        request = protocol.parse_path_request(action, meta)
        filename = form.fields.get("filename") or form.filename or ""
        upload = stores.Upload(path=Path(form.file.name), is_zip=request.transport.is_zip, size=form.file_size,
                               name="" if request.transport.is_zip else protocol.upload_name(request, filename),
                               early=form.sink)
        received = time.perf_counter()
        reply = handlers.push(ctx, request, upload, _user_agent())
    finally:
        form.close()
    done = time.perf_counter()
    log.info("push %s: %d bytes received in %.2fs, stored in %.2fs", stores.clip(request.key), upload.size,
             received - started, done - received)
    metrics.observe_transfer("in", done - started, upload.size)
    return json_reply(reply)
