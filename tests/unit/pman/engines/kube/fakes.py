"""Fakes at our seam: the official client's BatchV1Api/CoreV1Api, the DynamicClient's resources and
a Watch, answering with the recorded API-server responses in tests/fixtures/k8s_responses/.

They raise the client's real ``ApiException`` (or the dynamic client's subclasses) with the
server's Status body, as the libraries do for a non-2xx answer.
"""
from __future__ import annotations

import json
from pathlib import Path

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import exceptions as dyn_exceptions
from kubernetes.dynamic.resource import ResourceInstance

RESPONSES = Path(__file__).resolve().parents[4] / "fixtures" / "k8s_responses"
JID = "chris-jid-42"


def load(name: str) -> dict:
    """A recorded response, e.g. ``load("failed/job")`` or ``load("errors/not_found")``."""
    return json.loads((RESPONSES / f"{name}.json").read_text())


def api_error(name: str) -> ApiException:
    """The ApiException the client raises for the recorded Status ``errors/<name>``."""
    status = load(f"errors/{name}")
    return ApiException(status=status["code"], reason=status["reason"], body=json.dumps(status))


class Response:
    """What a ``_preload_content=False`` call returns: urllib3's response, of which we read ``data``."""

    def __init__(self, obj):
        self.data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.status = 200


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


class FakeBatchV1Api(Recorder):
    def create_namespaced_job(self, namespace, body, **kwargs):
        return Response(self._answer("create", namespace, body, **kwargs))

    def read_namespaced_job(self, name, namespace, **kwargs):
        return Response(self._answer("read", name, namespace, **kwargs))

    def delete_namespaced_job(self, name, namespace, **kwargs):
        return Response(self._answer("delete", name, namespace, **kwargs))


class FakeCoreV1Api(Recorder):
    def list_namespaced_pod(self, namespace, **kwargs):
        return Response(self._answer("list_pods", namespace, **kwargs))

    def read_namespaced_pod(self, name, namespace, **kwargs):
        return Response(self._answer("read_pod", name, namespace, **kwargs))

    def read_namespaced_pod_log(self, name, namespace, **kwargs):
        text = self._answer("log", name, namespace, **kwargs)
        return Response(text.encode() if isinstance(text, str) else text)


def created_echo(namespace, body, **_kwargs) -> dict:
    """The API server's answer to a create: the body with server-set metadata."""
    echoed = json.loads(json.dumps(body))
    echoed["metadata"].update(uid="5b0c6a3e-8f1d-4c0e-9a51-2f7d0c3b9e11", resourceVersion="918273",
                              creationTimestamp="2026-11-25T09:00:00Z", generation=1)
    echoed["status"] = {}
    return echoed


class FakeResource(Recorder):
    """A DynamicClient resource (``client.resources.get(...)``): answers are ResourceInstances."""

    def _instance(self, method, **kwargs):
        try:
            return ResourceInstance(None, self._answer(method, **kwargs))
        except ApiException as e:  # the dynamic client wraps errors in its own subclasses
            raise dyn_exceptions.api_exception(e) from None

    def create(self, body=None, namespace=None, **kwargs):
        return self._instance("create", body=body, namespace=namespace, **kwargs)

    def get(self, name=None, namespace=None, **kwargs):
        return self._instance("get", name=name, namespace=namespace, **kwargs)

    def delete(self, name=None, namespace=None, **kwargs):
        return self._instance("delete", name=name, namespace=namespace, **kwargs)


class FakeResources:
    def __init__(self, **by_kind):
        self.by_kind = by_kind
        self.lookups: list[dict] = []

    def get(self, **kwargs):
        self.lookups.append(kwargs)
        return self.by_kind[kwargs["kind"]]


class FakeDynamicClient:
    def __init__(self, jobs: FakeResource, pods: FakeResource):
        self.resources = FakeResources(Job=jobs, Pod=pods)


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
