"""Mount mode: data lives in ``<storeBase>/key-<key>/`` on a shared file system.

With ``specialHandling.op == "plugin"`` a push lands in ``<keydir>/incoming`` (with a fresh,
empty ``<keydir>/outgoing`` for the job) and a pull serves ``<keydir>/outgoing``.

Links are never followed: a symbolic link at ``key-<key>`` (or at its ``outgoing``) is refused
with 409, whoever planted it; a pull opens the directory with ``O_NOFOLLOW`` and lists and reads
through it, every subdirectory and file opened relative to its open parent with ``O_NOFOLLOW``
(:mod:`safearchive.dirfd`), so no link swapped in during the pull is followed.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

from pfioh import errors, ziputil
from pfioh.stores import base
from safearchive import staging
from safearchive.entries import NAME_MAX


class MountDirStore(base.Store):
    kind = "mount"

    def key_dir(self, key: str) -> Path:
        """``<storeBase>/key-<key>``.  :raises errors.BadRequest: the name would exceed NAME_MAX."""
        name = f"key-{key}"
        if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX:
            raise errors.BadRequest(f"invalid key {base.clip(key, 60)}: in mount mode a key is at most "
                                    f"{NAME_MAX - len('key-')} bytes (its directory 'key-<key>' must fit "
                                    f"in {NAME_MAX} bytes)")
        return Path(self.config.store_base) / name

    def check(self, key: str, *, create: bool) -> dict:
        path = self.key_dir(key)
        _refuse_link(path)
        created = False
        if create and not os.path.lexists(path):
            try:
                path.mkdir(parents=True)
                created = True
            except FileExistsError:
                pass
            except OSError as e:
                raise errors.StorageError(f"cannot create {path}: {e.strerror}") from e
        kind = _kind(path)
        return {"status": True, "isfile": kind == stat.S_IFREG, "isswiftstore": False,
                "isdir": kind == stat.S_IFDIR and not created, "createdNewDir": created}

    def push(self, key: str, upload: base.Upload, *, plugin: bool) -> dict:
        keydir = self.key_dir(key)
        _refuse_link(keydir)
        with self.workdir() as work:
            tree, extracted = self.stage_tree(upload, work)
            with self.locks.hold(key):
                _refuse_link(keydir)
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
        try:
            keydir.mkdir(parents=True)
        except FileExistsError:
            pass
        _chmod_shared_dir(keydir)
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
        lock = self.locks.acquire(key, shared=True)
        dir_fd = None
        try:
            dir_fd = _open_dir(keydir, "outgoing" if plugin else None)
            if dir_fd is None:
                raise errors.NotFound(f"nothing stored for key {base.clip(key)}"
                                      + (" (no outgoing directory)" if plugin else ""))
            # Listed up front (one stat per file, no file opened yet) to announce the total; listed
            # and read through the open directory and its subdirectories' descriptors, so swapping
            # key-<key>, or any directory below it, for a link now changes nothing.
            entries = list(ziputil.dir_entries(dir_fd))
            length = ziputil.zip_length(entries)  # of the sizes listed: a file changed since ends the transfer
        except BaseException:
            if dir_fd is not None:
                os.close(dir_fd)
            self.locks.release(lock, key)
            raise

        def on_close(finished: bool) -> None:
            os.close(dir_fd)
            self.locks.release(lock, key)
            if finished and cleanup:
                with self.locks.hold(key):
                    _refuse_link(keydir)
                    shutil.rmtree(keydir, ignore_errors=True)

        return base.Pull(ziputil.stream_zip(entries, length=length), length=length, on_close=on_close)

    def delete(self, key: str) -> None:
        """Move the key's directory aside under its lock (so no transfer sees half of it), then
        remove it; a link there is refused, never followed."""
        keydir = self.key_dir(key)
        with self.locks.hold(key):
            _refuse_link(keydir)
            trash = staging.move_aside(keydir, self.staging)  # (pman's delete of a job does the same)
            if trash is None:
                raise errors.NotFound(f"nothing stored for key {base.clip(key)}")
        shutil.rmtree(trash, ignore_errors=True)

    def ls(self, key: str) -> dict:
        path = self.key_dir(key)
        _refuse_link(path)
        if _kind(path) != stat.S_IFDIR:
            raise errors.NotFound(f"nothing stored for key {base.clip(key)}")
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
    os.chmod(path, base.SHARED_MODE)  # our own staging directories only


def _chmod_shared_dir(path: Path) -> None:
    """chmod the directory ``path`` itself, never what a link there points to."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as e:
        _refuse_link(path)
        raise errors.StorageError(f"cannot open {path}: {e.strerror}") from e
    try:
        os.fchmod(fd, base.SHARED_MODE)
    finally:
        os.close(fd)


def _kind(path: Path) -> int | None:
    """The file type of ``path`` itself (a link is a link), or None if nothing is there."""
    try:
        return stat.S_IFMT(os.lstat(path).st_mode)
    except FileNotFoundError:
        return None


def _refuse_link(path: Path) -> None:
    """:raises errors.LinkRefused: ``path`` is a symbolic link (never followed in the store)."""
    if _kind(path) == stat.S_IFLNK:
        raise errors.LinkRefused(f"{path} is a symbolic link: pfioh never follows links in its store "
                                 "(remove it, or use a private --storeBase)")


def _open_dir(keydir: Path, sub: str | None) -> int | None:
    """An fd of ``keydir`` (or its ``sub`` directory), opened without following links.

    :returns: None if it does not exist.  :raises errors.LinkRefused: a link is in the way.
    """
    try:
        fd = os.open(keydir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as e:  # ELOOP: a link; ENOTDIR: a file
        _refuse_link(keydir)
        if e.errno == errno.ENOTDIR:
            return None
        raise errors.StorageError(f"cannot open {keydir}: {e.strerror}") from e
    if sub is None:
        return fd
    try:
        return os.open(sub, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    except FileNotFoundError:
        return None
    except OSError as e:
        _refuse_link(keydir / sub)
        if e.errno == errno.ENOTDIR:
            return None
        raise errors.StorageError(f"cannot open {keydir / sub}: {e.strerror}") from e
    finally:
        os.close(fd)


def _swap_in(new: Path, dest: Path, trash: Path) -> None:
    """Replace ``dest`` by ``new`` with renames (same file system); the old one goes to ``trash``
    (in the request's work directory, removed after the key's lock is released).

    Readers see the old tree or the new one, never a mix.  The caller holds the key's lock.
    """
    try:
        staging.commit(new, dest, trash=trash)
    except OSError as e:
        raise errors.StorageError(f"cannot move the upload into {dest}: {e.strerror}") from e
