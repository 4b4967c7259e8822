"""Who a job runs as, what it inherits, and what it may touch.

- **Environments.**  pman's environment may hold secrets (``ST_KEY``, ``OS_PASSWORD``, proxies with
  passwords...).  A runner gets only :data:`RUNNER_ENV` names in its environment (which a process
  of the same user can read in ``/proc/<pid>/environ``); pman's whole environment reaches it through
  a pipe on stdin and only goes to the publisher.  A job gets :func:`job_env`: an explicit list.
- **The job user.**  When pman runs as root it runs jobs as another user (``nobody`` unless
  ``--local-job-user`` names one, or ``self``): pman's state (job table, logs) is then root's, mode
  0600/0700, and each job's ``incoming``, ``outgoing`` and ``tmp`` are handed to the job user for
  the run step only.
"""
from __future__ import annotations

import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

# What a runner needs to start Python and import pman; nothing secret.
RUNNER_ENV = ("PATH", "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE", "LANG", "LANGUAGE", "TZ")
# What a job inherits from pman's environment (plus LC_*); everything else it gets is set by us.
JOB_ENV = ("PATH", "LANG", "LANGUAGE", "TZ")


def _passthrough(environ: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    env = {name: environ[name] for name in names if name in environ}
    env.update({k: v for k, v in environ.items() if k.startswith("LC_")})
    return env


def runner_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of a runner process: :data:`RUNNER_ENV` and ``LC_*`` from ``environ``."""
    return _passthrough(environ, RUNNER_ENV)


def job_env(environ: Mapping[str, str], job_dir: Path, resources: Mapping, spec_env: Mapping[str, str],
            user: "JobUser | None" = None) -> dict[str, str]:
    """A job's environment, explicitly: ``PATH``, ``LANG``, ``LANGUAGE``, ``TZ`` and ``LC_*`` from
    ``environ``; ``HOME`` and ``TMPDIR`` = ``<job_dir>/tmp``; ``USER``/``LOGNAME`` when run as a job
    user; the original's resource variables; then the job's own ``env`` (which wins)."""
    env = _passthrough(environ, JOB_ENV)
    env.setdefault("PATH", os.defpath)
    env["HOME"] = env["TMPDIR"] = str(job_dir / "tmp")
    if user is not None:
        env["USER"] = env["LOGNAME"] = user.name
    env.update(NUMBER_OF_WORKERS=str(resources.get("number_of_workers", 1)),
               CPU_LIMIT=str(resources.get("cpu_limit", "")), MEMORY_LIMIT=str(resources.get("memory_limit", "")),
               GPU_LIMIT=str(resources.get("gpu_limit", 0)))
    env.update(spec_env)
    return env


@dataclass(frozen=True)
class JobUser:
    """The user jobs run as (no supplementary groups)."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...] = ()

    def as_plan(self) -> dict:
        return {"name": self.name, "uid": self.uid, "gid": self.gid}

    @classmethod
    def from_plan(cls, data: Mapping | None) -> "JobUser | None":
        return cls(data["name"], int(data["uid"]), int(data["gid"])) if data else None


def resolve_user(spec: str) -> JobUser:
    """A user name or a numeric uid (its primary group, or the same number as gid when it has no entry).

    :raises ValueError: unknown name, or root.
    """
    spec = spec.strip()
    try:
        entry = pwd.getpwuid(int(spec)) if spec.isdigit() else pwd.getpwnam(spec)
        user = JobUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
    except KeyError:
        if not spec.isdigit():
            raise ValueError(f"no user {spec!r} on this host") from None
        user = JobUser(spec, int(spec), int(spec))
    if user.uid == 0 or user.gid == 0:
        raise ValueError(f"{spec!r} is root (uid/gid 0): jobs would not be separated from pman")
    return user


# ---------------------------------------------------------------- files

def private_file(path: Path) -> None:
    """Create ``path`` if needed; make it 0600 if it is ours (SQLite gives its -wal/-shm the same mode)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        st = os.fstat(fd)
        if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o700)
    finally:
        os.close(fd)


def private_dir(path: Path, mode: int = 0o700) -> None:
    """Create ``path`` (and parents, with the default mode) and give it ``mode``."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)


def unlistable(path: Path) -> None:
    """Take read from group and others on the directory ``path`` (search stays), if it is ours and
    private otherwise: a shared one (``/tmp``, group/other-writable) is left alone, and refused
    later by :func:`exposed_to`'s check."""
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022 and st.st_mode & 0o044:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o044)


def is_private_dir(path: Path) -> bool:
    """Is ``path`` a directory (not a link) of ours that no one else may write to?"""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def chown_tree(top: Path, uid: int, gid: int) -> None:
    """Give ``top`` and everything under it to ``uid:gid``, never following a link, top down.

    Taking a tree back (to pman's uid) top down locks the job user out of each directory before its
    entries are listed; group/other write bits are removed from directories on the way.
    """
    os.lchown(top, uid, gid)
    st = os.lstat(top)
    if not stat.S_ISDIR(st.st_mode):
        return
    os.chmod(top, stat.S_IMODE(st.st_mode) & ~0o022 | 0o700)
    with os.scandir(top) as entries:  # closed if a chown raises
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                chown_tree(Path(entry.path), uid, gid)
            else:
                os.lchown(entry.path, uid, gid)


def exposed_to(user: JobUser, paths: Iterable[str], *, writable_only: Iterable[str] = ()) -> list[str]:
    """The ``paths`` that ``user`` could read or write, and those of ``writable_only`` it could write,
    asked of the kernel by a shell running as that user (so ACLs and every parent directory count)."""
    script = ('for p in "$@"; do case "$p" in w:*) test -w "${p#w:}" && echo "${p#w:}";; '
              '*) { test -r "$p" || test -w "$p"; } && echo "$p";; esac; done; true')
    args = [p for p in paths if p] + [f"w:{p}" for p in writable_only if p]
    done = subprocess.run(["/bin/sh", "-c", script, "sh", *args], capture_output=True, text=True, timeout=30,
                          user=user.uid, group=user.gid, extra_groups=[], env={"PATH": os.defpath}, cwd="/")
    return [line for line in done.stdout.splitlines() if line]


def can_run(user: JobUser, executable: str, *readable: str) -> bool:
    """Can ``user`` execute ``executable`` and read the ``readable`` files (a script, say)?"""
    done = subprocess.run(["/bin/sh", "-c", 'test -x "$1" || exit 1; shift; for f; do test -r "$f" || exit 1; done',
                           "sh", executable, *readable], capture_output=True, timeout=30,
                          user=user.uid, group=user.gid, extra_groups=[], env={"PATH": os.defpath}, cwd="/")
    return done.returncode == 0


def reachable_by(user: JobUser, directory: Path) -> bool:
    """Can ``user`` enter ``directory`` (search permission on it and every parent)?"""
    done = subprocess.run(["/bin/sh", "-c", 'cd "$1"', "sh", str(directory)], capture_output=True, timeout=30,
                          user=user.uid, group=user.gid, extra_groups=[], env={"PATH": os.defpath}, cwd="/")
    return done.returncode == 0
