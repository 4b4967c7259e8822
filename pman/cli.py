"""The ``pman`` command: flags (the original's, plus ours) -> :class:`PmanConfig` -> gunicorn.

The original's flags are accepted so existing command lines keep working.  ``--container-env``
picks the engine unless ``--engine`` is given; ``--listeners`` sets the request threads and
``--DBpath`` the work directory unless ``--threads``/``--workdir`` are given; ``--rawmode``,
``--http``, ``--protocol``, ``--debugToFile``, ``--debugFile``, ``--listenerSleep``,
``--directiveFile`` and ``--DBsavePeriod`` are ignored (HTTP framing is always proper, state is in
SQLite and saved at once).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys

from httpkit import auth, serve
from pman import config as config_mod
from pman.engines import factory

log = logging.getLogger("pman")
IGNORED = ("--rawmode", "--protocol", "--debugFile", "--listenerSleep", "--directiveFile", "--DBsavePeriod")
CONTAINER_ENVS = {"openshift": "openshift", "kubernetes": "kubernetes", "swarm": "local", "docker": "local"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pman", description="pman: the ChRIS job service.  Runs jobs on this host (local engine, the "
        "default), on Kubernetes or on OpenShift; speaks the original message API at /api/v1/cmd (pfurl, "
        "pfcon) and a REST API under /api/v1/.  Every setting also has an environment variable (in "
        "brackets); a flag wins over the variable.",
        epilog=__doc__.split("\n\n", 1)[1].replace("``", ""))  # the docstring is reST; --help is plain text
    S = config_mod.SOURCES
    add = lambda name, *flags, **kw: p.add_argument(*flags, dest=name, default=None,  # noqa: E731
                                                    help=f"{kw.pop('help')} [{S[name][1]}]", **kw)
    _service_flags(p, add)
    _kubernetes_flags(add)
    _original_flags(p)
    p.add_argument("--version", action="version", version=f"pman {config_mod.VERSION}")
    return p


def _service_flags(p: argparse.ArgumentParser, add) -> None:
    add("host", "--ip", help="address to listen on (default 0.0.0.0 with --enableTokenAuth, else 127.0.0.1; "
        "another address without token auth needs --insecure-open)")
    add("port", "--port", type=int, help="TCP port (default 5010)")
    p.add_argument("--listen-fd", type=int, metavar="FD",
                   help="serve on this inherited, already bound TCP socket instead of --ip/--port (a launcher "
                        "binds port 0 and passes the socket, so it knows the port and no other process can take "
                        "it meanwhile)")
    add("engine", "--engine", choices=config_mod.ENGINES, help="where jobs run (default local)")
    p.add_argument("--container-env", dest="container_env", default=None, choices=sorted(CONTAINER_ENVS),
                   help="the original's engine choice: openshift/kubernetes select that engine, swarm/docker "
                   "the local one; --engine wins")
    add("workdir", "--workdir", help="local engine: job work dirs and the SQLite job table (default "
        f"{config_mod.default_workdir()})")
    add("store_base", "--storeBase", help="local engine without Swift: the store shared with pfioh in mount "
        "mode, <storeBase>/key-<jid>/incoming and outgoing (default /tmp, pfioh's default)")
    add("swift_storage", "--swift-storage", action="store_const", const=True,
        help="local engine: get input from and put output to Swift (container = jid)")
    add("swift_credentials", "--swift-credentials", help="Swift credentials file (default: OS_*/ST_* "
        "variables, then /etc/swift/swift-credentials.cfg)")
    add("swift_layout", "--swift-layout", choices=config_mod.LAYOUTS, help="local engine with Swift: tree "
        "(one object per file + manifest, pfioh's default) or archive (the originals' input/data zips)")
    add("keep_data_on_delete", "--keep-data-on-delete", action="store_const", const=True,
        help="a job's delete leaves its stored data (Swift container, or <storeBase>/key-<jid>) to the "
        "retention policy or pfioh's rmtree (default: deleted with the job)")
    add("compress_outputs", "--compress-outputs", nargs="?", const=True, metavar="true|false",
        type=config_mod.parse_bool, help="the publisher stores a job's output compressed where that pays "
        "(zlib level 1, image-like data to about half: fewer bytes to keep and to pull, for the publisher's "
        "CPU; default true)")
    add("max_jobs", "--max-jobs", type=int, help="local engine: jobs running at once, more are queued (default 4)")
    add("publisher_cli", "--publisher-cli", help="local engine: the pman-swift-publisher executable")
    add("local_job_user", "--local-job-user", metavar="USER|self", help="local engine: run jobs as this user "
        "(name or uid; needs pman to run as root), so they cannot read or change pman's state, secrets and "
        "processes. Default: nobody when pman runs as root, else pman's own user (the only one it can use); "
        "'self': pman's own user, root included (see docs/engines.md)")
    add("log_tail_bytes", "--log-tail-bytes", type=int, help="log bytes per step in a status reply (default 65536)")
    add("token_auth", "--enableTokenAuth", action="store_const", const=True,
        help="require 'Authorization: bearer <token>' on both APIs")
    add("insecure_open", "--insecure-open", action="store_const", const=True,
        help="allow serving beyond loopback WITHOUT token auth: anyone who reaches the port runs commands "
        "(a development server only)")
    add("read_timeout", "--read-timeout", type=int, help="seconds a client may take to send a request's "
        "head (and a body up to 1 MiB), or may stall in a larger body, before it is dropped (default 60)")
    add("token_path", "--tokenPath",
        help=f"token file, [AUTH TOKENS] section (default {config_mod.DEFAULT_TOKEN_PATH})")
    add("threads", "--threads", type=int, help="concurrent requests (threads of the one worker, default 16)")
    add("verbosity", "-v", "--verbosity", type=int, help="0 warnings, 1 info, 2 debug + access log")


def _kubernetes_flags(add) -> None:
    add("namespace", "--namespace", help="k8s engines: namespace of the Jobs (default chris)")
    add("publisher_image", "--publisher-image", help="k8s engines: image of the get/put containers")
    add("publisher_service_account", "--publisher-service-account",
        help="k8s engines: service account of the Job pods (default pman-publisher)")
    add("swift_credentials_secret", "--swift-credentials-secret",
        help="k8s engines: secret with swift-credentials.cfg (default swift-credentials)")
    add("job_ttl_seconds", "--job-ttl", type=int, help="k8s engines: ttlSecondsAfterFinished: seconds "
        "a finished Job and its pods stay in the cluster and in the status cache (default 86400)")
    add("job_active_deadline_seconds", "--job-active-deadline", type=int,
        help="k8s engines: activeDeadlineSeconds (default 86400)")
    add("default_cpu_limit", "--default-cpu-limit", help="cpu limit of jobs that give none (default 1000m)")
    add("default_memory_limit", "--default-memory-limit", help="memory limit of jobs that give none (default 1024Mi)")
    add("job_image_pull_policy", "--job-image-pull-policy", choices=config_mod.PULL_POLICIES,
        help="k8s engines: imagePullPolicy of the Job containers (default IfNotPresent)")
    add("job_processor_run_as_non_root", "--job-processor-non-root", nargs="?", const=True, metavar="true|false",
        type=config_mod.parse_bool, help="k8s engines: runAsNonRoot on the processor, as Pod Security "
        "'restricted' requires (default true; false only in a namespace at 'baseline' or lower)")
    add("job_processor_run_as_user", "--job-processor-uid", type=int, help="k8s engines: UID of the processor")
    add("job_publisher_run_as_user", "--job-publisher-uid", type=int, help="k8s engines: UID of the publisher steps")
    add("job_fs_group", "--job-fs-group", type=int, help="k8s engines: pod fsGroup (default: the cluster's)")
    add("job_share_size_limit", "--job-share-size-limit", help="k8s engines: sizeLimit of the /share emptyDir")
    add("job_start_failure_timeout", "--job-start-failure-timeout", type=int, help="k8s engines: seconds a Job "
        "may stay unable to start (pod refused, image not pullable, container not creatable) before it is "
        "reported finishedWithError and deleted (default 30)")
    add("instance_label", "--instance-label", help="k8s engines: label this pman's Jobs "
        "chrisproject.org/pman-instance=VALUE and cache only those (default empty: every pman Job in the "
        "namespace)")
    add("status_cache", "--status-cache", nargs="?", const=True, metavar="true|false", type=config_mod.parse_bool,
        help="k8s engines: answer status from a watch cache of the Jobs and pods (default true; false reads "
        "the API on every status: about 3 requests each)")
    add("status_deadline", "--status-deadline", type=float, help="k8s engines: seconds a status may take in "
        "all before it answers 503 (default 20)")
    add("events_interval", "--events-interval", type=float, help="k8s engines: least seconds between reads "
        "of the namespace's Warning Events, shared by all jobs that cannot start (default 5)")
    add("log_refresh_seconds", "--log-refresh", type=float, help="k8s engines: seconds a running "
        "container's log is reused before it is read again (default 5; a finished one is read once)")
    add("kubeconfig", "--kubeconfig", help="k8s engines: kubeconfig file (default: in-cluster account)")


def _original_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listeners", type=int, default=None, help="the original's listener count: sets --threads "
                   "when that is not given")
    p.add_argument("--DBpath", default=None, help="the original's database path: used as --workdir when that "
                   "is not given")
    p.add_argument("--http", action="store_true", help="ignored: replies are always proper HTTP with JSON")
    p.add_argument("--debugToFile", action="store_true", help="ignored: logs go to stderr")
    for flag in IGNORED:
        p.add_argument(flag, default=None, help="ignored (the original's)")


def config_from_args(args: argparse.Namespace, environ=None) -> config_mod.PmanConfig:
    """Flags > environment > defaults, with the original's flags mapped onto ours."""
    flags = {name: getattr(args, name, None) for name in config_mod.SOURCES}
    if flags["engine"] is None and args.container_env:
        flags["engine"] = CONTAINER_ENVS[args.container_env]
    if flags["threads"] is None and args.listeners:
        flags["threads"] = args.listeners
    if flags["workdir"] is None and args.DBpath:
        flags["workdir"] = args.DBpath
    return config_mod.from_sources(flags, environ)


def preflight(config: config_mod.PmanConfig) -> None:
    """Fail fast, before gunicorn starts, on anything the worker would die of.

    :raises Exception: with a message naming the problem.
    """
    if config.token_auth:
        auth.TokenStore.from_file(config.token_path)
    factory.load(config.engine)
    if config.engine != "local":
        return
    from pman.engines.local import jobdb
    local = config.local
    local.jobs_dir.mkdir(parents=True, exist_ok=True)
    jobdb.JobStore(local.db_path).close()
    if local.swift_storage:
        if not shutil.which(local.publisher_cli):
            raise config_mod.ConfigError(f"--publisher-cli (PMAN_PUBLISHER_CLI): {local.publisher_cli!r} not found")
        import swiftstore
        swiftstore.load_credentials(local.swift_credentials)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
        level = [logging.WARNING, logging.INFO][min(config.verbosity, 1)] if config.verbosity < 2 else logging.DEBUG
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        preflight(config)
        if args.listen_fd is not None:
            host, _ = serve.socket_address(args.listen_fd)
            problem = auth.exposure_problem(host, token_auth=config.token_auth, insecure_open=config.insecure_open,
                                             flag="--insecure-open (PMAN_INSECURE_OPEN)")
            if problem:
                raise config_mod.ConfigError(f"--listen-fd {args.listen_fd} ({host}): {problem}")
    except (config_mod.ConfigError, auth.TokenFileError, OSError) as e:
        print(f"pman: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # e.g. swiftstore's CredentialsError, a missing engine module
        print(f"pman: cannot start: {e.__class__.__name__}: {e}", file=sys.stderr)
        return 2
    from pman import app as app_mod
    log.info("pman %s: engine %s, workdir %s", config_mod.VERSION, config.engine, config.local.workdir)
    # One worker: the local engine's scheduler and reconciler live in it; threads serve requests.
    serve.run(lambda: app_mod.create_app(config), host=config.host, port=config.port,
              listen_fd=args.listen_fd, workers=1, read_timeout=config.read_timeout,
              threads=config.threads, name="pman", access_log=config.verbosity >= 2,
              loglevel="info" if config.verbosity >= 1 else "warning")
    return 0
