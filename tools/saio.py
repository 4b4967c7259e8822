#!/usr/bin/env python3
"""A real OpenStack Swift all-in-one on loopback, for development, tests, CI and the quickstart.

Five processes: memcached, and the proxy, account, container and object servers from PyPI ``swift``,
one replica each, with tempauth (user ``test:tester``, key ``testing``).  With ``--replicas N`` (N >= 2)
it is a small replicated cluster instead: N account, N container and N object servers
(``object-1`` .. ``object-N``, and so on), each on its own port with its own device in its own zone,
and rings of N replicas, so one stopped server of any kind leaves a quorum (what durability tests
need: :func:`stop_server`, :func:`start_server`, :func:`restart_proxy`).  No port is probed and
bound later (a race with every outgoing connection's source port): Swift refuses ``bind_port = 0``
and memcached cannot bind port 0 either, so each server gets a random port outside the kernel's
ephemeral range and is started again on another one if it cannot bind it (tools/ports.py).  The
rings are built once the storage servers listen.  Everything lives in one
data directory (configs, rings, devices, logs, pid files), removed again by ``stop``.

Usage::

    python -m tools.saio start [--base DIR] [--port 18080] [--replicas 1]   # idempotent; prints settings
    python -m tools.saio env   [--base DIR]                  # shell exports for a running SAIO
    python -m tools.saio status|stop [--base DIR]

``start`` also writes ``<base>/swift-credentials.cfg`` in swiftstore's tempauth form, so services
can be pointed at it with ``--swift-credentials``.  A Keystone-authenticated second proxy over the
same storage can be added with ``add-keystone-proxy`` (used by tools/keystone_aio.py).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from tools import ports

DEFAULT_BASE = Path(tempfile.gettempdir()) / f"chris-saio-{os.getuid()}"
DEFAULT_PORT = 18080
USER, KEY = "test:tester", "testing"
PIPELINE = ("catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl "
            "slo dlo ratelimit {auth} copy container-quotas account-quotas proxy-logging proxy-server")
FILTERS = ("catch_errors", "gatekeeper", "healthcheck", "proxy-logging", "listing_formats", "bulk",
           "tempurl", "slo", "dlo", "ratelimit", "copy", "container-quotas", "account-quotas")


@dataclass(frozen=True)
class Settings:
    """How to reach a running SAIO."""

    auth_url: str
    user: str
    key: str
    storage_url: str
    credentials_file: str
    base: str
    proxy_port: int

    def exports(self) -> str:
        return "\n".join([
            f"export ST_AUTH={self.auth_url}", f"export ST_USER={self.user}",
            f"export ST_KEY={self.key}", f"export SWIFT_CREDENTIALS={self.credentials_file}"])


BACKENDS = ("account", "container", "object")


def backend_names(kind: str, replicas: int) -> list[str]:
    """The server names of one kind: ``object`` for one replica, ``object-1`` .. ``object-N`` else."""
    return [kind] if replicas == 1 else [f"{kind}-{i}" for i in range(1, replicas + 1)]


def _node(name: str) -> int:
    """A backend's node number (1 for the single-replica names), which picks its device and zone."""
    return int(name.rsplit("-", 1)[1]) if "-" in name else 1


def _devices(base: Path, name: str, replicas: int) -> Path:
    # One replica keeps the historical layout (data/d1); N replicas give each node its own root,
    # so a stopped server's device is truly out of reach, as on separate machines.
    return base / "data" if replicas == 1 else base / "data" / f"n{_node(name)}"


def _bin(name: str) -> str:
    """A console script installed beside this interpreter (the swift wheel's servers)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def _user() -> str:
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def _common(base: Path, port: int, devices: Path | None = None) -> str:
    # workers = 0: one process, no fork; a forked parent polls every 10 ms, costly on 2 cores.
    # bind_timeout 1: a server whose port is taken exits at once (and is restarted on another port)
    # instead of retrying for 30 s.
    return (f"[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\nbind_timeout = 1\n"
            f"swift_dir = {base / 'etc'}\n"
            f"devices = {devices or base / 'data'}\nmount_check = false\nuser = {_user()}\nworkers = 0\n"
            "log_level = INFO\n")


def _backend_conf(base: Path, kind: str, port: int, devices: Path) -> str:
    return (_common(base, port, devices) + f"\n[pipeline:main]\npipeline = {kind}-server\n\n"
            f"[app:{kind}-server]\nuse = egg:swift#{kind}\n")


def proxy_conf(base: Path, port: int, memcached_port: int, auth: str = "tempauth",
               auth_sections: str = "") -> str:
    """Proxy config; ``auth`` replaces tempauth in the pipeline (e.g. ``authtoken keystoneauth``)."""
    text = _common(base, port) + f"\n[pipeline:main]\npipeline = {PIPELINE.format(auth=auth)}\n\n"
    text += ("[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
             "allow_account_management = true\n\n")
    # tempauth needs memcache: without the cache filter it answers 500 "Memcache required".
    text += f"[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:{memcached_port}\n\n"
    for name in FILTERS:
        egg = name.replace("-", "_")
        text += f"[filter:{name}]\nuse = egg:swift#{egg}\n\n"
    if auth == "tempauth":
        text += "[filter:tempauth]\nuse = egg:swift#tempauth\nuser_test_tester = testing .admin\n\n"
    return text + auth_sections


def _build_rings(etc: Path, bound: dict[str, int], replicas: int) -> None:
    # In-process ring building costs ~0.5 s in all; each swift-ring-builder call costs ~0.6 s.
    from swift.common.ring import RingBuilder
    for kind in BACKENDS:
        builder = RingBuilder(8, replicas, 1)
        # One device per node, each in its own zone: every partition has one replica per node.
        for name in backend_names(kind, replicas):
            node = _node(name)
            builder.add_dev({"id": node - 1, "region": 1, "zone": node, "ip": "127.0.0.1",
                             "port": bound[name], "device": f"d{node}", "weight": 1.0})
        builder.rebalance()
        builder.get_ring().save(str(etc / f"{kind}.ring.gz"))


def write_config(base: Path, replicas: int = 1) -> None:
    """Directories and swift.conf; the servers' configs are written as they start (:func:`start`)."""
    etc = base / "etc"
    for sub in ("etc", "log", "run"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    for name in backend_names("object", replicas):
        (_devices(base, name, replicas) / f"d{_node(name)}").mkdir(parents=True, exist_ok=True)
    (etc / "swift.conf").write_text(
        "[swift-hash]\nswift_hash_path_suffix = chris-saio\nswift_hash_path_prefix = chris-saio\n\n"
        "[storage-policy:0]\nname = Policy-0\ndefault = yes\n")


# The daemons this process spawned, by pid: kept rather than dropped while they run (which Python
# reports as a ResourceWarning), so that those that end are reaped here instead of staying zombies.
_spawned: dict[int, subprocess.Popen] = {}


def _reap() -> None:
    """Collect the exit status of each daemon spawned here that has ended."""
    for pid, proc in list(_spawned.items()):
        if proc.poll() is not None:
            _spawned.pop(pid, None)


def spawn(base: Path, name: str, argv: list[str], pass_fds: tuple[int, ...] = ()) -> None:
    """Start a daemon detached from us, logging to <base>/log/<name>.log, its pid in run/.

    :param pass_fds: descriptors it inherits (a listening socket bound by the caller).
    """
    _reap()
    with open(base / "log" / f"{name}.log", "ab") as log:
        # close_fds and a new session: a daemon that inherits our fds (lock files, pipes) can
        # deadlock the next start or keep a caller's pipe open forever.
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                close_fds=True, pass_fds=pass_fds, start_new_session=True, cwd=str(base))
    _spawned[proc.pid] = proc
    (base / "run" / f"{name}.pid").write_text(str(proc.pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); read its state to tell.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _pids(base: Path) -> dict[str, int]:
    run = base / "run"
    if not run.is_dir():
        return {}
    return {p.stem: int(p.read_text()) for p in run.glob("*.pid") if p.read_text().strip()}


def settings(base: Path) -> Settings:
    port = json.loads((base / "ports.json").read_text())["proxy"]
    return Settings(auth_url=f"http://127.0.0.1:{port}/auth/v1.0", user=USER, key=KEY,
                    storage_url=f"http://127.0.0.1:{port}/v1/AUTH_test",
                    credentials_file=str(base / "swift-credentials.cfg"), base=str(base),
                    proxy_port=port)


def _get_token(s: Settings) -> tuple[str, str]:
    req = urllib.request.Request(s.auth_url, headers={"X-Auth-User": s.user, "X-Auth-Key": s.key})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.headers["X-Auth-Token"], resp.headers["X-Storage-Url"]


def healthy(s: Settings) -> bool:
    """The proxy answers, tempauth issues a token, and a container round trip works end to end."""
    try:
        token, url = _get_token(s)
        probe = f"{url}/saio-probe"
        for method in ("PUT", "DELETE"):
            req = urllib.request.Request(probe, method=method, headers={"X-Auth-Token": token})
            urllib.request.urlopen(req, timeout=5).close()
        return True
    except (urllib.error.URLError, OSError, KeyError, TypeError):
        return False


def _write_credentials(s: Settings) -> None:
    # 0600: it holds the key (a root pman refuses to start when its jobs' user could read it)
    fd = os.open(s.credentials_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w") as f:
        f.write("# swiftstore tempauth (v1) credentials for the loopback SAIO.\n"
                f"[AUTHORIZATION]\nosAuthUrl = {s.auth_url}\n\n[TEMPAUTH]\nuser = {s.user}\nkey = {s.key}\n")


def running(base: Path) -> bool:
    pids = _pids(base)
    return bool(pids) and all(_alive(pid) for pid in pids.values())


def replica_count(base: Path) -> int:
    """How many replicas the SAIO in ``base`` was started with (0 if it never was)."""
    try:
        return sum(1 for name in json.loads((base / "ports.json").read_text()) if name.split("-")[0] == "object")
    except (OSError, ValueError):
        return 0


def start(base: Path = DEFAULT_BASE, port: int = 0, timeout: float = 60, replicas: int = 1) -> Settings:
    """Start the SAIO, or return the settings of the one already running in ``base``.

    :param port: the proxy's port; 0 (the default) takes a random port outside the ephemeral
        range, as the storage servers and memcached always do.
    :param replicas: 1, or N >= 2 for N account, container and object servers and rings of N
        replicas.  A running SAIO with another count is stopped and started afresh.
    :raises RuntimeError: a server did not come up (with the end of its log).
    """
    if replicas < 1:
        raise ValueError("replicas must be at least 1")
    base = Path(base)
    if running(base) and replica_count(base) == replicas and healthy(settings(base)):
        return settings(base)
    stop(base)
    deadline = time.monotonic() + timeout
    try:
        _start_servers(base, port, deadline, replicas)
        s = settings(base)
        _write_credentials(s)
        while not healthy(s):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not healthy within {timeout:.0f}s")
            _check_alive(base)
            time.sleep(0.2)
    except RuntimeError as exc:
        dead = [n for n, pid in _pids(base).items() if not _alive(pid)]
        logs = "\n".join(f"--- {n}\n" + _tail(base / "log" / f"{n}.log") for n in dead or _pids(base))
        stop(base)
        raise RuntimeError(f"Swift all-in-one did not come up: {exc} (dead: {dead or 'none'}):\n{logs}") from None
    return s


def _check_alive(base: Path) -> None:
    dead = [n for n, pid in _pids(base).items() if not _alive(pid)]
    if dead:
        raise RuntimeError(f"{', '.join(dead)} exited")


def _start_on_port(base: Path, name: str, port: int, deadline: float, argv_for: Callable[[int], list[str]],
                   conf: tuple[Path, Callable[[int], str]] | None = None) -> int:
    """Start server ``name`` on ``port``, or on a free one outside the ephemeral range if 0.

    :param argv_for: the server's command line for a port.
    :param conf: (path, text for a port): the config file to write before each start.
    :returns: the port it listens on (checked in /proc).
    """
    def launch(chosen: int) -> int:
        if conf is not None:
            conf[0].write_text(conf[1](chosen))
        spawn(base, name, argv_for(chosen))
        return _pids(base)[name]

    if port == 0:
        return ports.listen_on_unreserved_port(launch, _alive, name, deadline)
    pid = launch(port)
    return ports.wait_listening_port(pid, lambda: _alive(pid), max(0.0, deadline - time.monotonic()), name)


def _start_memcached(base: Path, name: str, _replicas: int, deadline: float) -> int:
    return _start_on_port(base, name, 0, deadline, lambda port: [
        shutil.which("memcached") or "/usr/bin/memcached", "-l", "127.0.0.1", "-p", str(port), "-U", "0",
        "-m", "64", *(["-u", "root"] if os.getuid() == 0 else [])])


def _swift_server(kind: str, conf: Path) -> Callable[[int], list[str]]:
    return lambda _port: [_bin(f"swift-{kind}-server"), str(conf), "-v"]


def _start_backend(base: Path, name: str, replicas: int, deadline: float) -> int:
    kind = name.split("-")[0]
    conf = base / "etc" / f"{name}-server.conf"
    devices = _devices(base, name, replicas)
    return _start_on_port(base, name, 0, deadline, _swift_server(kind, conf),
                          (conf, lambda port: _backend_conf(base, kind, port, devices)))


def _start_servers(base: Path, proxy_port: int, deadline: float, replicas: int = 1) -> None:
    """memcached and the storage servers, then (their ports known) the rings and the proxy."""
    write_config(base, replicas)
    names = ["memcached", *(n for kind in BACKENDS for n in backend_names(kind, replicas))]
    # Side by side: each waits mostly for its server's imports (~1 s), so 10 servers start in
    # about the time of 3 on 2 cores.  A port clash between two of ours is retried like any other.
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        futures = {name: pool.submit(_start_memcached if name == "memcached" else _start_backend,
                                     base, name, replicas, deadline) for name in names}
        bound = {name: future.result() for name, future in futures.items()}
    memcached = bound.pop("memcached")
    etc = base / "etc"
    _build_rings(etc, bound, replicas)
    bound["proxy"] = _start_on_port(base, "proxy", proxy_port, deadline,
                                    _swift_server("proxy", etc / "proxy-server.conf"),
                                    (etc / "proxy-server.conf", lambda port: proxy_conf(base, port, memcached)))
    bound["memcached"] = memcached
    (base / "ports.json").write_text(json.dumps(bound))


def _swift_kind(name: str) -> str:
    kind = name.split("-")[0]
    if name != "proxy" and kind not in BACKENDS:
        raise ValueError(f"not a Swift server of this SAIO: {name!r} (proxy, account, container or object[-N])")
    return kind


def _terminate(pid: int, sig: int, timeout: float = 10) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    _await_exit(pid, time.monotonic() + timeout)
    _reap()


def _await_exit(pid: int, deadline: float) -> None:
    """Wait for ``pid`` to end, killing it once ``deadline`` (monotonic) has passed.

    A daemon spawned here is waited for through its Popen, which reaps it.  Watching /proc is not
    enough for those: a multi-threaded daemon (memcached) shows as a zombie while its other threads
    are still ending, and cannot be reaped yet; its Popen, left unreaped in :data:`_spawned`, then
    warns "still running" when the interpreter exits.  Waiting after the SIGKILL too matters, for
    the same reason.
    """
    proc = _spawned.pop(pid, None)
    if proc is not None:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return
    # Not our child (started by another process): all we can do is watch it.
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        while _alive(pid):
            time.sleep(0.02)


def stop_server(base: Path, name: str, sig: int = signal.SIGTERM) -> None:
    """Stop one Swift server (``proxy``, ``object-2``, ...) and forget its pid.

    SIGTERM ends a ``workers = 0`` Swift server at once, dropping the connections in flight, as a
    crash or a pod being killed does.  The others keep running, so :func:`running` stays true and
    :func:`start` does not bring this one back: :func:`start_server` does.
    """
    base = Path(base)
    _swift_kind(name)
    pid_file = base / "run" / f"{name}.pid"
    if not pid_file.exists():
        raise RuntimeError(f"{name} is not running in {base}")
    _terminate(int(pid_file.read_text()), sig)
    pid_file.unlink()


def start_server(base: Path, name: str, timeout: float = 30) -> None:
    """Start a stopped Swift server again on the port it had: the rings, the proxy's clients and
    the credentials file name that port.

    :raises RuntimeError: it did not listen there in time (with the end of its log), e.g. because
        another process took the port meanwhile (unlikely: it is outside the ephemeral range).
    """
    base = Path(base)
    kind = _swift_kind(name)
    if name in _pids(base) and _alive(_pids(base)[name]):
        raise RuntimeError(f"{name} is already running in {base}")
    port = json.loads((base / "ports.json").read_text())[name]
    spawn(base, name, _swift_server(kind, base / "etc" / f"{name}-server.conf")(port))
    pid = _pids(base)[name]
    try:
        ports.wait_listening_port(pid, lambda: _alive(pid), timeout, name, expect=port)
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}:\n{_tail(base / 'log' / f'{name}.log')}") from None


def restart_proxy(base: Path, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Stop the proxy (dropping every request in flight) and start it again on the same port;
    returns once it answers its healthcheck."""
    stop_server(base, "proxy", sig)
    start_server(base, "proxy", timeout)
    url = f"{settings(Path(base)).storage_url.split('/v1/')[0]}/healthcheck"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError("the restarted proxy is not healthy in time") from None
            _check_alive(Path(base))
            time.sleep(0.05)


def run_expirer(base: Path = DEFAULT_BASE, timeout: float = 120) -> None:
    """One pass of Swift's object expirer (``swift-object-expirer --once``): it deletes the
    objects whose ``X-Delete-At`` has passed (Swift already refuses to serve them).

    :raises RuntimeError: the expirer failed (its output is in the message).
    """
    base = Path(base)
    memcached = json.loads((base / "ports.json").read_text())["memcached"]
    conf = base / "etc" / "object-expirer.conf"
    conf.write_text(_common(base, 0) + "\n[object-expirer]\ninterval = 300\n\n"
                    "[pipeline:main]\npipeline = catch_errors cache proxy-server\n\n"
                    "[app:proxy-server]\nuse = egg:swift#proxy\n\n"
                    f"[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:{memcached}\n\n"
                    "[filter:catch_errors]\nuse = egg:swift#catch_errors\n")
    # The expirer finds its queue through the account listing, which the container updater
    # fills (this SAIO runs no background daemons): one pass of it first.
    updater = base / "etc" / "container-updater.conf"
    updater.write_text(_common(base, 0) + "\n[container-updater]\n")
    _once(base, "swift.container.updater", updater, timeout)
    _once(base, "swift.obj.expirer", conf, timeout)


def _once(base: Path, module: str, conf: Path, timeout: float) -> None:
    """Run one of Swift's daemons (``module.main``) once with ``conf``."""
    # Their in-process proxies load the storage policies before they read swift_dir: point swift
    # at this SAIO's swift.conf first (the servers do that themselves).
    launch = ("import importlib, sys\nfrom swift.common import utils\nutils.set_swift_dir(sys.argv.pop(1))\n"
              "importlib.import_module(sys.argv.pop(1)).main()\n")
    done = subprocess.run([sys.executable, "-c", launch, str(base / "etc"), module, str(conf), "--once"],
                          capture_output=True, text=True, timeout=timeout, cwd=str(base))
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(base: Path = DEFAULT_BASE, keep: bool = False, timeout: float = 10) -> None:
    """Stop every daemon started in ``base`` and remove the directory (unless ``keep``).

    :param timeout: how long the daemons get to end after SIGTERM before they are killed.
    """
    base = Path(base)
    pids = _pids(base)
    for pid in pids.values():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for pid in pids.values():
        _await_exit(pid, deadline)
    _reap()
    if base.exists() and not keep:
        shutil.rmtree(base, ignore_errors=True)


def add_keystone_proxy(base: Path, port: int, auth_url: str, service_user: str,
                       service_password: str, timeout: float = 60, *, state_dir: Path | None = None,
                       token_cache_time: int = 300) -> str:
    """Start a second proxy over the same storage that takes Keystone tokens (authtoken + keystoneauth).

    :param base: the running SAIO's data directory (rings, memcached port).
    :param port: the proxy's port; 0 lets the kernel pick one (read back once it listens).
    :param auth_url: Keystone v3 URL, e.g. ``http://127.0.0.1:15000/v3``.
    :param service_user: the proxy's own Keystone user (admin on project ``service``).
    :param state_dir: where the proxy's config, log and pid file go (default ``base``).  Keeping
        them out of the SAIO's run/ stops ``saio.running()`` depending on this extra proxy.
    :param token_cache_time: seconds authtoken caches a validated token; -1 disables the cache so
        a revoked token is refused at once (what tests of re-authentication need).
    :returns: the proxy's base URL.
    """
    state_dir = Path(state_dir or base)
    for sub in ("etc", "log", "run"):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
    memcached_port = json.loads((base / "ports.json").read_text())["memcached"]
    conf = state_dir / "etc" / "proxy-keystone.conf"
    sections = _keystone_sections(auth_url, service_user, service_password, token_cache_time)

    def conf_text(chosen: int) -> str:
        conf.touch(mode=0o600)  # it holds the service user's password: private before it is written
        return proxy_conf(base, chosen, memcached_port, "authtoken keystoneauth", sections)

    deadline = time.monotonic() + timeout
    try:
        bound = _start_on_port(state_dir, "proxy-keystone", port, deadline,
                               _swift_server("proxy", conf), (conf, conf_text))
        url = f"http://127.0.0.1:{bound}"
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthcheck", timeout=2).close()
                return url
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError("not healthy in time") from None
                _check_alive(state_dir)
                time.sleep(0.2)
    except RuntimeError as exc:
        raise RuntimeError(f"Keystone proxy did not start ({exc}):\n"
                           + _tail(state_dir / "log" / "proxy-keystone.log")) from None


def _keystone_sections(auth_url: str, service_user: str, service_password: str,
                       token_cache_time: int) -> str:
    return (
        "[filter:authtoken]\npaste.filter_factory = keystonemiddleware.auth_token:filter_factory\n"
        f"www_authenticate_uri = {auth_url}\nauth_url = {auth_url}\nauth_type = password\n"
        f"username = {service_user}\npassword = {service_password}\nproject_name = service\n"
        "project_domain_id = default\nuser_domain_id = default\n"
        # swift.cache: the proxy's own memcache client (memcached_servers would need oslo.cache).
        f"cache = swift.cache\ntoken_cache_time = {token_cache_time}\n"
        # authtoken looks up Keystone's 'internal' endpoint by default; loopback has only public.
        "interface = public\n"
        "delay_auth_decision = true\ninclude_service_catalog = false\n\n"
        # No 'reader' here: an operator role may write, and readers must not.
        "[filter:keystoneauth]\nuse = egg:swift#keystoneauth\noperator_roles = admin, member, swiftoperator\n"
        "reseller_admin_role = ResellerAdmin\n")


def _replica_arg(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.saio", description="A real Swift all-in-one on loopback (tempauth).",
        epilog="Durability tests stop and restart single servers from Python: saio.stop_server(base, "
        "'object-2'), saio.start_server(base, 'object-2'), saio.restart_proxy(base).")
    parser.add_argument("command", choices=["start", "stop", "status", "env"])
    parser.add_argument("--base", type=Path, default=Path(os.environ.get("SAIO_BASE", DEFAULT_BASE)),
                        help="data directory (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="proxy port, 0 for any free one (default %(default)s); the storage servers "
                        "take free ports, memcached a random one outside the kernel's ephemeral range")
    parser.add_argument("--replicas", type=_replica_arg, default=1, metavar="N",
                        help="start: 1 (the default) for one account, container and object server; N >= 2 "
                        "for N of each, every one on its own port with its own device and zone, and rings "
                        "of N replicas (a replicated cluster: one stopped server leaves a quorum)")
    parser.add_argument("--keep", action="store_true", help="stop: keep the data directory")
    parser.add_argument("--json", action="store_true", help="print settings as JSON")
    args = parser.parse_args(argv)

    def do_start():
        s = start(args.base, args.port, replicas=args.replicas)
        print(f"Swift all-in-one ready ({args.base})", file=sys.stderr)
        return s

    return dispatch(args, "Swift all-in-one", lambda: running(args.base) and healthy(settings(args.base)),
                    lambda: settings(args.base), do_start, lambda: stop(args.base, keep=args.keep),
                    lambda s: json.dumps(asdict(s), indent=2) if args.json else s.exports())


def dispatch(args, what: str, is_healthy, get_settings, do_start, do_stop, render) -> int:
    """The launchers' shared command handling: ``start`` (timed), ``stop``, ``status`` and ``env``.

    :returns: the exit status (1 for ``status``/``env`` with nothing healthy, or a failed start).
    """
    if args.command == "stop":
        do_stop()
        return 0
    if args.command in ("status", "env"):
        if not is_healthy():
            print(f"no healthy {what} in {args.base}", file=sys.stderr)
            return 1
        s = get_settings()
    else:
        t0 = time.monotonic()
        try:
            s = do_start()
        except RuntimeError as exc:
            print(f"{what}: {exc}", file=sys.stderr)
            return 1
        print(f"{what} started in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    print(render(s))
    return 0

if __name__ == "__main__":
    sys.exit(main())
