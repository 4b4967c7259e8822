"""The OpenShift engine: the same Jobs through ``openshift.dynamic.DynamicClient``.

Thin: :class:`DynamicApi` adapts the dynamic client's ``batch/v1 Job``, ``v1 Pod`` and ``v1 Event``
resources to :class:`~pman.engines.kube.engine.KubeApi`.  The dynamic client cannot pass a log
request's ``container`` and ``tailLines`` parameters, so logs go through ``CoreV1Api`` over the
same ``ApiClient``.
"""
from __future__ import annotations

import kubernetes.client
import openshift.dynamic

from pman.engines import base
from pman.engines.kube import engine as kube_engine, settings as kube_settings
from pman.engines.kube import kubernetes as kubernetes_engine

REQUEST_TIMEOUT = kubernetes_engine.REQUEST_TIMEOUT


def _dict(instance) -> dict:
    return instance.to_dict() if hasattr(instance, "to_dict") else dict(instance or {})


class DynamicApi:
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

    def create_job(self, namespace: str, body: dict) -> tuple[dict, list[str]]:
        # serialize=False: the raw response, whose Warning headers a ResourceInstance would drop.
        response = self.jobs.create(body=body, namespace=namespace, serialize=False, _request_timeout=REQUEST_TIMEOUT)
        return kubernetes_engine.json_body(response), kubernetes_engine.warning_headers(response)

    def read_job(self, namespace: str, name: str) -> dict:
        return _dict(self.jobs.get(name=name, namespace=namespace, _request_timeout=REQUEST_TIMEOUT))

    def list_jobs(self, namespace: str, limit: int) -> list[dict]:
        return _dict(self.jobs.get(namespace=namespace, limit=limit, _request_timeout=REQUEST_TIMEOUT)).get("items") or []

    def delete_job(self, namespace: str, name: str) -> None:
        self.jobs.delete(name=name, namespace=namespace, propagation_policy="Background",
                         _request_timeout=REQUEST_TIMEOUT)

    def list_pods(self, namespace: str, label_selector: str) -> list[dict]:
        listing = _dict(self.pods.get(namespace=namespace, label_selector=label_selector,
                                      _request_timeout=REQUEST_TIMEOUT))
        return [p for p in listing.get("items") or [] if isinstance(p, dict)]

    def list_events(self, namespace: str, field_selector: str) -> list[dict]:
        listing = _dict(self.events.get(namespace=namespace, field_selector=field_selector,
                                        _request_timeout=REQUEST_TIMEOUT))
        return [e for e in listing.get("items") or [] if isinstance(e, dict)]

    def read_log(self, namespace: str, pod: str, container: str, tail_lines: int) -> str:
        core = self.core or kubernetes.client.CoreV1Api(self.client.client)
        return kubernetes_engine.ClientApi(None, core).read_log(namespace, pod, container, tail_lines)


class OpenShiftEngine(kube_engine.KubeEngine):
    name = "openshift"


def create(settings: kube_settings.KubeSettings) -> OpenShiftEngine:
    """The engine, over the cluster ``settings.kubeconfig`` names (or the in-cluster account).

    :raises base.EngineError: the API cannot be reached, or the result reader cannot be configured.
    """
    try:  # the DynamicClient asks the API server for its version and resources right away
        client = openshift.dynamic.DynamicClient(kubernetes_engine.api_client(settings.kubeconfig))
    except Exception as e:
        if not kube_engine.translatable(e):
            raise
        raise base.EngineError(f"cannot reach the OpenShift API: {kube_engine.api_message(e)}") from e
    reader, writer = kube_engine.swift_results(settings, "openshift")
    return OpenShiftEngine(DynamicApi(client), settings, result_reader=reader, result_writer=writer)
