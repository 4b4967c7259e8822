"""The repository's templates, manifests and Dockerfiles, and the parts of their objects the
deployment tests look at."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

from pman import config as pman_config
from tests.support.deploy import templates

ROOT = Path(__file__).resolve().parents[3]
OPENSHIFT = ROOT / "openshift"
KUBERNETES = ROOT / "kubernetes"
DOCKER = ROOT / "docker"
K8S_VERSION = "1.37.0"  # kubernetes-validate==1.37.0 (requirements/dev.txt) ships this schema
TEMPLATE_FILES = sorted(OPENSHIFT.glob("*-template.yaml"))
DOCKERFILE = DOCKER / "Dockerfile"  # one build target an image, and the stage they share
IMAGES = ("pfioh", "pman", "pman-swift-publisher")
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


def mounts(deployment: dict) -> dict[str, dict]:
    """mountPath -> {"mount": volumeMount, "volume": volume}."""
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    return {m["mountPath"]: {"mount": m, "volume": volumes[m["name"]]}
            for m in container(deployment)["volumeMounts"]}


def file_in_secret(deployment: dict, path: str) -> tuple[str, str]:
    """(secret name, key) that provides the file ``path`` inside the container."""
    target = PurePosixPath(path)
    entry = mounts(deployment)[str(target.parent)]
    secret = entry["volume"]["secret"]
    assert entry["mount"]["readOnly"] is True
    item = next(i for i in secret["items"] if i["path"] == target.name)
    return secret["secretName"], item["key"]


def pod_environment(deployment: dict) -> dict[str, str]:
    """The container's environment as the kubelet resolves it (the namespace fieldRef included)."""
    resolved = {}
    for entry in container(deployment)["env"]:
        if "value" in entry:
            resolved[entry["name"]] = entry["value"]
        else:
            assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
            resolved[entry["name"]] = deployment["metadata"]["namespace"]
    return resolved


def flags_of(args: list[str]) -> dict[str, object]:
    """pman's command line in a template as ``from_sources`` flags (the few the templates use)."""
    by_flag = {flag: field for field, (flags, _env) in pman_config.SOURCES.items() for flag in flags.split("/")}
    values, i = {}, 0
    while i < len(args):
        field = by_flag[args[i]]
        if field == "token_auth":
            values[field], i = True, i + 1
        else:
            values[field] = int(args[i + 1]) if field == "port" else args[i + 1]
            i += 2
    return values
