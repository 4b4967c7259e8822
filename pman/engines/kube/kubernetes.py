"""The Kubernetes engine: pman jobs as ``batch/v1`` Jobs through the official ``kubernetes`` client.

Thin: :class:`ClientApi` adapts ``BatchV1Api``/``CoreV1Api`` to
:class:`~pman.engines.kube.engine.KubeApi`, asking for the raw JSON (``_preload_content=False``) so
that the status mapping reads exactly what the API server sent.  pman runs in the cluster (its
service account) or, with ``--kubeconfig``, outside.
"""
from __future__ import annotations

import json
import logging

import kubernetes.client
import kubernetes.config

from pman.engines import base
from pman.engines.kube import engine as kube_engine, settings as kube_settings

log = logging.getLogger("pman.kubernetes")
REQUEST_TIMEOUT = 30  # seconds per API call: a hung API server must not hang pman's request threads


def json_body(response) -> dict:
    data = response.data
    return json.loads(data.decode() if isinstance(data, bytes) else data) if data else {}


def warning_headers(response) -> list[str]:
    """The raw ``Warning`` header values of a urllib3 response (the API server may send several)."""
    headers = getattr(response, "headers", None)
    if headers is None:
        return []
    getlist = getattr(headers, "getlist", None)
    if callable(getlist):
        return [str(v) for v in getlist("Warning")]
    value = headers.get("Warning")
    return [str(value)] if value else []


class ClientApi:
    """:class:`~pman.engines.kube.engine.KubeApi` over ``BatchV1Api`` and ``CoreV1Api``."""

    def __init__(self, batch, core):
        self.batch, self.core = batch, core

    def create_job(self, namespace: str, body: dict) -> tuple[dict, list[str]]:
        response = self.batch.create_namespaced_job(namespace, body, _preload_content=False,
                                                    _request_timeout=REQUEST_TIMEOUT)
        return json_body(response), warning_headers(response)

    def read_job(self, namespace: str, name: str) -> dict:
        return json_body(self.batch.read_namespaced_job(name, namespace, _preload_content=False,
                                                    _request_timeout=REQUEST_TIMEOUT))

    def delete_job(self, namespace: str, name: str) -> None:
        # Background: without a propagation policy the Job's pods would be left behind.
        self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background",
                                         _preload_content=False, _request_timeout=REQUEST_TIMEOUT)

    def list_pods(self, namespace: str, label_selector: str) -> list[dict]:
        listing = json_body(self.core.list_namespaced_pod(namespace, label_selector=label_selector,
                                                      _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        return [p for p in listing.get("items") or [] if isinstance(p, dict)]

    def list_jobs(self, namespace: str, limit: int) -> list[dict]:
        listing = json_body(self.batch.list_namespaced_job(namespace, limit=limit, _preload_content=False,
                                                       _request_timeout=REQUEST_TIMEOUT))
        return [j for j in listing.get("items") or [] if isinstance(j, dict)]

    def list_events(self, namespace: str, field_selector: str) -> list[dict]:
        listing = json_body(self.core.list_namespaced_event(namespace, field_selector=field_selector,
                                                        _preload_content=False, _request_timeout=REQUEST_TIMEOUT))
        return [e for e in listing.get("items") or [] if isinstance(e, dict)]

    def read_log(self, namespace: str, pod: str, container: str, tail_lines: int) -> str:
        response = self.core.read_namespaced_pod_log(pod, namespace, container=container, tail_lines=tail_lines,
                                                     _preload_content=False, _request_timeout=REQUEST_TIMEOUT)
        data = response.data
        return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data or "")


def api_client(kubeconfig: str | None = None) -> kubernetes.client.ApiClient:
    """An ``ApiClient``: from ``kubeconfig`` if given, else the in-cluster service account.

    :raises base.EngineError: neither works (the message says what was tried).
    """
    try:
        if kubeconfig:
            return kubernetes.config.new_client_from_config(config_file=kubeconfig)
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_incluster_config(client_configuration=configuration)
        return kubernetes.client.ApiClient(configuration)
    except (kubernetes.config.ConfigException, OSError) as e:
        where = f"kubeconfig {kubeconfig}" if kubeconfig else "the in-cluster service account (or give --kubeconfig)"
        raise base.EngineError(f"cannot configure the Kubernetes client from {where}: {e}") from e


class KubernetesEngine(kube_engine.KubeEngine):
    name = "kubernetes"


def create(settings: kube_settings.KubeSettings) -> KubernetesEngine:
    """The engine, over the cluster ``settings.kubeconfig`` names (or the in-cluster account).

    :raises base.EngineError: the client or the result reader cannot be configured.
    """
    client = api_client(settings.kubeconfig)
    api = ClientApi(kubernetes.client.BatchV1Api(client), kubernetes.client.CoreV1Api(client))
    reader, writer = kube_engine.swift_results(settings, "kubernetes")
    return KubernetesEngine(api, settings, result_reader=reader, result_writer=writer)
