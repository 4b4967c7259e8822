"""The small interface every compute engine implements, and the neutral types it speaks.

The HTTP layers (the legacy message API and the REST API) parse requests into a ``JobSpec``, call an
``Engine`` and render the ``JobInfo`` it returns; they never touch an engine's native objects.
Engines raise ``EngineError`` subclasses, which the HTTP layer maps to status codes in one place.
"""
from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Mapping


class JobStatus(str, enum.Enum):
    """The four states pfcon understands, plus ``undefined`` for a state that cannot be read."""

    notstarted = "notstarted"
    started = "started"
    finishedSuccessfully = "finishedSuccessfully"
    finishedWithError = "finishedWithError"
    undefined = "undefined"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.finishedSuccessfully, JobStatus.finishedWithError)


@dataclass(frozen=True)
class Resources:
    """Compute resources, as Kubernetes quantity strings (validated by the request parsers)."""

    number_of_workers: int = 1
    cpu_limit: str = "1000m"
    """CPU limit, e.g. ``"1000m"`` or ``"2"``."""
    memory_limit: str = "1024Mi"
    """Memory limit, e.g. ``"200Mi"``."""
    gpu_limit: int = 0
    """Number of ``nvidia.com/gpu``; 0 means none."""


@dataclass(frozen=True)
class JobSpec:
    """What to run, independent of where it runs."""

    jid: str
    """The job id; also the Swift container (the pfioh key) holding ``input/`` and ``output/``."""
    image: str
    """The image processor's container image (ignored by the local engine)."""
    command: tuple[str, ...]
    """argv of the processor; its last two tokens are normally the incoming and outgoing dirs."""
    resources: Resources = field(default_factory=Resources)
    env: Mapping[str, str] = field(default_factory=dict)
    incoming_dir: str = "/share/incoming"
    outgoing_dir: str = "/share/outgoing"
    auid: str = ""
    """The ChRIS user the job runs for (informational)."""


@dataclass(frozen=True)
class JobInfo:
    """A job's state as read from its engine (or from the persisted result once the engine forgot)."""

    jid: str
    image: str
    cmd: str
    status: JobStatus
    message: str = ""
    """Short human-readable state, e.g. ``"running"`` or ``"OOMKilled"``."""
    reason: str = ""
    """Machine-readable reason for a failure: ImagePullError, OOMKilled, DeadlineExceeded,
    ProcessorError, PublisherError, Cancelled..."""
    exit_code: int | None = None
    """The processor's exit code once it has terminated."""
    timestamp: str = ""
    """When this job was submitted (ISO 8601, UTC)."""
    started_at: str | None = None
    finished_at: str | None = None


DATA_DELETED, DATA_KEPT, DATA_NONE = "deleted", "kept", "none"


@dataclass(frozen=True)
class Removal:
    """What a delete did with the job's stored data (its Swift container, or its mount-mode
    ``key-<jid>`` directory): ``deleted``; ``none`` (nothing was stored); ``kept`` (the
    ``keep_data_on_delete`` setting, or pman cannot delete it now: ``detail`` says why)."""

    data: str = DATA_NONE
    detail: str = ""


class EngineError(Exception):
    """An engine operation failed; ``status_code`` is the HTTP status the API should answer."""

    status_code = 503

    def __init__(self, message: str, status_code: int | None = None):
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code


class JobNotFound(EngineError):
    status_code = 404


class JobExists(EngineError):
    status_code = 409


class SettingError(ValueError):
    """An engine setting is invalid.  ``field`` names it, so the service configuration can name the
    flag and the environment variable it came from."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field, self.problem = field, problem


def require(ok: bool, field: str, problem: str) -> None:
    """:raises SettingError: unless ``ok``."""
    if not ok:
        raise SettingError(field, problem)


class Engine(ABC):
    """A compute engine: one module each (local, kubernetes, openshift)."""

    name: str = "abstract"

    @abstractmethod
    def submit(self, spec: JobSpec) -> JobInfo:
        """Schedule a job.  :raises JobExists: if ``spec.jid`` is already known."""

    @abstractmethod
    def info(self, jid: str) -> JobInfo:
        """The job's current state.  :raises JobNotFound: for an unknown jid."""

    @abstractmethod
    def logs(self, jid: str, tail: int | None = None) -> dict[str, str]:
        """Logs per step/container, e.g. ``{"init": ..., "processor": ..., "publish": ...}``."""

    @abstractmethod
    def remove(self, jid: str) -> Removal:
        """Cancel the job if it is running (every process of it stopped), delete its stored data
        unless the engine's ``keep_data_on_delete`` is set, and forget it.

        :raises JobNotFound:
        :raises EngineError: the data could not be deleted; the job stays known (cancelled), so
            that the delete can be repeated.
        """

    def ready(self) -> str | None:
        """A cheap check that the engine's dependencies work (``GET /api/v1/ready``, cached by
        the caller): None when ready, else what is wrong, in a phrase safe to show anyone."""
        return None

    def close(self) -> None:  # noqa: B027 -- optional: most engines hold nothing to release
        """Release resources (threads, connections) at shutdown."""
