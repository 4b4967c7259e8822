"""swiftstore: directory trees, files and JSON in OpenStack Swift, verified and all-or-nothing.

Public API (see docs and :mod:`swiftstore.store`)::

    creds = swiftstore.load_credentials(path=None)
    store = swiftstore.SwiftStore.from_credentials(creds, threads=8)
    store.put_tree(key, "input/", "/share/incoming")      # objects + manifest written last
    store.get_tree(key, "output/", "/tmp/out")            # refuses an incomplete prefix

Logging goes to ``logging.getLogger("swiftstore")``; errors are :mod:`swiftstore.errors`.

The names above, and the submodules, are imported on first use (PEP 562), not by ``import
swiftstore``: :mod:`swiftstore.version` and :mod:`swiftstore.errors` are imported by processes
that never talk to Swift (pfioh's gunicorn master, pfioh in mount mode), and importing
:mod:`swiftstore.store` loads python-swiftclient and requests: about 20 MB of RSS per process
(32 MB where python-keystoneclient is installed, which swiftclient then imports with oslo.*).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the lazy names are, for type checkers and readers
    from swiftstore import errors
    from swiftstore.archive import Extracted, Limits as ArchiveLimits
    from swiftstore.credentials import SwiftCredentials, load_credentials
    from swiftstore.manifest import Manifest, ManifestEntry
    from swiftstore.names import is_internal, validate_container_name
    from swiftstore.store import SwiftStore
    from swiftstore.transfer import ObjectInfo

__all__ = [
    "errors", "load_credentials", "SwiftCredentials", "SwiftStore", "Manifest", "ManifestEntry",
    "ObjectInfo", "validate_container_name", "is_internal", "ArchiveLimits", "Extracted",
]
# public name -> (submodule, its name there)
_LAZY = {
    "load_credentials": ("credentials", "load_credentials"), "SwiftCredentials": ("credentials", "SwiftCredentials"),
    "SwiftStore": ("store", "SwiftStore"), "Manifest": ("manifest", "Manifest"),
    "ManifestEntry": ("manifest", "ManifestEntry"), "ObjectInfo": ("transfer", "ObjectInfo"),
    "validate_container_name": ("names", "validate_container_name"), "is_internal": ("names", "is_internal"),
    "ArchiveLimits": ("archive", "Limits"), "Extracted": ("archive", "Extracted"),
}


def __getattr__(name: str) -> object:
    """A public name, or a submodule (``swiftstore.errors`` after a bare ``import swiftstore``)."""
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value  # once: later lookups do not come here
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")  # also sets the package's attribute
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise  # a submodule that exists but whose own import failed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
