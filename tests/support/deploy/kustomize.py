"""``kustomize build`` for the tests, limited to the fields kubernetes/kustomization.yaml uses.

Supported: ``resources`` (local YAML files), ``namespace``, ``labels`` (``pairs``, metadata only),
``images`` (``name`` with ``newName``/``newTag``).  Any other field is an error, so the base
cannot silently grow a feature these tests would ignore.  The namespace is applied as kustomize
does: to every namespaced object, to a Namespace object's name, and to ServiceAccount subjects of
(Cluster)RoleBindings that have no namespace yet.
"""
from __future__ import annotations

from pathlib import Path

import yaml

SUPPORTED = {"apiVersion", "kind", "namespace", "labels", "resources", "images"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


class KustomizeError(ValueError):
    """The kustomization uses something this small builder does not implement."""


def build(directory: str | Path) -> list[dict]:
    """The objects ``kubectl kustomize <directory>`` would print (order aside)."""
    directory = Path(directory)
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise KustomizeError(f"unsupported kustomization fields: {sorted(unknown)}")
    objects = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if not path.is_file():
            raise KustomizeError(f"resource {resource} is not a file in {directory}")
        objects.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    for obj in objects:
        _namespace(obj, kustomization.get("namespace"))
        _labels(obj, kustomization.get("labels", []))
        _images(obj, kustomization.get("images", []))
    return objects


def _namespace(obj: dict, namespace: str | None) -> None:
    if not namespace:
        return
    if obj["kind"] == "Namespace":
        obj["metadata"]["name"] = namespace
    elif obj["kind"] not in CLUSTER_SCOPED:
        obj["metadata"]["namespace"] = namespace
    for subject in obj.get("subjects", []):
        if subject.get("kind") == "ServiceAccount" and not subject.get("namespace"):
            subject["namespace"] = namespace


def _labels(obj: dict, entries: list[dict]) -> None:
    for entry in entries:
        if set(entry) - {"pairs"}:
            raise KustomizeError(f"unsupported labels options: {sorted(set(entry) - {'pairs'})}")
        obj["metadata"].setdefault("labels", {}).update(entry["pairs"])


def split_image(image: str) -> tuple[str, str]:
    """``registry:5000/repo/name:tag`` -> (``registry:5000/repo/name``, ``tag``); no tag -> ''."""
    head, _, last = image.rpartition("/")
    name, _, tag = last.partition(":")
    return (f"{head}/{name}" if head else name), tag


def _images(obj: dict, images: list[dict]) -> None:
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        name, tag = split_image(container["image"])
        for image in images:
            if image["name"] == name:
                container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}".rstrip(":")
