"""factory.create builds the Kubernetes engine from its settings group (no API call at construction)."""
import pytest

from pman import config
from pman.engines import base, factory
from pman.engines.kube import kubernetes as kube, settings as kubesettings

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: radiology}}]
current-context: x
"""
CREDENTIALS = "[AUTHORIZATION]\nosAuthUrl = http://127.0.0.1:9/auth/v1.0\n[TEMPAUTH]\nuser = a:b\nkey = c\n"


def make_config(tmp_path, **flags):
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    (tmp_path / "swift.cfg").write_text(CREDENTIALS)
    values = {"workdir": str(tmp_path), "engine": "kubernetes", "kubeconfig": str(tmp_path / "kubeconfig"),
              "swift_credentials": str(tmp_path / "swift.cfg"), "namespace": "radiology", **flags}
    return config.from_sources(values, {})


BUILT = []


def build(c):
    engine = factory.create(c.engine, c.engine_settings)
    BUILT.append(engine)
    return engine


@pytest.fixture(autouse=True)
def _close_engines():
    """The engines start their status cache (whose LIST fails here: no API server); stop it."""
    yield
    while BUILT:
        BUILT.pop().close()


def test_kubernetes_engine_from_the_service_config(tmp_path):
    engine = build(make_config(tmp_path, job_ttl_seconds=600, job_fs_group=1001))
    assert isinstance(engine, kube.KubernetesEngine) and engine.name == "kubernetes"
    s = engine.settings
    assert (s.namespace, s.ttl_seconds_after_finished, s.fs_group) == ("radiology", 600, 1001)
    assert s.service_account == "pman-publisher" and s.swift_secret_name == "swift-credentials"
    assert engine.api.batch.api_client.configuration.host == "https://127.0.0.1:6443"
    assert callable(engine.result_reader) and callable(engine.result_writer)
    assert s.start_failure_timeout == 30


def test_the_connection_pool_is_sized_to_the_request_threads(tmp_path):
    """The client's default pool is 5 x the CPU count: fewer than pman's threads on a small node,
    so urllib3 threw connections away under load ("connection pool is full")."""
    engine = build(make_config(tmp_path, threads=40))
    pool = engine.api.batch.api_client.configuration.connection_pool_maxsize
    assert engine.settings.request_threads == 40 and pool == 40 + kube.EXTRA_CONNECTIONS
    assert engine.api.batch.api_client.rest_client.pool_manager.connection_pool_kw["maxsize"] == pool


def test_the_cache_settings_come_from_flags_or_environment(tmp_path):
    values = {"engine": "kubernetes", "workdir": str(tmp_path)}
    environ = {"PMAN_INSTANCE_LABEL": "pman-a", "PMAN_STATUS_CACHE": "false", "PMAN_STATUS_DEADLINE_SECONDS": "7.5",
               "PMAN_EVENTS_INTERVAL_SECONDS": "10", "PMAN_LOG_REFRESH_SECONDS": "2", "PMAN_JOB_TTL_SECONDS": "3600"}
    s = config.from_sources(values, environ).kube
    assert (s.instance_label, s.status_cache, s.status_deadline, s.events_interval, s.log_refresh_seconds,
            s.ttl_seconds_after_finished) == ("pman-a", False, 7.5, 10.0, 2.0, 3600)
    assert kubesettings.scope_selector(s) == "job-origin=pman,chrisproject.org/pman-instance=pman-a"
    assert kubesettings.scope_selector(kubesettings.KubeSettings()) == "job-origin=pman"
    with pytest.raises(config.ConfigError, match="--instance-label"):
        config.from_sources(values, {"PMAN_INSTANCE_LABEL": "not a label"})
    with pytest.raises(config.ConfigError, match="--status-deadline"):
        config.from_sources(values, {"PMAN_STATUS_DEADLINE_SECONDS": "0"})


def test_missing_kubeconfig_or_credentials_fail_at_startup(tmp_path):
    cfg = make_config(tmp_path)
    (tmp_path / "kubeconfig").unlink()
    with pytest.raises(base.EngineError, match="kubeconfig"):
        build(cfg)
    cfg = make_config(tmp_path)
    (tmp_path / "swift.cfg").unlink()
    with pytest.raises(base.EngineError, match="result objects in Swift"):
        build(cfg)


def test_the_start_failure_bound_comes_from_flag_or_environment(tmp_path):
    assert make_config(tmp_path, job_start_failure_timeout=12).kube.start_failure_timeout == 12
    values = {"engine": "kubernetes", "workdir": str(tmp_path)}
    environ = {"PMAN_JOB_START_FAILURE_TIMEOUT_SECONDS": "45"}
    assert config.from_sources(values, environ).kube.start_failure_timeout == 45
    with pytest.raises(config.ConfigError, match="--job-start-failure-timeout"):
        config.from_sources(values, {"PMAN_JOB_START_FAILURE_TIMEOUT_SECONDS": "0"})


def test_settings_reject_bad_values():
    with pytest.raises(ValueError, match="image_pull_policy"):
        kubesettings.KubeSettings(image_pull_policy="Sometimes").validate()
    with pytest.raises(ValueError, match="namespace"):
        kubesettings.KubeSettings(namespace="Bad_NS").validate()

