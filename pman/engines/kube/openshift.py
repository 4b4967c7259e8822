"""The OpenShift engine: the same Jobs through ``openshift.dynamic.DynamicClient``.

Thin: :class:`DynamicApi` adapts the dynamic client's ``batch/v1 Job``, ``v1 Pod`` and ``v1 Event``
resources to :class:`~pman.engines.kube.engine.KubeApi`.  The dynamic client cannot pass a log
request's ``container`` and ``tailLines`` parameters, so logs go through ``CoreV1Api`` over the
same ``ApiClient``.
"""
from __future__ import annotations

from typing import Iterator

import kubernetes.client
import openshift.dynamic

from pman.engines import base
from pman.engines.kube import engine as kube_engine, settings as kube_settings
from pman.engines.kube import kubernetes as kubernetes_engine

REQUEST_TIMEOUT = kubernetes_engine.REQUEST_TIMEOUT


def _dict(instance) -> dict:
    return instance.to_dict() if hasattr(instance, "to_dict") else dict(instance or {})


class DynamicApi(kube_engine.DerivedListing):
    """:class:`~pman.engines.kube.engine.KubeApi` over a ``DynamicClient`` (resources looked up once,
    lazily)."""

    def __init__(self, client, core=None):
        self.client = client
        self.core = core
        self._jobs = self._pods = self._events = None

    @property
    def jobs(self):
        if self._jobs is None:  # discovery: one API call, so not in the constructor
            self._jobs = self.client.resources.get(api_version="batch/v1", kind="Job")
        return self._jobs

    @property
    def pods(self):
        if self._pods is None:
            self._pods = self.client.resources.get(api_version="v1", kind="Pod")
        return self._pods

    @property
    def events(self):
        if self._events is None:
            self._events = self.client.resources.get(api_version="v1", kind="Event")
        return self._events

    def _resource(self, kind: str):
        return {"jobs": self.jobs, "pods": self.pods, "events": self.events}[kind]

    def create_job(self, namespace: str, body: dict, timeout: float = REQUEST_TIMEOUT) -> tuple[dict, list[str]]:
        # serialize=False: the raw response, whose Warning headers a ResourceInstance would drop.
        response = self.jobs.create(body=body, namespace=namespace, serialize=False, _request_timeout=timeout)
        return kubernetes_engine.json_body(response), kubernetes_engine.warning_headers(response)

    def read_job(self, namespace: str, name: str, timeout: float = REQUEST_TIMEOUT) -> dict:
        return _dict(self.jobs.get(name=name, namespace=namespace, _request_timeout=timeout))

    def delete_job(self, namespace: str, name: str, timeout: float = REQUEST_TIMEOUT) -> None:
        self.jobs.delete(name=name, namespace=namespace, propagation_policy="Background", _request_timeout=timeout)

    def list_page(self, kind: str, namespace: str, *, label_selector: str | None = None,
                  field_selector: str | None = None, limit: int | None = None, continue_token: str | None = None,
                  timeout: float = REQUEST_TIMEOUT) -> tuple[list[dict], str, str]:
        params = {k: v for k, v in (("label_selector", label_selector), ("field_selector", field_selector),
                                    ("limit", limit), ("_continue", continue_token)) if v}
        listing = _dict(self._resource(kind).get(namespace=namespace, _request_timeout=timeout, **params))
        meta = listing.get("metadata") or {}
        return ([o for o in listing.get("items") or [] if isinstance(o, dict)], str(meta.get("resourceVersion") or ""),
                str(meta.get("continue") or ""))

    def watch_objects(self, kind: str, namespace: str, *, resource_version: str, timeout_seconds: int,
                      label_selector: str | None = None, field_selector: str | None = None) -> Iterator[dict]:
        """The dynamic client's watch, as ``{"type", "object"}`` dicts.  It raises a 410 as an
        ``ApiException`` rather than yielding the ERROR event; the informer takes either."""
        for event in self._resource(kind).watch(namespace=namespace, label_selector=label_selector,
                                                field_selector=field_selector,
                                                resource_version=resource_version or None,
                                                timeout=timeout_seconds, allow_watch_bookmarks=True):
            yield {"type": event.get("type"), "object": event.get("raw_object")}

    def read_log(self, namespace: str, pod: str, container: str, tail_lines: int, limit_bytes: int | None = None,
                 timeout: float = REQUEST_TIMEOUT) -> str:
        core = self.core or kubernetes.client.CoreV1Api(self.client.client)
        return kubernetes_engine.ClientApi(None, core).read_log(namespace, pod, container, tail_lines, limit_bytes,
                                                                timeout)


class OpenShiftEngine(kube_engine.KubeEngine):
    name = "openshift"


def create(settings: kube_settings.KubeSettings) -> OpenShiftEngine:
    """The engine, over the cluster ``settings.kubeconfig`` names (or the in-cluster account).

    :raises base.EngineError: the API cannot be reached, or the result reader cannot be configured.
    """
    try:  # the DynamicClient asks the API server for its version and resources right away
        client = openshift.dynamic.DynamicClient(kubernetes_engine.api_client(
            settings.kubeconfig, settings.request_threads + kubernetes_engine.EXTRA_CONNECTIONS))
    except Exception as e:
        if not kube_engine.translatable(e):
            raise
        raise base.EngineError(f"cannot reach the OpenShift API: {kube_engine.api_message(e)}") from e
    reader, writer, store = kube_engine.swift_results(settings, "openshift")
    return OpenShiftEngine(DynamicApi(client), settings, result_reader=reader, result_writer=writer,
                           data_store=store).start()
