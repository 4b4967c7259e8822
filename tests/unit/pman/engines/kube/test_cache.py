"""The status cache against the recorded watch streams and LISTs of a real kube-apiserver 1.36
(tests/fixtures/k8s-1.36): ADDED, MODIFIED, DELETED, a watch that ends, a watch that expires
(410, derived: none was recorded), a watch that errors, a pman restart, and a Job the TTL deletes
while it is cached.

The timeline of ``chris-jid-50`` is the Job's watch (ttl-deleted/job-watch.jsonl) and its pod's
(pod-watch/watch.jsonl) merged by resourceVersion, which is the order the API server wrote them.
After each event the cached status must equal the mapping of the full objects at that point.
"""
import logging

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from pman.engines import base
from pman.engines.kube import cache as kube_cache, kubernetes as kube, openshift as osh, settings as kubesettings
from pman.engines.kube import status
from pman.engines.kube.cache import StatusCache
from tests.support.fake_kube import (Chunked, FakeBatchV1Api, FakeCoreV1Api, FakeDynamicClient,
                                                FakeResource, api_error, gone, items, listing, load, recorded,
                                                server_error, watch_body, watch_events)

S = base.JobStatus
NS = "chris"
SETTINGS = kubesettings.KubeSettings(namespace=NS, start_failure_timeout=30, status_deadline=20, events_interval=5,
                                     log_refresh_seconds=5)
JID50 = "chris-jid-50"
NO_EVENTS = {"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}


def timeline() -> list[tuple[str, dict]]:
    """(``jobs`` or ``pods``, event) of chris-jid-50 in the order the server wrote them."""
    merged = [("jobs", e) for e in watch_events("ttl-deleted/job-watch.jsonl")]
    merged += [("pods", e) for e in watch_events("pod-watch/watch.jsonl")]
    return sorted(merged, key=lambda kv: int(kv[1]["object"]["metadata"]["resourceVersion"]))


class Live:
    """The "server" state the direct reads see: the current Job (None: deleted) and pods."""

    def __init__(self, job=None, pods=()):
        self.job, self.pods = job, {p["metadata"]["name"]: p for p in pods}

    def apply(self, kind, event):
        obj = event["object"]
        if kind == "jobs":
            self.job = None if event["type"] == "DELETED" else obj
        elif event["type"] == "DELETED":
            self.pods.pop(obj["metadata"]["name"], None)
        else:
            self.pods[obj["metadata"]["name"]] = obj

    def read_job(self, *args, **kwargs):
        return self.job if self.job is not None else api_error("ttl-deleted/job.json")

    def list_pods(self, *args, **kwargs):
        return listing("PodList", list(self.pods.values()), "1")


class Results(dict):
    def __init__(self, *args):
        super().__init__(*args)
        self.reads, self.writes = [], []

    def read(self, jid):
        self.reads.append(jid)
        return self.get(jid)

    def write(self, jid, doc):
        self.writes.append(jid)
        self[jid] = doc


def engine_over(live: Live, *, list_jobs=None, list_pods=None, watch_jobs=(), watch_pods=(), events=NO_EVENTS,
                results=None, now=0.0, settings=SETTINGS, log=None):
    """A kubernetes engine over fakes (Job GET and pod LIST from ``live``) with a status cache whose
    informers the test drives by hand (no threads)."""
    batch = FakeBatchV1Api(read=live.read_job, list_jobs=list_jobs or listing("JobList", [], "1"),
                           watch_jobs=_scripts(watch_jobs), delete=recorded("delete-job/delete-response.json"))
    core = FakeCoreV1Api(list_pods=live.list_pods, watch_pods=_scripts(watch_pods), list_events=events,
                         log=log or (lambda *a, **k: "a line\n"))
    clock = {"now": now}
    results = results if results is not None else Results()
    engine = kube.KubernetesEngine(kube.ClientApi(batch, core), settings, result_reader=results.read,
                                   result_writer=results.write, clock=lambda: clock["now"],
                                   monotonic=lambda: clock["now"])
    sleeps = []
    cache = StatusCache(engine.api, settings, sleep=sleeps.append, clock=lambda: clock["now"])
    if list_pods is not None:
        core.answers["list_pods"] = _by_watch(list_pods, live.list_pods)
    engine.start(cache)
    return engine, batch, core, clock, results, sleeps


def _by_watch(scope_list, direct):
    """The pod LIST: the cache's (scope selector) answers ``scope_list``; a job's (jid selector) ``direct``."""
    return lambda namespace, label_selector=None, **kw: scope_list if ",jid=" not in (label_selector or "") \
        else direct(namespace, label_selector=label_selector, **kw)


def _scripts(watches):
    """One watch answer per opened watch, in order."""
    watches = list(watches)
    return lambda *args, **kwargs: watches.pop(0)


def mapped(jid, live: Live, now):
    return status.job_info(jid, live.job, list(live.pods.values()), [], now=now, start_failure_timeout=30)


def reads(batch):
    return len(batch.called("read"))


# ---------------------------------------------------------------- the recorded timeline

def test_the_cache_follows_a_recorded_job_from_creation_to_its_ttl_deletion():
    live = Live()
    created = status.epoch(timeline()[0][1]["object"]["metadata"]["creationTimestamp"])
    engine, batch, core, clock, results, _ = engine_over(live, now=created + 1)
    engine.cache.jobs.relist()
    engine.cache.pods.relist()
    seen = []
    for kind, event in timeline():
        live.apply(kind, event)
        getattr(engine.cache, kind).apply(event)
        if live.job is None:
            break
        before = reads(batch)
        info = engine.info(JID50)
        expected = mapped(JID50, live, clock["now"])
        assert (info.status, info.reason, info.message, info.exit_code, info.started_at, info.finished_at) == (
            expected.status, expected.reason, expected.message, expected.exit_code, expected.started_at,
            expected.finished_at), (kind, event["type"], event["object"]["metadata"]["resourceVersion"])
        # No API call while the job runs; its first end is confirmed on the API once.
        assert reads(batch) - before == (1 if info.status.finished and len(results.writes) == 1
                                         and not any(s.finished for s in seen) else 0)
        seen.append(info.status)
    assert [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s] == [
        S.notstarted, S.started, S.finishedSuccessfully]
    assert results.writes == [JID50] and results[JID50]["status"] == "finishedSuccessfully"
    # The TTL controller deletes the Job (foreground: the pod goes first): the cache forgets it, and
    # status comes from the result object pman recorded when it saw the job end.
    assert engine.cache.job(JID50) is None and engine.cache.pods_of(JID50) == []
    info = engine.info(JID50)
    assert (info.status, info.exit_code) == (S.finishedSuccessfully, 0)
    assert batch.called("read")[-1][0][0] == JID50  # the one GET (404) of a jid the cache does not know
    assert results.writes == [JID50]


def test_a_job_the_ttl_deletes_while_cached_and_unrecorded_still_answers_from_its_result_object():
    """The publisher recorded it; pman never asked before the TTL: the DELETED event removes it,
    the GET answers 404, the result object answers."""
    live = Live(load("ttl-deleted/job-complete.json"))
    published = {"schema": "pman-result/1", "status": "finishedSuccessfully", "recordedBy": "publisher",
                 "processor": {"exitCode": 0}}
    engine, batch, _core, _clock, results, _ = engine_over(
        live, list_jobs=listing("JobList", [live.job], "292"),
        watch_jobs=[Chunked(watch_body(watch_events("ttl-deleted/job-watch.jsonl")[-2:]), size=512)],
        results=Results({JID50: published}))
    engine.cache.jobs.relist()
    engine.cache.pods.relist()
    assert engine.cache.job(JID50) is not None
    engine.cache.jobs.watch_once()
    live.job = None
    assert engine.cache.job(JID50) is None and engine.cache.jobs.resource_version == "299"
    info = engine.info(JID50)
    assert (info.status, info.exit_code) == (S.finishedSuccessfully, 0) and results.writes == []
    assert reads(batch) == 1


# ---------------------------------------------------------------- the watch loop

@pytest.mark.parametrize("adapter", ["kubernetes", "openshift"])
def test_a_watch_applies_added_modified_deleted_and_reopens_from_the_last_version(adapter):
    events = watch_events("ttl-deleted/job-watch.jsonl")
    if adapter == "kubernetes":
        batch = FakeBatchV1Api(list_jobs=listing("JobList", [], "279"),
                               watch_jobs=_scripts([Chunked(watch_body(events[:3]), size=700),
                                                    Chunked(watch_body(events[3:]), size=333)]))
        api = kube.ClientApi(batch, FakeCoreV1Api())
        calls = lambda: [k for _a, k in batch.called("watch_jobs")]  # noqa: E731
    else:
        jobs = FakeResource(list=listing("JobList", [], "279"), watch=_scripts([events[:3], events[3:]]))
        api = osh.DynamicApi(FakeDynamicClient(jobs, FakeResource(), FakeResource()))
        calls = lambda: [k for _a, k in jobs.called("watch")]  # noqa: E731
    cache = StatusCache(api, SETTINGS, sleep=lambda s: None)
    cache.jobs.step()  # LIST, then a watch that ends after 3 events (its timeout)
    record = cache.job(JID50)
    assert record.resource_version == "287" and cache.jobs.synced.is_set() and cache.jobs.lists == 1
    cache.jobs.step()  # reopened from 287, no LIST: MODIFIED to Complete, deletion, DELETED
    assert cache.job(JID50) is None and cache.jobs.resource_version == "299" and cache.jobs.lists == 1
    first, second = calls()
    assert first["resource_version"] == "279" and second["resource_version"] == "287"
    for kwargs in (first, second):
        assert kwargs["label_selector"] == "job-origin=pman" and kwargs["allow_watch_bookmarks"] is True
        assert 0 < kwargs.get("timeout_seconds", kwargs.get("timeout")) <= kube_cache.WATCH_SECONDS


def test_the_records_follow_every_recorded_state_of_the_stream():
    """Each MODIFIED replaces the record; the record maps like the full object it came from."""
    cache = StatusCache(kube.ClientApi(FakeBatchV1Api(), FakeCoreV1Api()), SETTINGS)
    for event in watch_events("pod-watch/watch.jsonl")[:-1]:
        cache.pods.apply(event)
        (record,) = cache.pods_of(JID50)
        full = status.job_info(JID50, None, [event["object"]], [])
        assert status.job_info(JID50, None, [record.as_dict()], []) == full
        assert record.resource_version == event["object"]["metadata"]["resourceVersion"]
    cache.pods.apply(watch_events("pod-watch/watch.jsonl")[-1])
    assert cache.pods_of(JID50) == [] and len(cache.pods) == 0


@pytest.mark.parametrize("adapter", ["kubernetes", "openshift"])
def test_a_watch_that_expires_410_lists_again_at_once(adapter, caplog):
    complete = load("ttl-deleted/job-complete.json")
    lists = [listing("JobList", [complete], "292"), listing("JobList", [], "301")]
    first = watch_events("ttl-deleted/job-watch.jsonl")[5:6] + [gone("292")]
    if adapter == "kubernetes":
        batch = FakeBatchV1Api(list_jobs=_scripts(lists), watch_jobs=_scripts([Chunked(watch_body(first))]))
        api = kube.ClientApi(batch, FakeCoreV1Api())
    else:
        jobs = FakeResource(list=_scripts(lists), watch=_scripts([first]))
        api = osh.DynamicApi(FakeDynamicClient(jobs, FakeResource(), FakeResource()))
    sleeps = []
    cache = StatusCache(api, SETTINGS, sleep=sleeps.append)
    with caplog.at_level(logging.INFO, logger="pman.kube.cache"):
        cache.jobs.step()
    assert "410 Gone" in caplog.text
    # Listed again, without backoff: the Job deleted meanwhile is gone, the version is the new list's.
    assert cache.jobs.lists == 2 and sleeps == [] and cache.jobs.synced.is_set()
    assert cache.job(complete["metadata"]["name"]) is None and cache.jobs.resource_version == "301"


@pytest.mark.parametrize("failure", ["reset", "error-event", "500"])
def test_a_watch_that_errors_falls_back_to_the_api_backs_off_and_resyncs(failure, caplog):
    live = Live(load("running/job.json"), items("running/pods.json"))
    events = watch_events("succeeded/job-watch.jsonl")[:2]
    if failure == "reset":
        broken = Chunked(watch_body(events), size=100, error=ConnectionResetError(104, "Connection reset by peer"))
    elif failure == "error-event":
        broken = Chunked(watch_body(events + [{"type": "ERROR", "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "etcdserver: request timed out", "reason": "InternalError", "code": 500}}]))
    else:
        broken = server_error()
    jobs_list = listing("JobList", [live.job], "220")
    engine, batch, core, clock, _results, sleeps = engine_over(
        live, list_jobs=jobs_list, list_pods=listing("PodList", list(live.pods.values()), "220"),
        watch_jobs=[broken, broken, Chunked(b"")])
    engine.cache.pods.relist()
    with caplog.at_level(logging.WARNING, logger="pman.kube.cache"):
        engine.cache.jobs.step()
    assert not engine.cache.synced and sleeps == [kube_cache.BACKOFF_FIRST]
    assert "status reads go to the API" in caplog.text
    # Not synced: a status reads the API (and is right).
    assert engine.info("chris-jid-42").status == S.started and reads(batch) == 1
    engine.cache.jobs.step()  # lists again (synced), the watch fails again: longer backoff
    assert sleeps == [kube_cache.BACKOFF_FIRST, 2 * kube_cache.BACKOFF_FIRST]
    engine.cache.jobs.step()  # lists again, the watch ends normally
    assert engine.cache.synced and engine.cache.jobs.lists == 3 and engine.cache.jobs.failures == 0
    assert engine.info("chris-jid-42").status == S.started and reads(batch) == 1  # from the cache


def test_an_unreachable_api_at_start_leaves_the_cache_unsynced_and_status_answers_503():
    refused = ConnectionRefusedError(111, "Connection refused")
    live = Live()
    engine, batch, core, _clock, _results, sleeps = engine_over(live, list_jobs=refused)
    batch.answers["read"] = refused
    engine.cache.jobs.step()
    assert not engine.cache.synced and sleeps == [kube_cache.BACKOFF_FIRST]
    with pytest.raises(base.EngineError) as err:
        engine.info("chris-jid-42")
    assert err.value.status_code == 503 and "cannot reach the Kubernetes API" in str(err.value)


def test_a_pman_restart_resyncs_from_a_fresh_list():
    """pman A saw chris-jid-42 running.  While no pman ran, it ended (its publisher recorded it) and
    the TTL deleted it, and chris-jid-43's processor failed.  pman B lists and answers both."""
    running = Live(load("running/job.json"), items("running/pods.json"))
    a, *_ = engine_over(running, list_jobs=listing("JobList", [running.job], "220"),
                        list_pods=listing("PodList", list(running.pods.values()), "220"))
    a.cache.jobs.relist()
    a.cache.pods.relist()
    assert a.info("chris-jid-42").status == S.started
    a.close()

    failed = Live(load("processor-failed/job.json"), items("processor-failed/pods.json"))
    published = Results({"chris-jid-42": {"schema": "pman-result/1", "status": "finishedSuccessfully",
                                          "recordedBy": "publisher", "processor": {"exitCode": 0}}})
    b, batch, *_ , results, _sleeps = engine_over(
        failed, list_jobs=listing("JobList", [failed.job], "400"),
        list_pods=listing("PodList", list(failed.pods.values()), "400"), results=published)
    b.cache.jobs.relist()
    b.cache.pods.relist()
    info = b.info("chris-jid-43")
    assert (info.status, info.reason, info.exit_code) == (S.finishedWithError, "ProcessorError", 3)
    assert results.writes == ["chris-jid-43"]  # nobody had recorded it: pman B does
    failed.job = None  # chris-jid-42's GET is a 404 too
    info = b.info("chris-jid-42")
    assert (info.status, info.exit_code) == (S.finishedSuccessfully, 0)


def test_a_jid_the_cache_does_not_know_costs_one_get():
    """Just created (the watch has not brought it yet): one GET, no pod LIST."""
    live = Live(load("pending/job.json"))
    engine, batch, core, *_ = engine_over(live)
    engine.cache.jobs.relist()
    engine.cache.pods.relist()
    lists = len(core.called("list_pods"))
    assert engine.info("chris-jid-42").status == S.notstarted
    assert reads(batch) == 1 and len(core.called("list_pods")) == lists


def test_before_the_first_list_status_reads_the_api():
    live = Live(load("running/job.json"), items("running/pods.json"))
    engine, batch, core, *_ = engine_over(live)
    assert not engine.cache.synced
    assert engine.info("chris-jid-42").status == S.started
    assert reads(batch) == 1 and [k["label_selector"] for _a, k in core.called("list_pods")] == [
        "job-origin=pman,jid=chris-jid-42"]


def test_the_cache_lists_only_this_pmans_jobs_when_an_instance_label_is_set():
    settings = kubesettings.KubeSettings(namespace=NS, instance_label="pman-a")
    engine, batch, core, *_ = engine_over(Live(), settings=settings)
    engine.cache.jobs.relist()
    engine.cache.pods.relist()
    selector = "job-origin=pman,chrisproject.org/pman-instance=pman-a"
    assert [k["label_selector"] for _a, k in batch.called("list_jobs")] == [selector]
    assert [k["label_selector"] for _a, k in core.called("list_pods")] == [selector]


# ---------------------------------------------------------------- Events: one read for all jobs

def test_two_hundred_pending_jobs_share_one_events_read_per_interval():
    job, pod = load("pending/job.json"), items("pending/pods.json")[0]
    jobs, pods = [], []
    for n in range(200):
        jid = f"chris-jid-{1000 + n}"
        j = {**job, "metadata": {**job["metadata"], "name": jid, "uid": f"uid-{n}"}}
        p = {**pod, "metadata": {**pod["metadata"], "name": f"{jid}-abcde", "uid": f"pod-uid-{n}",
                                 "labels": {**pod["metadata"]["labels"], "jid": jid}}}
        jobs.append(j)
        pods.append(p)
    engine, batch, core, clock, *_ = engine_over(Live(), list_jobs=listing("JobList", jobs, "5000"),
                                                 list_pods=listing("PodList", pods, "5000"))
    engine.cache.jobs.relist()
    engine.cache.pods.relist()
    before = len(core.calls)
    for _round in range(3):
        for j in jobs:
            assert engine.info(j["metadata"]["name"]).status == S.notstarted
            assert engine.logs(j["metadata"]["name"]) == {}
    clock["now"] += SETTINGS.events_interval
    engine.info(jobs[0]["metadata"]["name"])
    calls = core.calls[before:] + batch.calls[len(batch.called("list_jobs")):]
    # 601 statuses: two LISTs of the namespace's Warning Events, nothing else.
    assert [(m, k.get("field_selector")) for m, _a, k in calls] == [("list_events", "type=Warning")] * 2


def test_events_that_cannot_be_read_make_the_status_poorer_and_are_not_asked_again_at_once(caplog):
    live = Live(load("quota-exceeded/job.json"))
    engine, batch, core, clock, *_ = engine_over(live, list_jobs=listing("JobList", [live.job], "10"),
                                                 events=api_error("forbidden/publisher-list-jobs.json"))
    engine.cache.jobs.relist()
    engine.cache.pods.relist()
    name = live.job["metadata"]["name"]
    with caplog.at_level(logging.WARNING, logger="pman.kube"):
        assert engine.info(name).message == "waiting for its pod to be created"
        assert engine.info(name).message == "waiting for its pod to be created"
    assert "get/list on events" in caplog.text and len(core.called("list_events")) == 1


# ---------------------------------------------------------------- the deadline

def test_a_slow_api_ends_the_status_at_its_deadline_with_a_503():
    live = Live(load("running/job.json"), items("running/pods.json"))
    engine, batch, core, clock, *_ = engine_over(live)

    def slow(seconds, answer):
        def call(*args, **kwargs):
            clock["now"] += seconds
            if callable(answer):
                return answer(*args, **kwargs)
            raise answer
        return call

    batch.answers["read"] = slow(8, live.read_job)
    core.answers["list_pods"] = slow(15, urllib3.exceptions.ReadTimeoutError(None, "/pods", "read timed out"))
    with pytest.raises(base.EngineError) as err:
        engine.info("chris-jid-42")
    assert err.value.status_code == 503 and "20 s deadline" in str(err.value)
    # Each call got what was left of the 20 s, never the full 30 s per call.
    assert [k["_request_timeout"] for _a, k in batch.called("read") + core.called("list_pods")] == [20, 12]


def test_logs_share_the_deadline_of_the_status_they_belong_to():
    live = Live(load("running/job.json"), items("running/pods.json"))
    engine, batch, core, clock, *_ = engine_over(live)

    def read(*args, **kwargs):
        clock["now"] += 18
        return live.read_job()

    def list_pods(*args, **kwargs):
        clock["now"] += 1
        return live.list_pods()
    batch.answers["read"], core.answers["list_pods"] = read, list_pods
    assert engine.info("chris-jid-42").status == S.started  # 19 of its 20 s
    logs = engine.logs("chris-jid-42")  # the pod LIST takes the last second, no log read fits
    assert [k["_request_timeout"] for _a, k in core.called("list_pods")] == [2, 1]
    assert logs["init"].startswith("(log unavailable: ") and "deadline" in logs["init"]
    assert core.called("log") == []
    assert engine.logs("chris-jid-42")["init"] == "a line\n"  # a new request: a new deadline


def test_the_status_cache_can_be_turned_off():
    settings = kubesettings.KubeSettings(namespace=NS, status_cache=False)
    engine = kube.KubernetesEngine(kube.ClientApi(FakeBatchV1Api(), FakeCoreV1Api()), settings).start()
    assert engine.cache is None


def test_the_informer_threads_stop_on_close():
    """start() runs each informer in a daemon thread; close() stops them (here after a failed LIST)."""
    batch = FakeBatchV1Api(list_jobs=ConnectionRefusedError(111, "refused"))
    core = FakeCoreV1Api(list_pods=ConnectionRefusedError(111, "refused"))
    engine = kube.KubernetesEngine(kube.ClientApi(batch, core), SETTINGS).start()
    assert {t.name for t in engine.cache._threads} == {"pman-watch-jobs", "pman-watch-pods"}
    engine.close()
    for thread in engine.cache._threads:
        thread.join(10)
        assert not thread.is_alive()


def test_lines_split_across_chunks_are_joined():
    chunks = [b'{"a":', b'1}\n{"b"', b':2}\n', b'\n{"c":3}']
    assert list(kube_cache.iter_lines(chunks)) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


def test_a_watch_answering_an_error_status_raises_the_api_error():
    batch = FakeBatchV1Api(watch_jobs=api_error("forbidden/publisher-list-jobs.json"))
    api = kube.ClientApi(batch, FakeCoreV1Api())
    with pytest.raises(ApiException) as err:
        list(api.watch_objects("jobs", NS, resource_version="1", timeout_seconds=10))
    assert err.value.status == 403


def test_a_large_list_is_read_in_pages_and_kept_as_records(monkeypatch):
    """A LIST of thousands of Jobs is never parsed whole: pages of ``PAGE`` objects, following the
    ``continue`` token, all of one snapshot (the first page's resourceVersion)."""
    monkeypatch.setattr(kube_cache, "PAGE", 2)
    job = load("pending/job.json")
    jobs = [{**job, "metadata": {**job["metadata"], "name": f"chris-jid-{n}"}} for n in range(5)]

    def list_jobs(namespace, limit=None, _continue=None, **kwargs):
        start = int(_continue or 0)
        page = listing("JobList", jobs[start:start + limit], "777")
        if start + limit < len(jobs):
            page["metadata"]["continue"] = str(start + limit)
        return page

    batch = FakeBatchV1Api(list_jobs=list_jobs)
    cache = StatusCache(kube.ClientApi(batch, FakeCoreV1Api()), SETTINGS)
    cache.jobs.relist()
    assert len(cache.jobs) == 5 and cache.jobs.resource_version == "777" and cache.jobs.lists == 1
    assert [(k["limit"], k["_continue"]) for _a, k in batch.called("list_jobs")] == [(2, None), (2, "2"), (2, "4")]
