"""The ``pfioh`` command: flags (the original's, plus ours) -> :class:`PfiohConfig` -> gunicorn."""
from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import os
import sys

from httpkit import auth, memory, serve
from pfioh import config as config_mod
from pfioh import instance
from swiftstore.version import VERSION

log = logging.getLogger("pfioh")


def _size(text: str) -> int:
    """``123``, ``10M``, ``2G``, ``1T`` (powers of 1024)."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    text = text.strip().lower().removesuffix("b").removesuffix("i")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 500M, 20G)") from None


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name) or default)
    except ValueError:
        raise SystemExit(f"pfioh: ${name} must be an integer, not {os.environ[name]!r}") from None


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        raise SystemExit(f"pfioh: ${name} must be a number, not {os.environ[name]!r}") from None


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pfioh", description="pfioh: the ChRIS file I/O service (pushPath/pullPath over HTTP), "
        "wire-compatible with pfurl and pfcon, storing in a mount directory or in Swift.")
    p.add_argument("--ip", default=None, help="address to listen on (default 0.0.0.0, all interfaces as a "
                   "server in a pod needs, with --enableTokenAuth; else 127.0.0.1; another address without "
                   "token auth needs --insecure-open)")
    p.add_argument("--insecure-open", action="store_true", default=_env_flag("PFIOH_INSECURE_OPEN"),
                   help="allow serving beyond loopback WITHOUT token auth: anyone who reaches the port reads "
                   "and writes every key (a development server only) [PFIOH_INSECURE_OPEN]")
    p.add_argument("--read-timeout", type=int, default=60, help="seconds a client may take to send a "
                   "request's head (and a body up to 1 MiB), or may stall in a larger body, before it is "
                   "dropped (default 60)")
    p.add_argument("--port", type=int, default=5055, help="TCP port (default 5055)")
    p.add_argument("--listen-fd", type=int, metavar="FD",
                   help="serve on this inherited, already bound TCP socket instead of --ip/--port (a launcher "
                        "binds port 0 and passes the socket, so it knows the port and no other process can take "
                        "it meanwhile)")
    p.add_argument("--storeBase", default=None, help="mount mode: data in <storeBase>/key-<key>/; "
                   "also holds the staging area <storeBase>/.pfioh-staging (default: the private "
                   "$XDG_DATA_HOME/pfioh, i.e. ~/.local/share/pfioh, made mode 0700; a shared "
                   "directory such as /tmp lets other users plant links there, which pfioh refuses "
                   "to follow)")
    p.add_argument("--forever", action="store_true", help="serve until SIGTERM/SIGINT; without it pfioh "
                   "exits after answering the first command request (the original's one-shot mode)")
    p.add_argument("--httpResponse", action="store_true", help="accepted for compatibility: replies are "
                   "always proper HTTP with JSON bodies")
    p.add_argument("--createDirsAsNeeded", action="store_true",
                   help="the checkRemote GET creates <storeBase>/key-<key>/ (mount mode)")
    p.add_argument("--swift-storage", action="store_true", help="store in Swift: container = key")
    p.add_argument("--swift-credentials", default=None, help="Swift credentials file (default: "
                   "$SWIFT_CREDENTIALS, OS_*/ST_* variables, then /etc/swift/swift-credentials.cfg)")
    p.add_argument("--swift-layout", choices=config_mod.LAYOUTS, default="tree",
                   help="tree: one object per file under input/ and output/ with a manifest (default); "
                   "archive: the originals' single zip objects input/data and output/data")
    p.add_argument("--enableTokenAuth", action="store_true", help="require 'Authorization: bearer <token>'")
    p.add_argument("--tokenPath", default=config_mod.DEFAULT_TOKEN_PATH,
                   help="token file, [AUTH TOKENS] section (default %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (default 1)")
    p.add_argument("--threads", type=int, default=8, help="threads per worker (default 8)")
    p.add_argument("--max-upload-size", type=_size, default="20G", help="largest request body (default 20G)")
    p.add_argument("--max-unpacked-size", type=_size, default="50G",
                   help="largest total uncompressed size of an uploaded zip (default 50G)")
    p.add_argument("--max-ratio", type=float, default=200.0,
                   help="largest compression ratio of an uploaded zip, a zip-bomb guard (default 200)")
    p.add_argument("--max-files", type=int, default=_env_int("PFIOH_MAX_FILES", 100_000),
                   help="most entries in one uploaded zip, bounding one push's time "
                   "(default $PFIOH_MAX_FILES or 100000)")
    p.add_argument("--max-dirs", type=int, default=_env_int("PFIOH_MAX_DIRS", 10_000),
                   help="most directories one uploaded zip may make, bounding its staging space "
                   "(default $PFIOH_MAX_DIRS or 10000)")
    p.add_argument("--retention-days", type=float, default=_env_float("PFIOH_RETENTION_DAYS", 0) or None,
                   help="Swift mode: pushed input expires after this many days, by Swift's object expirer "
                   "(default $PFIOH_RETENTION_DAYS, or kept until deleted)")
    p.add_argument("--lock-timeout", type=float, default=_env_float("PFIOH_LOCK_TIMEOUT", 60.0),
                   help="seconds a request waits for another transfer of the same key before a "
                   "409 (default $PFIOH_LOCK_TIMEOUT or 60)")
    p.add_argument("-v", "--verbosity", type=int, default=0, help="0 warnings, 1 info, 2 debug + access log")
    p.add_argument("--version", action="version", version=f"pfioh {VERSION}")
    return p


def config_from_args(args: argparse.Namespace) -> config_mod.PfiohConfig:
    """Flags > environment (``SWIFT_CREDENTIALS`` for the credentials path) > defaults."""
    return config_mod.PfiohConfig(
        # Open to the network only with auth on (or the explicit --insecure-open, checked in main).
        host=args.ip or ("0.0.0.0" if args.enableTokenAuth else "127.0.0.1"), port=args.port,
        store_base=os.path.abspath(args.storeBase or config_mod.default_store_base()), forever=args.forever,
        create_dirs=args.createDirsAsNeeded, swift_storage=args.swift_storage,
        swift_credentials=args.swift_credentials or os.environ.get("SWIFT_CREDENTIALS") or None,
        swift_layout=args.swift_layout, token_auth=args.enableTokenAuth, token_path=args.tokenPath,
        workers=args.workers, threads=args.threads, max_upload_size=args.max_upload_size,
        max_unpacked_size=args.max_unpacked_size, max_ratio=args.max_ratio, max_files=args.max_files,
        max_dirs=args.max_dirs, lock_timeout=args.lock_timeout, retention_days=args.retention_days,
        verbosity=args.verbosity,
    ).validate()


def _preflight(config: config_mod.PfiohConfig, *, private: bool) -> config_mod.PfiohConfig:
    """Fail fast in the main process, before gunicorn forks, on anything a worker would die of.

    :param private: the storeBase is the default one: create it mode 0700.
    :returns: ``config`` with this instance's own staging directory (claimed here, in the main
        process, so its lock lives as long as the server: the workers inherit it).
    """
    if config.token_auth:
        auth.TokenStore.from_file(config.token_path)
    if private:
        os.makedirs(config.store_base, mode=0o700, exist_ok=True)
    config.staging_root.mkdir(parents=True, exist_ok=True)
    swept = instance.sweep(config.staging_root)
    if swept:
        log.warning("removed %d leftover(s) of stopped pfioh instances from %s", swept, config.staging_root)
    config = dataclasses.replace(config, staging_instance=instance.claim(config.staging_root).name)
    if config.swift_storage:
        import swiftstore  # only the credentials here: connections are made in each worker
        swiftstore.load_credentials(config.swift_credentials)
    else:
        from pfioh import stores  # mount mode only: a Swift-mode master needs none of its code
        stores.make_store(config)
    return config


def _create_app(config: config_mod.PfiohConfig):
    """The app, built in each gunicorn worker.  Flask, prometheus_client and (in Swift mode)
    swiftclient are imported here, in the worker, so the master, which only watches the workers,
    does not carry them too (about 9 MB of RSS for Flask's part alone)."""
    memory.limit_arenas()  # before the worker starts its threads
    from pfioh import app as app_mod
    return app_mod.create_app(config)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.verbosity <= 0 else logging.INFO if args.verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_from_args(args)
        host = serve.socket_address(args.listen_fd)[0] if args.listen_fd is not None else config.host
        if args.read_timeout <= 0:
            raise config_mod.ConfigError(f"--read-timeout must be positive, not {args.read_timeout}")
        problem = auth.exposure_problem(host, token_auth=config.token_auth, insecure_open=args.insecure_open,
                                        flag="--insecure-open (PFIOH_INSECURE_OPEN=1)")
        if problem:
            raise config_mod.ConfigError(problem)
        config = _preflight(config, private=args.storeBase is None)
    except (config_mod.ConfigError, auth.TokenFileError, OSError) as e:
        print(f"pfioh: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # e.g. swiftstore's CredentialsError: say what, not a traceback
        print(f"pfioh: cannot start: {e}", file=sys.stderr)
        return 2
    master = os.getpid()
    try:
        serve.run(functools.partial(_create_app, config), host=config.host, port=config.port,
                  listen_fd=args.listen_fd, read_timeout=args.read_timeout, workers=config.workers,
                  threads=config.threads, name="pfioh",
                  access_log=config.verbosity >= 2, loglevel="info" if config.verbosity >= 1 else "warning")
    finally:
        # gunicorn ends its processes with SystemExit, a worker's too (through this frame, as it
        # was forked inside serve.run): only the master, once its workers are gone, clears up.
        if os.getpid() == master:
            instance.retire(config.staging_root)
    return 0
