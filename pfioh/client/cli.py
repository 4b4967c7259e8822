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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pfioh-client",
        description="Push and pull directory trees through pfioh (the pfurl/pfcon protocol; works "
                    "with this project's pfioh and the original one).")
    parser.add_argument("--pfioh", "--url", dest="url", default=os.environ.get("PFIOH_URL", "http://127.0.0.1:5055"),
                        help="pfioh address, e.g. http://127.0.0.1:5055 (env PFIOH_URL; default %(default)s)")
    parser.add_argument("--auth-token", "--authToken", dest="token", default=os.environ.get("PFIOH_AUTH_TOKEN"),
                        help="token sent as 'Authorization: bearer <token>' (env PFIOH_AUTH_TOKEN)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for an answer")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--plugin", action="store_true",
                        help="send pfcon's specialHandling op=plugin (incoming/outgoing split in mount mode)")
    sub = parser.add_subparsers(dest="command", required=True)
    hello = sub.add_parser("hello", help="ask the server who it is")
    hello.add_argument("--about", default="sysinfo", choices=["sysinfo", "timestamp", "echoBack"])
    push = sub.add_parser("push", help="upload a directory (or a file) under KEY")
    push.add_argument("key", help="the key (job id); in Swift mode the container name")
    push.add_argument("path", help="local directory or file to push")
    pull = sub.add_parser("pull", help="download what is stored under KEY (the job's output)")
    pull.add_argument("key")
    pull.add_argument("path", help="local directory to unpack into (created)")
    pull.add_argument("--clean", action="store_true", help="replace the directory if it is not empty")
    return parser


def run(args: argparse.Namespace) -> dict:
    """Execute the parsed command.  :returns: a JSON-able result.  :raises api.ClientError:"""
    client = api.PfiohClient(args.url, token=args.token, timeout=args.timeout, show_progress=not args.quiet)
    special = api.PLUGIN if args.plugin else None
    if args.command == "hello":
        return client.hello(args.about, echo="hello" if args.about == "echoBack" else None)
    if args.command == "push":
        reply = client.push(args.key, args.path, special_handling=special)
        return {"key": args.key, "status": reply.get("status"), "msg": reply.get("msg")}
    files = client.pull(args.key, args.path, special_handling=special, clean=args.clean)
    return {"key": args.key, "status": True, "path": os.path.abspath(args.path), "files": len(files)}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result = run(args)
    except (api.ClientError, ValueError) as exc:
        print(f"pfioh-client: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0
