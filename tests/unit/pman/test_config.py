"""PmanConfig: flags > environment > defaults, validation naming flag and variable; the CLI's mapping
of the original's flags."""
import dataclasses

import pytest

from pman import cli, config
from tests.support.pman_app import build


def test_defaults():
    c = build([], {"HOME": "/nonexistent-home"})
    assert (c.engine, c.port, c.local.max_jobs, c.local.swift_storage, c.token_auth) == ("local", 5010, 4, False, False)
    assert c.kube.namespace == "chris" and c.kube.publisher_image.endswith("pman-swift-publisher:latest")
    assert c.local.workdir  # a default work dir is always chosen


def test_flag_beats_environment_beats_default(tmp_path):
    env = {"PMAN_MAX_JOBS": "7", "PMAN_WORKDIR": str(tmp_path / "env"), "PMAN_NAMESPACE": "radiology"}
    c = build(["--max-jobs", "2"], env)
    assert c.local.max_jobs == 2
    assert c.local.workdir == str(tmp_path / "env")
    assert c.kube.namespace == "radiology"


def test_boolean_from_environment():
    assert build([], {"PMAN_SWIFT_STORAGE": "true", "PMAN_ENABLE_TOKEN_AUTH": "1"}).local.swift_storage is True
    with pytest.raises(config.ConfigError, match="PMAN_SWIFT_STORAGE"):
        build([], {"PMAN_SWIFT_STORAGE": "maybe"})


@pytest.mark.parametrize("argv,env,named", [
    ([], {"PMAN_MAX_JOBS": "abc"}, "PMAN_MAX_JOBS"),
    (["--max-jobs", "0"], {}, "--max-jobs"),
    (["--port", "70000"], {}, "--port"),
    ([], {"PMAN_ENGINE": "swarm"}, "PMAN_ENGINE"),
    ([], {"PMAN_NAMESPACE": "Not_A_Label"}, "--namespace"),
    ([], {"PMAN_JOB_TTL_SECONDS": "-5"}, "PMAN_JOB_TTL_SECONDS"),
    ([], {"PMAN_PUBLISHER_IMAGE": " "}, "--publisher-image"),
])
def test_invalid_values_are_named(argv, env, named):
    with pytest.raises(config.ConfigError) as e:
        build(argv, env)
    assert named in str(e.value)


@pytest.mark.parametrize("container_env,engine", [("openshift", "openshift"), ("swarm", "local"),
                                                  ("kubernetes", "kubernetes")])
def test_container_env_maps_to_engine(container_env, engine):
    assert build(["--container-env", container_env]).engine == engine
    assert build(["--container-env", container_env, "--engine", "local"]).engine == "local"


def test_original_command_line_is_accepted(tmp_path):
    c = build(["--rawmode", "1", "--http", "--port", "5011", "--listeners", "12", "--ip", "127.0.0.1",
               "--DBpath", str(tmp_path / "db"), "-v", "1", "--enableTokenAuth", "--tokenPath", "/x/t.cfg"])
    assert (c.port, c.threads, c.host, c.verbosity) == (5011, 12, "127.0.0.1", 1)
    assert c.local.workdir == str(tmp_path / "db")
    assert c.token_auth and c.token_path == "/x/t.cfg"


def test_config_is_frozen():
    c = build([])
    with pytest.raises(Exception):
        c.port = 1


def test_main_exits_2_naming_the_bad_setting(capsys, monkeypatch):
    monkeypatch.setenv("PMAN_MAX_JOBS", "many")
    assert cli.main([]) == 2
    assert "PMAN_MAX_JOBS" in capsys.readouterr().err


def test_main_exits_2_on_a_missing_token_file(capsys, tmp_path):
    assert cli.main(["--workdir", str(tmp_path), "--enableTokenAuth", "--tokenPath", str(tmp_path / "no.cfg")]) == 2
    assert "no.cfg" in capsys.readouterr().err


def test_optional_k8s_settings():
    c = build(["--job-processor-uid", "1001"], {"PMAN_JOB_FS_GROUP": "2000", "PMAN_JOB_IMAGE_PULL_POLICY": "Always"})
    assert (c.kube.processor_run_as_user, c.kube.fs_group, c.kube.image_pull_policy) == (1001, 2000, "Always")
    assert c.kube.publisher_run_as_user is None and c.kube.share_size_limit is None
    with pytest.raises(config.ConfigError, match="PMAN_JOB_IMAGE_PULL_POLICY"):
        build([], {"PMAN_JOB_IMAGE_PULL_POLICY": "Sometimes"})
    with pytest.raises(config.ConfigError, match="PMAN_JOB_FS_GROUP"):
        build([], {"PMAN_JOB_FS_GROUP": "-1"})


def test_paths_are_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    c = build(["--workdir", "w", "--storeBase", "s", "--swift-credentials", "creds.cfg"])
    assert (c.local.workdir, c.local.store_base, c.local.swift_credentials) == \
        (str(tmp_path / "w"), str(tmp_path / "s"), str(tmp_path / "creds.cfg"))
    assert build([]).local.swift_credentials is None


@pytest.mark.parametrize("argv,env,expect", [
    ([], {}, True), ([], {"PMAN_COMPRESS_OUTPUTS": "false"}, False), (["--compress-outputs", "false"], {}, False),
    (["--compress-outputs"], {"PMAN_COMPRESS_OUTPUTS": "0"}, True)])
def test_compressing_outputs_feeds_both_engines(argv, env, expect):
    c = build(argv, env)
    assert c.local.compress is c.kube.publisher_compress is expect


def test_settings_are_composed_into_each_engines_group(tmp_path):
    """One flag may feed both engines' groups; each engine gets only its own group."""
    c = build(["--swift-credentials", str(tmp_path / "c.cfg"), "--log-tail-bytes", "100", "--job-ttl", "60",
               "--publisher-service-account", "sa"])
    assert c.local.swift_credentials == c.kube.swift_credentials == str(tmp_path / "c.cfg")
    assert c.local.log_tail_bytes == c.kube.log_tail_bytes == 100
    assert (c.kube.ttl_seconds_after_finished, c.kube.service_account) == (60, "sa")
    assert c.engine_settings is c.local
    openshift = build(["--engine", "openshift"])
    assert openshift.engine_settings is openshift.kube


def test_every_setting_has_a_home():
    """Each flag/variable feeds PmanConfig itself or an existing field of an engine's group."""
    own = {f.name for f in dataclasses.fields(config.PmanConfig)} - {"local", "kube"}
    local_fields = {f.name for f in dataclasses.fields(config.local_settings.LocalSettings)}
    kube_fields = {f.name for f in dataclasses.fields(config.kube_settings.KubeSettings)}
    for name in config.SOURCES:
        in_groups = name in config.LOCAL_SETTINGS or name in config.KUBE_SETTINGS
        assert (name in own) != in_groups, name
    assert set(config.LOCAL_SETTINGS.values()) <= local_fields
    assert set(config.KUBE_SETTINGS.values()) <= kube_fields


def test_a_bad_value_found_by_an_engines_group_names_the_flag():
    with pytest.raises(config.ConfigError, match=r"--job-publisher-uid \(PMAN_JOB_PUBLISHER_RUN_AS_USER\)"):
        build(["--job-publisher-uid", "-3"])
