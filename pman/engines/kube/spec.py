"""The Kubernetes Job of a pman job, built by pure functions (no API calls, no clock).

One pod, three containers sharing an emptyDir at /share:

- ``init`` (init container, publisher image): ``get`` copies ``<jid>/input/`` from Swift into
  /share/incoming and creates /share/outgoing;
- ``processor``: the plugin image and command, with cpu/memory (and GPU) limits and requests;
- ``publish`` (publisher image): ``put --wait`` watches its own pod until ``processor`` has
  terminated, uploads /share/outgoing and a result object, and exits 0 only if that worked.

The Job succeeds only if every container exits 0 (restartPolicy Never, backoffLimit 0), so a
failed processor fails the Job by itself while its output is still published.  Only the publish
container gets the service-account token (a projected volume, not the automounted one), so the
plugin image cannot read the API.
"""
from __future__ import annotations

from typing import Any

from pman.engines import base
from pman.engines.kube.settings import (INIT, PROCESSOR, PUBLISH, SA_MOUNT, SHARE_MOUNT, SWIFT_MOUNT,
                                       KubeSettings, job_name, labels)

SHARE_VOLUME, SWIFT_VOLUME, TOKEN_VOLUME = "share", "swift-credentials", "kube-api-access"
GPU_RESOURCE = "nvidia.com/gpu"
NVIDIA_ENV = {"NVIDIA_VISIBLE_DEVICES": "all", "NVIDIA_DRIVER_CAPABILITIES": "compute,utility",
              "NVIDIA_REQUIRE_CUDA": "cuda>=9.0"}
TOKEN_SECONDS = 3600  # the kubelet renews a projected token; the client re-reads the file


def build_job(spec: base.JobSpec, settings: KubeSettings) -> dict[str, Any]:
    """The ``batch/v1`` Job manifest for ``spec``.

    :raises base.EngineError: 400 when the jid cannot be a Job name.
    """
    name = job_name(spec.jid)
    meta = {"name": name, "namespace": settings.namespace, "labels": labels(settings, name)}
    if spec.auid:
        meta["annotations"] = {"chrisproject.org/auid": spec.auid}
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
        "spec": {
            "backoffLimit": 0, "completions": 1, "parallelism": 1,
            "activeDeadlineSeconds": settings.active_deadline_seconds,
            "ttlSecondsAfterFinished": settings.ttl_seconds_after_finished,
            "template": {"metadata": {"labels": labels(settings, name)}, "spec": _pod_spec(spec, settings)},
        },
    }


def _pod_spec(spec: base.JobSpec, settings: KubeSettings) -> dict[str, Any]:
    pod_security: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if settings.fs_group is not None:
        pod_security["fsGroup"] = settings.fs_group
    return {
        "restartPolicy": "Never",
        "serviceAccountName": settings.service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security,
        "initContainers": [_init_container(spec, settings)],
        "containers": [_processor_container(spec, settings), _publish_container(spec, settings)],
        "volumes": _volumes(settings),
    }


def _security_context(non_root: bool, run_as_user: int | None) -> dict[str, Any]:
    context: dict[str, Any] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    if non_root:
        context["runAsNonRoot"] = True
    if run_as_user is not None:
        context["runAsUser"] = run_as_user
    return context


def _env(pairs: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in pairs.items()]


def _data_env(spec: base.JobSpec, settings: KubeSettings) -> dict[str, str]:
    return {"SWIFT_KEY": spec.jid, "INCOMING_DIR": spec.incoming_dir, "OUTGOING_DIR": spec.outgoing_dir,
            "SWIFT_CREDENTIALS": f"{SWIFT_MOUNT}/swift-credentials.cfg", "SWIFT_LAYOUT": settings.storage_layout}


def _publisher_resources(settings: KubeSettings) -> dict[str, Any]:
    return {"limits": {"cpu": settings.publisher_cpu_limit, "memory": settings.publisher_memory_limit},
            "requests": {"cpu": settings.publisher_cpu_request, "memory": settings.publisher_memory_request}}


def _share_mount() -> dict[str, Any]:
    return {"name": SHARE_VOLUME, "mountPath": SHARE_MOUNT}


def _swift_mount() -> dict[str, Any]:
    return {"name": SWIFT_VOLUME, "mountPath": SWIFT_MOUNT, "readOnly": True}


def _init_container(spec: base.JobSpec, settings: KubeSettings) -> dict[str, Any]:
    return {
        "name": INIT, "image": settings.publisher_image, "imagePullPolicy": settings.image_pull_policy,
        # The processor may run as another user than the publisher (plain Kubernetes without an
        # fsGroup): the pod-private emptyDir's outgoing/ must be writable for it.
        "args": ["get"], "env": _env({**_data_env(spec, settings), "OUTGOING_MODE": "0777"}),
        "resources": _publisher_resources(settings),
        "securityContext": _security_context(True, settings.publisher_run_as_user),
        "volumeMounts": [_share_mount(), _swift_mount()],
    }


def _processor_container(spec: base.JobSpec, settings: KubeSettings) -> dict[str, Any]:
    res = spec.resources
    amounts = {"cpu": res.cpu_limit, "memory": res.memory_limit}
    if res.gpu_limit > 0:
        amounts[GPU_RESOURCE] = str(res.gpu_limit)
    env = {"NUMBER_OF_WORKERS": str(res.number_of_workers), "CPU_LIMIT": res.cpu_limit,
           "MEMORY_LIMIT": res.memory_limit, "GPU_LIMIT": str(res.gpu_limit)}
    if res.gpu_limit > 0:
        env.update(NVIDIA_ENV)
    env.update(spec.env)  # the request's own variables win over our informational ones
    return {
        "name": PROCESSOR, "image": spec.image, "imagePullPolicy": settings.image_pull_policy,
        "command": list(spec.command), "env": _env(env),
        # requests = limits: the scheduler reserves what the plugin asked for (Guaranteed QoS).
        "resources": {"limits": dict(amounts), "requests": dict(amounts)},
        "securityContext": _security_context(settings.processor_run_as_non_root, settings.processor_run_as_user),
        "volumeMounts": [_share_mount()],
    }


def _publish_container(spec: base.JobSpec, settings: KubeSettings) -> dict[str, Any]:
    # Only when off, so that the default spec stays as it was.
    compress = {} if settings.publisher_compress else {"SWIFT_COMPRESS": "off"}
    env = _env(_data_env(spec, settings)) + _env({"PROCESSOR_CONTAINER": PROCESSOR, **compress}) + [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    return {
        "name": PUBLISH, "image": settings.publisher_image, "imagePullPolicy": settings.image_pull_policy,
        "args": ["put", "--wait"], "env": env,
        "resources": _publisher_resources(settings),
        "securityContext": _security_context(True, settings.publisher_run_as_user),
        "volumeMounts": [_share_mount(), _swift_mount(),
                         {"name": TOKEN_VOLUME, "mountPath": SA_MOUNT, "readOnly": True}],
    }


def _volumes(settings: KubeSettings) -> list[dict[str, Any]]:
    share: dict[str, Any] = {}
    if settings.share_size_limit:
        share["sizeLimit"] = settings.share_size_limit
    token = {"sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": TOKEN_SECONDS}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
    ]}
    return [
        {"name": SHARE_VOLUME, "emptyDir": share},
        {"name": SWIFT_VOLUME, "secret": {"secretName": settings.swift_secret_name}},
        {"name": TOKEN_VOLUME, "projected": token},
    ]
