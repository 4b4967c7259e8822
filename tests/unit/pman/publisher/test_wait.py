"""``put --wait``: finding our pod, watching it until the processor terminated, polling fallback,
the bound on an unreachable API, fatal answers; over the recorded pod watch (tests/fixtures/k8s-1.36)."""
import copy

import pytest

from pman.publisher import wait
from tests.support.fake_kube import (FakeCoreV1Api, FakeWatch, api_error, items, load, recorded,
                                                server_error, watch_lines)

POD = load("pod-watch/read-pod.json")["metadata"]["name"]
ENV = {"POD_NAME": POD, "POD_NAMESPACE": "chris", "PROCESSOR_CONTAINER": "processor"}
WATCH = "pod-watch/watch.jsonl"
PROCESSOR_DONE = 4  # the line of the recorded stream where the processor has terminated (exit 0)


def failed_pod():
    """A recorded pod whose processor exited 3 while publish still runs."""
    return items("processor-failed/pods-processor-exited.json")[0]


class Clock:
    """``sleep`` advances ``now``: the wait's time passes without waiting."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def run(api, watch=None, environ=ENV, **kwargs):
    clock = Clock()
    outcome = wait.wait_for_processor(None, api=api, watch_factory=watch, environ=environ, poll_interval=5,
                                      sleep=clock.sleep, clock=lambda: clock.now, **kwargs)
    return outcome, clock.sleeps


def test_watch_until_the_processor_terminated():
    api = FakeCoreV1Api(read_pod=recorded("pod-watch/read-pod.json"))
    watch = FakeWatch([watch_lines(WATCH)])
    outcome, sleeps = run(api, watch)
    done = watch_lines(WATCH)[PROCESSOR_DONE]["raw_object"]
    term = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (outcome.exit_code, outcome.reason) == (0, "Completed")
    assert (outcome.started_at, outcome.finished_at) == (term["startedAt"], term["finishedAt"])
    assert outcome.image == "ghcr.io/fnndsc/pl-simpledsapp:2.1.0"
    assert outcome.command == ("simpledsapp", "--prefix", "le", "/share/incoming", "/share/outgoing")
    (func, args, kwargs), = watch.streams
    assert func == "list_namespaced_pod" and args == ("chris",)
    assert kwargs["field_selector"] == f"metadata.name={POD}" and kwargs["timeout_seconds"] > 0
    assert kwargs["_request_timeout"] > kwargs["timeout_seconds"]  # a dead connection cannot hang it
    assert sleeps == [] and watch.stopped == 1


def test_already_terminated_needs_no_watch():
    watch = FakeWatch([])
    outcome, _ = run(FakeCoreV1Api(read_pod=failed_pod()), watch)
    assert (outcome.exit_code, outcome.reason) == (3, "Error") and watch.streams == []


def test_an_ended_watch_is_reopened():
    lines = watch_lines(WATCH)
    watch = FakeWatch([lines[:3], lines])
    outcome, sleeps = run(FakeCoreV1Api(read_pod=recorded("pod-watch/read-pod.json")), watch)
    assert outcome.exit_code == 0 and len(watch.streams) == 2 and sleeps == []


def _expired():
    """A watch ERROR event (fault injection; not recorded): 410 Gone with a Status object."""
    return {"type": "ERROR", "raw_object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                            "message": "too old resource version", "reason": "Expired", "code": 410}}


@pytest.mark.parametrize("failure", [server_error(), ConnectionResetError(104, "Connection reset by peer"), "expired"])
def test_watch_failure_falls_back_to_polling(failure):
    lines = watch_lines(WATCH)
    events = [lines[0], _expired() if failure == "expired" else failure]
    running = load("pod-watch/read-pod.json")
    reads = iter([running, running, server_error(), failed_pod()])
    api = FakeCoreV1Api(read_pod=lambda *a, **k: next(reads))
    outcome, sleeps = run(api, FakeWatch([events]))
    assert outcome.exit_code == 3
    assert sleeps == [5, 5, 5]  # polled three times: running, a transient 500, terminated
    assert all(k["_preload_content"] is False and k["_request_timeout"] > 0 for _a, k in api.called("read_pod"))


def test_no_watch_factory_polls():
    reads = iter([load("pod-watch/read-pod.json"), failed_pod()])
    outcome, sleeps = run(FakeCoreV1Api(read_pod=lambda *a, **k: next(reads)), None)
    assert outcome.exit_code == 3 and sleeps == [5]


def test_an_unreachable_api_bounds_the_wait():
    api = FakeCoreV1Api(read_pod=ConnectionRefusedError(111, "Connection refused"))
    with pytest.raises(wait.WaitError, match="has not answered for 20 s .*Connection refused"):
        run(api, None, unreachable_timeout=20)
    assert len(api.called("read_pod")) == 5  # at 0, 5, 10, 15 and 20 s


def test_an_answer_restarts_the_bound():
    running = load("pod-watch/read-pod.json")
    down = ConnectionRefusedError(111, "Connection refused")
    reads = iter([down, down, down, running, down, down, down, failed_pod()])
    api = FakeCoreV1Api(read_pod=lambda *a, **k: next(reads))
    outcome, sleeps = run(api, None, unreachable_timeout=12)
    assert outcome.exit_code == 3 and len(sleeps) == 7  # never 12 s in a row without an answer


@pytest.mark.parametrize("error, words", [
    ("forbidden/default-sa-get-pod.json", "get/watch on pods"),
    ("pod-watch/read-pod-deleted.json", "does not exist"),
    ("forbidden/bad-token.json", "rejected our token"),
])
def test_fatal_api_answers_stop_the_wait(error, words):
    with pytest.raises(wait.WaitError, match=words):
        run(FakeCoreV1Api(read_pod=api_error(error)), FakeWatch([]))


def test_forbidden_watch_is_fatal_too():
    api = FakeCoreV1Api(read_pod=recorded("pod-watch/read-pod.json"))
    with pytest.raises(wait.WaitError, match="get/watch"):
        run(api, FakeWatch([[api_error("forbidden/default-sa-get-pod.json")]]))


def test_a_pod_deleted_before_the_processor_ended_stops_the_wait():
    lines = watch_lines(WATCH)
    deleted = lines[-1]
    assert deleted["type"] == "DELETED"
    api = FakeCoreV1Api(read_pod=recorded("pod-watch/read-pod.json"))
    with pytest.raises(wait.WaitError, match="deleted before container processor had terminated"):
        run(api, FakeWatch([lines[:PROCESSOR_DONE] + [deleted]]))


def test_oomkilled_processor_outcome():
    pod = copy.deepcopy(failed_pod())  # derived: a kubelet's OOMKilled
    pod["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}
    outcome = wait.outcome_of(pod, "processor")
    assert (outcome.exit_code, outcome.reason, outcome.succeeded) == (137, "OOMKilled", False)
    assert wait.outcome_of(pod, "publish") is None and wait.outcome_of({}, "processor") is None


def test_pod_identity_from_env_hostname_and_namespace_file(tmp_path):
    assert wait.own_pod_name({"HOSTNAME": "h-1"}) == "h-1"
    assert wait.own_pod_name({"POD_NAME": "p", "HOSTNAME": "h"}) == "p"
    with pytest.raises(wait.WaitError, match="POD_NAME"):
        wait.own_pod_name({})
    ns_file = tmp_path / "namespace"
    ns_file.write_text("radiology\n")
    assert wait.own_namespace({}, str(ns_file)) == "radiology"
    assert wait.own_namespace({"POD_NAMESPACE": "x"}, str(ns_file)) == "x"
    with pytest.raises(wait.WaitError, match="POD_NAMESPACE"):
        wait.own_namespace({}, str(tmp_path / "missing"))


def test_outside_a_pod_the_in_cluster_config_fails_clearly(monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(wait.WaitError, match="not running in a Kubernetes pod"):
        wait.wait_for_processor(None, environ=ENV)

