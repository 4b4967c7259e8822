"""pfioh's template, kustomize base and image agree with pfioh's real command line and routes."""
import dataclasses

import pytest

from pfioh import app as pfioh_app
from pfioh import cli as pfioh_cli
from pfioh import config as pfioh_config
from swiftstore import credentials as swift_credentials
from tests.support.deploy import dockerfile
from tests.support.deploy.manifests import (DOCKERFILE, container, file_in_secret, find, mounts, rendered,
                                            template_default)


def deployed_config(args: list[str]) -> pfioh_config.PfiohConfig:
    return pfioh_cli.config_from_args(pfioh_cli.build_parser().parse_args(args))


@pytest.fixture(scope="module")
def deployment():
    return find(rendered("pfioh"), "Deployment", "pfioh")


@pytest.fixture(scope="module")
def config(deployment):
    main = container(deployment)
    assert main["command"] == ["pfioh"]
    return deployed_config(main["args"])


def test_the_production_flags_are_on(config):
    assert config.forever and config.swift_storage and config.create_dirs and config.token_auth
    assert config.host == "0.0.0.0"


def test_token_file_comes_from_the_auth_secret(deployment, config):
    assert config.token_path == pfioh_config.DEFAULT_TOKEN_PATH
    assert file_in_secret(deployment, config.token_path) == ("pfioh-config", "pfioh_config.cfg")


def test_swift_credentials_come_from_the_swift_secret_at_the_default_path(deployment, config):
    assert config.swift_credentials == swift_credentials.DEFAULT_PATH == "/etc/swift/swift-credentials.cfg"
    assert file_in_secret(deployment, config.swift_credentials) == ("swift-credentials", "swift-credentials.cfg")


def test_staging_area_is_on_a_writable_volume(deployment, config):
    entry = mounts(deployment)[config.store_base]
    assert not entry["mount"].get("readOnly")
    assert "emptyDir" in entry["volume"]
    assert str(config.staging_dir).startswith(config.store_base + "/")


def test_ports_line_up(deployment, config):
    objects = rendered("pfioh")
    port, = container(deployment)["ports"]
    assert port["containerPort"] == config.port == 5055
    service = find(objects, "Service", "pfioh")
    service_port, = service["spec"]["ports"]
    assert service_port["targetPort"] in (port["name"], port["containerPort"])
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    route = find(objects, "Route", "pfioh")
    assert route["spec"]["to"]["name"] == service["metadata"]["name"]
    assert route["spec"]["port"]["targetPort"] == service_port["name"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container(deployment)[probe]["httpGet"]["port"] == port["name"]


def test_probe_path_answers_without_a_token_while_commands_need_one(deployment, config, tmp_path):
    """The probes use the same flags as the pod: token auth on, yet the health and ready routes are open."""
    tokens = tmp_path / "pfioh_config.cfg"
    tokens.write_text("[AUTH TOKENS]\ntoken = s3cret\n")
    local = dataclasses.replace(config, swift_storage=False, store_base=str(tmp_path), token_path=str(tokens))
    client = pfioh_app.create_app(local, shutdown=lambda: None).test_client()
    for probe, status in (("livenessProbe", "ok"), ("readinessProbe", "ready")):
        reply = client.get(container(deployment)[probe]["httpGet"]["path"])
        assert reply.status_code == 200 and reply.get_json()["status"] == status
    assert client.get("/api/v1/cmd/?action=hello").status_code in (400, 401)


def test_image_defaults_are_a_valid_command_line_on_the_same_port():
    image = dockerfile.image(DOCKERFILE, "pfioh")
    config = deployed_config(dockerfile.exec_form(dockerfile.last(image, "CMD")))
    assert config.port == int(dockerfile.last(image, "EXPOSE"))
    assert config.forever and config.host == "0.0.0.0"


def test_template_defaults_name_the_shared_secrets():
    assert template_default("pfioh", "SWIFT_CREDENTIALS_SECRET") == template_default("pman", "SWIFT_CREDENTIALS_SECRET")
    assert template_default("pfioh", "PFIOH_AUTH_SECRET") == template_default("auth-secrets", "PFIOH_AUTH_SECRET")
    assert template_default("pman", "PMAN_AUTH_SECRET") == template_default("auth-secrets", "PMAN_AUTH_SECRET")
