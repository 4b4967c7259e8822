"""pman reads the deployment's flags and environment as the templates intend (pman/config.py)."""
import pytest

from pman import config as pman_config
from tests.support.deploy.manifests import (NAMESPACE, container, find, flags_of, pod_environment, rendered,
                                            template_default)

FLAGS = {flag for flag, _env in pman_config.SOURCES.values() for flag in flag.split("/")}
VARIABLES = {env for _flag, env in pman_config.SOURCES.values()}


@pytest.fixture(scope="module")
def deployment():
    return find(rendered("pman"), "Deployment", "pman")


def test_every_flag_and_variable_is_one_pman_knows(deployment):
    args = container(deployment)["args"]
    assert {a for a in args if a.startswith("-")} <= FLAGS
    assert set(pod_environment(deployment)) <= VARIABLES


def test_the_deployed_configuration(deployment):
    config = pman_config.from_sources(flags_of(container(deployment)["args"]), pod_environment(deployment))
    assert (config.engine, config.host, config.port, config.token_auth) == ("openshift", "0.0.0.0", 5010, True)
    assert config.token_path == pman_config.DEFAULT_TOKEN_PATH
    assert config.kube.namespace == NAMESPACE
    assert config.kube.publisher_image == template_default("pman", "PUBLISHER_IMAGE")
    assert config.kube.service_account == find(rendered("publisher-rbac"), "ServiceAccount")["metadata"]["name"]
    assert config.kube.swift_secret_name == template_default("pfioh", "SWIFT_CREDENTIALS_SECRET")
    assert config.kube.ttl_seconds_after_finished == int(template_default("pman", "JOB_TTL_SECONDS"))
    assert config.kube.active_deadline_seconds == int(template_default("pman", "JOB_ACTIVE_DEADLINE_SECONDS"))
    assert config.kube.swift_credentials == "/etc/swift/swift-credentials.cfg"


def test_pman_defaults_match_the_template_defaults():
    """Run without the template's settings, pman still finds the objects the templates create."""
    defaults = pman_config.PmanConfig()
    assert defaults.kube.service_account == template_default("publisher-rbac", "PUBLISHER_SERVICE_ACCOUNT")
    assert defaults.kube.swift_secret_name == template_default("pman", "SWIFT_CREDENTIALS_SECRET")
    assert defaults.port == 5010


def test_a_wrong_value_from_the_template_would_be_refused(deployment):
    environment = {**pod_environment(deployment), "PMAN_JOB_TTL_SECONDS": "-1"}
    with pytest.raises(pman_config.ConfigError, match="PMAN_JOB_TTL_SECONDS"):
        pman_config.from_sources(flags_of(container(deployment)["args"]), environment)
