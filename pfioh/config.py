"""The pfioh configuration: one frozen dataclass, built once from flags and environment."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

GiB = 1 << 30
DEFAULT_TOKEN_PATH = "/etc/pfioh/auth/pfioh_config.cfg"
LAYOUTS = ("tree", "archive")


def default_store_base() -> str:
    """``$XDG_DATA_HOME/pfioh`` (``~/.local/share/pfioh``): private to the user, unlike ``/tmp``,
    where anyone could plant a link at ``key-<key>``.  Made mode 0700 at startup."""
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "pfioh")


class ConfigError(ValueError):
    """A setting is invalid; the message names the flag."""


@dataclass(frozen=True)
class PfiohConfig:
    """Everything pfioh needs to know at startup."""

    host: str = "0.0.0.0"
    """Address to listen on."""
    port: int = 5055
    """TCP port (the original's)."""
    store_base: str = "/tmp"
    """Mount mode: data lives in ``<store_base>/key-<key>/``.  Also holds the staging area.
    (The command's default is a private directory, :func:`default_store_base`.)"""
    forever: bool = True
    """Serve until stopped.  False: exit after the first ``/api/v1/cmd`` request (the original's one-shot)."""
    create_dirs: bool = False
    """``--createDirsAsNeeded``: the checkRemote GET creates the key directory (mount mode)."""
    swift_storage: bool = False
    """Store in Swift (container = key) instead of the mount directory."""
    swift_credentials: str | None = None
    """Credentials file for Swift; None lets :func:`swiftstore.load_credentials` search."""
    swift_layout: str = "tree"
    """``tree``: one object per file under ``input/``/``output/`` + manifest; ``archive``: ``input/data`` zips."""
    token_auth: bool = False
    """Require ``Authorization: bearer <token>`` on the command endpoint."""
    token_path: str = DEFAULT_TOKEN_PATH
    """File with the ``[AUTH TOKENS]`` section."""
    workers: int = 1
    """gunicorn worker processes."""
    threads: int = 8
    """Threads per worker (concurrent requests per worker)."""
    max_upload_size: int = 20 * GiB
    """Largest accepted request body, in bytes."""
    max_unpacked_size: int = 50 * GiB
    """Largest total uncompressed size of an uploaded zip, in bytes."""
    max_ratio: float = 200.0
    """Largest compression ratio of an uploaded zip (zip-bomb guard)."""
    max_files: int = 100_000
    """Most entries (files and directories) in one uploaded zip: the tree layout stores them at
    some tens to hundreds of objects per second, so this bounds one push's time."""
    max_dirs: int = 10_000
    """Most directories one uploaded zip may make (each costs a disk block while declaring no
    data: 10 000 is about 40 MB of staging)."""
    retention_days: float | None = None
    """Swift mode: pushed input expires this many days after the push (Swift's ``X-Delete-At``,
    carried out by its object expirer); None keeps it until deleted (the ``rmtree`` action)."""
    lock_timeout: float = 60.0
    """Seconds a request waits for another transfer of the same key (e.g. a stalled pull) before
    it is refused with 409."""
    staging_instance: str | None = None
    """This server's own staging directory under ``.pfioh-staging`` (claimed at startup, see
    :mod:`pfioh.instance`); None: the store claims one when it is created."""
    verbosity: int = 0
    """0: warnings, 1: info, 2+: debug and access log."""

    @property
    def staging_root(self) -> Path:
        """Temp files live next to the data (same file system, so renames are atomic).  Shared
        by every pfioh on this storeBase: the per-key locks, and one directory per instance."""
        return Path(self.store_base) / ".pfioh-staging"

    @property
    def staging_dir(self) -> Path:
        """This instance's own part of the staging area (the root until one is claimed)."""
        return self.staging_root / self.staging_instance if self.staging_instance else self.staging_root

    def key_dir(self, key: str) -> str:
        """The original's ``key2address``: ``<storeBase>/key-<key>/``."""
        return os.path.join(self.store_base, f"key-{key}") + "/"

    def validate(self) -> "PfiohConfig":
        """Check the values, naming the offending flag.

        :raises ConfigError: on the first invalid setting.
        """
        if not 0 < self.port < 65536:
            raise ConfigError(f"--port must be 1..65535, not {self.port}")
        if self.swift_layout not in LAYOUTS:
            raise ConfigError(f"--swift-layout must be one of {', '.join(LAYOUTS)}, not {self.swift_layout!r}")
        for flag, value in (("--workers", self.workers), ("--threads", self.threads),
                            ("--max-upload-size", self.max_upload_size),
                            ("--max-unpacked-size", self.max_unpacked_size), ("--max-ratio", self.max_ratio),
                            ("--max-files", self.max_files), ("--max-dirs", self.max_dirs),
                            ("--lock-timeout", self.lock_timeout),
                            ("--retention-days", 1 if self.retention_days is None else self.retention_days)):
            if value <= 0:
                raise ConfigError(f"{flag} must be positive, not {value}")
        if not self.store_base:
            raise ConfigError("--storeBase must not be empty")
        return self
