"""The cache's small records give the status mapping exactly the answer of the full objects they
come from: on every recorded Job, pod and Event (tests/fixtures/k8s-1.36), on derived kubelet
states, and on objects pruned at random.  And they are small: the memory per cached job is
measured here and stated in docs/engines.md."""
import copy
import json
import random
import tracemalloc

import pytest

from pman.engines.kube import logcache, records, status
from pman.engines.kube.cache import StatusCache
from pman.engines.kube.settings import KubeSettings
from tests.support.fake_kube import RECORDED, items, load, with_waiting

# (Job file, pods file, Events file) of every recorded scenario; events only where recorded.
CASES = [
    ("pending/job.json", "pending/pods.json", None),
    ("running/job.json", "running/pods-init-running.json", None),
    ("running/job.json", "running/pods.json", None),
    ("running/job-processor-exited.json", "running/pods-processor-exited.json", None),
    ("succeeded/job-success-criteria-met.json", "succeeded/pods.json", "succeeded/events.json"),
    ("succeeded/job.json", "succeeded/pods.json", "succeeded/events.json"),
    ("processor-failed/job-failure-target.json", "processor-failed/pods-processor-exited.json", None),
    ("processor-failed/job.json", "processor-failed/pods.json", "processor-failed/events.json"),
    ("init-failed/job-failure-target.json", "init-failed/pods.json", None),
    ("init-failed/job.json", "init-failed/pods.json", "init-failed/events.json"),
    ("deadline/job-failure-target.json", "deadline/pods-terminating.json", None),
    ("deadline/job.json", "deadline/pods.json", "deadline/events.json"),
    ("pod-forbidden-podsecurity/job.json", "pod-forbidden-podsecurity/pods.json",
     "pod-forbidden-podsecurity/events.json"),
    ("missing-serviceaccount/job.json", "missing-serviceaccount/pods.json", "missing-serviceaccount/events.json"),
    ("quota-exceeded/job.json", "quota-exceeded/pods.json", "quota-exceeded/events.json"),
    ("ttl-deleted/job-complete.json", "ttl-deleted/pods.json", None),
    ("ttl-deleted/job-being-deleted.json", "ttl-deleted/pods.json", None),
]


def slim(job, pods, events):
    job_record = records.JobRecord.of(job)
    return (job_record.as_dict() if job_record else None,
            [r.as_dict() for r in map(records.PodRecord.of, pods) if r],
            [r.as_dict() for r in map(records.EventRecord.of, events) if r])


def both(job, pods, events, now):
    full = status.job_info("j", job, pods, events, now=now, start_failure_timeout=30)
    cached = status.job_info("j", *slim(job, pods, events), now=now, start_failure_timeout=30)
    return full, cached


@pytest.mark.parametrize("job, pods, events", CASES)
@pytest.mark.parametrize("after", [1, 3600])
def test_records_map_like_the_recorded_objects(job, pods, events, after):
    job_obj = load(job)
    now = status.epoch(job_obj["metadata"]["creationTimestamp"]) + after
    full, cached = both(job_obj, items(pods), items(events) if events else [], now)
    assert cached == full


def test_records_map_like_every_object_of_the_recorded_watch_streams():
    for stream in ("succeeded/job-watch.jsonl", "processor-failed/job-watch.jsonl", "init-failed/job-watch.jsonl",
                   "deadline/job-watch.jsonl", "ttl-deleted/job-watch.jsonl"):
        for line in (RECORDED / stream).read_text().splitlines():
            job = json.loads(line)["object"]
            assert both(job, [], [], None) == both(job, [], [], None)[::-1]
    for line in (RECORDED / "pod-watch/watch.jsonl").read_text().splitlines():
        pod = json.loads(line)["object"]
        full, cached = both(load("running/job.json"), [pod], [], None)
        assert cached == full


@pytest.mark.parametrize("container, reason", [("processor", "ImagePullBackOff"), ("init", "ErrImagePull"),
                                               ("processor", "InvalidImageName"),
                                               ("publish", "CreateContainerConfigError")])
def test_records_keep_the_kubelet_waiting_states(container, reason):
    """Derived (no kubelet was recorded): a container waiting with ``reason`` and a message."""
    pods = with_waiting(items("running/pods.json"), container, reason, "some message with runAsNonRoot")
    for after in (0, 3600):
        now = status.epoch(pods[0]["status"]["startTime"]) + after
        full, cached = both(load("running/job.json"), pods, [], now)
        assert cached == full and full.reason


def test_records_keep_the_unscheduled_condition_and_oom_and_termination_messages():
    pods = copy.deepcopy(items("pending/pods.json"))
    pods[0]["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                        "message": "0/3 nodes are available: 3 Insufficient cpu."}]
    full, cached = both(load("pending/job.json"), pods, [], None)
    assert cached == full and "Insufficient cpu" in full.message
    pods = copy.deepcopy(items("succeeded/pods.json"))
    for cs in pods[0]["status"]["containerStatuses"]:
        if cs["name"] == "processor":
            cs["state"]["terminated"].update(exitCode=137, reason="OOMKilled")
        if cs["name"] == "publish":
            cs["state"]["terminated"].update(exitCode=1, message="put: Swift answered 503")
    pods[0]["status"]["phase"] = "Failed"
    full, cached = both(load("running/job.json"), pods, [], None)
    assert cached == full and full.reason == "OOMKilled"


def _prune(obj, rng):
    if isinstance(obj, dict):
        for key in list(obj):
            roll = rng.random()
            if roll < 0.08:
                del obj[key]
            elif roll < 0.12:
                obj[key] = None
            elif roll < 0.14:
                obj[key] = rng.choice(["", 7, "x"])
            else:
                _prune(obj[key], rng)
    elif isinstance(obj, list):
        for item in obj:
            _prune(item, rng)


def test_records_of_pruned_objects_never_raise_and_still_map_alike():
    rng = random.Random(16)
    for _ in range(300):
        job_file, pods_file, events_file = rng.choice(CASES)
        job, pods = load(job_file), items(pods_file)
        events = items(events_file) if events_file else []
        for obj in [job, *pods, *events]:
            name = obj["metadata"]["name"]
            _prune(obj, rng)
            # Every object the cache holds has a name (its key); the API never sends one without.
            obj["metadata"] = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
            obj["metadata"]["name"] = name
        full, cached = both(job, pods, events, 1.9e9)
        assert cached == full


def cached_bytes_per_job(n: int) -> float:
    """Bytes the status cache holds per job (its Job and its pod, finished, all three containers
    terminated), measured with tracemalloc after a LIST of ``n`` such jobs.  Every job gets its
    own name, uid, version and times (as JSON from the server, nothing shared between objects)."""
    job, pod = (RECORDED / "succeeded/job.json").read_text(), json.dumps(items("succeeded/pods.json")[0])

    def unique(text: str, i: int) -> dict:
        text = text.replace("chris-jid-42", f"chris-jid-{i}").replace("2026-11-29T", f"{2026 + i}-11-29T")
        return json.loads(text.replace('"resourceVersion":"', f'"resourceVersion":"{i}'))

    jobs, pods = [unique(job, i) for i in range(n)], [unique(pod, i) for i in range(n)]

    class Api:
        def list_objects(self, kind, namespace, **selectors):
            return (jobs if kind == "jobs" else pods), "1"

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cache = StatusCache(Api(), KubeSettings())
        cache.jobs.relist()
        cache.pods.relist()
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache.jobs) == len(cache.pods) == n and len(cache.pods_of("chris-jid-7")) == 1
    return used / n


def test_memory_per_cached_job_is_small_and_flat():
    """The figure is stated in docs/engines.md ("Memory"): 1.4-2.4 KB a job.  The bound only
    guards against a record that starts keeping whole objects (a parsed Job and pod: ~150 KB)."""
    small, large = cached_bytes_per_job(200), cached_bytes_per_job(5000)
    assert small < 4096 and large < 4096
    # Flat: nothing grows faster than the jobs (the hash tables' slack moves the figure between
    # about 1.4 and 2.4 KB depending on where their last resize fell).
    assert large < 2 * small


def test_the_log_cache_keeps_a_byte_budget():
    cache = logcache.LogCache(refresh_seconds=5, clock=lambda: 0.0, max_bytes=100)
    for n in range(3):
        cache.put((f"pod-{n}", "processor"), "x" * 40, terminated=True)
    assert cache.get(("pod-0", "processor"), True) is None  # the oldest went
    assert cache.get(("pod-2", "processor"), True) == "x" * 40
    cache.forget_pod("pod-2")
    assert cache.get(("pod-2", "processor"), True) is None and len(cache) == 1


def test_a_log_cut_by_limit_bytes_is_asked_again_for_its_tail():
    lines = [f"line {n:05d} {'.' * 50}\n" for n in range(5000)]  # 62 bytes a line
    asked = []

    def read(tail_lines, limit_bytes):
        asked.append((tail_lines, limit_bytes))
        text = "".join(lines[-tail_lines:])
        return text.encode()[:limit_bytes].decode()

    text = logcache.read_tail(read, 5000, 1000)
    assert text == "".join(lines)[-1000:]
    assert asked[0] == (5000, 4096) and asked[1][0] < 5000 and len(asked) == 2
