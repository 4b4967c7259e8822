"""Every process a job starts dies with the job: on its end, on delete, and when its runner dies.

A process group is not enough (``setsid`` leaves it), so each step's process runs under a
*supervisor*, a fork of the runner that:

- is a child subreaper (``PR_SET_CHILD_SUBREAPER``): every orphaned descendant of the step, however
  it detached (``setsid``, double fork, daemonizing), is re-parented to it, so "my descendants" is
  exactly "what the step started";
- gets SIGTERM when the runner dies (``PR_SET_PDEATHSIG``), even when the runner is SIGKILLed, and
  on SIGTERM kills all its descendants and reaps them before it exits;
- starts the step's process with ``PR_SET_PDEATHSIG=SIGKILL``, in its own session, so that the
  process dies even if the supervisor itself is SIGKILLed;
- when the step's process exits, kills whatever it left running, so no process of the job outlives
  its step (nothing of the processor runs while its output is published).

The supervisor runs as the runner's user (root when jobs run as another user, so a job can neither
signal nor trace it) and is not dumpable.  A supervisor that is itself SIGKILLed cannot clean up:
its step's main process still dies (its parent-death signal) but detached descendants survive.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import traceback
from typing import Mapping

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
TERMINATE = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_current_supervisor: int | None = None


def prctl(option: int, value: int) -> None:
    """:raises OSError: the kernel refused."""
    if _libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}, {value}): {os.strerror(err)}")


def make_undumpable() -> None:
    """No core dumps, and ``/proc/<pid>/{environ,mem,...}`` and ptrace closed to other processes of
    the same user (root, with CAP_SYS_PTRACE, still passes).  Inherited by forks, reset by exec."""
    prctl(PR_SET_DUMPABLE, 0)


def children_map() -> dict[int, list[int]]:
    """ppid -> pids of the live (non-zombie) processes, from one scan of /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[0] not in ("Z", "X", "x"):
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """The live descendants of ``pid`` (breadth first)."""
    tree, found, todo = children_map(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def kill_descendants() -> int:
    """SIGKILL and reap every descendant of this process (a subreaper).  :returns: how many were killed.

    A process forking while we kill leaves an orphan, which is re-parented to us and found in the
    next round; we stop when we have no child at all, which for a subreaper means no descendant.
    """
    killed: set[int] = set()
    while True:
        pids = descendants(os.getpid())
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        killed.update(pids)
        try:
            # block only while something we killed (or a zombie) is still to be reaped
            pid, _ = os.waitpid(-1, 0 if pids else os.WNOHANG)
        except ChildProcessError:
            return len(killed)
        if pid == 0 and not pids:
            continue  # a child that is neither live nor reapable yet: look again


def _exit_code(status: int) -> int:
    """A wait status as a shell would report it: the exit code, or 128+N for a death by signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _job_preexec(supervisor: int) -> None:
    """In the step's process, after its uid change (which would clear it) and before exec."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != supervisor:  # the supervisor died before the line above: do not run unwatched
        os._exit(137)


def _terminate(*_):
    kill_descendants()
    os._exit(143)


def _supervise(argv: list[str], log, env: Mapping[str, str], cwd: str | None, user, runner: int) -> int:
    """The supervisor's body: run ``argv``, wait for it, kill what it left.  :returns: its exit code."""
    os.setpgid(0, 0)  # out of the runner's group: killpg of the runner (even SIGKILL) leaves us to clean up
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    for sig in TERMINATE:
        signal.signal(sig, _terminate)
    if os.getppid() != runner:  # the runner died before PR_SET_PDEATHSIG took effect
        return 143
    ids = {} if user is None else {"user": user.uid, "group": user.gid, "extra_groups": list(user.groups)}
    me = os.getpid()
    try:
        # (preexec_fn is safe here: the supervisor has a single thread)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=dict(env),
                                cwd=cwd, start_new_session=True, close_fds=True, preexec_fn=lambda: _job_preexec(me),
                                **ids)
    except (OSError, subprocess.SubprocessError) as e:
        hint = ""
        if user is not None and isinstance(e, PermissionError):
            hint = (f" (the job runs as the user {user.name}, who must be able to run it: a private parent "
                    f"directory such as /root is not searchable; see --local-job-user)")
        log.write(f"cannot start {argv[0]}: {e}{hint}\n".encode())
        return 127
    code = None
    while code is None:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:  # cannot happen while proc is ours, but never loop for ever
            code = 1
            break
        if pid == proc.pid:
            code = _exit_code(status)
    left = kill_descendants()
    if left:
        log.write(f"[pman] killed {left} process(es) the step left running\n".encode())
    return code


def run_contained(argv: list[str], log_path, *, env: Mapping[str, str], cwd=None, user=None) -> int:
    """Run ``argv`` under a supervisor (see the module doc), stdout+stderr appended to ``log_path``.

    :param user: a :class:`~pman.engines.local.privileges.JobUser` to run ``argv`` as (we must be root).
    :returns: the exit code, 128+N for a death by signal N (of the step's process or of its supervisor).
    """
    global _current_supervisor
    runner = os.getpid()
    with open(log_path, "ab") as log:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _supervise(argv, log, env, str(cwd) if cwd else None, user, runner)
            except BaseException:
                log.write(f"[pman] the step's supervisor failed:\n{traceback.format_exc()}".encode())
            finally:
                log.flush()
                os._exit(code)
        _current_supervisor = pid
        try:
            _, status = os.waitpid(pid, 0)
        finally:
            _current_supervisor = None
    return _exit_code(status)


def stop_current_supervisor() -> None:
    """Called by the runner on SIGTERM: have the running step's supervisor kill everything, wait for it."""
    pid = _current_supervisor
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
