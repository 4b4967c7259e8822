#!/usr/bin/env python3
"""The quickstart's command line: parsed and checked with the standard library only.

``scripts/quickstart`` runs this module with the system ``python3`` before it installs anything,
so ``--help`` is the same text before and after the install and a bad argument is reported at
once (exit 2), not after minutes of installing.  ``tools/quickstart.py`` uses the same parser.

As a program: prints the help for ``--help``, exits 2 with the error for bad arguments, and
otherwise exits 0 silently.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = ("The quickstart: a radiology job through pfioh, Swift and pman on this machine, end to end. "
               "It starts a private loopback Swift, pfioh and pman (unless given), pushes sample DICOM files "
               "under a new key, runs the DICOM preview processor through pman, pulls the results into "
               "--results/<key>/ and stops everything it started (also on failure, Ctrl-C or SIGTERM).")
EPILOG = ("With --keep-running the services stay up at the end and one command to stop them all is printed: "
          "%(prog)s --stop RUN_DIR.")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="quickstart", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--swift-credentials", type=Path, metavar="FILE",
                   help="use this Swift (credentials file) instead of starting a local one")
    p.add_argument("--pfioh", metavar="URL", help="use a running pfioh at this URL instead of starting one")
    p.add_argument("--pman", metavar="URL", help="use a running pman at this URL instead of starting one")
    p.add_argument("--pfioh-token", metavar="TOKEN", help="token for a running pfioh (--enableTokenAuth)")
    p.add_argument("--pman-token", metavar="TOKEN", help="token for a running pman (--enableTokenAuth)")
    p.add_argument("--keep-running", action="store_true",
                   help="leave the services it started running at the end, and print how to stop them")
    p.add_argument("--stop", type=Path, metavar="RUN_DIR",
                   help="stop everything an earlier --keep-running run left running (its run directory, "
                   "printed at its end), jobs included, and remove RUN_DIR; nothing else is done")
    p.add_argument("--results", type=Path, default=Path("quickstart-results"), metavar="DIR",
                   help="where the results go, one directory per key (default: ./%(default)s)")
    p.add_argument("--key", help="job key (default: chris-jid-<random>)")
    p.add_argument("--timeout", type=float, default=300, metavar="SECONDS",
                   help="seconds to wait for the job (default %(default)g)")
    return p


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the arguments; a bad one exits 2 with the usage and the reason."""
    p = parser()
    args = p.parse_args(argv)
    if args.stop is not None:
        given = [f for f, v in (("--swift-credentials", args.swift_credentials), ("--pfioh", args.pfioh),
                                ("--pman", args.pman), ("--keep-running", args.keep_running),
                                ("--key", args.key)) if v]
        if given:
            p.error(f"--stop takes no other option (got {', '.join(given)})")
        if not (args.stop / "quickstart-state.json").is_file():
            p.error(f"--stop: {args.stop} is not the run directory of a quickstart left running "
                    "(it has no quickstart-state.json)")
        return args
    if bool(args.pfioh) != bool(args.pman) and not args.swift_credentials:
        # The service we start must use the same Swift as the running one it talks to.
        p.error("--pfioh or --pman alone needs --swift-credentials: the Swift the running service uses")
    if args.swift_credentials and not args.swift_credentials.is_file():
        p.error(f"--swift-credentials: no such file: {args.swift_credentials}")
    if args.timeout <= 0:
        p.error(f"--timeout must be positive, not {args.timeout:g}")
    return args


if __name__ == "__main__":
    parse()
    sys.exit(0)
