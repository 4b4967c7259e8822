"""The fastest pfioh pfurl could talk to: it reads a push and throws it away, and answers a pull
with a zip made beforehand, from a file.

Timed through pfurl, it measures pfurl's own share of a transfer (zipping and sending a push;
receiving, writing and unzipping a pull), which no server can take away.  The original's time
over this one is the best ratio any pfioh could reach through pfurl: the "ceiling" column of
bench_pfioh_swift.  It speaks only what pfurl 2.3.0.1 asks for in those two actions (the
checkRemote GET, the multipart POST, the pull GET), with
the original's reply shapes.
"""
from __future__ import annotations

import ast
import json
import shutil
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CHUNK = 1 << 20
CHECK_REPLY = {"status": True, "isfile": False, "isswiftstore": True, "isdir": True, "createdNewDir": False}
PUSH_REPLY = {"write": {}, "status": True, "msg": "File/Directory stored in Swift", "postop": {"status": False}}
PULL_TRAILER = {"preop": {"status": False}, "status": True, "msg": "File/Directory downloaded",
                "postop": {"status": False}}


class _Handler(BaseHTTPRequestHandler):
    server: "Sink"
    # HTTP/1.1, so that curl's "Expect: 100-continue" (pfurl's pushes over 1 MiB) is answered at
    # once, as ours answers it: without, curl waits a second before it sends the body.
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        meta = ast.literal_eval(query.get("meta", ["{}"])[0])  # pfurl sends a Python repr, not JSON
        if meta.get("transport", {}).get("checkRemote"):
            self._reply(json.dumps(CHECK_REPLY).encode())
            return
        zip_path = self.server.pulls.get(meta.get("remote", {}).get("key"))
        if query.get("action") != ["pullPath"] or zip_path is None:
            self.send_error(404, "no such key in the sink")
            return
        # As the original answers a pull: no length, the zip, its JSON after it, then the close.
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        with open(zip_path, "rb") as f:
            shutil.copyfileobj(f, self.wfile, CHUNK)
        self.wfile.write(json.dumps(PULL_TRAILER).encode())

    def do_POST(self) -> None:  # noqa: N802
        left = int(self.headers.get("Content-Length", 0))
        buf = memoryview(bytearray(CHUNK))
        while left > 0:
            n = self.rfile.readinto(buf[:min(left, CHUNK)])
            if not n:
                break
            left -= n
        self._reply(json.dumps(PUSH_REPLY).encode())

    def _reply(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
        pass


class Sink(ThreadingHTTPServer):
    """Serving on ``sink.url`` from a thread between :meth:`start` and :meth:`stop` (or in a
    ``with`` block); ``sink.pulls[key] = zip_path`` says what a pull of ``key`` gets."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)  # port 0: the kernel's pick, held from here on
        self.pulls: dict[str, Path] = {}
        self._thread = threading.Thread(target=self.serve_forever, name="pfurl-sink", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "Sink":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> "Sink":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
