"""Settings of the local engine: one frozen dataclass, validated once at startup.

:class:`pman.config.PmanConfig` composes it from flags and environment; the engine never sees the
rest of the service configuration.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pman.engines import base
from pman.engines.local import privileges

LAYOUTS = ("tree", "archive")
# ``--local-job-user self``: jobs run as pman's own user, even when pman is root (the explicit opt-out).
SELF = "self"
# The job user of a root pman that names none: an unprivileged user every Linux host has.
DEFAULT_JOB_USER = "nobody"


@dataclass(frozen=True)
class LocalSettings:
    """What the local engine needs to know."""

    workdir: str = ""
    """Per-job work dirs ``<workdir>/jobs/<jid>/`` and the SQLite job table ``<workdir>/pman.sqlite``."""
    store_base: str = "/tmp"
    """Without Swift: the mount-mode store shared with pfioh (``<store_base>/key-<jid>/incoming|outgoing``)."""
    swift_storage: bool = False
    """Fetch input from / publish output to Swift (container = jid) with the publisher."""
    swift_credentials: str | None = None
    """Swift credentials file; None lets swiftstore search ($SWIFT_CREDENTIALS, OS_*/ST_*, /etc/swift)."""
    swift_layout: str = "tree"
    """With Swift: ``tree`` (objects + manifest, pfioh's default) or ``archive`` (``input/data`` zips)."""
    compress: bool = True
    """With Swift: the publisher stores outputs compressed where that pays (its ``put --compress``)."""
    keep_data_on_delete: bool = False
    """A delete leaves the job's stored data (its Swift container or ``key-<jid>`` directory),
    for the retention policy or pfioh's rmtree; by default it is deleted with the job."""
    max_jobs: int = 4
    """Jobs running at once; more wait in the queue as ``notstarted``."""
    publisher_cli: str = ""
    """The ``pman-swift-publisher`` executable."""
    log_tail_bytes: int = 65536
    """Largest log excerpt per step in a status reply (the end of the log is kept)."""
    job_user: str = ""
    """Run jobs as this user (name or uid; pman must be root), so that they cannot read or change
    pman's state, secrets and processes.  Empty: :data:`DEFAULT_JOB_USER` when pman runs as root,
    else pman's own user (the only one it can use); :data:`SELF`: pman's own user, root included."""
    protected_files: tuple[str, ...] = ()
    """Files of pman's that a job user must not be able to read (the token file); checked at startup."""

    @property
    def jobs_dir(self) -> Path:
        return Path(self.workdir) / "jobs"

    @property
    def default_credentials(self) -> str:
        """The credentials file the publisher reads when neither the flag nor the environment names one."""
        from swiftstore import credentials  # (keystoneauth1 is imported only with the local engine running)
        return credentials.DEFAULT_PATH

    @property
    def db_path(self) -> Path:
        return Path(self.workdir) / "pman.sqlite"

    def validate(self) -> "LocalSettings":
        """:raises base.SettingError: naming the first bad field."""
        for name in ("max_jobs", "log_tail_bytes"):
            value = getattr(self, name)
            base.require(value > 0, name, f"must be positive, not {value}")
        base.require(self.swift_layout in LAYOUTS, "swift_layout",
                     f"must be one of {', '.join(LAYOUTS)}, not {self.swift_layout!r}")
        base.require(bool(self.workdir), "workdir", "must not be empty")
        base.require(bool(self.store_base), "store_base", "must not be empty")
        given = self.job_user.strip()
        try:
            self.resolved_job_user()
        except ValueError as e:
            fix = "" if given else f" (the default job user of a root pman): give --local-job-user USER, or {SELF}"
            base.require(False, "job_user", f"{e}{fix}")
        if given and given != SELF:
            base.require(os.geteuid() == 0, "job_user",
                         f"needs pman to run as root (it runs as uid {os.geteuid()}), to start jobs as another "
                         f"user; leave it unset (or {SELF!r}) to run them as pman's own user")
        return self

    def job_user_name(self) -> str:
        """The user jobs run as: a name or uid, or '' for pman's own user (see :attr:`job_user`)."""
        given = self.job_user.strip()
        if given == SELF:
            return ""
        return given or (DEFAULT_JOB_USER if os.geteuid() == 0 else "")

    def resolved_job_user(self) -> privileges.JobUser | None:
        """The job user, or None for pman's own user.  :raises ValueError: an unknown user, or root."""
        name = self.job_user_name()
        return privileges.resolve_user(name) if name else None
