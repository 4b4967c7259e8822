"""pman's template agrees with the other files: secrets, paths, ports, the publisher's account."""
import pytest

from tests.support.deploy import dockerfile
from tests.support.deploy.manifests import (DOCKERFILE, container, file_in_secret, find, mounts, pod_spec, rendered,
                                            template_default)


@pytest.fixture(scope="module")
def objects():
    return rendered("pman")


@pytest.fixture(scope="module")
def deployment(objects):
    return find(objects, "Deployment", "pman")


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def env(deployment: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container(deployment)["env"]}


def test_command_line(deployment):
    main = container(deployment)
    assert main["command"] == ["pman"]
    assert flag(main["args"], "--engine") == "openshift"
    assert "--enableTokenAuth" in main["args"]


def test_token_file_comes_from_the_auth_secret(deployment):
    token_path = flag(container(deployment)["args"], "--tokenPath")
    assert token_path == "/etc/pman/auth/pman_config.cfg"
    assert file_in_secret(deployment, token_path) == ("pman-config", "pman_config.cfg")


def test_swift_credentials_come_from_the_swift_secret(deployment):
    path = env(deployment)["SWIFT_CREDENTIALS"]["value"]
    assert path == "/etc/swift/swift-credentials.cfg"
    assert file_in_secret(deployment, path) == ("swift-credentials", "swift-credentials.cfg")


def test_ports_line_up(objects, deployment):
    port, = container(deployment)["ports"]
    assert port["containerPort"] == int(flag(container(deployment)["args"], "--port")) == 5010
    service_port, = find(objects, "Service", "pman")["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    route = find(objects, "Route", "pman")
    assert route["spec"]["port"]["targetPort"] == service_port["name"]
    assert int(dockerfile.last(dockerfile.image(DOCKERFILE, "pman"), "EXPOSE")) == port["containerPort"]


def test_runs_as_its_own_service_account_with_an_api_token(objects, deployment):
    spec = pod_spec(deployment)
    assert spec["serviceAccountName"] == find(objects, "ServiceAccount")["metadata"]["name"]
    assert spec.get("automountServiceAccountToken", True) is True


def test_publisher_account_is_the_one_the_rbac_template_creates():
    assert template_default("pman", "PUBLISHER_SERVICE_ACCOUNT") == \
        template_default("publisher-rbac", "PUBLISHER_SERVICE_ACCOUNT")
    account = find(rendered("publisher-rbac"), "ServiceAccount")["metadata"]["name"]
    assert account == template_default("pman", "PUBLISHER_SERVICE_ACCOUNT")


def test_engine_settings_follow_the_parameters():
    deployment = find(rendered("pman", PUBLISHER_IMAGE="quay.io/me/pub:1", PUBLISHER_SERVICE_ACCOUNT="pub",
                               SWIFT_CREDENTIALS_SECRET="sw", JOB_TTL_SECONDS="60",
                               JOB_ACTIVE_DEADLINE_SECONDS="600"), "Deployment")
    values = {e.get("value") for e in container(deployment)["env"]}
    assert {"quay.io/me/pub:1", "pub", "sw", "60", "600"} <= values
    namespace_from = [e for e in container(deployment)["env"] if "valueFrom" in e]
    assert [e["valueFrom"] for e in namespace_from] == [{"fieldRef": {"fieldPath": "metadata.namespace"}}]


def test_scratch_is_writable(deployment):
    assert not mounts(deployment)["/tmp"]["mount"].get("readOnly")
