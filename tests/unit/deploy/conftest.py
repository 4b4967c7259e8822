"""Shared loaders for the deployment tests: the repository's templates, manifests and Dockerfiles."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.deploy import kustomize, templates

ROOT = Path(__file__).resolve().parents[3]
OPENSHIFT = ROOT / "openshift"
KUBERNETES = ROOT / "kubernetes"
DOCKER = ROOT / "docker"
K8S_VERSION = "1.37.0"  # kubernetes-validate==1.37.0 (requirements/dev.txt) ships this schema
TEMPLATE_FILES = sorted(OPENSHIFT.glob("*-template.yaml"))
DOCKERFILES = sorted(DOCKER.glob("*/Dockerfile"))
NAMESPACE = "chris-test"


def rendered(name: str, **params: str) -> list[dict]:
    """Objects of ``openshift/<name>-template.yaml`` with NAMESPACE set and the other defaults."""
    return templates.process(templates.load(OPENSHIFT / f"{name}-template.yaml"),
                             {"NAMESPACE": NAMESPACE, **params})


def find(objects: list[dict], kind: str, name: str | None = None) -> dict:
    """The one object of ``kind`` (and ``name``); fails the test when absent or ambiguous."""
    hits = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    assert len(hits) == 1, f"expected one {kind} {name or ''}, found {len(hits)}"
    return hits[0]


def pod_spec(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]


def container(deployment: dict) -> dict:
    containers = pod_spec(deployment)["containers"]
    assert len(containers) == 1
    return containers[0]


def template_default(name: str, parameter: str) -> str:
    params = templates.load(OPENSHIFT / f"{name}-template.yaml")["parameters"]
    return next(p["value"] for p in params if p["name"] == parameter)


@pytest.fixture(scope="session")
def kustomized() -> list[dict]:
    return kustomize.build(KUBERNETES)
