"""``pman-swift-publisher get|put``: the data steps of a pman job in Swift mode.

* ``get`` copies ``<key>/input/`` from Swift into the incoming directory (all or nothing) and
  creates the outgoing directory;
* ``put`` uploads the outgoing directory to ``<key>/output/`` with its manifest; with ``--wait``
  (in a Job pod) it first waits for the processor container to end, and then writes the result
  object ``<key>/result.json``.  If the processor's end cannot be observed (the API unreachable
  for --wait-unreachable-timeout seconds, 401/403/404, the pod deleted), it still uploads what the
  processor wrote and a result object saying so, and exits 1.

``--layout archive`` uses the original publisher images' single zips ``input/data`` and
``output/data`` instead.  Progress goes to stderr; on failure the last line on stderr is a
one-line reason (also written to the container's termination message, /dev/termination-log,
where pman reads it) and the exit status is 1 (2 for a usage error).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import stat
import sys
import textwrap
import threading
import time

import swiftstore
from swiftstore import errors
from swiftstore import store as store_module
from swiftstore.version import VERSION

from pman import resultdoc
from pman.publisher import wait

PROG = "pman-swift-publisher"
DEFAULT_INCOMING = "/share/incoming"
DEFAULT_OUTGOING = "/share/outgoing"
INPUT, OUTPUT = "input/", "output/"
TERMINATION_LOG = "/dev/termination-log"
DESCRIPTION = (
    "pman-swift-publisher: the data steps of a ChRIS job whose data is in OpenStack Swift. The job's "
    "init container (or pman's local engine) runs 'get' before the processor, its publish container "
    "runs 'put' after it; the Swift container is the job key.")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--key", default=os.environ.get("SWIFT_KEY"),
                        help="the job key = Swift container (default: $SWIFT_KEY)")
    common.add_argument("--incoming", default=os.environ.get("INCOMING_DIR", DEFAULT_INCOMING),
                        help=f"the job's input directory (default: $INCOMING_DIR or {DEFAULT_INCOMING})")
    common.add_argument("--outgoing", default=os.environ.get("OUTGOING_DIR", DEFAULT_OUTGOING),
                        help=f"the job's output directory (default: $OUTGOING_DIR or {DEFAULT_OUTGOING})")
    common.add_argument("--swift-credentials", default=None, metavar="PATH",
                        help="Swift credentials file (default: $SWIFT_CREDENTIALS, OS_*/ST_* variables, "
                             "then /etc/swift/swift-credentials.cfg)")
    common.add_argument("--layout", choices=("tree", "archive"), default=os.environ.get("SWIFT_LAYOUT", "tree"),
                        help="tree: a stored version (small files in bundles) + manifest; archive: the "
                             "originals' single zip <prefix>data (default: $SWIFT_LAYOUT or tree)")
    common.add_argument("--retention-days", type=_positive_days, default=os.environ.get("RETENTION_DAYS") or None,
                        metavar="DAYS", help="put: what is written expires after DAYS days, by Swift's object "
                        "expirer (default: $RETENTION_DAYS, or kept until deleted)")
    common.add_argument("--threads", type=int, default=store_module.DEFAULT_THREADS,
                        help=f"concurrent transfers (default {store_module.DEFAULT_THREADS})")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    details = __doc__.split("\n\n", 1)[1].replace("``", "")  # the docstring is reST; --help is plain text
    parser = argparse.ArgumentParser(prog=PROG, description=f"{textwrap.fill(DESCRIPTION, 95)}\n\n{details}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{get,put}")
    get = sub.add_parser("get", parents=[common], help="copy <key>/input/ into the incoming directory",
                         description="Copy <key>/input/ from Swift into the incoming directory (verified, all or "
                                     "nothing, replacing what is there) and create the outgoing directory.")
    get.add_argument("--force", action="store_true",
                     help="read input/ even without a (matching) manifest (tree layout)")
    get.add_argument("--outgoing-mode", type=_octal_mode, default=os.environ.get("OUTGOING_MODE"),
                     help="permissions of the outgoing directory, in octal (default: $OUTGOING_MODE, else "
                          "the umask's); a Job sets 0777 so a processor running as another user can write")
    put = sub.add_parser("put", parents=[common], help="upload the outgoing directory to <key>/output/",
                         description="Upload the outgoing directory to <key>/output/ (verified), then its manifest "
                                     "output.manifest.json; what an earlier put left there is removed.")
    # For the Kubernetes engines: wait until the processor container of this job has terminated
    # before uploading (pman/publisher/wait.py).
    put.add_argument("--wait", action="store_true",
                     help="first wait for the job's processor container to finish (in a Kubernetes pod)")
    put.add_argument("--wait-unreachable-timeout", type=float, metavar="SECONDS",
                     default=float(os.environ.get("WAIT_UNREACHABLE_TIMEOUT") or wait.UNREACHABLE_TIMEOUT),
                     help="with --wait: give up waiting when no call to the Kubernetes API has succeeded for "
                          "this long, then upload what is there and exit 1 (default: $WAIT_UNREACHABLE_TIMEOUT "
                          f"or {wait.UNREACHABLE_TIMEOUT:.0f})")
    put.add_argument("--compress", type=_on_off, default=os.environ.get("SWIFT_COMPRESS", "on"), metavar="on|off",
                     help="tree layout: store files compressed where that pays (zlib level 1; image-like data "
                          "to about half: fewer bytes for Swift to keep and for every pull to send, for the CPU "
                          "of compressing), or off: as they are (default: $SWIFT_COMPRESS or on)")
    return parser


def _on_off(text: str | bool) -> bool:
    """Parse ``on``/``off`` (argparse type, and the environment's default alike)."""
    if isinstance(text, bool):
        return text
    if text.strip().lower() not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"not on or off: {text!r}")
    return text.strip().lower() == "on"


class ProgressPrinter:
    """``progress`` callback printing ``files, bytes, MB/s`` to stderr at most once a second."""

    def __init__(self, label: str, stream=None, interval: float = 1.0):
        self.label, self.stream, self.interval = label, stream or sys.stderr, interval
        self.start = time.monotonic()
        self._last = 0.0

    def __call__(self, files_done: int, files_total: int, bytes_done: int, bytes_total: int) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval or files_done == files_total:
            self._last = now
            print(self.line(files_done, files_total, bytes_done, bytes_total), file=self.stream, flush=True)

    def line(self, files_done: int, files_total: int, bytes_done: int, bytes_total: int) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        return (f"{self.label}: {files_done}/{files_total} files, {bytes_done / 1e6:.1f}/{bytes_total / 1e6:.1f} MB, "
                f"{bytes_done / 1e6 / elapsed:.1f} MB/s")


def _octal_mode(text: str | int) -> int:
    """Parse a permission mode such as ``"0777"`` (argparse type and env default alike)."""
    if isinstance(text, int):
        return text
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an octal mode: {text!r}") from None
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(f"mode out of range: {text!r}")
    return mode


def _positive_days(text) -> float:
    try:
        days = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"not a number of days: {text!r}") from None
    if not 0 < days < 36500:
        raise argparse.ArgumentTypeError(f"days must be positive (and under a century), not {text!r}")
    return days


def store_options(args) -> dict:
    """The SwiftStore options the command line asks for."""
    days = _positive_days(args.retention_days) if args.retention_days is not None else None
    return {"threads": args.threads, "retention": days * 86400 if days else None}


def open_store(args) -> swiftstore.SwiftStore:
    creds = swiftstore.load_credentials(args.swift_credentials)
    return swiftstore.SwiftStore.from_credentials(creds, **store_options(args))


def cmd_get(args, store: swiftstore.SwiftStore) -> str:
    progress = None if args.quiet else ProgressPrinter(f"get {args.key}/{INPUT}")
    # replace: a restarted init container finds its earlier (complete) copy and refreshes it.
    if args.layout == "archive":
        got = store.get_archive(args.key, INPUT, args.incoming, replace=True)
        files, nbytes = got.files, got.bytes
    else:
        manifest = store.get_tree(args.key, INPUT, args.incoming, force=args.force, replace=True, progress=progress)
        files, nbytes = len(manifest.entries), manifest.total_bytes
    note = prepare_outgoing(args.outgoing, None if args.outgoing_mode is None else _octal_mode(args.outgoing_mode))
    return f"got {files} files ({nbytes} bytes) from {args.key}/{INPUT} into {args.incoming}{note}"


def prepare_outgoing(path: str, mode: int | None) -> str:
    """Create the outgoing directory if absent and give it ``mode``; returns a note for the summary.

    The directory may exist already and belong to someone else: a volume populated from the image
    (root-owned, group 0, g=u), or a re-run.  Only its owner may chmod it, so when that fails the
    directory is accepted as it is if it already has every bit of ``mode``, or if it is writable by
    its group and that group is ours (OpenShift runs every container of a pod in group 0, so the
    processor can write too); otherwise :raises PermissionError: with what is wrong and what to do.
    """
    os.makedirs(path, exist_ok=True)
    if mode is None:
        return ""
    try:
        os.chmod(path, mode)
        return ""
    except PermissionError:
        st = os.stat(path)
    current = stat.S_IMODE(st.st_mode)
    if current & mode == mode:
        return ""
    group_shared = st.st_gid == os.getgid() and current & 0o070 == 0o070
    if group_shared:
        return (f"; {path} kept at mode {current:04o} (owner uid {st.st_uid}, not us): writable by its group "
                f"{st.st_gid}, which is ours")
    raise PermissionError(f"outgoing directory {path} cannot be made mode {mode:04o}: it belongs to uid {st.st_uid}, "
                          f"not to us (uid {os.getuid()}, gid {os.getgid()}), and its mode {current:04o} does not let "
                          f"our group write; give the job an empty /share volume (emptyDir) or make {path} writable")


class Unobserved(RuntimeError):
    """``put --wait`` published the output without knowing how the processor ended."""


def cmd_put(args, store: swiftstore.SwiftStore) -> str:
    outcome, unobserved = None, None
    if args.wait:
        try:
            outcome = wait.wait_for_processor(args)
        except wait.WaitError as exc:  # never lose the output: publish what is there, and say so
            unobserved = one_line(exc)
            if not args.quiet:
                print(f"{PROG}: cannot observe the processor's end ({unobserved}); uploading what it wrote so far",
                      file=sys.stderr, flush=True)
    progress = None if args.quiet else ProgressPrinter(f"put {args.key}/{OUTPUT}")
    try:
        summary, output = _upload(args, store, progress)
    except Exception as exc:
        if args.wait:  # record why the output is missing, then fail with the cause
            failed = (resultdoc.build(args.key, outcome, resultdoc.OutputSummary(args.layout),
                                      publish_error=one_line(exc)) if outcome is not None else
                      resultdoc.unobserved(args.key, unobserved, resultdoc.OutputSummary(args.layout),
                                           publish_error=one_line(exc)))
            resultdoc.upload_quietly(store, args.key, failed)
        raise
    if outcome is not None:  # --wait: the job's final state, after the data (pman reads it after the TTL)
        resultdoc.upload(store, args.key, resultdoc.build(args.key, outcome, output))
        summary += f"; {resultdoc.RESULT_OBJECT}: processor exit code {outcome.exit_code}"
    elif unobserved is not None:
        resultdoc.upload(store, args.key, resultdoc.unobserved(args.key, unobserved, output))
        raise Unobserved(f"{summary}, but the processor's end was not observed ({unobserved}): the output may be "
                         f"incomplete; {resultdoc.RESULT_OBJECT} says so")
    return summary


def _upload(args, store: swiftstore.SwiftStore, progress) -> tuple[str, resultdoc.OutputSummary]:
    if not os.path.isdir(args.outgoing):
        raise FileNotFoundError(f"outgoing directory {args.outgoing} does not exist")
    if args.layout == "archive":
        info = store.put_archive(args.key, OUTPUT, args.outgoing)
        return (f"put {args.outgoing} as {args.key}/{info.name} ({info.size} bytes zipped)",
                resultdoc.OutputSummary(layout="archive", bytes=info.size))
    manifest = store.put_tree(args.key, OUTPUT, args.outgoing, progress=progress,
                              compress=None if args.compress else False)
    return (f"put {len(manifest.entries)} files ({manifest.total_bytes} bytes) from {args.outgoing} into "
            f"{args.key}/{OUTPUT}", resultdoc.OutputSummary(files=len(manifest.entries), bytes=manifest.total_bytes))


def write_termination_message(text: str, path: str | None = None) -> None:
    """Leave ``text`` where the kubelet reads a container's termination message, if there is such a
    file (in a pod: /dev/termination-log, or $TERMINATION_LOG); pman shows it in the job's status."""
    path = path or os.environ.get("TERMINATION_LOG") or TERMINATION_LOG
    if not os.path.isfile(path):
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text[:4096])  # the kubelet keeps at most 4096 bytes
    except OSError:
        pass  # best effort: the same line is on stderr


COMMANDS = {"get": cmd_get, "put": cmd_put}


class Terminated(BaseException):
    """SIGTERM (a pod being stopped): unwinds like Ctrl-C, so partial downloads are removed."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):
    raise Terminated(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    ours = (errors.SwiftStoreError, wait.WaitError, Unobserved)  # their messages say it all
    return text if isinstance(exc, ours) else f"{type(exc).__name__}: {text}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("swiftclient").setLevel(logging.CRITICAL)  # it logs every 404 it is asked about
    if not args.key:
        parser.error("no key: give --key or set SWIFT_KEY")
    start = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _terminate) if _in_main_thread() else None
    try:
        swiftstore.validate_container_name(args.key)
        with open_store(args) as store:
            summary = COMMANDS[args.command](args, store)
    except (KeyboardInterrupt, Terminated) as exc:
        signum = int(getattr(exc, "signum", signal.SIGINT))
        print(f"{PROG}: error: {args.command} interrupted by signal {signum}", file=sys.stderr)
        return 128 + signum
    except Exception as exc:  # the one boundary: a one-line reason, details only with -v
        logging.getLogger("swiftstore").debug("%s failed", args.command, exc_info=True)
        print(f"{PROG}: error: {args.command} failed: {one_line(exc)}", file=sys.stderr)
        write_termination_message(f"{args.command}: {one_line(exc)}")
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(f"{PROG}: {summary} in {time.monotonic() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
