"""Where pushed data goes and pulled data comes from.

- :mod:`pfioh.stores.base`: the :class:`Store` interface and what every store shares (uploads,
  streamed pulls, per-key locks, the staging area);
- :mod:`pfioh.stores.mount`: mount mode, ``<storeBase>/key-<key>/`` on a shared file system;
- :mod:`pfioh.stores.swift`: Swift mode, through :mod:`swiftstore` (imported only in Swift mode).

The implementations import the base, never each other; only :func:`make_store` knows both.
"""
from __future__ import annotations

from pfioh.config import PfiohConfig
from pfioh.stores.base import Pull, Store, Upload, clip, sweep_staging

__all__ = ["Pull", "Store", "Upload", "clip", "make_store", "sweep_staging"]


def make_store(config: PfiohConfig) -> Store:
    """The store the configuration asks for (Swift imports happen only in Swift mode)."""
    if config.swift_storage:
        from pfioh.stores import swift
        return swift.from_config(config)
    from pfioh.stores import mount
    return mount.MountDirStore(config)
