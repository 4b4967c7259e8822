"""The status cache: pman's Jobs and pods kept up to date by one LIST+WATCH each.

Without it every status costs three API requests (GET the Job, LIST its pods, LIST Events), and
each LIST scans the namespace.  With it a status costs none: an :class:`Informer` per kind LISTs
the objects in scope once (label selector :func:`~pman.engines.kube.settings.scope_selector`),
then follows a WATCH from the list's ``resourceVersion``, keeping a small frozen record per object
(:mod:`~pman.engines.kube.records`).

The informer's loop, as client-go's reflector does it:

- a watch that ends (its ``timeoutSeconds``, or the server closing it) is opened again from the
  last ``resourceVersion`` seen (BOOKMARK events keep it fresh);
- ``410 Gone`` (an ERROR event, or the status of the answer): the version is too old to resume
  from, so LIST again and replace everything;
- any other error (connection refused or reset, 5xx, 403): the cache is marked not synced, so
  status reads fall back to the API, and the informer LISTs again after a backoff (0.5 s, doubling
  to 30 s).

The Events that explain a job that cannot start are not watched (pman's Role may get and list
Events, not watch them).  :class:`EventsPoller` LISTs the namespace's Warning Events at most every
``events_interval`` seconds, only when a status needs them, and that one read serves every job.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from pman.engines.kube import records
from pman.engines.kube.settings import KubeSettings, scope_selector
from pman.engines.kube.status import nested

log = logging.getLogger("pman.kube.cache")
WATCH_SECONDS = 300
"""The server-side ``timeoutSeconds`` of a watch (jittered by up to a fifth, so that the watches
of many pmans do not all reopen together)."""
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0
PAGE = 500
"""Objects per LIST page: a LIST of thousands of Jobs is never parsed whole (a parsed pod is
~75 KB of Python objects), only ``PAGE`` at a time before they become records."""
Lister = Callable[..., "tuple[list[dict], str]"]
Watcher = Callable[[str, int], Iterable[dict]]


class Gone(Exception):
    """The watch's resourceVersion is too old (410): LIST again."""


class WatchError(Exception):
    """The watch answered an ERROR event other than 410."""


def _is_gone(exc: BaseException) -> bool:
    return isinstance(exc, Gone) or getattr(exc, "status", None) == 410


class Informer:
    """One kind's objects in scope: ``records[name]``, and ``groups[key][name]`` when grouped.

    Thread-safe: one thread runs :meth:`run` (or a test calls :meth:`relist`/:meth:`watch_once`),
    request threads read :meth:`get` and :meth:`group`.
    """

    def __init__(self, kind: str, lister: Lister, watcher: Watcher, to_record: Callable[[Any], Any], *,
                 group_of: Callable[[Any], str | None] | None = None, sleep: Callable[[float], Any] | None = None,
                 watch_seconds: int = WATCH_SECONDS, on_remove: Callable[[Any], None] | None = None):
        self.kind, self.lister, self.watcher, self.to_record = kind, lister, watcher, to_record
        self.group_of, self.sleep, self.watch_seconds, self.on_remove = group_of, sleep, watch_seconds, on_remove
        self.resource_version = ""
        self.synced = threading.Event()
        self.stopped = threading.Event()
        self.lists = self.watches = self.events = self.failures = 0
        self._lock = threading.Lock()
        self._records: dict[str, Any] = {}
        self._groups: dict[str, dict[str, Any]] = {}

    # ---------------------------------------------------------------- reads

    def get(self, name: str):
        with self._lock:
            return self._records.get(name)

    def group(self, key: str) -> list:
        with self._lock:
            return list(self._groups.get(key, {}).values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    # ---------------------------------------------------------------- updates

    def _store(self, record) -> None:
        old = self._records.get(record.name)
        if old is not None:
            self._ungroup(old)
        self._records[record.name] = record
        key = self.group_of(record) if self.group_of else None
        if key is not None:
            self._groups.setdefault(key, {})[record.name] = record

    def _ungroup(self, record) -> None:
        key = self.group_of(record) if self.group_of else None
        members = self._groups.get(key) if key is not None else None
        if members is not None:
            members.pop(record.name, None)
            if not members:
                del self._groups[key]

    def _delete(self, name: str):
        old = self._records.pop(name, None)
        if old is not None:
            self._ungroup(old)
        return old

    def relist(self) -> None:
        """LIST the objects in scope and replace the cache with them (marks it synced).

        ``lister()`` returns ``(objects, resourceVersion)``, or an iterator of such pages (the
        version of a paged list is the same on every page: one snapshot)."""
        answer = self.lister()
        pages = [answer] if isinstance(answer, tuple) else answer
        fresh, resource_version = [], ""
        for items, version in pages:  # each page becomes records before the next is read
            fresh.extend(r for r in map(self.to_record, items) if r is not None)
            resource_version = resource_version or version
        self.lists += 1
        with self._lock:
            names = {f.name for f in fresh}
            removed = [r for name, r in self._records.items() if name not in names]
            self._records, self._groups = {}, {}
            for record in fresh:
                self._store(record)
            self.resource_version = resource_version or ""
        for record in removed:
            self._removed(record)
        self.synced.set()
        log.debug("%s: listed %d at resourceVersion %s", self.kind, len(fresh), resource_version)

    def apply(self, event: dict) -> None:
        """One watch event.  :raises Gone: a 410 ERROR.  :raises WatchError: any other ERROR."""
        kind, obj = event.get("type"), event.get("object")
        if kind == "ERROR":
            code = obj.get("code") if isinstance(obj, dict) else None
            message = obj.get("message") if isinstance(obj, dict) else obj
            if code == 410:
                raise Gone(message)
            raise WatchError(f"{code}: {message}")
        version = nested(obj, "metadata", "resourceVersion")
        if kind in ("ADDED", "MODIFIED"):
            record = self.to_record(obj)
            if record is not None:
                with self._lock:
                    self._store(record)
        elif kind == "DELETED":
            name = nested(obj, "metadata", "name")
            with self._lock:
                old = self._delete(name) if isinstance(name, str) else None
            if old is not None:
                self._removed(old)
        if isinstance(version, str) and version:  # BOOKMARK events carry only this
            self.resource_version = version
        self.events += 1

    def _removed(self, record) -> None:
        if self.on_remove is not None:
            try:
                self.on_remove(record)
            except Exception:  # a hook must not stop the watch
                log.exception("%s: on_remove hook failed", self.kind)

    def watch_once(self) -> None:
        """Follow one watch from ``resource_version`` until it ends.

        :raises Gone: the version is too old (LIST again).
        :raises Exception: whatever the watch raised (connection errors, 5xx, an ERROR event).
        """
        seconds = int(self.watch_seconds * random.uniform(0.8, 1.0)) or 1
        self.watches += 1
        for event in self.watcher(self.resource_version, seconds):
            if self.stopped.is_set():
                return
            if isinstance(event, dict):
                self.apply(event)

    # ---------------------------------------------------------------- the loop

    def step(self) -> None:
        """LIST if not synced, then one watch; on an error, mark not synced and back off."""
        try:
            if not self.synced.is_set():
                self.relist()
            events, started = self.events, time.monotonic()
            self.watch_once()
            self.failures = 0
            if self.events == events and time.monotonic() - started < 1.0:
                (self.sleep or self.stopped.wait)(1.0)  # a watch closed at once, again and again: not a busy loop
        except Exception as e:
            if _is_gone(e):
                log.info("%s: watch expired (410 Gone): listing again", self.kind)
                self.synced.clear()  # relist at once: the data up to now is right, only old
                self.failures = 0
                self._relist_now()
                return
            self.synced.clear()
            self.failures += 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.failures - 1))
            log.warning("%s: list/watch failed (%s: %s); status reads go to the API; listing again in %.1f s",
                        self.kind, e.__class__.__name__, _short(e), delay)
            (self.sleep or self.stopped.wait)(delay)  # a stop ends the wait

    def _relist_now(self) -> None:
        try:
            self.relist()
        except Exception as e:  # the next step backs off
            log.warning("%s: list after 410 failed: %s", self.kind, _short(e))

    def run(self) -> None:
        while not self.stopped.is_set():
            self.step()

    def stop(self) -> None:
        self.stopped.set()


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


class EventsPoller:
    """The namespace's Warning Events the mapping reads, LISTed at most every ``interval`` seconds
    and only when asked (a status of a job that has not started).  One read serves all jobs."""

    def __init__(self, lister: Lister, interval: float, clock: Callable[[], float] = time.monotonic):
        self.lister, self.interval, self.clock = lister, interval, clock
        self.reads = 0
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._read_at: float | None = None
        self._by_object: dict[tuple, list] = {}

    def events(self, kind: str, name: str, timeout: float | None = None) -> list[dict]:
        """The Events of object ``kind``/``name``, read again first if the last read is too old.

        :param timeout: of the LIST, if one is needed (None: the adapter's default).
        :raises Exception: the LIST failed (the caller says why the status is poorer).
        """
        if self._stale() and self._refreshing.acquire(blocking=self._read_at is None):
            try:
                if self._stale():  # another thread may have just read them
                    self._refresh(timeout)
            finally:
                self._refreshing.release()
        with self._lock:
            return [e.as_dict() for e in self._by_object.get((kind, name), [])]

    def _stale(self) -> bool:
        return self._read_at is None or self.clock() - self._read_at >= self.interval

    def _refresh(self, timeout: float | None) -> None:
        started = self.clock()
        try:
            items, _version = self.lister(**({"timeout": timeout} if timeout is not None else {}))
        except Exception:
            self._read_at = started  # do not hammer a failing API: the next try after the interval
            raise
        finally:
            self.reads += 1
        by_object: dict[tuple, list] = {}
        for record in filter(None, map(records.EventRecord.of, items)):
            by_object.setdefault((record.kind, record.name), []).append(record)
        with self._lock:
            self._by_object, self._read_at = by_object, started


class StatusCache:
    """The Jobs and pods in scope (two informers, two daemon threads) and the Events poller."""

    def __init__(self, api, settings: KubeSettings, *, sleep: Callable[[float], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, on_pod_removed: Callable[[Any], None] | None = None):
        namespace, selector = settings.namespace, scope_selector(settings)

        def lister(kind: str, **selectors) -> Lister:
            return lambda **timeout: api.list_objects(kind, namespace, **selectors, **timeout)

        def pager(kind: str, **selectors) -> Lister:
            def pages():
                token = None
                while True:
                    items, version, token = api.list_page(kind, namespace, limit=PAGE, continue_token=token,
                                                          **selectors)
                    yield items, version
                    if not token:
                        return
            return pages if hasattr(api, "list_page") else lister(kind, **selectors)

        def watcher(kind: str, **selectors) -> Watcher:
            return lambda version, seconds: api.watch_objects(kind, namespace, resource_version=version,
                                                              timeout_seconds=seconds, **selectors)

        self.jobs = Informer("jobs", pager("jobs", label_selector=selector), watcher("jobs", label_selector=selector),
                             records.JobRecord.of, sleep=sleep)
        self.pods = Informer("pods", pager("pods", label_selector=selector), watcher("pods", label_selector=selector),
                             records.PodRecord.of, group_of=lambda p: p.jid, sleep=sleep, on_remove=on_pod_removed)
        self.events = EventsPoller(lister("events", field_selector="type=Warning"), settings.events_interval, clock)
        self._threads: list[threading.Thread] = []

    @property
    def synced(self) -> bool:
        return self.jobs.synced.is_set() and self.pods.synced.is_set()

    def job(self, name: str) -> records.JobRecord | None:
        return self.jobs.get(name)

    def pods_of(self, jid: str) -> list[records.PodRecord]:
        return self.pods.group(jid)

    def start(self) -> "StatusCache":
        for informer in (self.jobs, self.pods):
            thread = threading.Thread(target=informer.run, name=f"pman-watch-{informer.kind}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def wait_synced(self, timeout: float) -> bool:
        return self.jobs.synced.wait(timeout) and self.pods.synced.wait(timeout)

    def close(self) -> None:
        for informer in (self.jobs, self.pods):
            informer.stop()
        # The threads are daemons blocked in a watch read at worst: do not wait for the server.
        for thread in self._threads:
            thread.join(0.1)

    def stats(self) -> dict[str, Any]:
        return {kind: {"objects": len(inf), "lists": inf.lists, "watches": inf.watches, "events": inf.events,
                       "synced": inf.synced.is_set()} for kind, inf in (("jobs", self.jobs), ("pods", self.pods))} | {
            "event_reads": self.events.reads}


def iter_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines of a chunked watch body (a line may span chunks)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from (line for line in lines if line.strip())
    if pending.strip():
        yield pending
