"""Fakes at our seam: the official client's BatchV1Api/CoreV1Api, the DynamicClient's resources and
a Watch, answering with the responses recorded from a real kube-apiserver 1.36 in
tests/fixtures/k8s-1.36/ (see its README): the body bytes as the server sent them, with the
status and headers (``Warning`` included) its ``http.json`` lists.

They raise the client's real ``ApiException`` (or the dynamic client's subclasses) with the
server's Status body, as the libraries do for a non-2xx answer.  What no recording holds (a
kubelet's image-pull or container-config state, a 500, a watch that expired) is derived in
:func:`with_waiting`, :func:`server_error` and :func:`gone`, which say what they change.

LISTs and WATCHes (the status cache's calls) answer from ``list_jobs``/``watch_jobs``,
``list_pods``/``watch_pods`` and ``list_events``; a watch answer is the raw lines of a recorded
stream (:func:`watch_body`), streamed in small chunks as urllib3 does (:class:`Chunked`).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import exceptions as dyn_exceptions
from kubernetes.dynamic.resource import ResourceInstance
from urllib3 import HTTPHeaderDict

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "k8s-1.36"
JID = "chris-jid-42"


def raw(name: str) -> bytes:
    """A recorded body, byte for byte, e.g. ``raw("succeeded/job.json")``."""
    return (RECORDED / name).read_bytes()


def load(name: str):
    """A recorded body parsed, e.g. ``load("succeeded/job.json")`` (a fresh copy each time)."""
    return json.loads(raw(name))


def items(name: str) -> list[dict]:
    return load(name)["items"]


def http(name: str) -> dict:
    """What ``<folder>/http.json`` says of ``<folder>/<file>``: status, response headers, lines."""
    folder, file = name.split("/", 1)
    return json.loads((RECORDED / folder / "http.json").read_text())[file]


def watch_events(name: str) -> list[dict]:
    """A recorded watch stream's events as the server sent them (``type`` and ``object``)."""
    return [json.loads(line) for line in (RECORDED / name).read_text().splitlines()]


def listing(kind: str, objects: list[dict], resource_version: str) -> dict:
    """A LIST answer (``JobList``, ``PodList``) of ``objects`` at ``resource_version``, shaped as the
    recorded lists (job-list/jobs.json): ``kind``, ``apiVersion``, ``metadata.resourceVersion``, ``items``."""
    api_version = "batch/v1" if kind == "JobList" else "v1"
    return {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": resource_version},
            "items": [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in objects]}


def watch_body(events: list[dict]) -> bytes:
    """The raw body of a watch answer: one JSON event per line (as in the recorded ``*.jsonl``)."""
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events)


def gone(resource_version: str = "1") -> dict:
    """Derived (not recorded): the ERROR event an API server sends on a watch whose resourceVersion
    it no longer has (410 Expired), a Status of the shape of the recorded ones."""
    return {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                        "message": f"too old resource version: {resource_version} (400)",
                                        "reason": "Expired", "code": 410}}


class Chunked:
    """A ``_preload_content=False`` watch answer, streamed in ``size``-byte chunks (a line spans
    several), and an error raised after ``fail_after`` chunks (a connection reset mid-stream)."""

    def __init__(self, body: bytes, size: int = 1000, error: BaseException | None = None):
        self.body, self.size, self.error = body, size, error
        self.status, self.closed, self.released = 200, False, False

    def stream(self, amt=None, decode_content=False):
        for i in range(0, len(self.body), self.size):
            yield self.body[i:i + self.size]
        if self.error is not None:
            raise self.error

    def close(self):
        self.closed = True

    def release_conn(self):
        self.released = True


def watch_lines(name: str) -> list[dict]:
    """A recorded watch stream as ``kubernetes.watch.Watch`` yields it (``type`` and ``raw_object``)."""
    return [{"type": e["type"], "raw_object": e["object"]}
            for e in map(json.loads, (RECORDED / name).read_text().splitlines())]


class Response:
    """What a ``_preload_content=False`` call returns: urllib3's response (``data``, ``status``, ``headers``)."""

    def __init__(self, obj, status: int = 200, headers: list | None = None):
        self.data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.status = status
        self.headers = HTTPHeaderDict()
        for key, value in headers or []:
            self.headers.add(key, value)


def recorded(name: str) -> Response:
    """The recorded answer ``name`` (a 2xx): its body bytes, status and all its response headers.
    An object cut out of a watch stream ("from line N") is what a GET returned at that moment: a 200."""
    meta = http(name)
    return Response(raw(name), meta.get("status", 200), meta.get("responseHeaders", []))


def api_error(name: str) -> ApiException:
    """The ApiException the client raises for the recorded non-2xx answer ``name``."""
    meta = http(name)
    assert meta["status"] >= 400, name
    return ApiException(status=meta["status"], reason=meta["reason"], body=raw(name))


def server_error() -> ApiException:
    """A 500 (fault injection; not recorded): a Status body of the shape the recorded ones have."""
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "etcdserver: request timed out", "reason": "InternalError", "code": 500}
    return ApiException(status=500, reason="Internal Server Error", body=json.dumps(body).encode())


def with_waiting(pods: list[dict], container: str, reason: str, message: str = "") -> list[dict]:
    """Derived state (no kubelet was recorded): ``container`` of the newest pod waiting with
    ``reason``, as a kubelet writes it for an image it cannot pull or a container it cannot create."""
    pods = copy.deepcopy(pods)
    status = pods[-1]["status"]
    for key in ("initContainerStatuses", "containerStatuses"):
        for cs in status.get(key) or []:
            if cs["name"] == container:
                cs["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
                cs["ready"] = cs["started"] = False
    return pods


class Recorder:
    """Answers from ``answers[method]`` (a value, an exception, or a callable) and records calls."""

    def __init__(self, **answers):
        self.answers = answers
        self.calls: list[tuple[str, tuple, dict]] = []

    def _answer(self, method: str, *args, **kwargs):
        self.calls.append((method, args, kwargs))
        answer = self.answers[method]
        if callable(answer) and not isinstance(answer, type):
            answer = answer(*args, **kwargs)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def called(self, method: str) -> list[tuple[tuple, dict]]:
        return [(a, k) for m, a, k in self.calls if m == method]


def _response(answer) -> Response:
    return answer if isinstance(answer, Response) else Response(answer)


def _raw(answer):
    return answer if isinstance(answer, (Response, Chunked)) else _response(answer)


class FakeBatchV1Api(Recorder):
    def list_namespaced_job(self, namespace, **kwargs):
        return _raw(self._answer("watch_jobs" if kwargs.get("watch") else "list_jobs", namespace, **kwargs))

    def create_namespaced_job(self, namespace, body, **kwargs):
        return _response(self._answer("create", namespace, body, **kwargs))

    def read_namespaced_job(self, name, namespace, **kwargs):
        return _response(self._answer("read", name, namespace, **kwargs))

    def delete_namespaced_job(self, name, namespace, **kwargs):
        return _response(self._answer("delete", name, namespace, **kwargs))


class FakeCoreV1Api(Recorder):
    def list_namespaced_pod(self, namespace, **kwargs):
        return _raw(self._answer("watch_pods" if kwargs.get("watch") else "list_pods", namespace, **kwargs))

    def list_namespaced_event(self, namespace, **kwargs):
        return _response(self._answer("list_events", namespace, **kwargs))

    def read_namespaced_pod(self, name, namespace, **kwargs):
        return _response(self._answer("read_pod", name, namespace, **kwargs))

    def read_namespaced_pod_log(self, name, namespace, **kwargs):
        text = self._answer("log", name, namespace, **kwargs)
        return _response(text.encode() if isinstance(text, str) else text)


class FakeResource(Recorder):
    """A DynamicClient resource (``client.resources.get(...)``): answers are ResourceInstances, or
    with ``serialize=False`` the raw response (as the dynamic client's request() returns it)."""

    def _instance(self, method, **kwargs):
        serialize = kwargs.get("serialize", True)
        try:
            answer = self._answer(method, **kwargs)
        except ApiException as e:  # the dynamic client wraps errors in its own subclasses
            raise dyn_exceptions.api_exception(e) from None
        response = _response(answer)
        return ResourceInstance(None, json.loads(response.data)) if serialize else response

    def create(self, body=None, namespace=None, **kwargs):
        return self._instance("create", body=body, namespace=namespace, **kwargs)

    def get(self, name=None, namespace=None, **kwargs):
        method = "list" if name is None and "list" in self.answers else "get"  # a Job LIST, not a GET
        return self._instance(method, name=name, namespace=namespace, **kwargs)

    def delete(self, name=None, namespace=None, **kwargs):
        return self._instance("delete", name=name, namespace=namespace, **kwargs)

    def watch(self, namespace=None, **kwargs):
        """The dynamic client's watch: events with ``raw_object``; a 410 ERROR raised as the
        ``ApiException`` ``kubernetes.watch.Watch`` raises when given a timeout."""
        answer = self._answer("watch", namespace=namespace, **kwargs)
        for event in answer:
            if isinstance(event, BaseException):
                raise event
            if event.get("type") == "ERROR":
                obj = event["object"]
                raise ApiException(status=obj["code"], reason=f"{obj['reason']}: {obj['message']}")
            yield {"type": event["type"], "object": ResourceInstance(None, event["object"]),
                   "raw_object": event["object"]}


class FakeResources:
    def __init__(self, **by_kind):
        self.by_kind = by_kind
        self.lookups: list[dict] = []

    def get(self, **kwargs):
        self.lookups.append(kwargs)
        return self.by_kind[kwargs["kind"]]


class FakeDynamicClient:
    def __init__(self, jobs: FakeResource, pods: FakeResource, events: FakeResource):
        self.resources = FakeResources(Job=jobs, Pod=pods, Event=events)


class FakeWatch:
    """``kubernetes.watch.Watch``: ``stream`` yields the scripted events (dicts with ``raw_object``),
    or raises the scripted exception; one script per opened watch."""

    def __init__(self, scripts: list):
        self.scripts = scripts
        self.streams: list[tuple] = []
        self.stopped = 0

    def __call__(self):
        return self

    def stream(self, func, *args, **kwargs):
        self.streams.append((func.__name__, args, kwargs))
        script = self.scripts.pop(0)
        for item in script:
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self):
        self.stopped += 1
