"""Deleting a job's stored data: its key is its jid, and only that key's data is ever touched.

Two places a job's data can be, as pfioh stores it:

- **Swift**: the container named by the jid (``input/`` and ``output/`` versions, their
  manifests, the result object), deleted with :meth:`swiftstore.SwiftStore.delete`, the verb
  pfioh's ``rmtree`` uses: the container and what is in it, nothing in any other container (no
  key's data is ever outside its own container, so ``<jid>_segments`` or ``<jid>x`` are other
  keys', never touched);
- **mount mode**: ``<storeBase>/key-<jid>``, moved aside under the key's lock (the one pfioh's
  transfers and pman's publish take) with :func:`safearchive.staging.move_aside`, as pfioh's
  ``rmtree`` does, then removed; a symbolic link there is refused, never followed.

Each returns a :class:`~pman.engines.base.Removal`, or raises :class:`~pman.engines.base.EngineError`
(503) when the data is there but could not be deleted.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import swiftstore
from pman.engines import base
from safearchive import errors as archive_errors, locks, staging

log = logging.getLogger("pman")
LOCK_TIMEOUT = 60.0
"""Seconds a delete waits for the pulls of the key (in mount mode) to finish."""


def delete_swift(store: swiftstore.SwiftStore, jid: str) -> base.Removal:
    """Delete the container ``<jid>`` and everything in it, and nothing else.

    :raises base.EngineError: 503, Swift failed (the delete can be repeated).
    """
    try:
        store.delete(jid)
    except swiftstore.errors.NotFound:
        return base.Removal(base.DATA_NONE, f"no Swift container {jid}")
    except swiftstore.errors.SwiftStoreError as e:
        raise base.EngineError(f"job {jid!r}: cannot delete its Swift container: {e} (delete it again "
                               "to retry)") from e
    return base.Removal(base.DATA_DELETED, f"Swift container {jid}")


def without_credentials(jid: str, problem: object) -> base.Removal:
    """The data cannot be deleted, pman having no Swift credentials: said, and logged."""
    log.warning("job %s: its Swift container is left to the retention policy: pman has no Swift "
                "credentials (%s)", jid, problem)
    return base.Removal(base.DATA_KEPT, f"pman has no Swift credentials ({problem}): the data is left to the "
                                        "retention policy (or pfioh's rmtree)")


def delete_mount(store_base: str, jid: str) -> base.Removal:
    """Delete ``<store_base>/key-<jid>`` (see the module doc).

    :raises base.EngineError: 409 a symbolic link is there; 503 it cannot be removed or its lock
        not obtained (the delete can be repeated).
    """
    root = Path(store_base)
    keydir = root / f"key-{jid}"
    if not os.path.lexists(keydir):  # (nothing to lock: no lock file made in a store never used)
        return base.Removal(base.DATA_NONE, f"nothing at {keydir}")
    try:
        keylocks = locks.for_store(root, timeout=LOCK_TIMEOUT)
        with keylocks.hold(jid):
            trash = staging.move_aside(keydir, root / locks.STAGING_DIR)
    except archive_errors.DestinationError as e:
        raise base.EngineError(f"job {jid!r}: its data is not deleted: {e}", 409) from e
    except (OSError, locks.LockTimeout) as e:
        raise base.EngineError(f"job {jid!r}: cannot delete {keydir}: {e} (delete it again to retry)") from e
    if trash is None:
        return base.Removal(base.DATA_NONE, f"nothing at {keydir}")
    shutil.rmtree(trash, ignore_errors=True)
    return base.Removal(base.DATA_DELETED, str(keydir))


KEPT = base.Removal(base.DATA_KEPT, "kept on delete (--keep-data-on-delete)")
"""What a delete did with the data when the operator chose to keep it."""
