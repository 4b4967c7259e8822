"""Where pushed data goes and pulled data comes from.

- :mod:`pfioh.stores.base`: the :class:`Store` interface and what every store shares (uploads,
  streamed pulls, per-key locks, the staging area);
- :mod:`pfioh.stores.mount`: mount mode, ``<storeBase>/key-<key>/`` on a shared file system;
- :mod:`pfioh.stores.swift`: Swift mode, through :mod:`swiftstore` (imported only in Swift mode).

The implementations import the base, never each other; only :func:`make_store` knows both.
"""
from __future__ import annotations

import sys

from pfioh.config import PfiohConfig
from pfioh.stores.base import Pull, Store, Upload, clip, sweep_staging

__all__ = ["Pull", "Store", "Upload", "clip", "make_store", "sweep_staging"]


def make_store(config: PfiohConfig) -> Store:
    """The store the configuration asks for (Swift imports happen only in Swift mode)."""
    if config.swift_storage:
        import_swiftclient_alone()
        from pfioh.stores import swift
        return swift.from_config(config)
    from pfioh.stores import mount
    return mount.MountDirStore(config)


def import_swiftclient_alone() -> None:
    """Import python-swiftclient without the python-keystoneclient it imports when installed.

    ``swiftclient.client`` imports keystoneclient, and with it oslo.config, oslo.utils, oslo.i18n,
    stevedore and more, whenever it is installed, for swiftclient's own Keystone authentication
    (``auth_version`` 2 or 3), which pfioh never uses: swiftstore authenticates to Keystone
    through a keystoneauth1 session and hands swiftclient the session (swiftstore.credentials).
    The pfioh image does not install keystoneclient; a development environment does (Swift's
    keystonemiddleware needs it), where it cost each Swift-mode worker about 9 MB of RSS.
    swiftclient is then exactly what it is in the image.  keystoneclient is hidden only while
    swiftclient is imported, and only if neither is imported yet: later imports of it work.
    """
    if "swiftclient" in sys.modules or "keystoneclient" in sys.modules:
        return
    sys.modules["keystoneclient"] = None  # type: ignore[assignment]  # "import keystoneclient" fails
    try:
        import swiftclient.client  # noqa: F401
    finally:
        del sys.modules["keystoneclient"]
