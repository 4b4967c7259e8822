"""The pman configuration: one frozen dataclass, built once from flags, then environment, then defaults.

Every setting has a flag and an environment variable (``PMAN_<NAME>``, or the variable the deployment
templates already use); :func:`from_sources` applies the precedence and validates, naming the flag
and the variable of the first bad value.  Engines read their settings from here, never from
``os.environ``.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from swiftstore.version import VERSION  # noqa: F401 -- pman reports it from here (cli, both APIs, health)

ENGINES = ("local", "kubernetes", "openshift")
LAYOUTS = ("tree", "archive")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DEFAULT_TOKEN_PATH = "/etc/pman/auth/pman_config.cfg"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class ConfigError(ValueError):
    """A setting is invalid; the message names the flag and the environment variable."""


def default_workdir() -> str:
    """``$XDG_DATA_HOME/pman`` (``~/.local/share/pman``) when there is a writable home, else ``/tmp/pman-<uid>``."""
    home = Path.home() if "HOME" in os.environ else None
    if home is not None and os.access(home, os.W_OK):
        base = os.environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
        return os.path.join(base, "pman")
    return f"/tmp/pman-{os.getuid()}"


def default_publisher_cli() -> str:
    """The ``pman-swift-publisher`` beside this interpreter (a venv), else the one on ``PATH``."""
    beside = Path(sys.executable).parent / "pman-swift-publisher"
    return str(beside) if beside.exists() else "pman-swift-publisher"


@dataclass(frozen=True)
class PmanConfig:
    """Everything pman and its engines need to know at startup."""

    host: str = "0.0.0.0"
    """Address to listen on (``--ip``)."""
    port: int = 5010
    """TCP port (the original's)."""
    engine: str = "local"
    """``local`` (processes on this host, the default), ``kubernetes`` or ``openshift``."""
    threads: int = 16
    """gunicorn threads of the single worker process (concurrent requests)."""
    token_auth: bool = False
    """Require ``Authorization: bearer <token>`` on both APIs (not on health, metrics, OpenAPI)."""
    token_path: str = DEFAULT_TOKEN_PATH
    """File with the ``[AUTH TOKENS]`` section."""
    verbosity: int = 0
    """0: warnings, 1: info, 2+: debug and access log."""

    # ---- local engine
    workdir: str = ""
    """Local engine: per-job work dirs ``<workdir>/jobs/<jid>/`` and the SQLite job table ``<workdir>/pman.sqlite``."""
    store_base: str = "/tmp"
    """Local engine without Swift: the mount-mode store shared with pfioh (``<store_base>/key-<jid>/incoming|outgoing``)."""
    swift_storage: bool = False
    """Local engine: fetch input from / publish output to Swift (container = jid) with the publisher."""
    swift_credentials: str | None = None
    """Swift credentials file; None lets swiftstore search ($SWIFT_CREDENTIALS, OS_*/ST_*, /etc/swift)."""
    swift_layout: str = "tree"
    """Local engine with Swift: ``tree`` (objects + manifest, pfioh's default) or ``archive`` (``input/data`` zips)."""
    max_jobs: int = 4
    """Local engine: jobs running at once; more wait in the queue as ``notstarted``."""
    publisher_cli: str = ""
    """Local engine: the ``pman-swift-publisher`` executable (default: beside this Python, else on PATH)."""
    log_tail_bytes: int = 65536
    """Largest log excerpt per step/container in a status reply (the end of the log is kept)."""

    # ---- kubernetes / openshift engines
    namespace: str = "chris"
    """Namespace (OpenShift project) in which Jobs are created."""
    publisher_image: str = "docker.io/fnndsc/pman-swift-publisher:latest"
    """Image of the init (``get``) and publish (``put --wait``) containers."""
    publisher_service_account: str = "pman-publisher"
    """Service account of the Job pods (may get/watch pods in the namespace, for ``put --wait``)."""
    swift_credentials_secret: str = "swift-credentials"
    """Secret holding ``swift-credentials.cfg``, mounted read-only at ``/etc/swift`` in the Job pods."""
    job_ttl_seconds: int = 86400
    """``ttlSecondsAfterFinished`` of each Job (the final result is persisted, so it may be short)."""
    job_active_deadline_seconds: int = 86400
    """``activeDeadlineSeconds`` of each Job (its whole run time, data steps included)."""
    default_cpu_limit: str = "1000m"
    """CPU limit of a job whose request has none."""
    default_memory_limit: str = "1024Mi"
    """Memory limit of a job whose request has none."""
    job_image_pull_policy: str = "IfNotPresent"
    """``imagePullPolicy`` of the Job containers: Always, IfNotPresent or Never."""
    job_processor_run_as_non_root: bool = False
    """Force the processor container non-root (many plugin images run as root)."""
    job_processor_run_as_user: int | None = None
    """UID of the processor container (None: the image's, or the OpenShift SCC's)."""
    job_publisher_run_as_user: int | None = None
    """UID of the publisher containers (None: the image's non-root user, or the SCC's)."""
    job_fs_group: int | None = None
    """Pod ``fsGroup`` (None: leave it to the cluster, as OpenShift's restricted SCC wants)."""
    job_share_size_limit: str | None = None
    """``sizeLimit`` of the ``/share`` emptyDir, e.g. ``20Gi`` (None: bounded by the node only)."""
    kubeconfig: str | None = None
    """A kubeconfig file for running pman outside a cluster; None: the in-cluster service account."""

    @property
    def jobs_dir(self) -> Path:
        return Path(self.workdir) / "jobs"

    @property
    def db_path(self) -> Path:
        return Path(self.workdir) / "pman.sqlite"

    def validate(self) -> "PmanConfig":
        """Check the values.  :raises ConfigError: naming the flag/variable of the first bad one."""
        _check(0 < self.port < 65536, "port", f"must be 1..65535, not {self.port}")
        _check(self.engine in ENGINES, "engine", f"must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        for name in ("threads", "max_jobs", "log_tail_bytes", "job_ttl_seconds", "job_active_deadline_seconds"):
            value = getattr(self, name)
            _check(value > 0, name, f"must be positive, not {value}")
        _check(self.job_image_pull_policy in PULL_POLICIES, "job_image_pull_policy",
               f"must be one of {', '.join(PULL_POLICIES)}, not {self.job_image_pull_policy!r}")
        for name in ("job_processor_run_as_user", "job_publisher_run_as_user", "job_fs_group"):
            value = getattr(self, name)
            _check(value is None or value >= 0, name, f"must be a UID/GID >= 0, not {value}")
        _check(self.swift_layout in LAYOUTS, "swift_layout", f"must be one of {', '.join(LAYOUTS)}, not {self.swift_layout!r}")
        _check(bool(self.workdir), "workdir", "must not be empty")
        _check(bool(self.store_base), "store_base", "must not be empty")
        _check(bool(_DNS_LABEL.match(self.namespace)), "namespace",
               f"must be a DNS label (lowercase letters, digits, '-'), not {self.namespace!r}")
        for name in ("publisher_image", "publisher_service_account", "swift_credentials_secret"):
            _check(bool(getattr(self, name).strip()), name, "must not be empty")
        return self


# field -> (flag, environment variable).  The k8s variable names are the deployment templates'.
SOURCES: dict[str, tuple[str, str]] = {
    "host": ("--ip", "PMAN_IP"),
    "port": ("--port", "PMAN_PORT"),
    "engine": ("--engine", "PMAN_ENGINE"),
    "threads": ("--threads", "PMAN_THREADS"),
    "token_auth": ("--enableTokenAuth", "PMAN_ENABLE_TOKEN_AUTH"),
    "token_path": ("--tokenPath", "PMAN_TOKEN_PATH"),
    "verbosity": ("-v/--verbosity", "PMAN_VERBOSITY"),
    "workdir": ("--workdir", "PMAN_WORKDIR"),
    "store_base": ("--storeBase", "PMAN_STORE_BASE"),
    "swift_storage": ("--swift-storage", "PMAN_SWIFT_STORAGE"),
    "swift_credentials": ("--swift-credentials", "SWIFT_CREDENTIALS"),
    "swift_layout": ("--swift-layout", "PMAN_SWIFT_LAYOUT"),
    "max_jobs": ("--max-jobs", "PMAN_MAX_JOBS"),
    "publisher_cli": ("--publisher-cli", "PMAN_PUBLISHER_CLI"),
    "log_tail_bytes": ("--log-tail-bytes", "PMAN_LOG_TAIL_BYTES"),
    "namespace": ("--namespace", "PMAN_NAMESPACE"),
    "publisher_image": ("--publisher-image", "PMAN_PUBLISHER_IMAGE"),
    "publisher_service_account": ("--publisher-service-account", "PMAN_PUBLISHER_SERVICE_ACCOUNT"),
    "swift_credentials_secret": ("--swift-credentials-secret", "PMAN_SWIFT_CREDENTIALS_SECRET"),
    "job_ttl_seconds": ("--job-ttl", "PMAN_JOB_TTL_SECONDS"),
    "job_active_deadline_seconds": ("--job-active-deadline", "PMAN_JOB_ACTIVE_DEADLINE_SECONDS"),
    "default_cpu_limit": ("--default-cpu-limit", "PMAN_DEFAULT_CPU_LIMIT"),
    "default_memory_limit": ("--default-memory-limit", "PMAN_DEFAULT_MEMORY_LIMIT"),
    "job_image_pull_policy": ("--job-image-pull-policy", "PMAN_JOB_IMAGE_PULL_POLICY"),
    "job_processor_run_as_non_root": ("--job-processor-non-root", "PMAN_JOB_PROCESSOR_RUN_AS_NON_ROOT"),
    "job_processor_run_as_user": ("--job-processor-uid", "PMAN_JOB_PROCESSOR_RUN_AS_USER"),
    "job_publisher_run_as_user": ("--job-publisher-uid", "PMAN_JOB_PUBLISHER_RUN_AS_USER"),
    "job_fs_group": ("--job-fs-group", "PMAN_JOB_FS_GROUP"),
    "job_share_size_limit": ("--job-share-size-limit", "PMAN_JOB_SHARE_SIZE_LIMIT"),
    "kubeconfig": ("--kubeconfig", "KUBECONFIG"),
}


def _label(name: str) -> str:
    flag, env = SOURCES.get(name, (name, ""))
    return f"{flag} ({env})" if env else flag


def _check(ok: bool, name: str, problem: str) -> None:
    if not ok:
        raise ConfigError(f"{_label(name)} {problem}")


def _to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r} (use 1/0, true/false)")


def _converter(name: str) -> Callable[[str], Any]:
    kind = {f.name: f.type for f in fields(PmanConfig)}[name].replace(" | None", "")
    if kind == "int":
        return int
    if kind == "bool":
        return _to_bool
    return str


def from_sources(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> PmanConfig:
    """Build and validate the config: a flag given (not None) wins, then the variable, then the default.

    :param flags: field name -> value from the command line (None when the flag was not given).
    :param environ: the environment (default ``os.environ``).
    :raises ConfigError: a value cannot be converted or is invalid; the message names flag and variable.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, (_flag, env) in SOURCES.items():
        value = flags.get(name)
        if value is None and environ.get(env, "") != "":
            try:
                value = _converter(name)(environ[env])
            except ValueError as e:
                raise ConfigError(f"{_label(name)}: bad value {environ[env]!r} ({e})") from None
        if value is not None:
            values[name] = value
    values.setdefault("workdir", default_workdir())
    values.setdefault("publisher_cli", default_publisher_cli())
    for path_field in ("workdir", "store_base", "swift_credentials"):
        # absolute: the job runners work in other directories
        if values.get(path_field) is not None or path_field == "store_base":
            values[path_field] = os.path.abspath(os.path.expanduser(values.get(path_field, "/tmp")))
    return PmanConfig(**values).validate()
