"""The pure status mapping over the recorded Job/pod/Event responses (tests/fixtures/k8s-1.36), stage
by stage, and its robustness to missing fields.

The clock is an argument (``now``): each case puts it a given number of seconds after a recorded
timestamp, so the bounded verdicts are checked on both sides of the bound without waiting.
"""
import copy
import json
import random

import pytest

from pman.engines import base
from pman.engines.kube import status
from tests.support.fake_kube import RECORDED, items, load, watch_lines, with_waiting

S = base.JobStatus
TIMEOUT = 30
IMAGE = "ghcr.io/fnndsc/pl-simpledsapp:2.1.0"


def at(stamp: str, seconds: float = 0) -> float:
    return status.epoch(stamp) + seconds


def info_of(folder, job="job.json", pods="pods.json", events=None, after=0.0, **kw):
    """The mapping of ``folder``'s recorded files, ``after`` seconds after the Job's creation."""
    job_obj = load(f"{folder}/{job}")
    pod_list = items(f"{folder}/{pods}") if pods else []
    event_list = items(f"{folder}/{events}") if events else []
    now = at(job_obj["metadata"]["creationTimestamp"], after)
    return status.job_info("chris-jid-x", job_obj, pod_list, event_list, now=now, start_failure_timeout=TIMEOUT, **kw)


# (folder, job file, pods file) -> (status, reason, processor exit code, message contains)
STAGES = {
    ("pending", "job.json", "pods.json"): (S.notstarted, "", None, "pending"),
    ("running", "job.json", "pods-init-running.json"): (S.notstarted, "", None, "fetching the input"),
    ("running", "job.json", "pods.json"): (S.started, "", None, "running: processor"),
    ("running", "job-processor-exited.json", "pods-processor-exited.json"): (S.started, "", 0, "running: publish"),
    ("succeeded", "job-success-criteria-met.json", "pods.json"): (S.finishedSuccessfully, "", 0, "finished"),
    ("succeeded", "job.json", "pods.json"): (S.finishedSuccessfully, "", 0, "finished"),
    ("processor-failed", "job.json", "pods-processor-exited.json"): (S.finishedWithError, "ProcessorError", 3,
                                                                      "exit code 3"),
    ("processor-failed", "job-failure-target.json", "pods.json"): (S.finishedWithError, "ProcessorError", 3,
                                                                    "exit code 3"),
    ("processor-failed", "job.json", "pods.json"): (S.finishedWithError, "ProcessorError", 3, "exit code 3"),
    ("init-failed", "job-failure-target.json", "pods.json"): (S.finishedWithError, "InputError", None,
                                                               "fetching the input failed with exit code 1"),
    ("init-failed", "job.json", "pods.json"): (S.finishedWithError, "InputError", None, "exit code 1"),
    ("deadline", "job-failure-target.json", "pods-terminating.json"): (S.finishedWithError, "DeadlineExceeded",
                                                                       None, "ran out of time"),
    ("deadline", "job.json", "pods.json"): (S.finishedWithError, "DeadlineExceeded", None, "ran out of time"),
    ("ttl-deleted", "job-complete.json", None): (S.finishedSuccessfully, "", None, "finished"),
    ("ttl-deleted", "job-being-deleted.json", None): (S.finishedSuccessfully, "", None, "finished"),
}


@pytest.mark.parametrize("folder, job, pods", sorted(STAGES))
def test_recorded_stages_map_to_status_reason_and_exit_code(folder, job, pods):
    info = info_of(folder, job, pods)
    expected = STAGES[(folder, job, pods)]
    assert (info.status, info.reason, info.exit_code) == expected[:3]
    assert expected[3] in info.message
    assert info.image == IMAGE
    assert info.cmd == "simpledsapp --prefix le /share/incoming /share/outgoing"
    assert info.timestamp == load(f"{folder}/{job}")["metadata"]["creationTimestamp"]
    assert (info.finished_at is not None) == info.status.finished


def test_started_only_when_the_processor_container_really_runs():
    """The Job has startTime and the init container runs: still notstarted; started_at is the
    processor container's running.startedAt, not the Job's startTime (set before any pod ran)."""
    job = load("running/job.json")
    assert info_of("running", pods="pods-init-running.json").started_at is None
    pods = items("running/pods.json")
    processor = next(c for c in pods[0]["status"]["containerStatuses"] if c["name"] == "processor")
    info = info_of("running")
    assert info.started_at == processor["state"]["running"]["startedAt"]
    assert info.started_at != job["status"]["startTime"]


def test_a_terminated_processor_keeps_its_start_time():
    pods = items("succeeded/pods.json")
    processor = next(c for c in pods[0]["status"]["containerStatuses"] if c["name"] == "processor")
    assert info_of("succeeded").started_at == processor["state"]["terminated"]["startedAt"]
    assert info_of("init-failed").started_at is None  # the processor never ran


def test_success_times_come_from_the_job():
    job = load("succeeded/job.json")
    assert info_of("succeeded").finished_at == job["status"]["completionTime"]


def test_a_failed_pod_before_the_job_controller_caught_up():
    job = load("running/job.json")  # no conditions yet
    info = status.job_info("j", job, items("processor-failed/pods.json"))
    assert (info.status, info.reason, info.exit_code) == (S.finishedWithError, "ProcessorError", 3)


def test_failed_condition_without_pods_uses_the_job_reason():
    info = status.job_info("j", load("processor-failed/job.json"), [])
    assert (info.status, info.reason) == (S.finishedWithError, "BackoffLimitExceeded")
    assert "backoff limit" in info.message


def test_the_publishers_termination_message_is_the_detail():
    pods = copy.deepcopy(items("succeeded/pods.json"))
    publish = next(c for c in pods[0]["status"]["containerStatuses"] if c["name"] == "publish")
    publish["state"]["terminated"].update(exitCode=1, reason="Error", message="put: Swift answered 503")
    pods[0]["status"]["phase"] = "Failed"
    info = status.job_info("j", load("running/job.json"), pods)
    assert (info.status, info.reason) == (S.finishedWithError, "PublisherError")
    assert info.message == "publishing the output failed with exit code 1: put: Swift answered 503"


def test_oomkilled_processor():
    pods = copy.deepcopy(items("processor-failed/pods.json"))  # derived: the kubelet's OOMKilled
    processor = next(c for c in pods[0]["status"]["containerStatuses"] if c["name"] == "processor")
    processor["state"]["terminated"].update(exitCode=137, reason="OOMKilled")
    info = status.job_info("j", load("processor-failed/job.json"), pods)
    assert (info.status, info.reason, info.exit_code) == (S.finishedWithError, "OOMKilled", 137)


# ---------------------------------------------------------------- a pod that cannot be created

@pytest.mark.parametrize("folder, reason, words, permanent", [
    ("pod-forbidden-podsecurity", "PodSecurityViolation", 'violates PodSecurity "restricted:latest"', True),
    ("missing-serviceaccount", "ServiceAccountNotFound", 'serviceaccount "pman-publisher" not found', False),
    ("quota-exceeded", "QuotaExceeded", "exceeded quota: compute", False),
])
def test_a_pod_the_cluster_refuses_is_reported_from_the_jobs_events(folder, reason, words, permanent):
    events = items(f"{folder}/events.json")
    first = min(status.epoch(e["firstTimestamp"]) for e in events)
    created = at(load(f"{folder}/job.json")["metadata"]["creationTimestamp"])
    early = info_of(folder, events="events.json", after=first - created + 1)
    assert early.reason == reason and words in early.message
    assert early.status == (S.finishedWithError if permanent else S.notstarted)
    late = info_of(folder, events="events.json", after=first - created + TIMEOUT)
    assert (late.status, late.reason) == (S.finishedWithError, reason) and words in late.message
    assert late.finished_at is not None and late.started_at is None
    assert status.gave_up(late, load(f"{folder}/job.json"))
    # Without the Events (a Role without events) it is only "waiting", as before.
    blind = info_of(folder, events=None, after=TIMEOUT * 10)
    assert (blind.status, blind.message) == (S.notstarted, "waiting for its pod to be created")


def test_the_bound_is_measured_from_the_first_failed_create():
    folder = "missing-serviceaccount"
    event = items(f"{folder}/events.json")[0]
    job = load(f"{folder}/job.json")
    just_before = at(event["firstTimestamp"], TIMEOUT - 1)
    info = status.job_info("j", job, [], [event], now=just_before, start_failure_timeout=TIMEOUT)
    assert info.status == S.notstarted and f"lasts {TIMEOUT} s" in info.message
    info = status.job_info("j", job, [], [event], now=just_before + 1, start_failure_timeout=TIMEOUT)
    assert info.status == S.finishedWithError


def test_events_of_another_job_with_the_same_name_are_ignored():
    job = load("quota-exceeded/job.json")
    events = copy.deepcopy(items("quota-exceeded/events.json"))
    for event in events:
        event["involvedObject"]["uid"] = "an-older-job"
    info = status.job_info("j", job, [], events, now=at(job["metadata"]["creationTimestamp"], 3600))
    assert info.status == S.notstarted and info.reason == ""


def test_without_a_clock_nothing_is_given_up():
    """submit() maps the created Job without ``now``: a bounded cause never ends the job there."""
    job = load("quota-exceeded/job.json")
    info = status.job_info("j", job, [], items("quota-exceeded/events.json"))
    assert (info.status, info.reason) == (S.notstarted, "QuotaExceeded")


# ---------------------------------------------------------------- a pod that cannot run its containers

def _init_done(pods):
    init = pods[-1]["status"]["initContainerStatuses"][0]
    return status.epoch(init["state"]["terminated"]["finishedAt"])


@pytest.mark.parametrize("waiting, reason, permanent", [
    ("ErrImagePull", "ImagePullError", False), ("ImagePullBackOff", "ImagePullError", False),
    ("InvalidImageName", "ImagePullError", True), ("ErrImageNeverPull", "ImagePullError", True),
    ("CreateContainerConfigError", "ContainerConfigError", False),
    ("CreateContainerError", "ContainerCreateError", False),
])
def test_a_processor_that_cannot_start_is_bounded_not_an_endless_started(waiting, reason, permanent):
    """Derived from the recorded running pod (init done, publish running): the processor waits."""
    job = load("running/job.json")
    pods = with_waiting(items("running/pods.json"), "processor", waiting, "some detail")
    since = _init_done(pods)
    early = status.job_info("j", job, pods, now=since + 1, start_failure_timeout=TIMEOUT)
    assert early.reason == reason and early.started_at is None
    assert early.status == (S.finishedWithError if permanent else S.notstarted)
    assert "processor" in early.message and waiting in early.message and "some detail" in early.message
    late = status.job_info("j", job, pods, now=since + TIMEOUT, start_failure_timeout=TIMEOUT)
    assert (late.status, late.reason) == (S.finishedWithError, reason)
    assert status.gave_up(late, job)


def test_run_as_non_root_refusal_says_what_to_do():
    pods = with_waiting(items("running/pods.json"), "processor", "CreateContainerConfigError",
                        "container has runAsNonRoot and image will run as root (pod: \"chris-jid-42-44zrp_chris"
                        "(uid)\", container: processor)")
    info = status.job_info("j", load("running/job.json"), pods, now=_init_done(pods) + TIMEOUT)
    assert info.status == S.finishedWithError and "--job-processor-uid" in info.message


def test_an_init_container_that_cannot_start_counts_from_the_pods_start():
    pods = with_waiting(items("running/pods-init-running.json"), "init", "ImagePullBackOff")
    start = status.epoch(pods[0]["status"]["startTime"])
    job = load("running/job.json")
    assert status.job_info("j", job, pods, now=start + TIMEOUT - 1).status == S.notstarted
    info = status.job_info("j", job, pods, now=start + TIMEOUT)
    assert (info.status, info.reason) == (S.finishedWithError, "ImagePullError") and "init" in info.message


def test_a_volume_that_cannot_be_mounted_is_bounded_from_the_pods_events():
    """Derived: a FailedMount Event (a kubelet's, of the recorded Events' shape) on the pending pod."""
    pods = items("pending/pods.json")
    pod = pods[0]["metadata"]
    event = copy.deepcopy(items("missing-serviceaccount/events.json")[0])
    event["involvedObject"] = {"kind": "Pod", "namespace": pod["namespace"], "name": pod["name"], "uid": pod["uid"],
                               "apiVersion": "v1"}
    event.update(reason="FailedMount", firstTimestamp=pod["creationTimestamp"], source={"component": "kubelet"},
                 message='MountVolume.SetUp failed for volume "swift-credentials" : secret "swift-credentials" '
                         "not found")
    job = load("pending/job.json")
    since = status.epoch(pod["creationTimestamp"])
    assert status.job_info("j", job, pods, [event], now=since + 1).status == S.notstarted
    info = status.job_info("j", job, pods, [event], now=since + TIMEOUT)
    assert (info.status, info.reason) == (S.finishedWithError, "VolumeMountError")
    assert 'secret "swift-credentials" not found' in info.message


def test_an_unschedulable_pod_says_why_but_waits():
    pods = copy.deepcopy(items("pending/pods.json"))
    pods[0]["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                        "message": "0/3 nodes are available: 3 Insufficient cpu."}]
    info = status.job_info("j", load("pending/job.json"), pods, now=status.epoch("2030-01-01T00:00:00Z"))
    assert info.status == S.notstarted and "Insufficient cpu" in info.message


# ---------------------------------------------------------------- every recorded state, in order

@pytest.mark.parametrize("folder, final", [
    ("succeeded", S.finishedSuccessfully), ("processor-failed", S.finishedWithError),
    ("init-failed", S.finishedWithError), ("deadline", S.finishedWithError), ("ttl-deleted", S.finishedSuccessfully),
])
def test_the_jobs_recorded_watch_never_leaves_a_terminal_state(folder, final):
    seen = [status.job_info("j", e["raw_object"], [], now=at(e["raw_object"]["metadata"]["creationTimestamp"])).status
            for e in watch_lines(f"{folder}/job-watch.jsonl") if e["type"] != "DELETED"]
    first_final = next(i for i, s in enumerate(seen) if s.finished)
    assert set(seen[first_final:]) == {final}
    assert not any(s.finished for s in seen[:first_final])


# ---------------------------------------------------------------- robustness

@pytest.mark.parametrize("job, pods", [
    (None, None), ({}, []), ({"status": None}, [{}]), ({"status": {"active": None, "succeeded": None,
                                                                   "failed": None, "conditions": None}}, [None]),
    ({"metadata": None, "spec": {"template": None}}, [{"status": {"containerStatuses": [None, {"name": None}]}}]),
    ({"status": {"conditions": [None, {"type": "Failed"}, "junk"]}}, [{"status": {"phase": None}}]),
    ("not a dict", "not a list"),
])
def test_missing_or_null_fields_never_crash(job, pods):
    info = status.job_info("j", job, pods if isinstance(pods, list) else None, [None, {"reason": "FailedCreate"}],
                           now=0)
    assert info.status in (S.notstarted, S.started) and info.jid == "j"


def _prune(obj, rng):
    """Randomly drop keys / null values throughout a response."""
    if isinstance(obj, dict):
        return {k: (None if rng.random() < 0.1 else _prune(v, rng)) for k, v in obj.items() if rng.random() > 0.15}
    if isinstance(obj, list):
        return [_prune(v, rng) for v in obj if rng.random() > 0.1]
    return obj


@pytest.mark.parametrize("folder", ["running", "succeeded", "processor-failed", "deadline", "quota-exceeded"])
def test_randomly_pruned_recorded_responses_never_crash(folder):
    rng = random.Random(folder)
    job = load(f"{folder}/job.json")
    pods = items(f"{folder}/pods.json")
    events = items(f"{folder}/events.json") if (RECORDED / folder / "events.json").exists() else []
    for _ in range(200):
        info = status.job_info("j", _prune(job, rng), _prune(pods, rng), _prune(events, rng), now=2e9)
        assert isinstance(info.status, S)


def test_result_object_maps_to_a_finished_job():
    result = {"schema": "pman-result/1", "status": "finishedWithError", "reason": "ProcessorError",
              "message": "the processor failed with exit code 3",
              "processor": {"exitCode": 3, "startedAt": "t1", "command": ["simpledsapp", "/in", "/out"]},
              "createdAt": "t0", "publishedAt": "t3", "finishedAt": "t2"}
    info = status.info_from_result("j", json.loads(json.dumps(result)))
    assert (info.status, info.reason, info.exit_code) == (S.finishedWithError, "ProcessorError", 3)
    assert (info.cmd, info.started_at, info.finished_at) == ("simpledsapp /in /out", "t1", "t2")


def test_a_garbled_result_object_is_undefined_not_a_crash():
    info = status.info_from_result("j", {"status": "weird", "processor": "x"})
    assert info.status == S.undefined and info.exit_code is None
