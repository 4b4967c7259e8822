"""``pfioh-client``: push, pull and hello against pfioh from the command line.

Examples::

    pfioh-client --pfioh http://127.0.0.1:5055 hello
    pfioh-client push chris-jid-1 ./dicoms
    pfioh-client pull chris-jid-1 ./results --clean
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from pfioh.client import api

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

EPILOG = """\
progress:
  push shows zipping (files and bytes of the total), sending (bytes of the zip, rate) and the
  wait while the server stores; pull shows receiving (bytes, of the total when the server says
  it, rate) and unpacking (files and bytes of the total).  Progress goes to stderr when it is a
  terminal (one redrawn line) or with --progress (a line every few seconds); --quiet turns it
  off.  A one-line summary is always printed on stderr, the result as JSON on stdout.

exit status:
  0  success
  1  failure: the server refused or failed the request, could not be reached, or a local file
     could not be read or written
  2  usage error: bad arguments

examples:
  pfioh-client --pfioh http://127.0.0.1:5055 hello
  pfioh-client push chris-jid-1 ./dicoms
  pfioh-client pull chris-jid-1 ./results --clean
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pfioh-client", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Push and pull directory trees through pfioh (the pfurl/pfcon protocol; works\n"
                    "with this project's pfioh and the original one).")
    parser.add_argument("--pfioh", "--url", dest="url", metavar="URL", default=os.environ.get("PFIOH_URL", "http://127.0.0.1:5055"),
                        help="pfioh address, e.g. http://127.0.0.1:5055 (env PFIOH_URL; default %(default)s)")
    parser.add_argument("--auth-token", "--authToken", dest="token", metavar="TOKEN",
                        default=os.environ.get("PFIOH_AUTH_TOKEN"),
                        help="token sent as 'Authorization: bearer <token>' (env PFIOH_AUTH_TOKEN)")
    parser.add_argument("--timeout", type=float, default=300, metavar="SECONDS",
                        help="seconds to wait for the server to answer, also after an upload while it "
                             "stores (default %(default)g)")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--progress", action="store_true",
                       help="show progress on stderr even when it is not a terminal (a line every few seconds)")
    shown.add_argument("-q", "--quiet", action="store_true", help="no progress (the summary line stays)")
    parser.add_argument("--plugin", action="store_true",
                        help="send pfcon's specialHandling op=plugin (incoming/outgoing split in mount mode)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="what to do (COMMAND --help for its arguments)")
    hello = sub.add_parser("hello", help="ask the server who it is",
                           description="Ask the server for its name and version (and what --about asks).")
    hello.add_argument("--about", default="sysinfo", choices=["sysinfo", "timestamp", "echoBack"],
                       help="what else the server reports (default %(default)s)")
    push = sub.add_parser("push", help="upload a directory (or a file) under KEY",
                          description="Zip PATH and store it under KEY (replacing what was there).")
    push.add_argument("key", metavar="KEY", help="the key (job id); in Swift mode the container name")
    push.add_argument("path", metavar="PATH", help="local directory or file to push")
    pull = sub.add_parser("pull", help="download what is stored under KEY (the job's output)",
                          description="Fetch the output stored under KEY and unpack it into PATH.")
    pull.add_argument("key", metavar="KEY",
                      help="the key (job id) whose output to fetch; in Swift mode the container name")
    pull.add_argument("path", metavar="PATH", help="local directory to unpack into (created)")
    pull.add_argument("--clean", action="store_true", help="replace the directory if it is not empty")
    return parser


def run(args: argparse.Namespace, show_progress: bool) -> dict:
    """Execute the parsed command, print its summary line on stderr.

    :returns: a JSON-able result.  :raises api.ClientError:
    """
    client = api.PfiohClient(args.url, token=args.token, timeout=args.timeout, show_progress=show_progress)
    special = api.PLUGIN if args.plugin else None
    if args.command == "hello":
        return client.hello(args.about, echo="hello" if args.about == "echoBack" else None)
    if args.command == "push":
        reply = client.push(args.key, args.path, special_handling=special)
        stats = client.last_transfer
        print(f"pfioh-client: {stats.summary()}", file=sys.stderr)
        return {"key": args.key, "status": reply.get("status"), "msg": reply.get("msg"),
                "files": stats.files, "bytes": stats.bytes}
    path = os.path.abspath(args.path)
    files = client.pull(args.key, path, special_handling=special, clean=args.clean)
    print(f"pfioh-client: {client.last_transfer.summary(f'into {path}')}", file=sys.stderr)
    return {"key": args.key, "status": True, "path": path, "files": len(files),
            "bytes": client.last_transfer.bytes}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)  # exits with EXIT_USAGE on bad arguments
    try:
        api.wire.normalize_url(args.url, api.DEFAULT_PORT)
    except ValueError as exc:
        parser.error(str(exc))
    show_progress = not args.quiet and (args.progress or sys.stderr.isatty())
    try:
        result = run(args, show_progress)
    except (api.ClientError, OSError) as exc:
        print(f"pfioh-client: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(json.dumps(result, indent=2))
    return EXIT_OK
