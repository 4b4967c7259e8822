"""What the Kubernetes and OpenShift engines share: the engine logic over a small API seam.

Each engine module only adapts its client library to :class:`KubeApi` (create/read/delete a Job,
list pods, list Events, read a container log, list and watch a kind), returning the API server's
JSON as plain dicts.  Everything else, including the translation of API errors to
:class:`base.EngineError`, lives here once.

Status comes from the watch cache (:mod:`~pman.engines.kube.cache`) once it has synced: no API
call for a job the cache knows.  A jid it does not know costs one GET of the Job (404: the result
object, below).  Before the cache has synced, or with ``status_cache`` off, each status reads the
Job, its pods and, while it has not started, its Events.  The first terminal state of a job is
always confirmed by those direct reads before anything is recorded, so a record never rests on a
cache that is a moment behind.  Every status has a deadline (:mod:`~pman.engines.kube.budget`).

Status must outlive the Job (its TTL deletes it): whoever first sees a job end records its result
object ``<jid>/result.json`` in Swift.  Normally that is the publish container; when ``info``
sees a terminal state and finds no result object (the pod never got to publish), pman writes its
own, with its own Swift credentials.  ``info`` falls back to the result object when the API
answers 404.  A job pman gives up on (its pod cannot be created or started, see
:mod:`~pman.engines.kube.status`) is recorded, then its Job deleted, so that it cannot start
later behind the caller's back.
"""
from __future__ import annotations

import json
import logging
import re
import shlex
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from typing import Callable, Iterable, Protocol

import urllib3

import swiftstore
from pman import jobdata, resultdoc
from pman.engines import base
from pman.engines.kube import budget, logcache, spec, status
from pman.engines.kube.cache import StatusCache
from pman.engines.kube.settings import CONTAINERS, PROCESSOR, KubeSettings, job_name, pod_selector

log = logging.getLogger("pman.kube")
ResultReader = Callable[[str], "dict | None"]
ResultWriter = Callable[[str, dict], None]
_WARNING = re.compile(r'\d{3} \S+ "((?:[^"\\]|\\.)*)"')
_RBAC_DENIAL = re.compile(r'User "[^"]*" cannot \S+ resource')
REQUEST_TIMEOUT = 30
POD_STOP_WAIT = 45.0
"""Seconds a delete waits for the deleted Job's pods to stop (Kubernetes gives a container 30 s
after SIGTERM) before it deletes the job's data; past it the data is left."""


class DerivedListing:
    """The listing verbs both API adapters derive from their own ``list_page``."""

    def list_page(self, kind: str, namespace: str, *, label_selector: str | None = None,
                  field_selector: str | None = None, limit: int | None = None, continue_token: str | None = None,
                  timeout: float = REQUEST_TIMEOUT) -> tuple[list[dict], str, str]:
        raise NotImplementedError

    def list_objects(self, kind: str, namespace: str, *, label_selector: str | None = None,
                     field_selector: str | None = None, timeout: float = REQUEST_TIMEOUT) -> tuple[list[dict], str]:
        """The ``kind`` objects (``jobs``, ``pods``, ``events``) and the list's resourceVersion."""
        items, version, _more = self.list_page(kind, namespace, label_selector=label_selector,
                                               field_selector=field_selector, timeout=timeout)
        return items, version

    def list_pods(self, namespace: str, label_selector: str, timeout: float = REQUEST_TIMEOUT) -> list[dict]:
        return self.list_objects("pods", namespace, label_selector=label_selector, timeout=timeout)[0]

    def list_events(self, namespace: str, field_selector: str, timeout: float = REQUEST_TIMEOUT) -> list[dict]:
        return self.list_objects("events", namespace, field_selector=field_selector, timeout=timeout)[0]
"""Seconds per API call at most (less when the request's deadline is nearer)."""


class KubeApi(Protocol):
    """The calls the engines make.  Errors are raised as ``kubernetes`` ``ApiException``s.
    ``timeout``: seconds for the call (the client's ``_request_timeout``)."""

    def create_job(self, namespace: str, body: dict, timeout: float = ...) -> tuple[dict, list[str]]:
        """The created Job and the ``Warning`` headers of the answer (raw header values)."""
    def read_job(self, namespace: str, name: str, timeout: float = ...) -> dict: ...
    def delete_job(self, namespace: str, name: str, timeout: float = ...) -> None: ...
    def list_pods(self, namespace: str, label_selector: str, timeout: float = ...) -> list[dict]: ...
    def list_events(self, namespace: str, field_selector: str, timeout: float = ...) -> list[dict]: ...
    def read_log(self, namespace: str, pod: str, container: str, tail_lines: int, limit_bytes: int | None = None,
                 timeout: float = ...) -> str: ...
    def list_objects(self, kind: str, namespace: str, *, label_selector: str | None = None,
                     field_selector: str | None = None, timeout: float = ...) -> tuple[list[dict], str]:
        """``jobs``, ``pods`` or ``events``, and the list's ``resourceVersion``."""
    def list_page(self, kind: str, namespace: str, *, label_selector: str | None = None,
                  field_selector: str | None = None, limit: int | None = None, continue_token: str | None = None,
                  timeout: float = ...) -> tuple[list[dict], str, str]:
        """One page of a LIST (``limit`` objects): objects, resourceVersion, the next page's token or ""."""
    def watch_objects(self, kind: str, namespace: str, *, resource_version: str, timeout_seconds: int,
                      label_selector: str | None = None, field_selector: str | None = None) -> Iterable[dict]:
        """The watch's events, ``{"type", "object"}`` (ERROR events included, or a 410 raised)."""


def parse_warnings(values: Iterable[str]) -> list[str]:
    """The texts of ``Warning`` header values (RFC 7234: ``299 - "text"``, inner quotes escaped;
    several warnings may share one header line)."""
    texts = []
    for value in values:
        found = _WARNING.findall(value or "")
        if not found:  # not the standard form: keep it as it came
            texts.append(str(value or ""))
        texts.extend(re.sub(r"\\(.)", r"\1", text) for text in found)
    return [t for t in texts if t]


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
    """Map an API (or connection) error to the :class:`base.EngineError` the HTTP layer answers with.

    A 403 is not always RBAC: a ResourceQuota on the Job count refuses a create with the same
    ``Forbidden`` reason, and admission webhooks answer 403 too; only the message tells them apart.
    """
    code = getattr(exc, "status", None)
    detail = api_message(exc)
    if code == 404:
        return base.JobNotFound(f"job {jid!r} not found")
    if code == 409:
        return base.JobExists(f"job {jid!r} exists already (delete it first)")
    if code in (400, 422):
        return base.EngineError(f"the cluster refused to {action} job {jid!r}: {detail}", 400)
    if code == 401:
        return base.EngineError(f"the Kubernetes API rejected pman's credentials (401) when it tried to {action} "
                                f"job {jid!r}: {detail}", 503)
    if code == 403 and "exceeded quota" in detail:
        return base.EngineError(f"the namespace's ResourceQuota is used up, so the cluster refused to {action} "
                                f"job {jid!r} (not a permission problem): {detail}", 503)
    if code == 403 and _RBAC_DENIAL.search(detail):
        return base.EngineError(f"pman's service account may not {action} job {jid!r} (RBAC: see its Role): "
                                f"{detail}", 503)
    if code == 403:
        return base.EngineError(f"the cluster's admission refused to {action} job {jid!r}: {detail}", 400)
    if not code:  # status 0 or no status: the API server could not be reached
        return base.EngineError(f"cannot reach the Kubernetes API to {action} job {jid!r}: {detail}", 503)
    return base.EngineError(f"the Kubernetes API failed to {action} job {jid!r}: {detail}", 503)


def translatable(exc: Exception) -> bool:
    """An API error (any ``ApiException``, dynamic-client ones included) or a connection failure."""
    api_error = isinstance(getattr(exc, "status", None), int) and hasattr(exc, "reason")
    return api_error or isinstance(exc, (OSError, urllib3.exceptions.HTTPError))


class _Recent:
    """A bounded, thread-safe set of jids (those whose result object is known to exist)."""

    def __init__(self, size: int = 4096):
        self.size, self._items, self._lock = size, OrderedDict(), threading.Lock()

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def add(self, key: str) -> None:
        with self._lock:
            self._items[key] = None
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def discard(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


class KubeEngine(base.Engine):
    """Jobs as Kubernetes Jobs (see :mod:`pman.engines.kube.spec`); thread-safe.  Its state: the
    status cache (once started), the jids whose result object exists, the cached logs."""

    name = "kube"

    def __init__(self, api: KubeApi, settings: KubeSettings, *, result_reader: ResultReader | None = None,
                 result_writer: ResultWriter | None = None, data_store: swiftstore.SwiftStore | None = None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        """:param api: the client adapter.
        :param settings: namespace, images, limits... (validated at startup, with the service config).
        :param result_reader: ``jid -> result dict | None`` (the result object in Swift).
        :param result_writer: ``(jid, result dict) -> None``: records a terminal state nobody recorded.
        :param data_store: the Swift store (pman's own credentials) in which a delete deletes the
            job's container; None: deletes leave the data (to the retention policy).
        :param clock: epoch seconds, to measure how long a job could not start.
        :param monotonic: seconds, for deadlines and the Events and log refresh intervals.
        :param sleep: waits between two looks at a deleted Job's pods."""
        self.api, self.settings, self.result_reader = api, settings, result_reader
        self.result_writer, self.clock, self.data_store, self.sleep = result_writer, clock, data_store, sleep
        self._recorded = _Recent()
        self._deleted = _Recent()
        self._removed = _Recent()  # deleted by a client: no result object is recorded for them any more
        self.cache: StatusCache | None = None
        self.deadlines = budget.Deadlines(settings.status_deadline, monotonic)
        self.log_cache = logcache.LogCache(settings.log_refresh_seconds, monotonic)
        self._monotonic = monotonic

    def ready(self) -> str | None:
        """One cheap API call pman needs to work: list the namespace's Jobs, at most one."""
        try:
            self.api.list_page("jobs", self.settings.namespace, limit=1, timeout=REQUEST_TIMEOUT)
        except Exception as e:
            return f"the cluster API cannot list jobs in namespace {self.settings.namespace}: {api_message(e)}"
        return None

    def start(self, cache: StatusCache | None = None) -> "KubeEngine":
        """Start the status cache (``status_cache`` on): its LIST+WATCH threads, or ``cache`` as given
        (tests drive theirs by hand).  Status reads use it once it has synced."""
        if cache is None and self.settings.status_cache:
            cache = StatusCache(self.api, self.settings, clock=self._monotonic,
                                on_pod_removed=lambda pod: self.log_cache.forget_pod(pod.uid or pod.name)).start()
        self.cache = cache
        return self

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    def _synced_cache(self) -> StatusCache | None:
        return self.cache if self.cache is not None and self.cache.synced else None

    def _call(self, action: str, jid: str, fn, *args, deadline: budget.Deadline | None = None, **kwargs):
        timeout = deadline.timeout(REQUEST_TIMEOUT) if deadline is not None else REQUEST_TIMEOUT
        try:
            return fn(*args, timeout=timeout, **kwargs)
        except Exception as e:  # the one place the client's errors become ours
            if not translatable(e):
                raise
            if deadline is not None and deadline.remaining() < budget.MIN_CALL and not getattr(e, "status", None):
                raise deadline.error(api_message(e)) from e
            raise translate(e, action, jid) from e

    def submit(self, spec_: base.JobSpec) -> base.JobInfo:
        body = spec.build_job(spec_, self.settings)
        created, warnings = self._call("create", spec_.jid, self.api.create_job, self.settings.namespace, body)
        self._removed.discard(spec_.jid)  # a new job of a deleted one's jid
        log.info("job %s: created Job %s/%s", spec_.jid, self.settings.namespace, body["metadata"]["name"])
        warnings = parse_warnings(warnings)
        for text in warnings:  # e.g. "would violate PodSecurity ...": its pods will be refused
            log.warning("job %s: the API server warned when creating its Job: %s", spec_.jid, text)
        info = status.job_info(spec_.jid, created if isinstance(created, dict) and created else body, [])
        if warnings:
            info = replace(info, message=f"{info.message}; the API server warned: {'; '.join(warnings)}")
        return info

    def info(self, jid: str) -> base.JobInfo:
        name = job_name(jid)
        deadline = self.deadlines.start(jid)
        cache = self._synced_cache()
        if cache is None:
            return self._read(jid, deadline)
        record = cache.job(name)
        if record is not None:
            job = record.as_dict()
        else:  # not (yet) in the cache: just created, or gone (TTL, deleted)
            try:
                job = self._call("read", jid, self.api.read_job, self.settings.namespace, name, deadline=deadline)
            except base.JobNotFound as not_found:
                return self._from_result(jid, not_found, deadline)
        pods = [p.as_dict() for p in cache.pods_of(name)]
        info = self._map(jid, job, pods, self._cached_events(jid, job, pods, deadline))
        if info.status.finished and jid not in self._recorded:
            return self._read(jid, deadline)  # the first end seen: confirm it on the API, then record it
        if info.status.finished and status.gave_up(info, job) and jid not in self._deleted:
            self._give_up(jid, info, deadline)
        return info

    def _read(self, jid: str, deadline: budget.Deadline) -> base.JobInfo:
        """The status from the API itself: the Job, its pods and, if needed, their Events."""
        name = job_name(jid)
        try:
            job = self._call("read", jid, self.api.read_job, self.settings.namespace, name, deadline=deadline)
        except base.JobNotFound as not_found:
            return self._from_result(jid, not_found, deadline)
        pods = self._call("list the pods of", jid, self.api.list_pods, self.settings.namespace, pod_selector(name),
                          deadline=deadline)
        info = self._map(jid, job, pods, self._events(jid, job, pods, deadline))
        if info.status.finished:
            self._finish(jid, job, pods, info, deadline)
        return info

    def _map(self, jid: str, job: dict, pods: list[dict], events: list[dict]) -> base.JobInfo:
        return status.job_info(jid, job, pods, events, now=self.clock(),
                               start_failure_timeout=self.settings.start_failure_timeout)

    @staticmethod
    def _explained_by(jid: str, job: dict, pods: list[dict]) -> tuple[str, str] | None:
        """Whose Events explain a job that has not started: its Job's (no pod: ``FailedCreate``) or
        its newest pod's (``FailedMount``).  None once it runs or ended."""
        if status.job_finished(job) or status.processor_started_at(status.container_statuses(pods)):
            return None
        if pods:
            newest = max(pods, key=lambda p: str(status.nested(p, "metadata", "creationTimestamp") or ""))
            return "Pod", str(status.nested(newest, "metadata", "name"))
        return "Job", job_name(jid)

    def _events(self, jid: str, job: dict, pods: list[dict], deadline: budget.Deadline) -> list[dict]:
        who = self._explained_by(jid, job, pods)
        if who is None:
            return []
        selector = f"involvedObject.kind={who[0]},involvedObject.name={who[1]}"
        try:
            return self.api.list_events(self.settings.namespace, selector, timeout=deadline.timeout(REQUEST_TIMEOUT))
        except Exception as e:  # a status without Events is still a status: say why it is poorer
            if not translatable(e):
                raise
            self._events_unreadable(jid, e)
            return []

    def _cached_events(self, jid: str, job: dict, pods: list[dict], deadline: budget.Deadline) -> list[dict]:
        who = self._explained_by(jid, job, pods)
        if who is None or self.cache is None:
            return []
        try:
            return self.cache.events.events(*who, timeout=deadline.timeout(REQUEST_TIMEOUT))
        except Exception as e:
            if not translatable(e):
                raise
            self._events_unreadable(jid, e)
            return []

    @staticmethod
    def _events_unreadable(jid: str, e: Exception) -> None:
        log.warning("job %s: cannot read its Events (pman's Role needs get/list on events): %s", jid, api_message(e))

    def _finish(self, jid: str, job: dict, pods: list[dict], info: base.JobInfo, deadline: budget.Deadline) -> None:
        recorded = self._record(jid, pods, info)
        if recorded and status.gave_up(info, job):
            self._give_up(jid, info, deadline)

    def _give_up(self, jid: str, info: base.JobInfo, deadline: budget.Deadline) -> None:
        try:
            self._call("delete", jid, self.api.delete_job, self.settings.namespace, job_name(jid), deadline=deadline)
            self._deleted.add(jid)
            log.warning("job %s: gave up (%s: %s); its Job is deleted", jid, info.reason, info.message)
        except base.EngineError as e:  # the verdict stands; the Job's deadline still ends it
            if isinstance(e, base.JobNotFound):
                self._deleted.add(jid)
            log.warning("job %s: gave up, but cannot delete its Job: %s", jid, e)

    def _record(self, jid: str, pods: list[dict], info: base.JobInfo) -> bool:
        """Make sure the job's result object exists (the publisher's, else ours); True if it does."""
        if jid in self._recorded:
            return True
        if jid in self._removed:  # being deleted: writing it would bring its container back
            return False
        if self.result_reader is None or self.result_writer is None:
            return False
        try:
            if self.result_reader(jid) is None:
                self.result_writer(jid, observed_result(jid, pods, info))
                log.info("job %s: recorded its end (%s %s) in its result object", jid, info.status.value,
                         info.reason)
        except Exception as e:  # Swift down: the Job still tells; the next status read tries again
            log.warning("job %s: cannot record its result object: %s", jid, e)
            return False
        self._recorded.add(jid)
        return True

    def _from_result(self, jid: str, not_found: base.JobNotFound, deadline: budget.Deadline | None = None
                     ) -> base.JobInfo:
        result = None
        if self.result_reader is not None:
            if deadline is not None:
                deadline.timeout(REQUEST_TIMEOUT)  # nothing left: 503 rather than start a Swift read
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

        Read only when it can have changed (:mod:`~pman.engines.kube.logcache`).

        :param tail: the most bytes kept per container (default ``log_tail_bytes``).
        """
        name = job_name(jid)
        deadline = self.deadlines.take(jid)
        cache = self._synced_cache()
        if cache is not None:
            pods = [p.as_dict() for p in cache.pods_of(name)]
        else:
            pods = self._call("list the pods of", jid, self.api.list_pods, self.settings.namespace,
                              pod_selector(name), deadline=deadline)
        if not pods:
            return {}
        pod = max(pods, key=lambda p: str(status.nested(p, "metadata", "creationTimestamp") or ""))
        started = status.container_statuses([pod])
        limit = tail or self.settings.log_tail_bytes
        out = {}
        for container in CONTAINERS:
            cs = started.get(container)
            if cs is None or not (status.nested(cs, "state", "running") or status.terminated(cs)):
                continue  # never started: the API would answer 400 "waiting to start"
            try:
                text = self._log(pod, container, status.terminated(cs) is not None, limit, deadline)
            except base.EngineError as e:  # the deadline passed: the status itself is still good
                out[container] = f"(log unavailable: {e})"
                continue
            except Exception as e:
                if not translatable(e):
                    raise
                out[container] = f"(log unavailable: {api_message(e)})"
                continue
            out[container] = text[-limit:] if len(text) > limit else text
        return out

    def _log(self, pod: dict, container: str, terminated: bool, limit: int, deadline: budget.Deadline) -> str:
        pod_name = status.nested(pod, "metadata", "name")
        key = (str(status.nested(pod, "metadata", "uid") or pod_name), container)
        cacheable = limit <= self.settings.log_tail_bytes  # the cache keeps log_tail_bytes
        text = self.log_cache.get(key, terminated) if cacheable else None
        if text is not None:
            return text

        def read(lines: int, limit_bytes: int) -> str:
            return self.api.read_log(self.settings.namespace, pod_name, container, lines, limit_bytes,
                                     timeout=deadline.timeout(REQUEST_TIMEOUT))

        text = logcache.read_tail(read, self.settings.log_tail_lines, max(limit, self.settings.log_tail_bytes))
        self.log_cache.reads += 1
        if cacheable:
            self.log_cache.put(key, text, terminated)
        return text

    def remove(self, jid: str) -> base.Removal:
        """Delete the Job and (background propagation) its pods, then its data: the container
        ``<jid>`` (unless ``keep_data_on_delete``), once no pod of the job runs any more, so that
        no publish container writes it again.  A job known only by its result object has nothing
        left to cancel.  :raises base.JobNotFound:"""
        name = job_name(jid)
        try:
            self._call("delete", jid, self.api.delete_job, self.settings.namespace, name)
        except base.JobNotFound as not_found:
            self._from_result(jid, not_found)  # raises JobNotFound unless a result exists
        else:
            log.info("job %s: deleted Job %s/%s", jid, self.settings.namespace, name)
        self._removed.add(jid)
        if self.settings.keep_data_on_delete:
            return jobdata.KEPT
        if self.data_store is None:
            return jobdata.without_credentials(jid, "no Swift store configured")
        if not self._pods_stopped(jid):
            log.warning("job %s: its pods still run %g s after its Job was deleted: its data is left", jid,
                        POD_STOP_WAIT)
            return base.Removal(base.DATA_KEPT, f"the job's pods were still stopping after {POD_STOP_WAIT:g} s: "
                                                "its data is left to the retention policy (or pfioh's rmtree)")
        removal = jobdata.delete_swift(self.data_store, jid)
        log.info("job %s: data %s (%s)", jid, removal.data, removal.detail)
        return removal

    def _pods_stopped(self, jid: str) -> bool:
        """Wait (at most :data:`POD_STOP_WAIT`) until the job has no pod that may still run a
        container: each is gone or ``Succeeded``/``Failed`` (every container terminated)."""
        give_up, pause = self._monotonic() + POD_STOP_WAIT, 0.25
        while True:
            pods = self._call("list the pods of", jid, self.api.list_pods, self.settings.namespace,
                              pod_selector(job_name(jid)))
            if all(status.nested(p, "status", "phase") in ("Succeeded", "Failed") for p in pods):
                return True
            left = give_up - self._monotonic()
            if left <= 0:
                return False
            self.sleep(min(pause, left))
            pause = min(pause * 2, 2.0)


def observed_result(jid: str, pods: list[dict], info: base.JobInfo) -> dict:
    """pman's result object for a job that ended as ``info`` says (its pods tell the processor's end)."""
    term = status.terminated(status.container_statuses(pods).get(PROCESSOR)) or {}
    outcome = resultdoc.ProcessorOutcome(
        exit_code=info.exit_code, reason=str(term.get("reason") or ""), message=str(term.get("message") or ""),
        started_at=info.started_at, finished_at=term.get("finishedAt"), image=info.image,
        command=tuple(shlex.split(info.cmd)))
    return resultdoc.observed(jid, info.status.value, info.reason, info.message, outcome,
                              created_at=info.timestamp or None, finished_at=info.finished_at)


def swift_results(settings: KubeSettings, engine_name: str
                  ) -> tuple[ResultReader, ResultWriter, swiftstore.SwiftStore]:
    """The Swift reader and writer of result objects, and the store both use, with pman's own
    credentials (``settings.swift_credentials``); deletes delete jobs' containers with it too.

    The credentials are loaded now, so a Kubernetes-mode pman without Swift access fails at
    startup rather than on the first status of a deleted Job.

    :raises base.EngineError: the credentials cannot be loaded.
    """
    try:
        creds = swiftstore.load_credentials(settings.swift_credentials)
    except swiftstore.errors.SwiftStoreError as e:
        raise base.EngineError(f"the {engine_name} engine reads and writes finished jobs' result objects in "
                               f"Swift, but: {e}") from e
    # Few retries, short timeouts: a status request must not hang for a minute when Swift is down.
    # (threads: the concurrent object deletes of a job's delete)
    store = swiftstore.SwiftStore.from_credentials(creds, threads=4, retries=2, timeout=10.0, max_backoff=4.0)
    return resultdoc.reader(store), resultdoc.writer(store), store
