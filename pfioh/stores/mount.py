"""Mount mode: data lives in ``<storeBase>/key-<key>/`` on a shared file system.

With ``specialHandling.op == "plugin"`` a push lands in ``<keydir>/incoming`` (with a fresh,
empty ``<keydir>/outgoing`` for the job) and a pull serves ``<keydir>/outgoing``.
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from pfioh import errors, ziputil
from pfioh.stores import base
from safearchive import staging


class MountDirStore(base.Store):
    kind = "mount"

    def key_dir(self, key: str) -> Path:
        return Path(self.config.store_base) / f"key-{key}"

    def check(self, key: str, *, create: bool) -> dict:
        path = self.key_dir(key)
        created = False
        if create and not path.exists():
            try:
                path.mkdir(parents=True)
                created = True
            except FileExistsError:
                pass
            except OSError as e:
                raise errors.StorageError(f"cannot create {path}: {e.strerror}") from e
        return {"status": True, "isfile": path.is_file(), "isswiftstore": False,
                "isdir": path.is_dir() and not created, "createdNewDir": created}

    def push(self, key: str, upload: base.Upload, *, plugin: bool) -> dict:
        keydir = self.key_dir(key)
        with self.workdir() as work:
            tree, extracted = self.stage_tree(upload, work)
            with self.locks.hold(key):
                if plugin:
                    postop = self._commit_plugin(keydir, tree, work)
                else:
                    _swap_in(tree, keydir, work / "old")
                    postop = {"status": False, "timestamp": base.timestamp()}
        location = self.config.key_dir(key)
        return {"write": {"file": location, "status": True, "msg": "File written successfully!",
                          "timestamp": base.timestamp()},
                "status": True, "msg": "File written successfully!", "postop": postop,
                "stored": {"files": extracted.files, "bytes": extracted.bytes}}

    def _commit_plugin(self, keydir: Path, tree: Path, work: Path) -> dict:
        keydir.mkdir(parents=True, exist_ok=True)
        _chmod_shared(keydir)
        outgoing = work / "outgoing"
        outgoing.mkdir()
        for path in (tree, outgoing):
            _chmod_shared(path)
        _swap_in(tree, keydir / "incoming", work / "old-incoming")
        _swap_in(outgoing, keydir / "outgoing", work / "old-outgoing")
        share = self.config.key_dir(keydir.name[len("key-"):])
        return {"op": "plugin", "shareDir": share, "tmpPath": str(work),
                "incomingPath": os.path.join(share, "incoming"), "outgoingPath": os.path.join(share, "outgoing"),
                "status": True, "timestamp": base.timestamp()}

    def pull(self, key: str, *, plugin: bool, cleanup: bool) -> base.Pull:
        keydir = self.key_dir(key)
        source = keydir / "outgoing" if plugin else keydir
        fd = self.locks.acquire(key, shared=True)
        try:
            if not source.is_dir():
                raise errors.NotFound(f"nothing stored for key {key!r}" + (" (no outgoing directory)" if plugin else ""))
            # Listed up front (one stat per file, no file opened yet) to announce the total.
            entries = list(ziputil.dir_entries(source))
        except BaseException:
            self.locks.release(fd)
            raise

        def on_close(finished: bool) -> None:
            self.locks.release(fd)
            if finished and cleanup:
                with self.locks.hold(key):
                    shutil.rmtree(keydir, ignore_errors=True)

        return base.Pull(ziputil.stream_zip(entries), unpacked_bytes=sum(e[1] for e in entries),
                         on_close=on_close)

    def ls(self, key: str) -> dict:
        path = self.key_dir(key)
        if not path.is_dir():
            raise errors.NotFound(f"nothing stored for key {key!r}")
        d_ls = {}
        with os.scandir(path) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                kind = "dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
                d_ls[entry.name] = {"type": kind, "path": os.path.join(self.config.key_dir(key), entry.name),
                                    "uid": st.st_uid, "gid": st.st_gid, "size": st.st_size,
                                    "mtime": st.st_mtime, "ctime": st.st_ctime, "atime": st.st_atime}
        return {"status": True, "msg": f"Successful scandir on {self.config.key_dir(key)}", "d_ls": d_ls}


def _chmod_shared(path: Path) -> None:
    os.chmod(path, base.SHARED_MODE)


def _swap_in(new: Path, dest: Path, trash: Path) -> None:
    """Replace ``dest`` by ``new`` with renames (same file system); the old one goes to ``trash``
    (in the request's work directory, removed after the key's lock is released).

    Readers see the old tree or the new one, never a mix.  The caller holds the key's lock.
    """
    try:
        staging.commit(new, dest, trash=trash)
    except OSError as e:
        raise errors.StorageError(f"cannot move the upload into {dest}: {e.strerror}") from e
