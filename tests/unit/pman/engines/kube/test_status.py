"""The pure status mapping over recorded Job/pod responses, and its robustness to missing fields."""
import copy
import random

import pytest

from pman.engines import base
from pman.engines.kube import status
from tests.unit.pman.engines.kube.fakes import JID, load

S = base.JobStatus
# scenario -> (status, reason, processor exit code)
EXPECTED = {
    "created": (S.notstarted, "", None),
    "pending": (S.notstarted, "", None),
    "running": (S.started, "", None),
    "succeeded": (S.finishedSuccessfully, "", 0),
    "failed": (S.finishedWithError, "ProcessorError", 2),
    "oomkilled": (S.finishedWithError, "OOMKilled", 137),
    "publisher_failed": (S.finishedWithError, "PublisherError", 0),
    "image_pull_backoff": (S.notstarted, "ImagePullError", None),
    "invalid_image": (S.finishedWithError, "ImagePullError", None),
    "deadline_exceeded": (S.finishedWithError, "DeadlineExceeded", 137),
}


def scenario(name):
    return load(f"{name}/job"), load(f"{name}/pods")["items"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recorded_scenarios_map_to_status_reason_and_exit_code(name):
    info = status.job_info(JID, *scenario(name))
    assert (info.status, info.reason, info.exit_code) == EXPECTED[name]
    assert info.image == "ghcr.io/fnndsc/pl-simpledsapp:2.1.0"
    assert info.cmd == "simpledsapp --prefix le /share/incoming /share/outgoing"
    assert info.timestamp == "2026-11-25T09:00:00Z"
    # A never-pullable image ends the job before anything finished: no finish time to report.
    assert (info.finished_at is not None) == (info.status.finished and name != "invalid_image")


def test_messages_say_what_happened():
    assert "exit code 2" in status.job_info(JID, *scenario("failed")).message
    assert "pl-doesnotexist" in status.job_info(JID, *scenario("image_pull_backoff")).message
    assert "ran out of time" in status.job_info(JID, *scenario("deadline_exceeded")).message
    assert status.job_info(JID, *scenario("running")).message == "running: processor"


def test_success_times_come_from_the_job():
    info = status.job_info(JID, *scenario("succeeded"))
    assert (info.started_at, info.finished_at) == ("2026-11-25T09:00:01Z", "2026-11-25T09:01:16Z")


def test_success_criteria_met_before_complete_is_already_success():
    """1.31+ servers set SuccessCriteriaMet first and Complete once the pod is gone."""
    job, pods = scenario("succeeded")
    job["status"]["conditions"] = job["status"]["conditions"][:1]
    assert status.job_info(JID, job, pods).status == S.finishedSuccessfully


def test_failed_pod_before_the_job_controller_caught_up():
    job, _ = scenario("running")
    _, pods = scenario("failed")
    info = status.job_info(JID, job, pods)
    assert (info.status, info.reason) == (S.finishedWithError, "ProcessorError")


def test_failed_condition_without_pods_uses_the_job_reason():
    job, _ = scenario("failed")
    info = status.job_info(JID, job, [])
    assert (info.status, info.reason) == (S.finishedWithError, "BackoffLimitExceeded")
    assert "backoff limit" in info.message


def test_init_container_failure_is_an_input_error():
    job, pods = scenario("failed")
    pods[0]["status"]["initContainerStatuses"][0]["state"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
    pods[0]["status"]["containerStatuses"] = None
    info = status.job_info(JID, job, pods)
    assert (info.status, info.reason, info.exit_code) == (S.finishedWithError, "InputError", None)


def test_the_newest_pod_wins():
    job, pods = scenario("running")
    old = copy.deepcopy(load("failed/pods")["items"][0])
    old["metadata"]["creationTimestamp"] = "2026-11-25T08:00:00Z"
    assert status.job_info(JID, job, [pods[0], old]).status == S.started


@pytest.mark.parametrize("job, pods", [
    (None, None), ({}, []), ({"status": None}, [{}]), ({"status": {"active": None, "succeeded": None,
                                                                   "failed": None, "conditions": None}}, [None]),
    ({"metadata": None, "spec": {"template": None}}, [{"status": {"containerStatuses": [None, {"name": None}]}}]),
    ({"status": {"conditions": [None, {"type": "Failed"}, "junk"]}}, [{"status": {"phase": None}}]),
    ("not a dict", "not a list"),
])
def test_missing_or_null_fields_never_crash(job, pods):
    info = status.job_info(JID, job, pods if isinstance(pods, list) else None)
    assert info.status in (S.notstarted, S.started) and info.jid == JID


def _prune(obj, rng):
    """Randomly drop keys / null values throughout a response."""
    if isinstance(obj, dict):
        return {k: (None if rng.random() < 0.1 else _prune(v, rng)) for k, v in obj.items() if rng.random() > 0.15}
    if isinstance(obj, list):
        return [_prune(v, rng) for v in obj if rng.random() > 0.1]
    return obj


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_randomly_pruned_responses_never_crash(name):
    rng = random.Random(name)
    job, pods = scenario(name)
    for _ in range(200):
        info = status.job_info(JID, _prune(job, rng), _prune(pods, rng))
        assert isinstance(info.status, S)


def test_result_object_maps_to_a_finished_job():
    info = status.info_from_result(JID, load("result_failed"))
    assert (info.status, info.reason, info.exit_code) == (S.finishedWithError, "ProcessorError", 2)
    assert info.cmd == "simpledsapp --prefix le /share/incoming /share/outgoing"
    assert info.finished_at == "2026-11-25T09:01:09Z"


def test_a_garbled_result_object_is_undefined_not_a_crash():
    info = status.info_from_result(JID, {"status": "weird", "processor": "x"})
    assert info.status == S.undefined and info.exit_code is None
