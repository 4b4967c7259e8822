"""A stand-in for the one piece of the Kubernetes API that ``put --wait`` uses, answering with the
recorded responses of tests/fixtures/k8s-1.36/pod-watch/ (kube-apiserver v1.36.2): the same
request lines, statuses, headers and bodies, byte for byte.

Only the pacing is ours: the watch sends the recorded events up to "processor running" at once,
and the recorded "processor terminated(0)" event only when the real processor container (checked
by ``processor_exit_code``) has exited with 0, which is what the kubelet would report.  It speaks
HTTPS with a certificate it makes (the client verifies it with the ca.crt of the service-account
volume) and checks the bearer token of that volume.
"""
from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "k8s-1.36" / "pod-watch"
LAST_RUNNING_EVENT = 4  # watch.jsonl line 4: init terminated(0), processor and publish running
TERMINATED_EVENT = 5  # line 5: processor terminated(0), publish running


class Recording:
    def __init__(self, folder: Path = RECORDED):
        self.http = json.loads((folder / "http.json").read_text())
        self.read_pod = (folder / "read-pod.json").read_bytes()
        self.watch_lines = (folder / "watch.jsonl").read_bytes().splitlines(keepends=True)
        pod = json.loads(self.read_pod)
        self.pod, self.namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
        self.read_request = self.http["read-pod.json"]["request"]
        self.watch_request = self.http["watch.jsonl"]["request"]

    def headers(self, name: str) -> list[tuple[str, str]]:
        return [tuple(h) for h in self.http[name]["responseHeaders"]]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is also the CA the client trusts)."""
    cert, key = directory / "apiserver.crt", directory / "apiserver.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kubernetes",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class StandIn:
    """``with StandIn(...) as api:`` serves on 127.0.0.1:``api.port``; ``api.requests`` lists what came in."""

    def __init__(self, directory: Path, token: str, processor_exit_code: Callable[[], int | None],
                 deadline: float = 300.0):
        self.recording = Recording()
        self.token, self.processor_exit_code, self.deadline = token, processor_exit_code, deadline
        self.cert, self.key = make_certificate(directory)
        self.requests: list[str] = []
        self.problems: list[str] = []
        self._stop = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "StandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # the test reports what matters
                pass

            def do_GET(self):
                standin.serve(self)

        return Handler

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        rec = self.recording
        line = f"GET {h.path}"
        self.requests.append(line)
        scheme, _, presented = (h.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or presented != self.token:  # the scheme is case-insensitive
            self.problems.append(f"{line}: Authorization {h.headers.get('Authorization')!r}")
            return self._send(h, 401, [("Content-Type", "application/json")], b'{"kind":"Status","code":401}')
        if line == rec.read_request:
            return self._send(h, self.recording.http["read-pod.json"]["status"], rec.headers("read-pod.json"),
                              rec.read_pod)
        url = urlsplit(h.path)
        watch = urlsplit(rec.watch_request.split(" ", 1)[1])
        if url.path == watch.path and parse_qs(url.query) == parse_qs(watch.query):
            return self._watch(h)
        self.problems.append(f"unexpected request {line}")
        h.send_response(404)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _send(self, h, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        h.send_response(status)
        chunked = ("Transfer-Encoding", "chunked") in headers
        for name, value in headers:
            h.send_header(name, value)
        if not chunked:
            if not any(n.lower() == "content-length" for n, _ in headers):
                h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        h.end_headers()
        self._chunk(h, body)
        self._chunk(h, b"")

    @staticmethod
    def _chunk(h, data: bytes) -> None:
        h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        h.wfile.flush()

    def _watch(self, h) -> None:
        rec = self.recording
        h.send_response(rec.http["watch.jsonl"]["status"])
        for name, value in rec.headers("watch.jsonl"):
            h.send_header(name, value)
        h.end_headers()
        for event in rec.watch_lines[:LAST_RUNNING_EVENT]:
            self._chunk(h, event)
        code = self._processor_end()
        if code == 0:
            self._chunk(h, rec.watch_lines[TERMINATED_EVENT - 1])
        elif code is not None:
            self.problems.append(f"the processor exited {code}; the recording has it exit 0")
        self._chunk(h, b"")  # the end of this watch; the client would open another one

    def _processor_end(self) -> int | None:
        """The processor's exit code once it has exited (None: not within the deadline, or stopping)."""
        end = time.monotonic() + self.deadline
        while time.monotonic() < end and not self._stop.is_set():
            code = self.processor_exit_code()
            if code is not None:
                return code
            self._stop.wait(0.2)
        if not self._stop.is_set():
            self.problems.append("the processor did not exit in time")
        return None
