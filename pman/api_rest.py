"""pman's REST API (like pman 3+): jobs as resources under ``/api/v1/``, described by OpenAPI.

- ``GET /api/v1/``: the server version;
- ``POST /api/v1/``: create a job (JSON: jid, image, entrypoint/args or cmd, resources, env) -> 201;
- ``GET /api/v1/<jid>/``: jid, image, cmd, status, message, reason, timestamps, exitcode, logs;
- ``DELETE /api/v1/<jid>/``: cancel if running, delete the job's data, and forget -> 204, with
  ``X-Pman-Data: deleted|kept|none`` and ``X-Pman-Data-Detail`` (where, or why kept);
- ``GET /api/v1/openapi.json``: the OpenAPI 3 document of the above.
"""
from __future__ import annotations

import flask

from httpkit import messages
from pman import api_legacy, jobs
from pman.config import VERSION
from pman.engines import base

DATA_HEADER, DATA_DETAIL_HEADER = "X-Pman-Data", "X-Pman-Data-Detail"


def _latin1(text: str) -> str:
    """``text`` as a header value can carry it: one line, Latin-1 (anything else as ``?``)."""
    return " ".join(text.split()).encode("latin-1", "replace").decode("latin-1")[:1000]


def register(app: flask.Flask, ctx) -> None:
    """Add the REST routes to ``app`` (``ctx``: :class:`pman.app.Context`)."""
    bp = flask.Blueprint("rest", __name__)

    @bp.get("/api/v1/")
    def version():
        return flask.jsonify({"server_version": VERSION, "name": "pman", "engine": ctx.engine.name})

    @bp.post("/api/v1/")
    def create():
        body = _json_body()
        spec = jobs.from_rest_body(body, ctx.defaults)
        info = ctx.engine.submit(spec)
        response = flask.jsonify(job_json(info, {}))
        response.status_code = 201
        response.headers["Location"] = f"/api/v1/{info.jid}/"
        return response

    @bp.get("/api/v1/<jid>/")
    def get(jid: str):
        jobs.check_jid(jid)
        return flask.jsonify(job_json(ctx.engine.info(jid), ctx.engine.logs(jid)))

    @bp.delete("/api/v1/<jid>/")
    def remove(jid: str):
        jobs.check_jid(jid)
        removal = ctx.engine.remove(jid)
        api_legacy.log.info("delete %s: data %s (%s)", jid, removal.data, removal.detail)
        # 204 as pman v4 answers; what became of the data in headers (a 204 has no body)
        return flask.Response(status=204, headers={DATA_HEADER: removal.data, DATA_DETAIL_HEADER: _latin1(
            removal.detail)})

    @bp.get("/api/v1/openapi.json")
    def openapi():
        return flask.jsonify(openapi_document())

    app.register_blueprint(bp)


def _json_body():
    """The request's JSON body, read only up to the message limit (a declared or chunked body over
    it is a 413 before anything is buffered).  :raises jobs.RequestError: 413, or 400 not JSON."""
    raw = api_legacy.read_body()
    if not flask.request.is_json:
        raise jobs.RequestError("the body must be a JSON object (Content-Type: application/json)", ["body"])
    try:
        return messages.loads(raw)
    except messages.MessageError as e:
        raise jobs.RequestError(str(e), [e.field], status=e.status) from None


def job_json(info: base.JobInfo, logs: dict[str, str]) -> dict:
    """The REST representation of a job (pman 3's fields, plus reason and timestamps)."""
    return {**jobs.info_fields(info), "logs": api_legacy.logs_text(logs), "logs_by_step": logs}


def _error_responses(*codes: int) -> dict:
    text = {400: "Invalid request (the fields are named)", 401: "Missing or invalid token",
            413: "Body over 1 MiB", 404: "No such job",
            409: "A job with this jid exists (create); a symbolic link where its data is (delete)",
            503: "The engine failed"}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {str(c): {"description": text[c], "content": error}
            for c in codes}


def _schemas() -> dict:
    string, integer = {"type": "string"}, {"type": "integer"}
    str_list = {"type": "array", "items": string}
    resources = {"type": "object", "properties": {
        "number_of_workers": integer, "cpu_limit": {"type": "string", "example": "1000m"},
        "memory_limit": {"type": "string", "example": "1024Mi"}, "gpu_limit": integer}}
    return {
        "JobRequest": {"type": "object", "required": ["jid", "image"], "properties": {
            "jid": {"type": "string", "pattern": jobs.JID_RE.pattern}, "image": string,
            "entrypoint": str_list, "args": str_list,
            "cmd": {"oneOf": [string, str_list], "description": "instead of entrypoint/args"},
            "resources": resources, "env": {"oneOf": [{"type": "object", "additionalProperties": string}, str_list]},
            "input_dir": {"type": "string", "default": "/share/incoming"},
            "output_dir": {"type": "string", "default": "/share/outgoing"}, "auid": string}},
        "Job": {"type": "object", "properties": {
            "jid": string, "image": string, "cmd": string,
            "status": {"type": "string", "enum": [s.value for s in base.JobStatus]},
            "message": string, "reason": string, "timestamp": string,
            "started_at": {"type": "string", "nullable": True}, "finished_at": {"type": "string", "nullable": True},
            "exitcode": {"type": "integer", "nullable": True}, "logs": string,
            "logs_by_step": {"type": "object", "additionalProperties": string}}},
        "Error": {"type": "object", "properties": {"status": {"type": "boolean"}, "error": string,
                                                   "fields": str_list}},
    }


def openapi_document() -> dict:
    """The OpenAPI 3.0 description of the REST API (the message API is described in its module)."""
    json_of = lambda ref: {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}  # noqa: E731
    jid_param = [{"name": "jid", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "openapi": "3.0.3",
        "info": {"title": "pman", "version": VERSION,
                 "description": "Jobs on the local, Kubernetes or OpenShift engine.  The original message "
                                "API is at POST /api/v1/cmd."},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/": {
                "get": {"summary": "Server version", "responses": {"200": {"description": "The version"}}},
                "post": {"summary": "Create a job", "requestBody": {"required": True, "content": json_of("JobRequest")},
                         "responses": {"201": {"description": "Created", "content": json_of("Job")},
                                       **_error_responses(400, 401, 409, 413, 503)}},
            },
            "/api/v1/{jid}/": {
                "parameters": jid_param,
                "get": {"summary": "A job's state and logs",
                        "responses": {"200": {"description": "The job", "content": json_of("Job")},
                                      **_error_responses(400, 401, 404, 503)}},
                "delete": {"summary": "Cancel (if running), delete its stored data (unless pman keeps data on "
                                      "delete) and forget a job",
                           "responses": {"204": {"description": "Deleted", "headers": {
                               DATA_HEADER: {"description": "What became of the job's data",
                                             "schema": {"type": "string", "enum": ["deleted", "kept", "none"]}},
                               DATA_DETAIL_HEADER: {"description": "Where it was, or why it is kept",
                                                    "schema": {"type": "string"}}}},
                               **_error_responses(400, 401, 404, 409, 503)}},
            },
            "/api/v1/health": {"get": {"summary": "Liveness: the process answers", "security": [],
                                       "responses": {"200": {"description": "OK"}}}},
            "/api/v1/ready": {"get": {"summary": "Readiness: the engine's dependencies work (cached)", "security": [],
                                      "responses": {"200": {"description": "Ready"},
                                                    "503": {"description":
                                                            "Not ready: names the failing dependency"}}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                             "responses": {"200": {"description": "OpenAPI 3"}}}},
        },
        "components": {"schemas": _schemas(),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
