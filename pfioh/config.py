"""The pfioh configuration: one frozen dataclass, built once from flags and environment."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

GiB = 1 << 30
DEFAULT_TOKEN_PATH = "/etc/pfioh/auth/pfioh_config.cfg"
LAYOUTS = ("tree", "archive")


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
    """Mount mode: data lives in ``<store_base>/key-<key>/``.  Also holds the staging area."""
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
    verbosity: int = 0
    """0: warnings, 1: info, 2+: debug and access log."""

    @property
    def staging_dir(self) -> Path:
        """Temp files live next to the data (same file system, so renames are atomic)."""
        return Path(self.store_base) / ".pfioh-staging"

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
                            ("--max-unpacked-size", self.max_unpacked_size), ("--max-ratio", self.max_ratio)):
            if value <= 0:
                raise ConfigError(f"{flag} must be positive, not {value}")
        if not self.store_base:
            raise ConfigError("--storeBase must not be empty")
        return self
