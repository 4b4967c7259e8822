#!/usr/bin/env python3
"""A real Keystone v3 on loopback, and a Swift proxy that accepts its tokens.

Keystone 30 from its own venv (``.venv-keystone``, or ``$KEYSTONE_VENV``) with a sqlite database
and fernet/credential key repositories in one data directory, served by gunicorn.  ``start`` then
provisions, through the Keystone API:

- project ``service`` with user ``swift`` (admin there): the proxy's own service user;
- an ``object-store`` service with endpoint ``http://127.0.0.1:<proxy>/v1/AUTH_$(project_id)s``;
- project ``chris`` with user ``chris`` (role member), and an application credential of that user;

and starts a second Swift proxy (authtoken + keystoneauth) over a running SAIO's storage.  It
writes ``swift-credentials-password.cfg`` and ``swift-credentials-appcred.cfg`` (swiftstore's
Keystone forms) into the data directory.

Usage::

    python -m tools.keystone_aio start [--base DIR] [--port 15000] [--proxy-port 15080] [--saio-base DIR]
    python -m tools.keystone_aio env|status|stop [--base DIR]

The first start takes about 10-15 s (schema, keys, bootstrap); a restart of a kept data directory
(``stop --keep``) skips all that (on other ports, it moves the catalog endpoints and rewrites the
credential files); a start while running returns at once.  Keystone serves a socket bound by this
launcher (gunicorn ``--bind fd://N``): no port is probed first and bound later.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from tools import ports, saio

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE = Path(tempfile.gettempdir()) / f"chris-keystone-{os.getuid()}"
DEFAULT_PORT = 15000
DEFAULT_PROXY_PORT = 15080
REGION = "RegionOne"
DEMO = "chris"  # the demo project and user
SERVICE_USER = "swift"

# Run inside the Keystone venv: every keystone-manage step in ONE interpreter (~2.5 s instead of
# ~8 s for four processes).  The bootstrap password arrives in the environment, not argv (ps).
SETUP_SCRIPT = '''import sys, warnings
warnings.simplefilter("ignore")
from keystone.cmd import cli
conf, user, group, url, region = sys.argv[1:6]
owner = ["--keystone-user", user, "--keystone-group", group]
for step in (["db_sync"], ["fernet_setup", *owner], ["credential_setup", *owner],
             ["bootstrap", "--bootstrap-public-url", url, "--bootstrap-region-id", region]):
    cli.CONF.clear()  # oslo.config refuses a second parse otherwise
    cli.main(argv=["keystone-manage", "--config-file", conf, *step])
'''
# gunicorn's own arguments would reach keystone's oslo.config parser: clear argv first.
WSGI_SHIM = '''import os, sys
os.environ["OS_KEYSTONE_CONFIG_DIR"] = {etc!r}
sys.argv = sys.argv[:1]
from keystone.server import wsgi
application = wsgi.initialize_public_application()
'''


@dataclass(frozen=True)
class Settings:
    """How to reach a running Keystone and its Swift proxy (secrets included: it is a dev tool)."""

    base: str
    auth_url: str
    port: int
    proxy_url: str
    proxy_port: int
    saio_base: str
    project: str
    project_id: str
    user: str
    password: str
    application_credential_id: str
    password_credentials: str
    appcred_credentials: str

    @property
    def storage_url(self) -> str:
        return f"{self.proxy_url}/v1/AUTH_{self.project_id}"

    def exports(self) -> str:
        pairs = [("OS_AUTH_URL", self.auth_url), ("OS_USERNAME", self.user),
                 ("OS_PASSWORD", self.password), ("OS_PROJECT_NAME", self.project),
                 ("OS_USER_DOMAIN_ID", "default"), ("OS_PROJECT_DOMAIN_ID", "default"),
                 ("KEYSTONE_BASE", self.base), ("KEYSTONE_PASSWORD_CREDENTIALS", self.password_credentials),
                 ("KEYSTONE_APPCRED_CREDENTIALS", self.appcred_credentials)]
        return "\n".join(f"export {k}={v}" for k, v in pairs)


def venv() -> Path:
    return Path(os.environ.get("KEYSTONE_VENV", ROOT / ".venv-keystone"))


def _state_file(base: Path) -> Path:
    return base / "state.json"


def _load_state(base: Path) -> dict | None:
    try:
        return json.loads(_state_file(base).read_text())
    except (OSError, ValueError):
        return None


def _write_private(path: Path, text: str) -> None:
    """Write a file holding secrets, readable by its owner only, and atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def settings(base: Path) -> Settings:
    state = _load_state(Path(base))
    if not state or "application_credential_id" not in state:
        raise RuntimeError(f"no provisioned Keystone in {base}")
    return Settings(**{k: state[k] for k in Settings.__dataclass_fields__})


def write_config(base: Path) -> None:
    for sub in ("etc", "log", "run", "fernet-keys", "credential-keys"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "etc" / "keystone.conf").write_text(
        f"[database]\nconnection = sqlite:///{base / 'keystone.db'}\n\n"
        f"[fernet_tokens]\nkey_repository = {base / 'fernet-keys'}\n\n"
        f"[fernet_receipts]\nkey_repository = {base / 'fernet-keys'}\n\n"
        f"[credential]\nkey_repository = {base / 'credential-keys'}\n\n"
        "[token]\nprovider = fernet\nexpiration = 3600\n")
    (base / "keystone_wsgi.py").write_text(WSGI_SHIM.format(etc=str(base / "etc")))


def bootstrap(base: Path, auth_url: str, admin_password: str) -> None:
    """Schema, fernet and credential keys, admin user/project/role, region, identity endpoint."""
    import grp
    import pwd
    script = base / "keystone_setup.py"
    script.write_text(SETUP_SCRIPT)
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    argv = [str(venv() / "bin" / "python"), str(script), str(base / "etc" / "keystone.conf"),
            user, group, auth_url, REGION]
    with open(base / "log" / "setup.log", "ab") as log:
        done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              env={**os.environ, "OS_BOOTSTRAP_PASSWORD": admin_password}, cwd=base)
    if done.returncode:
        raise RuntimeError("keystone-manage failed:\n" + saio._tail(base / "log" / "setup.log", 25))


def serve(base: Path, sock: socket.socket, timeout: float = 60) -> None:
    """Run keystone under gunicorn on ``sock`` until /v3 answers.

    One sync worker: sqlite, and 2 cores shared.  gunicorn serves the socket we bound and hand it
    (``--bind fd://N``), so the port was ours before Keystone started: nothing else can take it.
    """
    fd = sock.fileno()
    saio.spawn(base, "keystone", [
        str(venv() / "bin" / "gunicorn"), "--bind", f"fd://{fd}", "--workers", "1",
        "--timeout", "120", "--graceful-timeout", "5", "--chdir", str(base), "--no-control-socket",
        "--pythonpath", str(base), "keystone_wsgi:application"], pass_fds=(fd,))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v3"
    deadline = time.monotonic() + timeout
    while not _answers(url):
        if time.monotonic() > deadline or not saio._alive(saio._pids(base)["keystone"]):
            raise RuntimeError("Keystone did not start:\n" + saio._tail(base / "log" / "keystone.log", 25))
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=5).close()
        return True
    except (urllib.error.URLError, OSError):
        return False


def _saio_running(saio_base: Path) -> bool:
    return saio.running(saio_base) and saio.healthy(saio.settings(saio_base))


def healthy(base: Path) -> bool:
    """Keystone answers, the Keystone proxy answers, and the SAIO under it is alive."""
    state = _load_state(base)
    if not state or "application_credential_id" not in state:
        return False
    pids = saio._pids(base)
    return (set(pids) >= {"keystone", "proxy-keystone"} and all(saio._alive(p) for p in pids.values())
            and _answers(state["auth_url"]) and _answers(state["proxy_url"] + "/healthcheck")
            and _saio_running(Path(state["saio_base"])))


def start(base: Path = DEFAULT_BASE, port: int = 0, proxy_port: int = 0,
          saio_base: Path = saio.DEFAULT_BASE, timeout: float = 90, token_cache_time: int = -1) -> Settings:
    """Start Keystone and the Keystone proxy, or return the settings of the ones running in ``base``.

    :param port: Keystone's port, 0 (the default) for any free one: it is bound here and handed to
        gunicorn.  ``proxy_port``: the Keystone proxy's, 0 for a free one outside the ephemeral
        range (see saio).  A kept data directory restarted on other ports keeps its accounts: the
        catalog endpoints and the credential files are moved to the new ports.
    :param token_cache_time: seconds the proxy caches a validated token.  The default -1 caches
        nothing, so a revoked token is refused at once (what the re-authentication tests need);
        a deployment caches (authtoken's default is 300 s), and a benchmark should too: without
        the cache every Swift request waits for Keystone to validate its token.
    :raises RuntimeError: the SAIO is not running, or Keystone/the proxy did not come up.
    """
    base, saio_base = Path(base).resolve(), Path(saio_base).resolve()
    if healthy(base):
        return settings(base)
    if not _saio_running(saio_base):
        raise RuntimeError(f"no healthy Swift all-in-one in {saio_base}: "
                           f"start it first (python -m tools.saio start --base {saio_base})")
    state = _load_state(base)
    same = bool(state and "application_credential_id" in state and state["saio_base"] == str(saio_base))
    saio.stop(base, keep=same)
    try:
        with ports.bound_socket(port) as sock:
            if same:  # restart: schema, keys and accounts are all still there
                state["token_cache_time"] = token_cache_time
                _restart(base, state, sock, proxy_port, timeout)
            else:
                _initialise(base, sock, proxy_port, saio_base, timeout, token_cache_time)
    except BaseException:
        saio.stop(base, keep=True)  # leave the logs for the error message / a look
        raise
    return settings(base)


def _start_proxy(state: dict, proxy_port: int, timeout: float) -> None:
    base = Path(state["base"])
    state["proxy_url"] = saio.add_keystone_proxy(
        Path(state["saio_base"]), proxy_port, state["auth_url"], SERVICE_USER, state["service_password"],
        timeout, state_dir=base, token_cache_time=state["token_cache_time"])
    state["proxy_port"] = int(state["proxy_url"].rsplit(":", 1)[1])


def _restart(base: Path, state: dict, sock: socket.socket, proxy_port: int, timeout: float) -> None:
    from tools import keystone_provision
    serve(base, sock, timeout)
    old = (state["auth_url"], state["proxy_url"])
    state["port"] = sock.getsockname()[1]
    state["auth_url"] = f"http://127.0.0.1:{state['port']}/v3"
    _start_proxy(state, proxy_port, timeout)
    if (state["auth_url"], state["proxy_url"]) != old:
        keystone_provision.move_endpoints(state["auth_url"], state["admin_password"], state["proxy_url"])
        _write_state(base, state)


def _initialise(base: Path, sock: socket.socket, proxy_port: int, saio_base: Path, timeout: float,
                token_cache_time: int) -> None:
    from tools import keystone_provision
    base.mkdir(parents=True, exist_ok=True)
    port = sock.getsockname()[1]
    auth_url = f"http://127.0.0.1:{port}/v3"
    state = {"base": str(base), "auth_url": auth_url, "port": port, "saio_base": str(saio_base),
             "admin_password": secrets.token_urlsafe(18), "service_password": secrets.token_urlsafe(18),
             "password_credentials": str(base / "swift-credentials-password.cfg"),
             "appcred_credentials": str(base / "swift-credentials-appcred.cfg"),
             "token_cache_time": token_cache_time}
    write_config(base)
    bootstrap(base, auth_url, state["admin_password"])
    serve(base, sock, timeout)
    _start_proxy(state, proxy_port, timeout)  # its service user is made next; it needs none to start
    state.update(keystone_provision.provision(auth_url, state["admin_password"], state["proxy_url"],
                                              region=REGION, demo=DEMO, service_user=SERVICE_USER,
                                              service_password=state["service_password"]))
    _write_state(base, state)


def _write_state(base: Path, state: dict) -> None:
    """The credential files, then the state (last: it marks a finished set-up)."""
    from tools import keystone_provision
    _write_private(Path(state["password_credentials"]), keystone_provision.password_file(state))
    _write_private(Path(state["appcred_credentials"]), keystone_provision.appcred_file(state))
    _write_private(_state_file(base), json.dumps(state, indent=2))


def stop(base: Path = DEFAULT_BASE, keep: bool = False) -> None:
    """Stop Keystone and the Keystone proxy (never the SAIO); remove ``base`` unless ``keep``."""
    saio.stop(Path(base), keep=keep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.keystone_aio",
                                     description="A real Keystone v3 on loopback, with a Swift proxy "
                                     "taking its tokens over a running SAIO.")
    parser.add_argument("command", choices=["start", "stop", "status", "env"])
    parser.add_argument("--base", type=Path, default=Path(os.environ.get("KEYSTONE_BASE", DEFAULT_BASE)),
                        help="data directory (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="Keystone port, 0 for any free one (default: %(default)s)")
    parser.add_argument("--proxy-port", type=int, default=DEFAULT_PROXY_PORT,
                        help="port of the Keystone-enabled Swift proxy, 0 for any free one (default: %(default)s)")
    parser.add_argument("--saio-base", type=Path, default=Path(os.environ.get("SAIO_BASE", saio.DEFAULT_BASE)),
                        help="data directory of the running SAIO (default: %(default)s)")
    parser.add_argument("--keep", action="store_true", help="stop: keep the data directory")
    parser.add_argument("--json", action="store_true", help="print settings as JSON")
    args = parser.parse_args(argv)
    base = args.base.resolve()

    def do_start():
        s = start(args.base, args.port, args.proxy_port, args.saio_base)
        for path in (s.password_credentials, s.appcred_credentials):
            print(f"--- {path}\n{Path(path).read_text()}", file=sys.stderr)
        return s

    return saio.dispatch(
        args, "Keystone", lambda: healthy(base), lambda: settings(base), do_start,
        lambda: stop(args.base, keep=args.keep),
        lambda s: json.dumps({**asdict(s), "storage_url": s.storage_url}, indent=2) if args.json else s.exports())

if __name__ == "__main__":
    sys.exit(main())
