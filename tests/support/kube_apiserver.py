"""A small HTTP stand-in for kube-apiserver 1.36, answering pman's calls like the recordings in
tests/fixtures/k8s-1.36 (for the benchmark, and for tests of the real client over HTTP).

Objects come from the recordings, renamed: a POSTed Job is answered with ``create-job/job.json``,
then held in the state of ``pending/job.json`` with one pod as in ``pending/pods.json`` (no
scheduler, no kubelet: it stays pending).  GETs, LISTs (label selectors with ``=``), WATCHes
(chunked, from a resourceVersion, until ``timeoutSeconds``), the Events LIST (empty), logs (204,
as for a pod without a node) and DELETE (``delete-job/delete-response.json``; 404 as
``ttl-deleted/job.json``) are served.  Every request is counted by kind in :attr:`FakeApiServer.counts`.

It binds port 0 and says which port it got, so nothing races for a port.
"""
from __future__ import annotations

import collections
import copy
import json
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "k8s-1.36"


def _load(name: str) -> dict:
    return json.loads((RECORDED / name).read_text())


def _renamed(obj: dict, old: str, new: str) -> dict:
    return json.loads(json.dumps(obj).replace(old, new))


def _matches(labels: dict, selector: str | None) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class Store:
    """Jobs and pods by name, a resourceVersion counter and the event history watches read."""

    def __init__(self):
        self.lock = threading.Condition()
        self.version = 1000
        self.objects: dict[str, dict[str, dict]] = {"jobs": {}, "pods": {}}
        self.encoded: dict[str, dict[str, bytes]] = {"jobs": {}, "pods": {}}  # each object's JSON, made once
        self.history: list[tuple[int, str, str, dict]] = []  # (version, kind, type, object)
        self.templates = {"created": _load("create-job/job.json"), "job": _load("pending/job.json"),
                          "pod": _load("pending/pods.json")["items"][0]}

    def _put(self, kind: str, kind_type: str, obj: dict) -> dict:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        name = obj["metadata"]["name"]
        if kind_type == "DELETED":
            self.objects[kind].pop(name, None)
            self.encoded[kind].pop(name, None)
        else:
            self.objects[kind][name] = obj
            self.encoded[kind][name] = json.dumps(obj, separators=(",", ":")).encode()
        self.history.append((self.version, kind, kind_type, copy.deepcopy(obj)))
        del self.history[:-20000]
        self.lock.notify_all()
        return obj

    def create_job(self, body: dict) -> dict | None:
        name = body["metadata"]["name"]
        with self.lock:
            if name in self.objects["jobs"]:
                return None
            uid = str(uuid.uuid4())
            created = _renamed(self.templates["created"], "chris-jid-42", name)
            created["metadata"]["uid"] = uid
            created["metadata"]["labels"] = body["metadata"].get("labels", {})
            self._put("jobs", "ADDED", copy.deepcopy(created))
            pending = _renamed(self.templates["job"], "chris-jid-42", name)
            pending["metadata"].update(uid=uid, labels=body["metadata"].get("labels", {}))
            self._put("jobs", "MODIFIED", pending)
            pod = _renamed(self.templates["pod"], "chris-jid-42", name)
            pod["metadata"]["uid"] = str(uuid.uuid4())
            pod["metadata"]["labels"].update(body["spec"]["template"]["metadata"].get("labels", {}))
            self._put("pods", "ADDED", pod)
            return created

    def delete_job(self, name: str) -> bool:
        with self.lock:
            job = self.objects["jobs"].get(name)
            if job is None:
                return False
            for pod in [p for p in self.objects["pods"].values() if p["metadata"]["labels"].get("jid") == name]:
                self._put("pods", "DELETED", copy.deepcopy(pod))
            self._put("jobs", "DELETED", copy.deepcopy(job))
            return True

    def listing(self, kind: str, selector: str | None) -> bytes:
        """The LIST answer's body (the objects' JSON made once, when they were written)."""
        with self.lock:
            items = [self.encoded[kind][name] for name, o in self.objects[kind].items()
                     if _matches(o["metadata"].get("labels", {}), selector)]
            head = {"kind": "JobList" if kind == "jobs" else "PodList",
                    "apiVersion": "batch/v1" if kind == "jobs" else "v1",
                    "metadata": {"resourceVersion": str(self.version)}}
        return json.dumps(head, separators=(",", ":"))[:-1].encode() + b',"items":[' + b",".join(items) + b"]}\n"

    def events_after(self, kind: str, version: int, selector: str | None, until: float) -> list[tuple[int, str, dict]]:
        """The events of ``kind`` after ``version``, waiting for some until ``until``."""
        with self.lock:
            while True:
                found = [(v, t, o) for v, k, t, o in self.history
                         if v > version and k == kind and _matches(o["metadata"].get("labels", {}), selector)]
                left = until - time.monotonic()
                if found or left <= 0:
                    return found
                self.lock.wait(min(left, 1.0))


class FakeApiServer:
    """``with FakeApiServer() as api: api.url ...``: serves in a daemon thread."""

    def __init__(self, namespace: str = "chris"):
        self.namespace, self.store = namespace, Store()
        self.counts: collections.Counter = collections.Counter()
        self._counts_lock = threading.Lock()
        server = self

        class Handler(_Handler):
            api = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="fake-apiserver", daemon=True)

    def count(self, kind: str) -> None:
        with self._counts_lock:
            self.counts[kind] += 1

    def take_counts(self) -> collections.Counter:
        with self._counts_lock:
            counts, self.counts = self.counts, collections.Counter()
        return counts

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: "{self.url}"}}}}]
users: [{{name: pman, user: {{token: fake-token}}}}]
contexts: [{{name: fake, context: {{cluster: fake, user: pman, namespace: {self.namespace}}}}}]
current-context: fake
""")
        return path

    def __enter__(self) -> "FakeApiServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: FakeApiServer

    def log_message(self, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        # As Go's net/http does: without it, headers and body in two writes meet the client's
        # delayed ACK, and each kept-alive request waits 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: dict | bytes | None) -> None:
        data = body if isinstance(body, bytes) else (json.dumps(body, separators=(",", ":")) + "\n").encode() \
            if body is not None else b""
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self, name: str) -> None:
        self._send(404, _renamed(_load("ttl-deleted/job.json"), "chris-jid-50", name))

    def _route(self) -> tuple[str, str | None, str | None, dict]:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        # /apis/batch/v1/namespaces/NS/jobs[/NAME]  or  /api/v1/namespaces/NS/pods[/NAME[/log]]
        rest = parts[parts.index("namespaces") + 2:] if "namespaces" in parts else []
        kind = rest[0] if rest else ""
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        return kind, name, sub, query

    def do_GET(self):
        if self.path.startswith("/_counts"):  # the benchmark's view of the request counts (not counted)
            counts = self.api.take_counts() if "reset" in self.path else dict(self.api.counts)
            return self._send(200, dict(counts))
        kind, name, sub, query = self._route()
        watching = query.get("watch") in ("true", "1")
        self.api.count(f"{'WATCH' if watching else 'LIST' if name is None else 'GET'} {kind}{'/' + sub if sub else ''}")
        if kind == "pods" and sub == "log":
            return self._send(204, None)  # a pod without a node: 204, no body (logs/pod-without-node.txt)
        if kind == "events":
            return self._send(200, {"kind": "EventList", "apiVersion": "v1",
                                    "metadata": {"resourceVersion": str(self.api.store.version)}, "items": []})
        if kind not in ("jobs", "pods"):
            return self._send(404, {"kind": "Status", "code": 404, "message": f"no {kind}"})
        if name is not None:
            obj = self.api.store.encoded[kind].get(name)
            return self._send(200, obj + b"\n") if obj is not None else self._not_found(name)
        if watching:
            return self._watch(kind, query)
        return self._send(200, self.api.store.listing(kind, query.get("labelSelector")))

    def _watch(self, kind: str, query: dict) -> None:
        version = int(query.get("resourceVersion") or self.api.store.version)
        until = time.monotonic() + float(query.get("timeoutSeconds") or 60)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while time.monotonic() < until:
                events = self.api.store.events_after(kind, version, query.get("labelSelector"), until)
                for _version, kind_type, obj in events:
                    line = json.dumps({"type": kind_type, "object": obj}, separators=(",", ":")).encode() + b"\n"
                    self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def do_POST(self):
        kind, _name, _sub, _query = self._route()
        self.api.count(f"POST {kind}")
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        created = self.api.store.create_job(body) if kind == "jobs" else None
        if created is None:
            return self._send(409, _load("create-job/already-exists.json"))
        self._send(201, created)

    def do_DELETE(self):
        kind, name, _sub, _query = self._route()
        self.api.count(f"DELETE {kind}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if kind == "jobs" and name and self.api.store.delete_job(name):
            return self._send(200, _renamed(_load("delete-job/delete-response.json"), "chris-jid-42", name))
        self._not_found(name or "")


def main(argv: list[str] | None = None) -> int:
    """Serve until killed; print the URL on the first line of stdout (for the benchmark)."""
    import argparse
    import sys

    p = argparse.ArgumentParser(description="A stand-in kube-apiserver answering like the recordings.")
    p.add_argument("--namespace", default="chris")
    args = p.parse_args(argv)
    with FakeApiServer(args.namespace) as api:
        print(api.url, flush=True)
        try:
            sys.stdin.read()  # until the parent closes our stdin (or kills us)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
