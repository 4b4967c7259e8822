"""The original pman's message API: ``POST /api/v1/cmd`` with ``{"payload": {"action", "meta"}}``.

Also accepted without the ``payload`` wrapper.  Replies keep the original's envelope (``status``,
``RESTheader``, ``RESTverb``, ``action``, ``path``, ``receivedByServer``, ``client_json_payload``,
``client_json_len``, ``payloadsize``, ``meta``, ``d_ret``), framed as proper HTTP with
``Content-Type: application/json``.  Actions: hello, run, status, done, info, delete, quit.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

import flask

from httpkit import auth, messages, sysinfo
from pman import jobs
from pman.config import VERSION
from pman.engines import base

log = logging.getLogger("pman")
MAX_MESSAGE_BYTES = messages.MAX_MESSAGE_BYTES
PATHS = ("/api/v1/cmd", "/api/v1/cmd/")


def register(app: flask.Flask, ctx) -> None:
    """Add the message endpoint to ``app`` (``ctx``: :class:`pman.app.Context`)."""
    def command():
        raw = read_body()
        text = raw.decode("utf-8", errors="replace")
        flask.g.pman_envelope = envelope("", {}, text, len(raw))
        action, meta = parse_message(raw)
        flask.g.pman_envelope = reply = envelope(action, meta, text, len(raw))
        handler = ACTIONS.get(action)
        if handler is None:
            raise jobs.RequestError(f"unknown action {action!r} (supported: {', '.join(sorted(ACTIONS))})",
                                    ["action"])
        reply.update(handler(ctx, meta))
        response = flask.Response(json.dumps(reply, indent=4) + "\n", mimetype="application/json")
        if action == "quit":
            log.warning("quit requested by a client: shutting down (local jobs keep running)")
            response.call_on_close(ctx.shutdown)
        return response

    for path in PATHS:
        app.add_url_rule(path, f"legacy{path}", command, methods=["POST"])


def read_body() -> bytes:
    """The request body, at most :data:`MAX_MESSAGE_BYTES` (declared or chunked).  :raises jobs.RequestError: 413."""
    try:
        return messages.read_body(flask.request.stream, flask.request.content_length, MAX_MESSAGE_BYTES)
    except messages.MessageError as e:
        raise jobs.RequestError(str(e), status=e.status) from None


def parse_message(raw: bytes) -> tuple[str, dict]:
    """``(action, meta)`` of a message, with or without the ``payload`` wrapper.

    :raises jobs.RequestError: not JSON, not an object, no action, or a meta that is not an object.
    """
    try:
        return messages.parse(raw, actions=", ".join(ACTIONS))
    except messages.MessageError as e:
        raise jobs.RequestError(str(e), [e.field], status=e.status) from None


def envelope(action: str, meta: dict, text: str, size: int) -> dict:
    """The original's reply fields echoing the request (credential headers' values are not echoed)."""
    request = flask.request
    protocol = request.environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    header = f"{request.method} {request.full_path.rstrip('?')} {protocol}\r"
    lines = [header] + [f"{name}: {'<redacted>' if name.lower() in auth.SECRET_HEADERS else value}\r"
                        for name, value in request.headers.items()] + ["\r", text]
    return {"status": True, "RESTheader": header, "RESTverb": request.method, "action": action,
            "path": request.path, "receivedByServer": lines, "client_json_payload": text,
            "client_json_len": len(text), "payloadsize": size, "meta": meta}


def _now() -> str:
    t = time.time()
    return time.strftime("%Y%m%d%H%M%S", time.localtime(t)) + f".{int(t * 1e6) % 1000000:06d}"


def hello(ctx, meta: dict) -> dict:
    d_ret: dict[str, Any] = {"name": "pman", "version": VERSION, "engine": ctx.engine.name}
    ask = meta.get("askAbout")
    if ask == "sysinfo":
        d_ret["sysinfo"] = sysinfo.sysinfo()
    elif ask == "echoBack":
        d_ret["echoBack"] = meta.get("echoBack", "")
    else:
        d_ret["timestamp"] = {"now": _now()}
    return {"d_ret": d_ret}


def run(ctx, meta: dict) -> dict:
    spec = jobs.from_run_meta(meta, ctx.defaults)
    info = ctx.engine.submit(spec)
    log.info("run %s: %s", spec.jid, info.cmd)
    return {"d_ret": {"jid": info.jid, "status": info.status.value, "message": info.message,
                      "engine": ctx.engine.name}}


def logs_text(logs: dict[str, str]) -> str:
    """All steps' logs as one text, each under a ``=== <step> ===`` line."""
    return "".join(f"=== {step} ===\n{text}{'' if text.endswith(chr(10)) or not text else chr(10)}"
                   for step, text in logs.items())


def status_d_ret(info: base.JobInfo, logs: dict[str, str], *, with_status: bool = True) -> dict:
    """``d_ret`` of status/done: pfcon polls until every ``l_status`` item contains "finished"."""
    reason = f" ({info.reason})" if info.reason else ""
    d_ret: dict[str, Any] = {}
    if with_status:
        d_ret["l_status"] = [info.status.value]
    d_ret.update({"l_logs": [logs_text(logs)], "description": f"{info.status.value}{reason}: {info.message}"})
    d_ret.update(jobs.info_fields(info))
    del d_ret["status"]  # the original's status/done replies carry the state in l_status only
    return d_ret


def status(ctx, meta: dict) -> dict:
    jid = jobs.jid_from(meta)
    return {"d_ret": status_d_ret(ctx.engine.info(jid), ctx.engine.logs(jid))}


def done(ctx, meta: dict) -> dict:
    jid = jobs.jid_from(meta)
    return {"d_ret": status_d_ret(ctx.engine.info(jid), ctx.engine.logs(jid), with_status=False)}


def info(ctx, meta: dict) -> dict:
    jid = jobs.jid_from(meta)
    job = ctx.engine.info(jid)
    return {"d_ret": {
        "0.0": {jid: {"startInfo": {"allJobsStarted": job.status is not base.JobStatus.notstarted}}},
        "0.1": {jid: {"endInfo": {"allJobsDone": job.status.finished}}},
        "job": jobs.info_fields(job),
    }}


def delete(ctx, meta: dict) -> dict:
    """The original's reply, and what became of the job's stored data: ``data`` is ``deleted``,
    ``kept`` or ``none`` (nothing was stored), ``data_detail`` says where or why."""
    jid = jobs.jid_from(meta)
    removal = ctx.engine.remove(jid)
    log.info("delete %s: data %s (%s)", jid, removal.data, removal.detail)
    return {"d_ret": {"action": "Delete Job", "job_id": jid, "status": "deleted", "data": removal.data,
                      "data_detail": removal.detail}}


def quit_(ctx, meta: dict) -> dict:
    return {"d_ret": {}}


ACTIONS: dict[str, Callable[[Any, dict], dict]] = {
    "hello": hello, "run": run, "status": status, "done": done, "info": info, "delete": delete, "quit": quit_,
}
