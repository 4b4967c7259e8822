"""Both engines' API calls against the recorded responses of a real kube-apiserver 1.36
(tests/fixtures/k8s-1.36): the kubernetes engine over fake BatchV1Api/CoreV1Api, the openshift
engine over fake DynamicClient resources.

The same scenarios run through both adapters (the ``flavour`` fixture), so they must agree, and
each runs twice: reading the API on every status (``kubernetes``, ``openshift``: also what a
status does before the cache has synced), and from the status cache (``…+cache``), whose LISTs
answer with the same recorded objects.  The result objects live in a dict standing in for Swift
(the Swift side is tested in test_resultdoc and the integration tests); the clock is a settable
number.
"""
import inspect
import logging

import kubernetes.client
import pytest

from pman.engines import base
from pman.engines.kube import engine as kube_engine, settings as kubesettings
from pman.engines.kube import spec, status
from tests.support.fake_kube import (JID, Response, api_error, http, items, load, recorded,
                                                server_error, with_waiting)

from tests.support.kube_cluster import JOB, LOGS, NS, SETTINGS, TIMEOUT, Cluster, Results, S, scenario


@pytest.fixture(params=["kubernetes", "openshift", "kubernetes+cache", "openshift+cache"])
def flavour(request):
    return request.param


# ---------------------------------------------------------------- submit

def test_the_builder_makes_the_recorded_request_but_for_the_non_root_processor():
    """create-job/request.json is what the builder made before the processor became non-root by default."""
    built = spec.build_job(JOB, kubesettings.KubeSettings(processor_run_as_non_root=False))
    assert built == load("create-job/request.json")
    default = spec.build_job(JOB, kubesettings.KubeSettings())
    admitted = load("pod-forbidden-podsecurity/create-response-processor-non-root.json")
    processor = lambda job: job["spec"]["template"]["spec"]["containers"][0]  # noqa: E731
    assert processor(default)["securityContext"] == processor(admitted)["securityContext"]


def test_submit_creates_the_built_job_in_the_namespace(flavour):
    cluster = Cluster(flavour)
    info = cluster.engine.submit(JOB)
    assert (info.jid, info.status, info.image) == (JID, S.notstarted, JOB.image)
    assert info.timestamp == load("create-job/job.json")["metadata"]["creationTimestamp"]
    (args, kwargs), = cluster.calls("create")
    if flavour.startswith("kubernetes"):
        namespace, body = args
        assert kwargs["_preload_content"] is False and kwargs["_request_timeout"] > 0
    else:
        namespace, body = kwargs["namespace"], kwargs["body"]
        assert kwargs["serialize"] is False  # the raw answer, with its headers
    assert namespace == NS and body == spec.build_job(JOB, SETTINGS)


@pytest.mark.parametrize("answer, words", [
    ("create-job/job-memory-200m.json",
     ['limits[memory]: fractional byte value "200m" is invalid', 'requests[memory]: fractional byte value "200m"']),
    ("pod-forbidden-podsecurity/create-response.json",
     ['would violate PodSecurity "restricted:latest": runAsNonRoot != true (pod or container "processor"']),
])
def test_submit_reports_the_servers_warning_headers(flavour, answer, words, caplog):
    assert [h for h, _v in http(answer)["responseHeaders"] if h == "Warning"]
    cluster = Cluster(flavour, create=recorded(answer))
    with caplog.at_level(logging.WARNING, logger="pman.kube"):
        info = cluster.engine.submit(JOB)
    assert info.status == S.notstarted and "the API server warned" in info.message
    for text in words:
        assert text in info.message and text in caplog.text


def test_warning_header_parsing():
    assert kube_engine.parse_warnings(['299 - "a \\"quoted\\" word"', '299 - "one", 299 - "two"', "junk"]) == [
        'a "quoted" word', "one", "two", "junk"]


@pytest.mark.parametrize("error, exc_type, code, words", [
    ("create-job/already-exists.json", base.JobExists, 409, "exists already"),
    ("create-job/invalid.json", base.EngineError, 400, "must be less than or equal to cpu limit"),
    ("quota-exceeded/create-job-over-quota.json", base.EngineError, 503, "ResourceQuota is used up"),
    ("forbidden/pman-create-job-other-namespace.json", base.EngineError, 503, "service account may not create"),
    ("forbidden/bad-token.json", base.EngineError, 503, "rejected pman's credentials (401)"),
])
def test_submit_api_errors_map_to_engine_errors(flavour, error, exc_type, code, words):
    cluster = Cluster(flavour, create=api_error(error))
    with pytest.raises(exc_type) as err:
        cluster.engine.submit(JOB)
    assert err.value.status_code == code and words in str(err.value)
    assert len(str(err.value)) < 500 and "HTTP response headers" not in str(err.value)


def test_a_quota_403_and_an_rbac_403_are_told_apart(flavour):
    messages = []
    for error in ("quota-exceeded/create-job-over-quota.json", "forbidden/pman-create-job-other-namespace.json"):
        assert http(error)["status"] == 403 and load(error)["reason"] == "Forbidden"  # the same to a client
        with pytest.raises(base.EngineError) as err:
            Cluster(flavour, create=api_error(error)).engine.submit(JOB)
        messages.append(str(err.value))
    quota, rbac = messages
    assert "not a permission problem" in quota and "exceeded quota: jobs" in quota and "RBAC" not in quota
    assert "RBAC" in rbac and "cannot create resource" in rbac and "quota" not in rbac


def test_submit_rejects_a_bad_jid_before_any_call(flavour):
    cluster = Cluster(flavour)
    with pytest.raises(base.EngineError) as err:
        cluster.engine.submit(base.JobSpec(jid="Bad_Jid", image="i", command=("c",)))
    assert err.value.status_code == 400 and cluster.calls("create") == []


def test_unreachable_api_and_server_errors_are_503s(flavour):
    with pytest.raises(base.EngineError) as err:
        Cluster(flavour, job=ConnectionRefusedError(111, "Connection refused")).engine.info(JID)
    assert err.value.status_code == 503 and "cannot reach" in str(err.value)
    with pytest.raises(base.EngineError) as err:
        Cluster(flavour, job=server_error()).engine.info(JID)
    assert err.value.status_code == 503 and "etcdserver" in str(err.value)


# ---------------------------------------------------------------- info, stage by stage

@pytest.mark.parametrize("folder, job, pods, expected", [
    ("pending", "job.json", "pods.json", (S.notstarted, "")),
    ("running", "job.json", "pods-init-running.json", (S.notstarted, "")),
    ("running", "job.json", "pods.json", (S.started, "")),
    ("running", "job-processor-exited.json", "pods-processor-exited.json", (S.started, "")),
    ("succeeded", "job-success-criteria-met.json", "pods.json", (S.finishedSuccessfully, "")),
    ("processor-failed", "job.json", "pods.json", (S.finishedWithError, "ProcessorError")),
    ("init-failed", "job.json", "pods.json", (S.finishedWithError, "InputError")),
    ("deadline", "job.json", "pods.json", (S.finishedWithError, "DeadlineExceeded")),
])
def test_info_reads_the_job_its_pods_and_only_if_needed_events(flavour, folder, job, pods, expected):
    cluster = scenario(flavour, folder, job, pods)
    info = cluster.engine.info(JID)
    assert (info.status, info.reason) == expected
    if cluster.cached and not info.status.finished:
        # From the cache: no Job or pod read.  The Events, for a job that has not started: the
        # namespace's Warnings, one LIST for every job.
        assert cluster.calls("read") == cluster.calls("pods") == []
        selectors = [kwargs["field_selector"] for _args, kwargs in cluster.calls("events")]
        assert selectors == (["type=Warning"] if info.status == S.notstarted else [])
        assert cluster.results.writes == [] and cluster.calls("delete") == []
        return
    # Read from the API (before the cache syncs, or to confirm the first end the cache shows).
    (_args, kwargs), = cluster.calls("pods")
    assert kwargs["label_selector"] == f"job-origin=pman,jid={JID}"
    # Events explain a job that has not started; a running or finished one needs none.
    assert bool(cluster.calls("events")) == (info.status == S.notstarted)
    if info.status == S.notstarted:
        (_args, kwargs), = cluster.calls("events")
        pod = items(f"{folder}/{pods}")[0]["metadata"]["name"]
        assert kwargs["field_selector"] == f"involvedObject.kind=Pod,involvedObject.name={pod}"
    assert cluster.results.writes == ([JID] if info.status.finished else [])
    assert cluster.calls("delete") == []  # the Job controller decided: the TTL deletes the Job


@pytest.mark.parametrize("folder, reason, permanent", [
    ("pod-forbidden-podsecurity", "PodSecurityViolation", True),
    ("missing-serviceaccount", "ServiceAccountNotFound", False),
    ("quota-exceeded", "QuotaExceeded", False),
])
def test_a_pod_that_cannot_be_created_ends_within_the_bound(flavour, folder, reason, permanent):
    early = scenario(flavour, folder, events="events.json", after=5)
    info = early.engine.info(JID)
    selectors = [kwargs["field_selector"] for _args, kwargs in early.calls("events")]
    direct = f"involvedObject.kind=Job,involvedObject.name={JID}"
    # The cache finds the FailedCreate Events in the namespace's Warnings; a verdict that ends
    # the job is confirmed on the API (the Job, its pods, its Events) before it is recorded.
    expected = ["type=Warning"] * early.cached + [direct] * (permanent or not early.cached)
    assert selectors == expected
    assert info.reason == reason and info.status == (S.finishedWithError if permanent else S.notstarted)
    late = scenario(flavour, folder, events="events.json", after=5 + TIMEOUT)
    info = late.engine.info(JID)
    assert (info.status, info.reason) == (S.finishedWithError, reason)
    assert items(f"{folder}/events.json")[-1]["message"].removeprefix("Error creating: ") in info.message
    # Recorded first, then the Job deleted so that it cannot start later behind pfcon's back.
    assert late.results.writes == [JID]
    doc = late.results.objects[JID]
    assert (doc["status"], doc["reason"], doc["recordedBy"]) == ("finishedWithError", reason, "pman")
    (args, kwargs), = late.calls("delete")
    assert kwargs["propagation_policy"] == "Background"


def test_without_events_permission_the_status_is_poorer_not_broken(flavour, caplog):
    cluster = scenario(flavour, "quota-exceeded", after=3600, events=None)
    denied = api_error("forbidden/publisher-list-jobs.json")  # a recorded RBAC 403 body
    if flavour.startswith("kubernetes"):
        cluster.core.answers["list_events"] = denied
    else:
        cluster.events.answers["get"] = denied
    with caplog.at_level(logging.WARNING, logger="pman.kube"):
        info = cluster.engine.info(JID)
    assert (info.status, info.message) == (S.notstarted, "waiting for its pod to be created")
    assert "get/list on events" in caplog.text


def test_a_processor_image_that_cannot_be_pulled_is_ended(flavour):
    """Derived: the recorded running pod with the processor in ImagePullBackOff (no kubelet was recorded)."""
    pods = with_waiting(items("running/pods.json"), "processor", "ImagePullBackOff",
                        'Back-off pulling image "ghcr.io/fnndsc/pl-simpledsapp:2.1.0"')
    init_done = status.epoch(pods[0]["status"]["initContainerStatuses"][0]["state"]["terminated"]["finishedAt"])
    listing = {"kind": "PodList", "apiVersion": "v1", "items": pods}
    cluster = Cluster(flavour, job=recorded("running/job.json"), pods=listing, now=init_done + TIMEOUT)
    info = cluster.engine.info(JID)
    assert (info.status, info.reason) == (S.finishedWithError, "ImagePullError")
    assert "Back-off pulling image" in info.message and cluster.calls("delete")


def test_a_terminal_state_is_recorded_once_and_only_if_nobody_did(flavour):
    published = {"schema": "pman-result/1", "status": "finishedSuccessfully", "recordedBy": "publisher"}
    cluster = scenario(flavour, "succeeded", results=Results({JID: published}))
    cluster.engine.info(JID)
    cluster.engine.info(JID)
    assert cluster.results.writes == [] and cluster.results.reads == [JID]  # then cached
    assert cluster.results.objects[JID] is published


def test_swift_down_keeps_the_status_and_the_job_and_tries_again(flavour, caplog):
    cluster = scenario(flavour, "pod-forbidden-podsecurity", events="events.json",
                       results=Results(error=OSError("Swift unreachable")))
    with caplog.at_level(logging.WARNING, logger="pman.kube"):
        assert cluster.engine.info(JID).status == S.finishedWithError
        assert cluster.engine.info(JID).status == S.finishedWithError
    assert cluster.results.reads == [JID, JID] and cluster.calls("delete") == []
    assert "cannot record its result object" in caplog.text


@pytest.mark.parametrize("folder, job, pods, events", [
    ("init-failed", "job.json", "pods.json", None),
    ("deadline", "job.json", "pods.json", None),
    ("pod-forbidden-podsecurity", "job.json", "pods.json", "events.json"),
    ("succeeded", "job.json", "pods.json", None),
])
def test_status_survives_the_ttl_for_every_terminal_job(flavour, folder, job, pods, events):
    """pman records what it saw; once the TTL deleted the Job (recorded 404), status still answers."""
    results = Results()
    before = scenario(flavour, folder, job, pods, events, results=results).engine.info(JID)
    after = Cluster(flavour, job=api_error("ttl-deleted/job.json"), results=results).engine.info(JID)
    assert before.status.finished
    assert (after.status, after.reason, after.exit_code) == (before.status, before.reason, before.exit_code)
    assert (after.message, after.image, after.cmd) == (before.message, before.image, before.cmd)
    assert (after.started_at, after.finished_at, after.timestamp) == (before.started_at, before.finished_at,
                                                                      before.timestamp)


def test_info_of_an_unknown_job_is_a_404(flavour):
    with pytest.raises(base.JobNotFound):
        Cluster(flavour, job=api_error("ttl-deleted/job.json")).engine.info(JID)


def test_info_when_swift_cannot_be_read_is_a_503_not_a_404(flavour):
    cluster = Cluster(flavour, job=api_error("ttl-deleted/job.json"), results=Results(error=OSError("reset")))
    with pytest.raises(base.EngineError) as err:
        cluster.engine.info(JID)
    assert err.value.status_code == 503 and not isinstance(err.value, base.JobNotFound)


# ---------------------------------------------------------------- logs

def test_logs_of_all_three_containers_cut_to_the_tail(flavour):
    cluster = scenario(flavour, "succeeded")
    logs = cluster.engine.logs(JID)
    assert logs["init"] == LOGS["init"] and logs["processor"] == LOGS["processor"][-64:]
    calls = cluster.core.called("log")
    assert [k["container"] for _a, k in calls] == ["init", "processor", "publish"]
    pod = items("succeeded/pods.json")[0]["metadata"]["name"]
    assert all(a[0] == pod and k["tail_lines"] == 100 for a, k in calls)
    assert cluster.engine.logs(JID, tail=5)["processor"] == "king\n"


def test_logs_skip_containers_that_never_started(flavour):
    assert scenario(flavour, "running", pods="pods-init-running.json").engine.logs(JID).keys() == {"init"}
    assert scenario(flavour, "pending").engine.logs(JID) == {}
    assert Cluster(flavour).engine.logs(JID) == {}


def test_a_204_log_is_empty_and_log_errors_are_reported_inline(flavour):
    """The recorded answers: 204 with no body (a pod without a node), 404 (no pod), 400 (no container)."""
    meta = http("logs/pod-without-node.txt")
    empty = Response(b"", meta["status"], meta["responseHeaders"])
    assert scenario(flavour, "running", log=lambda *a, **k: empty).engine.logs(JID) == {
        "init": "", "processor": "", "publish": ""}
    for error, words in (("logs/pod-not-found.json", "not found"), ("logs/container-not-valid.json", "is not valid")):
        logs = scenario(flavour, "running", log=api_error(error)).engine.logs(JID)
        assert logs["processor"].startswith("(log unavailable: ") and words in logs["processor"]


def test_logs_decode_invalid_utf8_instead_of_failing(flavour):
    cluster = scenario(flavour, "succeeded", log=lambda *a, **k: b"caf\xe9\n")
    assert cluster.engine.logs(JID)["init"] == "caf\ufffd\n"


# ---------------------------------------------------------------- remove

def test_remove_deletes_the_job_with_its_pods(flavour):
    cluster = scenario(flavour, "running")
    cluster.engine.remove(JID)
    (args, kwargs), = cluster.calls("delete")
    assert kwargs["propagation_policy"] == "Background"
    if flavour.startswith("kubernetes"):
        assert args[:2] == (JID, NS)
    else:
        assert (kwargs["name"], kwargs["namespace"]) == (JID, NS)


def test_remove_again_is_a_404_unless_a_result_object_remains(flavour):
    gone = api_error("delete-job/delete-again.json")
    Cluster(flavour, delete=gone, results=Results({JID: {"schema": "pman-result/1"}})).engine.remove(JID)
    with pytest.raises(base.JobNotFound):
        Cluster(flavour, delete=gone).engine.remove(JID)


def test_remove_forbidden_is_a_503(flavour):
    with pytest.raises(base.EngineError) as err:
        Cluster(flavour, delete=api_error("forbidden/pman-create-job-other-namespace.json")).engine.remove(JID)
    assert err.value.status_code == 503


# ---------------------------------------------------------------- the fakes match the real clients

@pytest.mark.parametrize("cls, method, params", [
    (kubernetes.client.BatchV1Api, "create_namespaced_job", {"namespace", "body", "_preload_content",
                                                             "_request_timeout"}),
    (kubernetes.client.BatchV1Api, "read_namespaced_job", {"name", "namespace", "_preload_content"}),
    (kubernetes.client.BatchV1Api, "delete_namespaced_job", {"name", "namespace", "propagation_policy"}),
    (kubernetes.client.CoreV1Api, "list_namespaced_pod", {"namespace", "label_selector", "field_selector",
                                                          "timeout_seconds", "_request_timeout"}),
    (kubernetes.client.CoreV1Api, "list_namespaced_event", {"namespace", "field_selector", "_preload_content",
                                                            "_request_timeout"}),
    (kubernetes.client.CoreV1Api, "read_namespaced_pod", {"name", "namespace", "_preload_content",
                                                          "_request_timeout"}),
    (kubernetes.client.CoreV1Api, "read_namespaced_pod_log", {"name", "namespace", "container", "tail_lines",
                                                              "limit_bytes", "_preload_content"}),
    (kubernetes.client.BatchV1Api, "list_namespaced_job", {"namespace", "label_selector", "field_selector", "watch",
                                                           "resource_version", "timeout_seconds",
                                                           "allow_watch_bookmarks", "_request_timeout"}),
    (kubernetes.client.CoreV1Api, "list_namespaced_pod", {"watch", "resource_version", "allow_watch_bookmarks"}),
])
def test_the_calls_we_make_exist_in_the_installed_client(cls, method, params):
    assert params <= set(inspect.signature(getattr(cls, method)).parameters)


def test_the_dynamic_client_watch_takes_our_arguments():
    from kubernetes.dynamic import client as dynamic_client
    assert {"namespace", "label_selector", "field_selector", "resource_version", "timeout",
            "allow_watch_bookmarks"} <= set(inspect.signature(dynamic_client.DynamicClient.watch).parameters)


def test_the_dynamic_client_returns_the_raw_response_when_not_serializing():
    from kubernetes.dynamic import client as dynamic_client
    assert "serialize" in inspect.getsource(dynamic_client.meta_request)


def test_dynamic_client_resources_are_looked_up_once():
    cluster = scenario("openshift", "pending")
    cluster.engine.info(JID)
    cluster.engine.info(JID)
    lookups = cluster.engine.api.client.resources.lookups
    assert lookups == [{"api_version": "batch/v1", "kind": "Job"}, {"api_version": "v1", "kind": "Pod"},
                       {"api_version": "v1", "kind": "Event"}]
