"""Both engines' API calls against recorded responses: the kubernetes engine over fake
BatchV1Api/CoreV1Api, the openshift engine over fake DynamicClient resources.

The same scenarios run through both adapters (parametrised ``make``), so they must agree.
"""
import inspect

import kubernetes.client
import pytest

from pman.engines import base
from pman.engines.kube import kubernetes as kube, openshift as osh, settings as kubesettings
from tests.unit.pman.engines.kube.fakes import (JID, FakeBatchV1Api, FakeCoreV1Api, FakeDynamicClient, FakeResource,
                                           api_error, created_echo, load)

S = base.JobStatus
NS = "chris"
SETTINGS = kubesettings.KubeSettings(namespace=NS, log_tail_lines=100, log_tail_bytes=64)
JOB = base.JobSpec(jid=JID, image="ghcr.io/fnndsc/pl-simpledsapp:2.1.0",
                   command=("simpledsapp", "/share/incoming", "/share/outgoing"))
LOGS = {"init": "got 3 files\n", "processor": "working\n" * 20, "publish": "put 2 files\n"}


class Cluster:
    """One engine over fakes answering ``job``/``pods``/``log`` (values, exceptions or callables)."""

    def __init__(self, flavour, *, job=None, pods=None, create=created_echo, delete=None, log=None,
                 results=None):
        self.results = results or {}
        self.result_reads = []
        log = log or (lambda pod, ns, container=None, **kw: LOGS[container])
        empty = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "918400"}, "items": []}
        answers = dict(job=job, pods=pods if pods is not None else empty, create=create,
                       delete=delete or {"kind": "Status", "status": "Success"}, log=log)
        if flavour == "kubernetes":
            self.batch = FakeBatchV1Api(create=answers["create"], read=answers["job"], delete=answers["delete"])
            self.core = FakeCoreV1Api(list_pods=answers["pods"], log=answers["log"])
            api = kube.ClientApi(self.batch, self.core)
            self.engine = kube.KubernetesEngine(api, SETTINGS, result_reader=self.read_result)
        else:
            self.jobs = FakeResource(create=_dyn_create(answers["create"]), get=answers["job"],
                                     delete=answers["delete"])
            self.pods = FakeResource(get=answers["pods"])
            self.core = FakeCoreV1Api(log=answers["log"])
            api = osh.DynamicApi(FakeDynamicClient(self.jobs, self.pods), core=self.core)
            self.engine = osh.OpenShiftEngine(api, SETTINGS, result_reader=self.read_result)

    def read_result(self, jid):
        self.result_reads.append(jid)
        answer = self.results.get(jid)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def _dyn_create(answer):
    if callable(answer):
        return lambda body=None, namespace=None, **kw: answer(namespace, body, **kw)
    return answer


@pytest.fixture(params=["kubernetes", "openshift"])
def flavour(request):
    return request.param


def scenario(flavour, name, **kwargs):
    return Cluster(flavour, job=load(f"{name}/job"), pods=load(f"{name}/pods"), **kwargs)


# ---------------------------------------------------------------- submit

def test_submit_creates_the_built_job_in_the_namespace(flavour):
    cluster = Cluster(flavour)
    info = cluster.engine.submit(JOB)
    assert (info.jid, info.status, info.image) == (JID, S.notstarted, JOB.image)
    assert info.timestamp == "2026-11-25T09:00:00Z"  # from the server's answer
    if flavour == "kubernetes":
        (args, kwargs), = cluster.batch.called("create")
        namespace, body = args
        assert kwargs["_preload_content"] is False and kwargs["_request_timeout"] > 0
    else:
        (_args, kwargs), = cluster.jobs.called("create")
        namespace, body = kwargs["namespace"], kwargs["body"]
    assert namespace == NS and body["metadata"]["name"] == JID and body["kind"] == "Job"


@pytest.mark.parametrize("error, exc_type, code", [
    ("already_exists", base.JobExists, 409), ("forbidden", base.EngineError, 503),
    ("internal_error", base.EngineError, 503), ("invalid", base.EngineError, 400),
])
def test_submit_api_errors_map_to_engine_errors(flavour, error, exc_type, code):
    cluster = Cluster(flavour, create=api_error(error))
    with pytest.raises(exc_type) as err:
        cluster.engine.submit(JOB)
    assert err.value.status_code == code
    assert len(str(err.value)) < 400 and "HTTP response headers" not in str(err.value)
    if error == "forbidden":
        assert "cannot create resource" in str(err.value)


def test_submit_rejects_a_bad_jid_before_any_call(flavour):
    cluster = Cluster(flavour)
    with pytest.raises(base.EngineError) as err:
        cluster.engine.submit(base.JobSpec(jid="Bad_Jid", image="i", command=("c",)))
    assert err.value.status_code == 400
    assert (cluster.batch if flavour == "kubernetes" else cluster.jobs).calls == []


def test_unreachable_api_is_a_503(flavour):
    cluster = Cluster(flavour, job=ConnectionRefusedError(111, "Connection refused"))
    with pytest.raises(base.EngineError) as err:
        cluster.engine.info(JID)
    assert err.value.status_code == 503 and "cannot reach" in str(err.value)


# ---------------------------------------------------------------- info

@pytest.mark.parametrize("name, expected", [
    ("pending", (S.notstarted, "")), ("running", (S.started, "")), ("succeeded", (S.finishedSuccessfully, "")),
    ("failed", (S.finishedWithError, "ProcessorError")), ("oomkilled", (S.finishedWithError, "OOMKilled")),
    ("image_pull_backoff", (S.notstarted, "ImagePullError")),
    ("deadline_exceeded", (S.finishedWithError, "DeadlineExceeded")),
])
def test_info_reads_the_job_and_its_pods(flavour, name, expected):
    cluster = scenario(flavour, name)
    info = cluster.engine.info(JID)
    assert (info.status, info.reason) == expected
    assert cluster.result_reads == []  # the Job still exists: no Swift read
    pods_api = cluster.core if flavour == "kubernetes" else cluster.pods
    method = "list_pods" if flavour == "kubernetes" else "get"
    (args, kwargs), = pods_api.called(method)
    assert kwargs["label_selector"] == f"job-origin=pman,jid={JID}"


def test_info_after_the_ttl_deleted_the_job_reads_the_result_object(flavour):
    cluster = Cluster(flavour, job=api_error("not_found"), results={JID: load("result_failed")})
    info = cluster.engine.info(JID)
    assert (info.status, info.reason, info.exit_code) == (S.finishedWithError, "ProcessorError", 2)
    assert cluster.result_reads == [JID]


def test_info_of_an_unknown_job_is_a_404(flavour):
    cluster = Cluster(flavour, job=api_error("not_found"))
    with pytest.raises(base.JobNotFound):
        cluster.engine.info(JID)


def test_info_when_swift_cannot_be_read_is_a_503_not_a_404(flavour):
    cluster = Cluster(flavour, job=api_error("not_found"), results={JID: OSError("connection reset")})
    with pytest.raises(base.EngineError) as err:
        cluster.engine.info(JID)
    assert err.value.status_code == 503 and not isinstance(err.value, base.JobNotFound)


def test_info_api_failure_is_a_503(flavour):
    cluster = Cluster(flavour, job=api_error("internal_error"))
    with pytest.raises(base.EngineError) as err:
        cluster.engine.info(JID)
    assert err.value.status_code == 503 and "etcdserver" in str(err.value)


# ---------------------------------------------------------------- logs

def test_logs_of_all_three_containers_cut_to_the_tail(flavour):
    cluster = scenario(flavour, "succeeded")
    logs = cluster.engine.logs(JID)
    assert set(logs) == {"init", "processor", "publish"}
    assert logs["init"] == LOGS["init"] and logs["processor"] == LOGS["processor"][-64:]
    calls = cluster.core.called("log")
    assert [k["container"] for _a, k in calls] == ["init", "processor", "publish"]
    assert all(a[0] == "chris-jid-42-x7k2p" and k["tail_lines"] == 100 for a, k in calls)
    assert cluster.engine.logs(JID, tail=5)["processor"] == "king\n"


def test_logs_skip_containers_that_never_started(flavour):
    cluster = scenario(flavour, "image_pull_backoff")
    logs = cluster.engine.logs(JID)
    assert set(logs) == {"init", "publish"}


def test_logs_without_pods_are_empty_and_a_log_error_is_reported_inline(flavour):
    assert Cluster(flavour).engine.logs(JID) == {}
    cluster = scenario(flavour, "running", log=api_error("log_waiting"))
    logs = cluster.engine.logs(JID)
    assert logs["processor"].startswith("(log unavailable: container \"processor\"")


def test_logs_decode_invalid_utf8_instead_of_failing(flavour):
    cluster = scenario(flavour, "succeeded", log=lambda *a, **k: b"caf\xe9\n")
    assert cluster.engine.logs(JID)["init"] == "caf\ufffd\n"


# ---------------------------------------------------------------- remove

def test_remove_deletes_the_job_with_its_pods(flavour):
    cluster = scenario(flavour, "running")
    cluster.engine.remove(JID)
    api = cluster.batch if flavour == "kubernetes" else cluster.jobs
    (args, kwargs), = api.called("delete")
    assert kwargs["propagation_policy"] == "Background"
    assert (args[:2] == (JID, NS)) if flavour == "kubernetes" else (kwargs["name"], kwargs["namespace"]) == (JID, NS)


def test_remove_of_a_job_known_only_by_its_result_succeeds_and_of_an_unknown_one_is_404(flavour):
    Cluster(flavour, delete=api_error("not_found"), results={JID: load("result_failed")}).engine.remove(JID)
    with pytest.raises(base.JobNotFound):
        Cluster(flavour, delete=api_error("not_found")).engine.remove(JID)


def test_remove_forbidden_is_a_503(flavour):
    with pytest.raises(base.EngineError) as err:
        Cluster(flavour, delete=api_error("forbidden")).engine.remove(JID)
    assert err.value.status_code == 503


# ---------------------------------------------------------------- the fakes match the real clients

@pytest.mark.parametrize("cls, method, params", [
    (kubernetes.client.BatchV1Api, "create_namespaced_job", {"namespace", "body", "_preload_content",
                                                             "_request_timeout"}),
    (kubernetes.client.BatchV1Api, "read_namespaced_job", {"name", "namespace", "_preload_content"}),
    (kubernetes.client.BatchV1Api, "delete_namespaced_job", {"name", "namespace", "propagation_policy"}),
    (kubernetes.client.CoreV1Api, "list_namespaced_pod", {"namespace", "label_selector", "field_selector",
                                                          "timeout_seconds"}),
    (kubernetes.client.CoreV1Api, "read_namespaced_pod", {"name", "namespace", "_preload_content"}),
    (kubernetes.client.CoreV1Api, "read_namespaced_pod_log", {"name", "namespace", "container", "tail_lines",
                                                              "_preload_content"}),
])
def test_the_calls_we_make_exist_in_the_installed_client(cls, method, params):
    assert params <= set(inspect.signature(getattr(cls, method)).parameters)


def test_dynamic_client_resources_are_looked_up_once():
    cluster = scenario("openshift", "running")
    cluster.engine.info(JID)
    cluster.engine.info(JID)
    lookups = cluster.engine.api.client.resources.lookups
    assert lookups == [{"api_version": "batch/v1", "kind": "Job"}, {"api_version": "v1", "kind": "Pod"}]
