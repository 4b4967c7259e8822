"""pman's ``GET /api/v1/ready`` (issue 12.8): the engine's dependencies, cached; no auth.

The kube engines answer from the recorded API responses (tests/fixtures/k8s-1.36): a JobList, or
the apiserver's 401 for a token it does not know."""
import os

import pytest

from pman import app as app_mod, config as pman_config
from pman.engines.kube import kubernetes as kube, openshift as osh, settings as kubesettings
from pman.engines.local import engine as local_engine
from pman.engines.local.settings import LocalSettings
from tests.support.fake_kube import (FakeBatchV1Api, FakeCoreV1Api, FakeDynamicClient, FakeResource,
                                                api_error, recorded)

SETTINGS = kubesettings.KubeSettings(namespace="chris")


def _kube_engine(flavour, answer):
    if flavour == "kubernetes":
        return kube.KubernetesEngine(kube.ClientApi(FakeBatchV1Api(list_jobs=answer), FakeCoreV1Api()), SETTINGS)
    jobs = FakeResource(get=answer)
    client = FakeDynamicClient(jobs, FakeResource(), FakeResource())
    return osh.OpenShiftEngine(osh.DynamicApi(client, core=FakeCoreV1Api()), SETTINGS)


def _client(engine, tmp_path, **settings):
    cfg = pman_config.PmanConfig(**settings) if settings else pman_config.PmanConfig()
    app = app_mod.create_app(cfg, engine=engine, shutdown=lambda: None)
    app.testing = True
    return app.test_client()


@pytest.mark.parametrize("flavour", ["kubernetes", "openshift"])
def test_kube_ready_when_the_api_lists_jobs(flavour, tmp_path):
    engine = _kube_engine(flavour, recorded("job-list/jobs.json"))
    resp = _client(engine, tmp_path).get("/api/v1/ready")
    assert resp.status_code == 200 and resp.get_json()["status"] == "ready"


@pytest.mark.parametrize("flavour", ["kubernetes", "openshift"])
def test_kube_not_ready_when_the_api_refuses_pmans_token(flavour, tmp_path):
    engine = _kube_engine(flavour, api_error("forbidden/bad-token.json"))
    resp = _client(engine, tmp_path).get("/api/v1/ready")
    body = resp.get_json()
    assert resp.status_code == 503 and body["status"] == "not ready" and "engine" in body["error"]
    assert "cannot list jobs in namespace chris" in body["failing"]["engine"]
    assert "Unauthorized" in body["failing"]["engine"]
    # liveness stays shallow
    assert _client(engine, tmp_path).get("/api/v1/health").status_code == 200


def test_kube_readiness_is_one_cheap_cached_call(tmp_path):
    batch = FakeBatchV1Api(list_jobs=recorded("job-list/jobs.json"))
    engine = kube.KubernetesEngine(kube.ClientApi(batch, FakeCoreV1Api()), SETTINGS)
    client = _client(engine, tmp_path)
    for _ in range(5):
        assert client.get("/api/v1/ready").status_code == 200
    (args, kwargs), = batch.called("list_jobs")
    assert args == ("chris",) and kwargs["limit"] == 1


@pytest.fixture
def local(tmp_path):
    settings = LocalSettings(workdir=str(tmp_path / "work"), store_base=str(tmp_path / "store"))
    engine = local_engine.LocalEngine(settings, reconcile_interval=0)
    yield engine
    engine.close()


def test_local_ready(local, tmp_path):
    resp = _client(local, tmp_path).get("/api/v1/ready")
    assert resp.status_code == 200 and resp.get_json()["checks"] == ["engine"]


def test_local_not_ready_without_its_job_database(local, tmp_path):
    os.unlink(local.settings.db_path)
    resp = _client(local, tmp_path).get("/api/v1/ready")
    body = resp.get_json()
    assert resp.status_code == 503 and "job database" in body["failing"]["engine"]
    assert str(tmp_path) not in resp.get_data(as_text=True)  # no work-directory paths revealed


def test_ready_needs_no_token(local, tmp_path):
    token_file = tmp_path / "pman_config.cfg"
    token_file.write_text("[AUTH TOKENS]\ntoken = s3cret\n")
    client = _client(local, tmp_path, token_auth=True, token_path=str(token_file))
    assert client.get("/api/v1/ready").status_code == 200
    assert client.get("/api/v1/jobs/").status_code == 401
