"""``put --wait``: finding our pod, watching it until the processor terminated, polling fallback."""
import copy
import json

import pytest

from pman.publisher import wait
from tests.unit.pman.engines.kube.fakes import FakeCoreV1Api, FakeWatch, RESPONSES, api_error, load

ENV = {"POD_NAME": "chris-jid-42-x7k2p", "POD_NAMESPACE": "chris", "PROCESSOR_CONTAINER": "processor"}


def watch_events():
    """The recorded watch stream: ADDED (processor running), MODIFIED (processor exit 2)."""
    lines = (RESPONSES / "watch_pod_events.jsonl").read_text().splitlines()
    return [{"type": e["type"], "raw_object": e["object"]} for e in map(json.loads, lines)]


def running_pod():
    return watch_events()[0]["raw_object"]


def run(api, watch=None, environ=ENV):
    sleeps = []
    outcome = wait.wait_for_processor(None, api=api, watch_factory=watch, environ=environ, poll_interval=5,
                                      sleep=sleeps.append)
    return outcome, sleeps


def test_watch_until_the_processor_terminated():
    api = FakeCoreV1Api(read_pod=running_pod())
    watch = FakeWatch([watch_events()])
    outcome, sleeps = run(api, watch)
    assert (outcome.exit_code, outcome.reason) == (2, "Error")
    assert (outcome.started_at, outcome.finished_at) == ("2026-11-25T09:00:10Z", "2026-11-25T09:00:40Z")
    assert outcome.image == "ghcr.io/fnndsc/pl-simpledsapp:2.1.0"
    assert outcome.command[-2:] == ("/share/incoming", "/share/outgoing")
    (func, args, kwargs), = watch.streams
    assert func == "list_namespaced_pod" and args == ("chris",)
    assert kwargs["field_selector"] == "metadata.name=chris-jid-42-x7k2p" and kwargs["timeout_seconds"] > 0
    assert sleeps == [] and watch.stopped == 1


def test_already_terminated_needs_no_watch():
    api = FakeCoreV1Api(read_pod=watch_events()[1]["raw_object"])
    watch = FakeWatch([])
    outcome, _ = run(api, watch)
    assert outcome.exit_code == 2 and watch.streams == []


def test_an_ended_watch_is_reopened():
    events = watch_events()
    watch = FakeWatch([events[:1], events])
    outcome, sleeps = run(FakeCoreV1Api(read_pod=running_pod()), watch)
    assert outcome.exit_code == 2 and len(watch.streams) == 2 and sleeps == []


@pytest.mark.parametrize("failure", [
    api_error("internal_error"), ConnectionResetError(104, "Connection reset by peer"),
    "error_event",
])
def test_watch_failure_falls_back_to_polling(failure):
    if failure == "error_event":
        failure = {"type": "ERROR", "raw_object": load("watch_error_event")["object"]}
    events = [watch_events()[0], failure]
    finished = watch_events()[1]["raw_object"]
    reads = iter([running_pod(), running_pod(), api_error("internal_error"), finished])
    api = FakeCoreV1Api(read_pod=lambda *a, **k: next(reads))
    outcome, sleeps = run(api, FakeWatch([events]))
    assert outcome.exit_code == 2
    assert sleeps == [5, 5, 5]  # polled three times: running, a transient 500, terminated
    assert all(k["_preload_content"] is False for _a, k in api.called("read_pod"))


def test_no_watch_factory_polls():
    reads = iter([running_pod(), watch_events()[1]["raw_object"]])
    outcome, sleeps = run(FakeCoreV1Api(read_pod=lambda *a, **k: next(reads)), None)
    assert outcome.exit_code == 2 and sleeps == [5]


@pytest.mark.parametrize("error, words", [("forbidden", "get/watch on pods"), ("not_found", "does not exist")])
def test_fatal_api_answers_stop_the_wait(error, words):
    api = FakeCoreV1Api(read_pod=api_error(error))
    with pytest.raises(wait.WaitError, match=words):
        run(api, FakeWatch([]))


def test_forbidden_watch_is_fatal_too():
    api = FakeCoreV1Api(read_pod=running_pod())
    with pytest.raises(wait.WaitError, match="get/watch"):
        run(api, FakeWatch([[api_error("forbidden")]]))


def test_deleted_pod_is_fatal():
    api = FakeCoreV1Api(read_pod=running_pod())
    with pytest.raises(wait.WaitError, match="deleted"):
        run(api, FakeWatch([[{"type": "DELETED", "raw_object": running_pod()}]]))


def test_oomkilled_processor_outcome():
    pod = copy.deepcopy(running_pod())
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
