"""Settings of the Kubernetes and OpenShift engines, and the names they give to things.

:class:`KubeSettings` is the engines' own frozen settings, validated once at startup;
:class:`pman.config.PmanConfig` composes it from flags and environment.  The spec builder and the
status mapping take it alone, so they stay pure and testable without a service configuration.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pman.engines import base

# Container names inside a Job's pod; also the keys of the engines' logs() answer.
INIT, PROCESSOR, PUBLISH = "init", "processor", "publish"
CONTAINERS = (INIT, PROCESSOR, PUBLISH)
SHARE_MOUNT = "/share"
SWIFT_MOUNT = "/etc/swift"
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
INSTANCE_LABEL = "chrisproject.org/pman-instance"
"""The label that marks the Jobs (and pods) of one pman, when ``instance_label`` is set."""
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
LAYOUTS = ("tree", "archive")


@dataclass(frozen=True)
class KubeSettings:
    """What the Kubernetes/OpenShift engines need; every field has a safe default."""

    namespace: str = "chris"
    """Namespace (OpenShift project) of the Jobs."""
    publisher_image: str = "docker.io/fnndsc/pman-swift-publisher:latest"
    """Image of the ``init`` (``get``) and ``publish`` (``put --wait``) containers."""
    service_account: str = "pman-publisher"
    """Service account of the Job pods; only the publish container receives its token."""
    swift_secret_name: str = "swift-credentials"
    """Secret with ``swift-credentials.cfg``, mounted read-only at /etc/swift in init and publish."""
    ttl_seconds_after_finished: int = 86400
    """Seconds the cluster keeps a finished Job and its pods.  They stay in the namespace (and in
    pman's status cache) until then; after it, status comes from the job's result object."""
    active_deadline_seconds: int = 86400
    image_pull_policy: str = "IfNotPresent"
    app_label: str = "pman-job"
    """Value of the ``app`` label on Jobs and pods."""
    processor_run_as_non_root: bool = True
    """``runAsNonRoot`` on the processor, so that the Job's pod passes Pod Security ``restricted``
    (the level of the shipped namespaces).  False only for namespaces at ``baseline`` or lower."""
    processor_run_as_user: int | None = None
    """A UID for the processor (None: the image's, or the one OpenShift's SCC assigns).  On plain
    Kubernetes set one (the kustomize base sets 1001), or images whose USER is root cannot start."""
    publisher_run_as_user: int | None = None
    """A UID for the publisher containers (None: the image's non-root USER, or the SCC's)."""
    fs_group: int | None = None
    """Pod ``fsGroup`` (None on OpenShift, whose restricted SCC picks it)."""
    publisher_cpu_limit: str = "1000m"
    publisher_memory_limit: str = "512Mi"
    publisher_cpu_request: str = "100m"
    publisher_memory_request: str = "128Mi"
    share_size_limit: str | None = None
    """``sizeLimit`` of the /share emptyDir (None: bounded only by the node)."""
    storage_layout: str = "tree"
    """Swift layout the publisher uses: ``tree`` or the originals' ``archive``."""
    publisher_compress: bool = True
    """Whether the publisher stores outputs compressed where that pays (its ``put --compress``).
    Off costs the pull's network what it saves the publish container's CPU."""
    log_tail_lines: int = 5000
    """Lines asked of the API server per container log (the byte tail is cut client-side)."""
    log_tail_bytes: int = 65536
    start_failure_timeout: int = 30
    """Seconds a Job may stay unable to start its processor (its pod refused by the API server, a
    container that cannot be created, an image that cannot be pulled, a volume that cannot be
    mounted) before pman reports it ``finishedWithError`` and deletes it.  Causes that cannot go
    away (a Pod Security violation, an invalid image name) are reported at once."""

    instance_label: str = ""
    """The status cache's scope.  Non-empty: pman labels its Jobs and pods
    ``chrisproject.org/pman-instance=<value>`` and caches only those; empty: every pman Job in
    the namespace (label ``job-origin=pman``), whoever created it."""
    status_cache: bool = True
    """Serve status from a LIST+WATCH cache of the Jobs and pods in scope (False: read the API
    on every status, as before the cache existed)."""
    status_deadline: float = 20.0
    """Seconds a status (or logs) read may take in all; past it the request answers 503."""
    events_interval: float = 5.0
    """Least seconds between two reads of the namespace's Warning Events, which explain the
    jobs that cannot start (one read serves every job)."""
    log_refresh_seconds: float = 5.0
    """A running container's log is read again at most this often (a terminated one only once)."""
    request_threads: int = 16
    """pman's request threads (``--threads``): the client's connection pool is sized to them."""

    kubeconfig: str | None = None
    """A kubeconfig file for running pman outside a cluster; None: the in-cluster service account."""
    swift_credentials: str | None = None
    """pman's own Swift credentials file, to read finished jobs' result objects and delete deleted
    jobs' containers (None: swiftstore searches)."""
    keep_data_on_delete: bool = False
    """A delete leaves the job's Swift container (for the retention policy or pfioh's rmtree); by
    default it is deleted once the job's pods have stopped."""

    def validate(self) -> "KubeSettings":
        """:raises base.SettingError: naming the first bad field."""
        for name in ("ttl_seconds_after_finished", "active_deadline_seconds", "log_tail_lines", "log_tail_bytes",
                     "start_failure_timeout"):
            value = getattr(self, name)
            base.require(value > 0, name, f"must be positive, not {value}")
        for name in ("status_deadline", "events_interval", "log_refresh_seconds", "request_threads"):
            value = getattr(self, name)
            base.require(value > 0, name, f"must be positive, not {value}")
        base.require(bool(_LABEL_VALUE.match(self.instance_label)), "instance_label",
                     "must be a label value (at most 63 letters, digits, '-', '_', '.', starting and "
                     f"ending with a letter or digit), not {self.instance_label!r}")
        base.require(self.image_pull_policy in PULL_POLICIES, "image_pull_policy",
                     f"must be one of {', '.join(PULL_POLICIES)}, not {self.image_pull_policy!r}")
        for name in ("processor_run_as_user", "publisher_run_as_user", "fs_group"):
            value = getattr(self, name)
            base.require(value is None or value >= 0, name, f"must be a UID/GID >= 0, not {value}")
        base.require(self.storage_layout in LAYOUTS, "storage_layout",
                     f"must be one of {', '.join(LAYOUTS)}, not {self.storage_layout!r}")
        base.require(bool(_DNS_LABEL.match(self.namespace)), "namespace",
                     f"must be a DNS label (lowercase letters, digits, '-'), not {self.namespace!r}")
        for name in ("publisher_image", "service_account", "swift_secret_name", "app_label"):
            base.require(bool(getattr(self, name).strip()), name, "must not be empty")
        return self


def job_name(jid: str) -> str:
    """The Job's name: the jid itself, which must be a DNS-1123 label.

    No mapping: the name is what an operator types (``kubectl logs job/<jid>``), and the
    ``job-name`` label the Job controller puts on pods cannot be longer than 63 characters anyway.
    pfcon's jids (``chris-jid-<n>``) always fit.

    :raises base.EngineError: 400, naming the rule, for any other jid.
    """
    if not _DNS_LABEL.match(jid or ""):
        raise base.EngineError(
            f"job id {jid[:80]!r} cannot be a Kubernetes Job name: use 1-63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit", status_code=400)
    return jid


def labels(settings: KubeSettings, jid: str) -> dict[str, str]:
    """Labels of a Job and of its pod template (the jid label selects a job's pods)."""
    out = {"app": settings.app_label, "job-origin": "pman", "jid": jid}
    if settings.instance_label:
        out[INSTANCE_LABEL] = settings.instance_label
    return out


def pod_selector(jid: str) -> str:
    return f"job-origin=pman,jid={jid}"


def scope_selector(settings: KubeSettings) -> str:
    """The label selector of the Jobs and pods the status cache keeps (``instance_label``)."""
    selector = "job-origin=pman"
    return f"{selector},{INSTANCE_LABEL}={settings.instance_label}" if settings.instance_label else selector
