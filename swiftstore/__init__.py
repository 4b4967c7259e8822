"""swiftstore: directory trees, files and JSON in OpenStack Swift, verified and all-or-nothing.

Public API (see docs and :mod:`swiftstore.store`)::

    creds = swiftstore.load_credentials(path=None)
    store = swiftstore.SwiftStore.from_credentials(creds, threads=8)
    store.put_tree(key, "input/", "/share/incoming")      # objects + manifest written last
    store.get_tree(key, "output/", "/tmp/out")            # refuses an incomplete prefix

Logging goes to ``logging.getLogger("swiftstore")``; errors are :mod:`swiftstore.errors`.
"""
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
