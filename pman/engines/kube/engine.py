"""What the Kubernetes and OpenShift engines share: the engine logic over a five-call API seam.

Each engine module only adapts its client library to :class:`KubeApi` (create/read/delete a Job,
list pods, read a container log), returning the API server's JSON as plain dicts.  Everything
else, including the translation of API errors to :class:`base.EngineError`, lives here once.

A finished Job is deleted by its TTL; the publish container leaves a result object in Swift, so
``info`` falls back to ``result_reader(jid)`` when the API answers 404.
"""
from __future__ import annotations

import json
import logging
from typing import Callable, Protocol

import urllib3

import swiftstore
from pman import resultdoc
from pman.engines import base
from pman.engines.kube import spec, status
from pman.engines.kube.settings import CONTAINERS, KubeSettings, job_name, pod_selector

log = logging.getLogger("pman.kube")
ResultReader = Callable[[str], "dict | None"]


class KubeApi(Protocol):
    """The calls the engines make.  Errors are raised as ``kubernetes`` ``ApiException``s."""

    def create_job(self, namespace: str, body: dict) -> dict: ...
    def read_job(self, namespace: str, name: str) -> dict: ...
    def delete_job(self, namespace: str, name: str) -> None: ...
    def list_pods(self, namespace: str, label_selector: str) -> list[dict]: ...
    def read_log(self, namespace: str, pod: str, container: str, tail_lines: int) -> str: ...


def api_message(exc: Exception) -> str:
    """A short message for an API error: the Status ``message`` if the body has one, cut to 256 chars."""
    body = getattr(exc, "body", None)
    text = ""
    if body:
        try:
            text = json.loads(body).get("message", "")
        except (ValueError, AttributeError, TypeError):
            text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    if not text:
        status_code = getattr(exc, "status", None)
        text = f"{status_code} {getattr(exc, 'reason', '') or ''}".strip() if status_code else str(exc)
    text = " ".join(str(text).split())
    return text if len(text) <= 256 else text[:253] + "..."


def translate(exc: Exception, action: str, jid: str) -> base.EngineError:
    """Map an API (or connection) error to the :class:`base.EngineError` the HTTP layer answers with."""
    code = getattr(exc, "status", None)
    detail = api_message(exc)
    if code == 404:
        return base.JobNotFound(f"job {jid!r} not found")
    if code == 409:
        return base.JobExists(f"job {jid!r} exists already (delete it first)")
    if code in (400, 422):
        return base.EngineError(f"the cluster refused to {action} job {jid!r}: {detail}", 400)
    if code in (401, 403):
        return base.EngineError(f"pman's service account may not {action} job {jid!r}: {detail}", 503)
    if not code:  # status 0 or no status: the API server could not be reached
        return base.EngineError(f"cannot reach the Kubernetes API to {action} job {jid!r}: {detail}", 503)
    return base.EngineError(f"the Kubernetes API failed to {action} job {jid!r}: {detail}", 503)


def translatable(exc: Exception) -> bool:
    """An API error (any ``ApiException``, dynamic-client ones included) or a connection failure."""
    api_error = isinstance(getattr(exc, "status", None), int) and hasattr(exc, "reason")
    return api_error or isinstance(exc, (OSError, urllib3.exceptions.HTTPError))


class KubeEngine(base.Engine):
    """Jobs as Kubernetes Jobs (see :mod:`pman.engines.kube.spec`); stateless and thread-safe."""

    name = "kube"

    def __init__(self, api: KubeApi, settings: KubeSettings, *, result_reader: ResultReader | None = None):
        """:param api: the client adapter.
        :param settings: namespace, images, limits... (validated at startup, with the service config).
        :param result_reader: ``jid -> result dict | None`` (the publisher's result object)."""
        self.api, self.settings, self.result_reader = api, settings, result_reader

    def _call(self, action: str, jid: str, fn, *args):
        try:
            return fn(*args)
        except Exception as e:  # the one place the client's errors become ours
            if not translatable(e):
                raise
            raise translate(e, action, jid) from e

    def submit(self, spec_: base.JobSpec) -> base.JobInfo:
        body = spec.build_job(spec_, self.settings)
        created = self._call("create", spec_.jid, self.api.create_job, self.settings.namespace, body)
        log.info("job %s: created Job %s/%s", spec_.jid, self.settings.namespace, body["metadata"]["name"])
        return status.job_info(spec_.jid, created if isinstance(created, dict) else body, [])

    def info(self, jid: str) -> base.JobInfo:
        name = job_name(jid)
        try:
            job = self._call("read", jid, self.api.read_job, self.settings.namespace, name)
        except base.JobNotFound as not_found:
            return self._from_result(jid, not_found)
        pods = self._call("list the pods of", jid, self.api.list_pods, self.settings.namespace, pod_selector(name))
        return status.job_info(jid, job, pods)

    def _from_result(self, jid: str, not_found: base.JobNotFound) -> base.JobInfo:
        result = None
        if self.result_reader is not None:
            try:
                result = self.result_reader(jid)
            except Exception as e:  # Swift down: the job is not known to be gone, so do not say 404
                raise base.EngineError(f"job {jid!r}: no Job in the cluster and its result object "
                                       f"cannot be read: {e}", 503) from e
        if not isinstance(result, dict):
            raise not_found
        return status.info_from_result(jid, result)

    def logs(self, jid: str, tail: int | None = None) -> dict[str, str]:
        """Each container's log (``init``, ``processor``, ``publish``) of the job's newest pod.

        :param tail: the most bytes kept per container (default ``log_tail_bytes``).
        """
        name = job_name(jid)
        pods = self._call("list the pods of", jid, self.api.list_pods, self.settings.namespace, pod_selector(name))
        if not pods:
            return {}
        pod = max(pods, key=lambda p: str(status.nested(p, "metadata", "creationTimestamp") or ""))
        pod_name = status.nested(pod, "metadata", "name")
        started = status.container_statuses([pod])
        limit = tail or self.settings.log_tail_bytes
        out = {}
        for container in CONTAINERS:
            cs = started.get(container)
            if cs is None or not (status.nested(cs, "state", "running") or status.terminated(cs)):
                continue  # never started: the API would answer 400 "waiting to start"
            try:
                text = self.api.read_log(self.settings.namespace, pod_name, container, self.settings.log_tail_lines)
            except Exception as e:
                if not translatable(e):
                    raise
                out[container] = f"(log unavailable: {api_message(e)})"
                continue
            out[container] = text[-limit:] if len(text) > limit else text
        return out

    def remove(self, jid: str) -> None:
        """Delete the Job and (background propagation) its pods; a job known only by its result
        object has nothing left to cancel.  :raises base.JobNotFound:"""
        name = job_name(jid)
        try:
            self._call("delete", jid, self.api.delete_job, self.settings.namespace, name)
        except base.JobNotFound as not_found:
            self._from_result(jid, not_found)  # raises JobNotFound unless a result exists
            return
        log.info("job %s: deleted Job %s/%s", jid, self.settings.namespace, name)


def swift_result_reader(settings: KubeSettings, engine_name: str) -> ResultReader:
    """The Swift reader of result objects, with pman's own credentials (``settings.swift_credentials``).

    The credentials are loaded now, so a Kubernetes-mode pman without Swift access fails at
    startup rather than on the first status of a deleted Job.

    :raises base.EngineError: the credentials cannot be loaded.
    """
    try:
        creds = swiftstore.load_credentials(settings.swift_credentials)
    except swiftstore.errors.SwiftStoreError as e:
        raise base.EngineError(f"the {engine_name} engine reads finished jobs' result objects from Swift, "
                               f"but: {e}") from e
    # Few retries, short timeouts: a status request must not hang for a minute when Swift is down.
    return resultdoc.reader(swiftstore.SwiftStore.from_credentials(creds, threads=1, retries=2, timeout=10.0,
                                                                   max_backoff=4.0))
