"""The kubernetes engine with its real client (urllib3, chunked watch bodies, the connection
pool) over HTTP, against the stand-in API server that answers like the recordings
(:mod:`tests.support.kube_apiserver`).  Conditions are waited for, never slept on."""
import time

import pytest

from pman.engines import base
from pman.engines.kube import kubernetes as kube, settings as kubesettings
from tests.support.kube_apiserver import FakeApiServer

S = base.JobStatus
JOB = dict(image="ghcr.io/fnndsc/pl-simpledsapp:2.1.0", command=("simpledsapp", "/share/incoming", "/share/outgoing"))


def wait_for(condition, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.01)


@pytest.fixture
def cluster(tmp_path):
    with FakeApiServer() as api:
        settings = kubesettings.KubeSettings(namespace="chris", kubeconfig=str(api.kubeconfig(tmp_path / "kc")),
                                             request_threads=8)
        client = kube.api_client(settings.kubeconfig, settings.request_threads + kube.EXTRA_CONNECTIONS)
        engine = kube.KubernetesEngine(kube.ClientApi(kube.kubernetes.client.BatchV1Api(client),
                                                      kube.kubernetes.client.CoreV1Api(client)), settings).start()
        try:
            yield api, engine
        finally:
            engine.close()


def test_status_comes_from_the_watch_without_api_requests(cluster):
    api, engine = cluster
    wait_for(lambda: engine.cache.synced, "the cache's first LIST")
    jids = [f"chris-jid-{n}" for n in range(3)]
    for jid in jids:
        assert engine.submit(base.JobSpec(jid=jid, **JOB)).status == S.notstarted
    wait_for(lambda: all(engine.cache.job(j) and engine.cache.pods_of(j) for j in jids), "the watch brought them")
    api.take_counts()
    for _ in range(5):
        for jid in jids:
            info = engine.info(jid)
            assert info.status == S.notstarted and info.image == JOB["image"]
            assert engine.logs(jid) == {}
    counts = api.take_counts()
    # 15 statuses: at most the one Events LIST of the interval, nothing else.
    assert set(counts) <= {"LIST events"} and counts["LIST events"] <= 1


def test_a_deleted_job_leaves_the_cache_and_its_status_is_a_404(cluster):
    api, engine = cluster
    wait_for(lambda: engine.cache.synced, "the cache's first LIST")
    engine.submit(base.JobSpec(jid="chris-jid-7", **JOB))
    wait_for(lambda: engine.cache.job("chris-jid-7") is not None, "ADDED")
    engine.remove("chris-jid-7")
    wait_for(lambda: engine.cache.job("chris-jid-7") is None and not engine.cache.pods_of("chris-jid-7"), "DELETED")
    api.take_counts()
    with pytest.raises(base.JobNotFound):
        engine.info("chris-jid-7")
    assert api.take_counts() == {"GET jobs": 1}  # the one GET of a jid the cache does not know
