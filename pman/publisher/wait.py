"""``put --wait``: inside a Job pod, wait until the processor container has terminated.

The publish container finds its own pod (``POD_NAME`` from the downward API, else ``HOSTNAME``)
and namespace (``POD_NAMESPACE``, else the service account's ``namespace`` file), then watches
that one pod through the in-cluster API (service-account token and CA).  A watch that ends is
re-opened; a watch that fails switches to polling every ``poll_interval`` seconds.

The wait is bounded when the API cannot be reached: transient errors (connection failures, 5xx,
a garbled answer) are retried, but once no call has succeeded for ``unreachable_timeout`` seconds
the wait gives up with :class:`WaitError`.  401/403/404 (RBAC or identity is wrong) and a deleted
pod give up at once.  Either way the caller (:mod:`pman.publisher.cli`) still uploads what the
processor wrote, with a result object saying that its end was not observed.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, Callable, Iterable

from pman.resultdoc import ProcessorOutcome

log = logging.getLogger("pman.publisher.wait")
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
FATAL_STATUSES = (401, 403, 404)
UNREACHABLE_TIMEOUT = 300.0  # seconds without any successful API call before the wait gives up
REQUEST_TIMEOUT = 30  # per read; a watch gets its own server-side timeout plus this


class WaitError(RuntimeError):
    """The processor's end cannot be observed (no identity, no permission, pod gone)."""


def own_pod_name(environ=None) -> str:
    """:raises WaitError: neither ``POD_NAME`` nor ``HOSTNAME`` is set."""
    environ = os.environ if environ is None else environ
    name = environ.get("POD_NAME") or environ.get("HOSTNAME")
    if not name:
        raise WaitError("cannot tell this pod's name: set POD_NAME (downward API) or HOSTNAME")
    return name


def own_namespace(environ=None, namespace_file: str = SA_NAMESPACE_FILE) -> str:
    """:raises WaitError: neither ``POD_NAMESPACE`` nor the service account's namespace file."""
    environ = os.environ if environ is None else environ
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        with open(namespace_file, encoding="utf-8") as f:
            namespace = f.read().strip()
    except OSError as e:
        raise WaitError(f"cannot tell this pod's namespace: set POD_NAMESPACE or mount {namespace_file} "
                        f"({e})") from None
    if not namespace:
        raise WaitError(f"{namespace_file} is empty")
    return namespace


def outcome_of(pod: dict, container: str) -> ProcessorOutcome | None:
    """The processor's outcome if ``container`` has ``state.terminated`` in ``pod``, else None."""
    status = pod.get("status") if isinstance(pod, dict) else None
    for cs in (status or {}).get("containerStatuses") or []:
        if not isinstance(cs, dict) or cs.get("name") != container:
            continue
        term = (cs.get("state") or {}).get("terminated")
        if not term:
            return None
        spec = next((c for c in (pod.get("spec") or {}).get("containers") or []
                     if isinstance(c, dict) and c.get("name") == container), {})
        code = term.get("exitCode")
        return ProcessorOutcome(
            exit_code=code if isinstance(code, int) else None, reason=str(term.get("reason") or ""),
            message=str(term.get("message") or ""), started_at=term.get("startedAt"),
            finished_at=term.get("finishedAt"), image=str(spec.get("image") or cs.get("image") or ""),
            command=tuple(str(t) for t in (spec.get("command") or []) + (spec.get("args") or [])),
            pod_created_at=(pod.get("metadata") or {}).get("creationTimestamp"))
    return None


def _status(exc: Exception) -> int | None:
    code = getattr(exc, "status", None)
    return code if isinstance(code, int) else None


def _fatal(exc: Exception, pod: str, namespace: str) -> WaitError | None:
    code = _status(exc)
    if code in FATAL_STATUSES:
        what = {404: "does not exist", 401: "cannot be read: the API rejected our token",
                403: "is not readable by this service account (it needs get/watch on pods)"}[code]
        return WaitError(f"pod {namespace}/{pod} {what}: {getattr(exc, 'reason', '') or exc}")
    return None


def _transient(exc: Exception) -> bool:
    """An API error that is not fatal, a connection failure, or a garbled answer: worth a retry."""
    import urllib3

    return _status(exc) is not None or isinstance(exc, (OSError, ValueError, urllib3.exceptions.HTTPError))


class PodWaiter:
    """Watch, then poll, one pod until a container has terminated.  ``api`` is a ``CoreV1Api``."""

    def __init__(self, api, namespace: str, pod: str, container: str, *, watch_factory: Callable | None = None,
                 poll_interval: float = 5.0, watch_timeout: int = 600,
                 unreachable_timeout: float = UNREACHABLE_TIMEOUT, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.api, self.namespace, self.pod, self.container = api, namespace, pod, container
        self.watch_factory = watch_factory
        self.poll_interval, self.watch_timeout, self.sleep = poll_interval, watch_timeout, sleep
        self.unreachable_timeout, self.clock = unreachable_timeout, clock
        self._failing_since: float | None = None

    def read(self) -> dict:
        response = self.api.read_namespaced_pod(self.pod, self.namespace, _preload_content=False,
                                                _request_timeout=REQUEST_TIMEOUT)
        data = response.data
        return json.loads(data.decode() if isinstance(data, bytes) else data)

    def events(self) -> Iterable[dict]:
        """Raw pod dicts from one watch (it ends after ``watch_timeout`` seconds)."""
        watch = self.watch_factory()
        try:
            for event in watch.stream(self.api.list_namespaced_pod, self.namespace,
                                      field_selector=f"metadata.name={self.pod}", timeout_seconds=self.watch_timeout,
                                      _request_timeout=self.watch_timeout + REQUEST_TIMEOUT):
                if event.get("type") == "ERROR":
                    raise RuntimeError(f"watch error: {event.get('raw_object')}")
                if event.get("type") == "DELETED":
                    raise WaitError(f"pod {self.namespace}/{self.pod} was deleted before container "
                                    f"{self.container} had terminated")
                self._reached()
                yield event.get("raw_object") or {}
        finally:
            watch.stop()

    def wait(self) -> ProcessorOutcome:
        """:raises WaitError: on a fatal API answer, if the pod disappears, or if the API has been
        unreachable for ``unreachable_timeout`` seconds."""
        outcome = self._check(self.read)  # it may have ended before we started watching
        if outcome is not None:
            return outcome
        if self.watch_factory is not None:
            try:
                while True:
                    for pod in self.events():
                        outcome = outcome_of(pod, self.container)
                        if outcome is not None:
                            return outcome
                    self._reached()
                    log.debug("watch on %s ended; re-opening it", self.pod)
            except WaitError:
                raise
            except Exception as e:
                if (fatal := _fatal(e, self.pod, self.namespace)) is not None:
                    raise fatal from e
                self._unreachable(e)
                log.warning("watching pod %s failed (%s); polling every %.0f s instead", self.pod,
                            " ".join(str(e).split())[:200], self.poll_interval)
        return self.poll()

    def poll(self) -> ProcessorOutcome:
        while True:
            self.sleep(self.poll_interval)
            outcome = self._check(self.read)
            if outcome is not None:
                return outcome

    def _check(self, read: Callable[[], dict]) -> ProcessorOutcome | None:
        try:
            pod = read()
        except Exception as e:
            if (fatal := _fatal(e, self.pod, self.namespace)) is not None:
                raise fatal from e
            if not _transient(e):
                raise
            self._unreachable(e)
            log.warning("reading pod %s failed (%s); retrying", self.pod, " ".join(str(e).split())[:200])
            return None
        self._reached()
        return outcome_of(pod, self.container)

    def _reached(self) -> None:
        self._failing_since = None

    def _unreachable(self, exc: Exception) -> None:
        """Count a failed call; :raises WaitError: none has succeeded for ``unreachable_timeout`` s."""
        now = self.clock()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._failing_since >= self.unreachable_timeout:
            raise WaitError(f"the Kubernetes API has not answered for {self.unreachable_timeout:.0f} s "
                            f"(last error: {' '.join(str(exc).split())[:200]})") from exc


def incluster_api():
    """A ``CoreV1Api`` with the pod's service-account token and CA, and the ``Watch`` class."""
    import kubernetes.client
    import kubernetes.config
    import kubernetes.watch

    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException as e:
        raise WaitError(f"not running in a Kubernetes pod with a service account: {e}") from e
    return kubernetes.client.CoreV1Api(), kubernetes.watch.Watch


def wait_for_processor(args: Any = None, *, api=None, watch_factory=None, environ=None,
                       poll_interval: float = 5.0, unreachable_timeout: float | None = None, sleep=time.sleep,
                       clock=time.monotonic) -> ProcessorOutcome:
    """Block until this pod's processor container (``$PROCESSOR_CONTAINER``, default ``processor``)
    has terminated, and say how it ended.

    :param args: the ``put`` command line (``quiet``, ``wait_unreachable_timeout``).
    :param api: a ``CoreV1Api`` (default: the in-cluster one); ``watch_factory`` makes watches.
    :param unreachable_timeout: seconds without a successful API call before giving up (default:
        ``args.wait_unreachable_timeout``, else :data:`UNREACHABLE_TIMEOUT`).
    :raises WaitError: the processor's end cannot be observed (no identity, fatal API answers,
        the pod deleted, the API unreachable for too long).
    """
    environ = os.environ if environ is None else environ
    pod, namespace = own_pod_name(environ), own_namespace(environ)
    container = environ.get("PROCESSOR_CONTAINER") or "processor"
    if api is None:
        api, watch_factory = incluster_api()
    quiet = bool(getattr(args, "quiet", False))
    if unreachable_timeout is None:
        unreachable_timeout = getattr(args, "wait_unreachable_timeout", None)
        unreachable_timeout = UNREACHABLE_TIMEOUT if unreachable_timeout is None else unreachable_timeout
    _say(quiet, f"waiting for container {container} of pod {namespace}/{pod} to terminate")
    outcome = PodWaiter(api, namespace, pod, container, watch_factory=watch_factory, poll_interval=poll_interval,
                        unreachable_timeout=unreachable_timeout, sleep=sleep, clock=clock).wait()
    _say(quiet, f"container {container} terminated: exit code {outcome.exit_code} ({outcome.reason or 'no reason'})")
    return outcome


def _say(quiet: bool, message: str) -> None:
    # The publish container's log is what an operator reads: say what we wait for, and how it ended.
    if not quiet:
        print(f"pman-swift-publisher: {message}", file=sys.stderr, flush=True)
