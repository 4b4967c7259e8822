#!/usr/bin/env python3
"""A real OpenStack Swift all-in-one on loopback, for development, tests, CI and the quickstart.

Five processes: memcached, and the proxy, account, container and object servers from PyPI ``swift``,
one replica each, with tempauth (user ``test:tester``, key ``testing``).  Everything lives in one
data directory (configs, rings, devices, logs, pid files), removed again by ``stop``.

Usage::

    python tools/saio.py start [--base DIR] [--port 18080]   # idempotent; prints settings
    python tools/saio.py env   [--base DIR]                  # shell exports for a running SAIO
    python tools/saio.py status|stop [--base DIR]

``start`` also writes ``<base>/swift-credentials.cfg`` in swiftstore's tempauth form, so services
can be pointed at it with ``--swift-credentials``.  A Keystone-authenticated second proxy over the
same storage can be added with ``add-keystone-proxy`` (used by tools/keystone_aio.py).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

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


def free_port() -> int:
    """A loopback port that is free now (probed, not reserved)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_block(width: int = 5) -> int:
    """A base port with ``width`` consecutive free loopback ports (the SAIO takes proxy..memcached).

    :raises RuntimeError: if no such block turns up.
    """
    for _ in range(100):
        base = free_port()
        if base + width >= 65535:
            continue
        socks = []
        try:
            for port in range(base, base + width):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no block of free loopback ports")


def _ports(port: int) -> dict[str, int]:
    return {"proxy": port, "account": port + 1, "container": port + 2, "object": port + 3,
            "memcached": port + 4}


def _bin(name: str) -> str:
    """A console script installed beside this interpreter (the swift wheel's servers)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def _user() -> str:
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def _common(base: Path, port: int) -> str:
    # workers = 0: one process, no fork; a forked parent polls every 10 ms, costly on 2 cores.
    return (f"[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\nswift_dir = {base / 'etc'}\n"
            f"devices = {base / 'data'}\nmount_check = false\nuser = {_user()}\nworkers = 0\n"
            "log_level = INFO\n")


def _backend_conf(base: Path, kind: str, port: int) -> str:
    return (_common(base, port) + f"\n[pipeline:main]\npipeline = {kind}-server\n\n"
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


def _build_rings(etc: Path, ports: dict[str, int]) -> None:
    # In-process ring building costs ~0.5 s in all; each swift-ring-builder call costs ~0.6 s.
    from swift.common.ring import RingBuilder
    for kind in ("account", "container", "object"):
        builder = RingBuilder(8, 1, 1)
        builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                         "port": ports[kind], "device": "d1", "weight": 1.0})
        builder.rebalance()
        builder.get_ring().save(str(etc / f"{kind}.ring.gz"))


def write_config(base: Path, port: int) -> None:
    ports = _ports(port)
    etc = base / "etc"
    for sub in ("etc", "data/d1", "log", "run"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (etc / "swift.conf").write_text(
        "[swift-hash]\nswift_hash_path_suffix = chris-saio\nswift_hash_path_prefix = chris-saio\n\n"
        "[storage-policy:0]\nname = Policy-0\ndefault = yes\n")
    for kind in ("account", "container", "object"):
        (etc / f"{kind}-server.conf").write_text(_backend_conf(base, kind, ports[kind]))
    (etc / "proxy-server.conf").write_text(proxy_conf(base, port, ports["memcached"]))
    _build_rings(etc, ports)
    (base / "ports.json").write_text(json.dumps(ports))


def spawn(base: Path, name: str, argv: list[str]) -> None:
    """Start a daemon detached from us, logging to <base>/log/<name>.log, its pid in run/."""
    log = open(base / "log" / f"{name}.log", "ab")
    # close_fds and a new session: a daemon that inherits our fds (lock files, pipes) can deadlock
    # the next start or keep a caller's pipe open forever.
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            close_fds=True, start_new_session=True, cwd=str(base))
    log.close()
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
    Path(s.credentials_file).write_text(
        "# swiftstore tempauth (v1) credentials for the loopback SAIO.\n"
        f"[AUTHORIZATION]\nosAuthUrl = {s.auth_url}\n\n[TEMPAUTH]\nuser = {s.user}\nkey = {s.key}\n")


def running(base: Path) -> bool:
    pids = _pids(base)
    return bool(pids) and all(_alive(pid) for pid in pids.values())


def start(base: Path = DEFAULT_BASE, port: int = DEFAULT_PORT, timeout: float = 60) -> Settings:
    """Start the SAIO, or return the settings of the one already running in ``base``."""
    base = Path(base)
    if running(base) and healthy(settings(base)):
        return settings(base)
    stop(base)
    write_config(base, port)
    ports = _ports(port)
    spawn(base, "memcached", [shutil.which("memcached") or "/usr/bin/memcached", "-l", "127.0.0.1",
                              "-p", str(ports["memcached"]), "-U", "0", "-m", "64",
                              *(["-u", "root"] if os.getuid() == 0 else [])])
    for kind in ("account", "container", "object", "proxy"):
        spawn(base, kind, [_bin(f"swift-{kind}-server"), str(base / "etc" / f"{kind}-server.conf"), "-v"])
    s = settings(base)
    _write_credentials(s)
    deadline = time.monotonic() + timeout
    while not healthy(s):
        dead = [n for n, pid in _pids(base).items() if not _alive(pid)]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(f"--- {n}\n" + _tail(base / "log" / f"{n}.log") for n in dead or _pids(base))
            stop(base)
            raise RuntimeError(f"Swift all-in-one did not come up (dead: {dead or 'none'}):\n{logs}")
        time.sleep(0.2)
    return s


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(base: Path = DEFAULT_BASE, keep: bool = False) -> None:
    """Stop every daemon started in ``base`` and remove the directory (unless ``keep``)."""
    base = Path(base)
    pids = _pids(base)
    for pid in pids.values():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    for pid in pids.values():
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if base.exists() and not keep:
        shutil.rmtree(base, ignore_errors=True)


def add_keystone_proxy(base: Path, port: int, auth_url: str, service_user: str,
                       service_password: str, timeout: float = 60, *, state_dir: Path | None = None,
                       token_cache_time: int = 300) -> str:
    """Start a second proxy over the same storage that takes Keystone tokens (authtoken + keystoneauth).

    :param base: the running SAIO's data directory (rings, memcached port).
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
    conf.write_text(proxy_conf(base, port, memcached_port, "authtoken keystoneauth",
                               _keystone_sections(auth_url, service_user, service_password,
                                                  token_cache_time)))
    os.chmod(conf, 0o600)  # it holds the service user's password
    spawn(state_dir, "proxy-keystone", [_bin("swift-proxy-server"), str(conf), "-v"])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthcheck", timeout=2).close()
            return url
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline or not _alive(_pids(state_dir)["proxy-keystone"]):
                raise RuntimeError("Keystone proxy did not start:\n"
                                   + _tail(state_dir / "log" / "proxy-keystone.log"))
            time.sleep(0.2)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A real Swift all-in-one on loopback (tempauth).")
    parser.add_argument("command", choices=["start", "stop", "status", "env"])
    parser.add_argument("--base", type=Path, default=Path(os.environ.get("SAIO_BASE", DEFAULT_BASE)),
                        help="data directory (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="proxy port; account/container/object/memcached take the next four")
    parser.add_argument("--keep", action="store_true", help="stop: keep the data directory")
    parser.add_argument("--json", action="store_true", help="print settings as JSON")
    args = parser.parse_args(argv)

    def do_start():
        s = start(args.base, args.port)
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
