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


def build(c):
    return factory.create(c.engine, c.engine_settings)


def test_kubernetes_engine_from_the_service_config(tmp_path):
    engine = build(make_config(tmp_path, job_ttl_seconds=600, job_fs_group=1001))
    assert isinstance(engine, kube.KubernetesEngine) and engine.name == "kubernetes"
    s = engine.settings
    assert (s.namespace, s.ttl_seconds_after_finished, s.fs_group) == ("radiology", 600, 1001)
    assert s.service_account == "pman-publisher" and s.swift_secret_name == "swift-credentials"
    assert engine.api.batch.api_client.configuration.host == "https://127.0.0.1:6443"
    assert callable(engine.result_reader) and callable(engine.result_writer)
    assert s.start_failure_timeout == 30


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

