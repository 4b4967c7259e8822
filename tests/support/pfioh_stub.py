"""A stub of the original pfioh (its wire format as pfurl 2.3.0.1 exchanges it), in-process: a
Flask app and a ``requests`` adapter that hands each prepared request to it, so the client tests
see exactly the bytes the client sends."""
from __future__ import annotations

import ast
import io
import json
from urllib.parse import urlsplit

import flask
import requests
from requests.structures import CaseInsensitiveDict


class WSGIAdapter(requests.adapters.BaseAdapter):
    """Send requests to a WSGI app in-process (the body is streamed through ``read`` as on a socket)."""

    def __init__(self, app):
        super().__init__()
        self.client = app.test_client()

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        url = urlsplit(request.url)
        body, headers = request.body, dict(request.headers)
        if hasattr(body, "read"):
            body = b"".join(iter(lambda: body.read(8192), b""))
        elif body is not None and not isinstance(body, (bytes, str)):  # chunked: the bytes the server reads
            body = b"".join(body)
            del headers["Transfer-Encoding"]
            headers["Content-Length"] = str(len(body))
        r = self.client.open(url.path, method=request.method, query_string=url.query, headers=headers, data=body)
        resp = requests.Response()
        resp.status_code, resp.reason = r.status_code, r.status
        resp.headers = CaseInsensitiveDict(r.headers)
        resp.raw, resp.url, resp.request = io.BytesIO(r.get_data()), request.url, request
        return resp

    def close(self):
        pass


def make_pfioh_stub(*, http_response=False, legacy_pull=False):
    """A stub of the original pfioh: records requests, stores pushed zips, serves ``outputs``."""
    app = flask.Flask("pfioh-stub")
    app.log, app.pushed, app.outputs, app.push_status = [], {}, {}, True

    def reply(obj):
        text = json.dumps(obj)
        if http_response:  # PF --httpResponse: a webob response nested in the body
            text = f"200 OK\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Length: {len(text)}\r\n\r\n{text}"
        return flask.Response(text, mimetype=None)

    @app.route("/api/v1/cmd", methods=["GET", "POST"])
    def cmd():
        req = flask.request
        app.log.append({"method": req.method, "headers": dict(req.headers), "args": req.args.to_dict(),
                        "form": list(req.form.items()), "files": list(req.files)})
        if req.method == "GET":
            meta = ast.literal_eval(req.args["meta"])
            key = meta["remote"]["key"]
            if meta["transport"]["checkRemote"]:
                return reply({"status": True, "isfile": False, "isswiftstore": True, "isdir": False,
                              "createdNewDir": False})
            if key not in app.outputs:
                return flask.Response(json.dumps({"status": False, "error": f"no output for key {key}"}),
                                      status=404, mimetype="application/json")
            data = app.outputs[key]
            if legacy_pull:  # PF: no headers, JSON appended after the zip
                data += json.dumps({"status": True, "msg": "File/Directory downloaded"}).encode()
                return flask.Response(data, mimetype=None)
            return flask.Response(data, mimetype="application/zip")
        if req.headers.get("Mode") == "file":
            msg = json.loads(req.form["d_msg"])
            app.pushed[msg["meta"]["remote"]["key"]] = req.files["local"].read()
            return reply({"write": {}, "status": app.push_status,
                          "msg": "File/Directory stored in Swift" if app.push_status else "not stored"})
        msg = json.loads(req.get_data())
        return reply({"stdout": {"d_ret": {"name": "pfioh", "version": "2.2.0.8",
                                           "echoBack": {"msg": msg["meta"].get("echoBack")}}, "status": True}})

    return app
