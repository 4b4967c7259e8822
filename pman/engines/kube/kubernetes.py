"""The Kubernetes engine: pman jobs as ``batch/v1`` Jobs through the official ``kubernetes`` client.

Thin: :class:`ClientApi` adapts ``BatchV1Api``/``CoreV1Api`` to
:class:`~pman.engines.kube.engine.KubeApi`, asking for the raw JSON (``_preload_content=False``) so
that the status mapping reads exactly what the API server sent.  pman runs in the cluster (its
service account) or, with ``--kubeconfig``, outside.
"""
from __future__ import annotations

import json
import logging
from typing import Iterator

import kubernetes.client
import kubernetes.config

from pman.engines import base
from pman.engines.kube import cache, engine as kube_engine, settings as kube_settings

log = logging.getLogger("pman.kubernetes")
REQUEST_TIMEOUT = kube_engine.REQUEST_TIMEOUT
EXTRA_CONNECTIONS = 4
"""Connections beyond the request threads: the two watches, the Events poller, and one spare."""


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


class ClientApi(kube_engine.DerivedListing):
    """:class:`~pman.engines.kube.engine.KubeApi` over ``BatchV1Api`` and ``CoreV1Api``."""

    def __init__(self, batch, core):
        self.batch, self.core = batch, core

    def create_job(self, namespace: str, body: dict, timeout: float = REQUEST_TIMEOUT) -> tuple[dict, list[str]]:
        response = self.batch.create_namespaced_job(namespace, body, _preload_content=False, _request_timeout=timeout)
        return json_body(response), warning_headers(response)

    def read_job(self, namespace: str, name: str, timeout: float = REQUEST_TIMEOUT) -> dict:
        return json_body(self.batch.read_namespaced_job(name, namespace, _preload_content=False,
                                                        _request_timeout=timeout))

    def delete_job(self, namespace: str, name: str, timeout: float = REQUEST_TIMEOUT) -> None:
        # Background: without a propagation policy the Job's pods would be left behind.
        self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background",
                                         _preload_content=False, _request_timeout=timeout)

    def read_log(self, namespace: str, pod: str, container: str, tail_lines: int, limit_bytes: int | None = None,
                 timeout: float = REQUEST_TIMEOUT) -> str:
        response = self.core.read_namespaced_pod_log(pod, namespace, container=container, tail_lines=tail_lines,
                                                     limit_bytes=limit_bytes, _preload_content=False,
                                                     _request_timeout=timeout)
        data = response.data
        return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data or "")

    def _lister(self, kind: str):
        api, method = {"jobs": (self.batch, "list_namespaced_job"), "pods": (self.core, "list_namespaced_pod"),
                       "events": (self.core, "list_namespaced_event")}[kind]
        return getattr(api, method)

    def list_page(self, kind: str, namespace: str, *, label_selector: str | None = None,
                  field_selector: str | None = None, limit: int | None = None, continue_token: str | None = None,
                  timeout: float = REQUEST_TIMEOUT) -> tuple[list[dict], str, str]:
        """One page of a LIST: its objects, the list's resourceVersion, the ``continue`` token ("" at the end)."""
        listing = json_body(self._lister(kind)(namespace, label_selector=label_selector, field_selector=field_selector,
                                               limit=limit, _continue=continue_token or None,
                                               _preload_content=False, _request_timeout=timeout))
        meta = listing.get("metadata") or {}
        return ([o for o in listing.get("items") or [] if isinstance(o, dict)], str(meta.get("resourceVersion") or ""),
                str(meta.get("continue") or ""))

    def watch_objects(self, kind: str, namespace: str, *, resource_version: str, timeout_seconds: int,
                      label_selector: str | None = None, field_selector: str | None = None) -> Iterator[dict]:
        """The watch's events as parsed JSON (``{"type", "object"}``; ERROR events included).

        The raw lines, not ``kubernetes.watch.Watch``: it would build a model object per event and,
        asked for plain JSON, fails on an ERROR event.  The read timeout outlasts the server's
        ``timeoutSeconds``, so a connection that silently died does not block the watch forever.
        """
        response = self._lister(kind)(
            namespace, label_selector=label_selector, field_selector=field_selector, watch=True,
            resource_version=resource_version or None, timeout_seconds=timeout_seconds, allow_watch_bookmarks=True,
            _preload_content=False, _request_timeout=(REQUEST_TIMEOUT, timeout_seconds + REQUEST_TIMEOUT))
        try:
            status = getattr(response, "status", 200)
            if isinstance(status, int) and not 200 <= status < 300:
                raise kubernetes.client.ApiException(http_resp=response)
            for line in cache.iter_lines(_chunks(response)):
                yield json.loads(line)
        finally:
            for release in ("close", "release_conn"):
                getattr(response, release, lambda: None)()


def _chunks(response) -> Iterator[bytes]:
    stream = getattr(response, "stream", None)
    if callable(stream):
        yield from stream(amt=None, decode_content=False)
    else:  # a response already read (the tests' fakes)
        yield response.data


def api_client(kubeconfig: str | None = None, connections: int = 16 + EXTRA_CONNECTIONS) -> kubernetes.client.ApiClient:
    """An ``ApiClient``: from ``kubeconfig`` if given, else the in-cluster service account.

    :param connections: the connection pool's size.  The client's default is 5 x the CPU count;
        with more request threads than that, urllib3 throws connections away ("connection pool is
        full") and opens new ones (a TLS handshake each).
    :raises base.EngineError: neither works (the message says what was tried).
    """
    try:
        configuration = kubernetes.client.Configuration()
        if kubeconfig:
            kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        else:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
        configuration.connection_pool_maxsize = connections
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
    client = api_client(settings.kubeconfig, settings.request_threads + EXTRA_CONNECTIONS)
    api = ClientApi(kubernetes.client.BatchV1Api(client), kubernetes.client.CoreV1Api(client))
    reader, writer, store = kube_engine.swift_results(settings, "kubernetes")
    return KubernetesEngine(api, settings, result_reader=reader, result_writer=writer,
                            data_store=store).start()
