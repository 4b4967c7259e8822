"""The pman configuration: one frozen dataclass, built once from flags, then environment, then defaults.

Every setting has a flag and an environment variable (``PMAN_<NAME>``, or the variable the deployment
templates already use); :func:`from_sources` applies the precedence and validates, naming the flag
and the variable of the first bad value.  :class:`PmanConfig` holds the service's own settings and
composes one settings group per engine, owned by the engine's package
(:class:`~pman.engines.local.settings.LocalSettings`, :class:`~pman.engines.kube.settings.KubeSettings`):
an engine gets only its group, never this whole config nor ``os.environ``.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from httpkit import auth
from swiftstore.version import VERSION  # noqa: F401 -- pman reports it from here (cli, both APIs, health)
from pman.engines import base, factory
from pman.engines.kube import settings as kube_settings
from pman.engines.local import settings as local_settings

ENGINES = factory.NAMES
LAYOUTS = local_settings.LAYOUTS
PULL_POLICIES = kube_settings.PULL_POLICIES
DEFAULT_TOKEN_PATH = "/etc/pman/auth/pman_config.cfg"


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
    """Everything pman needs to know at startup: the service's own settings and one group per engine."""

    host: str = "127.0.0.1"
    """Address to listen on (``--ip``); when not given, 0.0.0.0 with token auth, else 127.0.0.1."""
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
    insecure_open: bool = False
    """Allow serving beyond loopback without token auth (a development server only)."""
    read_timeout: int = 60
    """Seconds a client may take to send a request head and small body, or stall in a large body."""
    verbosity: int = 0
    """0: warnings, 1: info, 2+: debug and access log."""
    default_cpu_limit: str = "1000m"
    """CPU limit of a job whose request has none."""
    default_memory_limit: str = "1024Mi"
    """Memory limit of a job whose request has none."""
    local: local_settings.LocalSettings = field(default_factory=local_settings.LocalSettings)
    """The local engine's settings."""
    kube: kube_settings.KubeSettings = field(default_factory=kube_settings.KubeSettings)
    """The Kubernetes and OpenShift engines' settings."""

    @property
    def engine_settings(self) -> local_settings.LocalSettings | kube_settings.KubeSettings:
        """The settings group of the chosen engine (what its ``create`` takes)."""
        return self.local if self.engine == "local" else self.kube

    def validate(self) -> "PmanConfig":
        """Check the values, the engines' groups included (whichever engine is chosen).

        :raises ConfigError: naming the flag/variable of the first bad one.
        """
        _check(0 < self.port < 65536, "port", f"must be 1..65535, not {self.port}")
        _check(self.engine in ENGINES, "engine", f"must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        _check(self.threads > 0, "threads", f"must be positive, not {self.threads}")
        _check(self.read_timeout > 0, "read_timeout", f"must be positive, not {self.read_timeout}")
        problem = auth.exposure_problem(self.host, token_auth=self.token_auth, insecure_open=self.insecure_open,
                                         flag=_label("insecure_open"))
        _check(problem is None, "host", f"{self.host}: {problem}")
        for group, names in ((self.local, LOCAL_SETTINGS), (self.kube, KUBE_SETTINGS)):
            try:
                group.validate()
            except base.SettingError as e:
                setting = next((s for s, f in names.items() if f == e.field), e.field)
                raise ConfigError(f"{_label(setting)} {e.problem}") from None
        return self


# setting -> (flag, environment variable).  The k8s variable names are the deployment templates'.
SOURCES: dict[str, tuple[str, str]] = {
    "host": ("--ip", "PMAN_IP"),
    "port": ("--port", "PMAN_PORT"),
    "engine": ("--engine", "PMAN_ENGINE"),
    "threads": ("--threads", "PMAN_THREADS"),
    "token_auth": ("--enableTokenAuth", "PMAN_ENABLE_TOKEN_AUTH"),
    "token_path": ("--tokenPath", "PMAN_TOKEN_PATH"),
    "insecure_open": ("--insecure-open", "PMAN_INSECURE_OPEN"),
    "read_timeout": ("--read-timeout", "PMAN_READ_TIMEOUT"),
    "verbosity": ("-v/--verbosity", "PMAN_VERBOSITY"),
    "workdir": ("--workdir", "PMAN_WORKDIR"),
    "store_base": ("--storeBase", "PMAN_STORE_BASE"),
    "swift_storage": ("--swift-storage", "PMAN_SWIFT_STORAGE"),
    "swift_credentials": ("--swift-credentials", "SWIFT_CREDENTIALS"),
    "swift_layout": ("--swift-layout", "PMAN_SWIFT_LAYOUT"),
    "keep_data_on_delete": ("--keep-data-on-delete", "PMAN_KEEP_DATA_ON_DELETE"),
    "compress_outputs": ("--compress-outputs", "PMAN_COMPRESS_OUTPUTS"),
    "max_jobs": ("--max-jobs", "PMAN_MAX_JOBS"),
    "publisher_cli": ("--publisher-cli", "PMAN_PUBLISHER_CLI"),
    "log_tail_bytes": ("--log-tail-bytes", "PMAN_LOG_TAIL_BYTES"),
    "local_job_user": ("--local-job-user", "PMAN_LOCAL_JOB_USER"),
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
    "job_start_failure_timeout": ("--job-start-failure-timeout", "PMAN_JOB_START_FAILURE_TIMEOUT_SECONDS"),
    "instance_label": ("--instance-label", "PMAN_INSTANCE_LABEL"),
    "status_cache": ("--status-cache", "PMAN_STATUS_CACHE"),
    "status_deadline": ("--status-deadline", "PMAN_STATUS_DEADLINE_SECONDS"),
    "events_interval": ("--events-interval", "PMAN_EVENTS_INTERVAL_SECONDS"),
    "log_refresh_seconds": ("--log-refresh", "PMAN_LOG_REFRESH_SECONDS"),
    "kubeconfig": ("--kubeconfig", "KUBECONFIG"),
}


# setting -> field of the engine settings group it feeds; a setting may feed both groups.
# Settings in neither table are PmanConfig's own fields.
LOCAL_SETTINGS: dict[str, str] = {name: name for name in (
    "workdir", "store_base", "swift_storage", "swift_credentials", "swift_layout", "max_jobs", "publisher_cli",
    "log_tail_bytes", "keep_data_on_delete")} | {"local_job_user": "job_user", "compress_outputs": "compress"}
KUBE_SETTINGS: dict[str, str] = {
    "namespace": "namespace",
    "publisher_image": "publisher_image",
    "publisher_service_account": "service_account",
    "swift_credentials_secret": "swift_secret_name",
    "job_ttl_seconds": "ttl_seconds_after_finished",
    "job_active_deadline_seconds": "active_deadline_seconds",
    "job_image_pull_policy": "image_pull_policy",
    "job_processor_run_as_non_root": "processor_run_as_non_root",
    "job_processor_run_as_user": "processor_run_as_user",
    "job_publisher_run_as_user": "publisher_run_as_user",
    "job_fs_group": "fs_group",
    "job_share_size_limit": "share_size_limit",
    "job_start_failure_timeout": "start_failure_timeout",
    "instance_label": "instance_label",
    "status_cache": "status_cache",
    "status_deadline": "status_deadline",
    "events_interval": "events_interval",
    "log_refresh_seconds": "log_refresh_seconds",
    "kubeconfig": "kubeconfig",
    "swift_credentials": "swift_credentials",
    "log_tail_bytes": "log_tail_bytes",
    "keep_data_on_delete": "keep_data_on_delete",
    "compress_outputs": "publisher_compress",
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


parse_bool = _to_bool  # for flags that take an optional true/false (pman.cli)


def _type(name: str) -> str:
    """The annotation (a string) of the field setting ``name`` feeds."""
    for cls, names in ((local_settings.LocalSettings, LOCAL_SETTINGS), (kube_settings.KubeSettings, KUBE_SETTINGS)):
        if name in names:
            return {f.name: f.type for f in fields(cls)}[names[name]]
    return {f.name: f.type for f in fields(PmanConfig)}[name]


def _converter(name: str) -> Callable[[str], Any]:
    kind = _type(name).replace(" | None", "")
    if kind == "int":
        return int
    if kind == "float":
        return float
    if kind == "bool":
        return _to_bool
    return str


def from_sources(flags: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> PmanConfig:
    """Build and validate the config: a flag given (not None) wins, then the variable, then the default.

    :param flags: setting name -> value from the command line (None when the flag was not given).
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
    # Open to the network only with auth on (or the explicit --insecure-open).
    values.setdefault("host", "0.0.0.0" if values.get("token_auth") else "127.0.0.1")
    values.setdefault("workdir", default_workdir())
    values.setdefault("publisher_cli", default_publisher_cli())
    for path_field in ("workdir", "store_base", "swift_credentials"):
        # absolute: the job runners work in other directories
        if values.get(path_field) is not None or path_field == "store_base":
            values[path_field] = os.path.abspath(os.path.expanduser(values.get(path_field, "/tmp")))
    return compose(values).validate()


def compose(values: Mapping[str, Any]) -> PmanConfig:
    """The (unvalidated) config of settings given by name (see :data:`SOURCES`); others keep their defaults."""
    def group(cls, names: dict[str, str]):
        return cls(**{f: values[s] for s, f in names.items() if s in values})
    own = {name: value for name, value in values.items() if name not in LOCAL_SETTINGS and name not in KUBE_SETTINGS}
    local = group(local_settings.LocalSettings, LOCAL_SETTINGS)
    if own.get("token_auth"):  # the local engine checks that a job user cannot read it
        local = replace(local, protected_files=(own.get("token_path", DEFAULT_TOKEN_PATH),))
    kube = group(kube_settings.KubeSettings, KUBE_SETTINGS)
    # The kube client's connection pool is sized to the request threads (a service setting).
    kube = replace(kube, request_threads=own.get("threads", PmanConfig.threads))
    return PmanConfig(**own, local=local, kube=kube)
