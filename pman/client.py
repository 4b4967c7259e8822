"""``pman-client``: run, watch and remove jobs through pman's message API (``/api/v1/cmd``).

Speaks the protocol pfurl and pfcon use: ``POST /api/v1/cmd`` with header
``Mode: control`` and the body ``{"payload": {"action": ..., "meta": {...}}}``.  The request goes out
in ONE write, headers and body together: the original pman reads each TCP segment as a whole request
and misses a body sent separately, which is what ``http.client`` would do.

Examples::

    pman-client --pman http://127.0.0.1:5010 hello
    pman-client run [--wait] chris-jid-1 -- python proc.py /share/incoming /share/outgoing
    pman-client status chris-jid-1 [--wait]
    pman-client logs chris-jid-1
    pman-client delete chris-jid-1
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import socket
import ssl
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:5010"
DEFAULT_PATH = "/api/v1/cmd"
FINISHED = "finished"


class ClientError(Exception):
    """A pman request failed; the message says which one and why."""


@dataclass(frozen=True)
class JobState:
    """A job's status as the message API reports it, made readable."""

    jid: str
    l_status: tuple[str, ...]
    """One state per sub-job: notstarted, started, finishedSuccessfully, finishedWithError, ..."""
    description: str = ""
    logs: str = ""
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def finished(self) -> bool:
        """pfcon's test: every ``l_status`` item contains "finished"."""
        return bool(self.l_status) and all(FINISHED in s for s in self.l_status)

    @property
    def succeeded(self) -> bool:
        return self.finished and all(s == "finishedSuccessfully" for s in self.l_status)

    def summary(self) -> str:
        states = ", ".join(self.l_status) or "unknown"
        if self.description.startswith(states):  # our pman: "finishedWithError (ProcessorError): ..."
            return f"{self.jid}: {self.description}"
        return f"{self.jid}: {states}" + (f" - {self.description}" if self.description else "")


def _as_text(value) -> str:
    """``l_logs``/``description`` arrive as a string, a list, or a dict per step: make it text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(f"--- {k}\n{_as_text(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "\n".join(_as_text(v) for v in value)
    return json.dumps(value)


class PmanClient:
    """A small client for pman's legacy message API.

    :param url: ``http://host:port[/path]`` or ``host:port`` (path default ``/api/v1/cmd``).
    :param token: sent as ``Authorization: bearer <token>`` when given.
    :param timeout: seconds for connecting and for the reply.
    """

    def __init__(self, url: str = DEFAULT_URL, *, token: str | None = None, timeout: float = 60):
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not a pman URL: {url!r}")
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 5010)
        self.path = parts.path if parts.path not in ("", "/") else DEFAULT_PATH
        self.token, self.timeout = token, timeout

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.path}"

    def _request_bytes(self, body: bytes) -> bytes:
        head = [f"POST {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Accept: */*",
                "Mode: control", "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}", "Connection: close"]
        if self.token:
            head.append(f"Authorization: bearer {self.token}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    def _exchange(self, body: bytes) -> tuple[int, bytes]:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        try:
            if self.scheme == "https":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            sock.sendall(self._request_bytes(body))
            resp = http.client.HTTPResponse(sock)
            resp.begin()
            return resp.status, resp.read()
        finally:
            sock.close()

    def send(self, action: str, meta: dict) -> dict:
        """Send one message and return the decoded reply.

        :raises ClientError: unreachable server, HTTP error, non-JSON reply or ``status`` false.
        """
        body = json.dumps({"payload": {"action": action, "meta": meta}}).encode()
        try:
            status, data = self._exchange(body)
        except (OSError, http.client.HTTPException) as exc:
            raise ClientError(f"{action}: cannot reach pman at {self.url}: {exc}") from exc
        try:
            reply = json.loads(data)
        except ValueError:
            raise ClientError(f"{action}: pman answered HTTP {status} without JSON: {data[:200]!r}") from None
        if not isinstance(reply, dict):
            raise ClientError(f"{action}: pman answered HTTP {status} with {str(reply)[:200]}")
        if status >= 400 or reply.get("status") is False:
            detail = reply.get("error") or reply.get("msg") or reply.get("message")
            if not detail:  # the original pman only says status false; d_ret hints at why
                detail = f"status false, d_ret {json.dumps(reply.get('d_ret'))[:200]}"
            raise ClientError(f"{action}: pman answered HTTP {status}: {str(detail)[:300]}")
        return reply

    def hello(self) -> dict:
        """The server's name and version.  :returns: ``d_ret``."""
        return self.send("hello", {"askAbout": "timestamp"}).get("d_ret", {})

    def run(self, jid: str, cmd: str, *, image: str = "", auid: str = "chris",
            cpu_limit: str = "1000m", memory_limit: str = "1024Mi", gpu_limit: int = 0,
            number_of_workers: int = 1, extra_meta: dict | None = None) -> dict:
        """Schedule ``cmd`` as job ``jid`` (pfcon's run message; limits as strings, as CUBE sends).

        :param cmd: the command line; its last two tokens are the incoming and outgoing dirs.
        :param image: the processor's container image; left out of the message when empty.
        """
        meta = {"cmd": cmd, "auid": auid, "jid": jid, "threaded": True,
                "number_of_workers": str(number_of_workers), "cpu_limit": cpu_limit,
                "memory_limit": memory_limit, "gpu_limit": gpu_limit}
        if image:  # the original pman takes a "container" section as "run in a container"
            meta["container"] = {"target": {"image": image, "cmdParse": False}}
        meta.update(extra_meta or {})
        return self.send("run", meta)

    def status(self, jid: str) -> JobState:
        """The job's state.  :raises ClientError: unknown job or server error."""
        reply = self.send("status", {"key": "jid", "value": jid})
        d_ret = reply.get("d_ret") or {}
        l_status = d_ret.get("l_status") or []
        if isinstance(l_status, str):
            l_status = [l_status]
        return JobState(jid, tuple(str(s) for s in l_status), _as_text(d_ret.get("description")),
                        _as_text(d_ret.get("l_logs")), reply)

    def logs(self, jid: str) -> str:
        """The job's logs as text (``l_logs`` of its status)."""
        return self.status(jid).logs

    def delete(self, jid: str) -> dict:
        """Cancel the job if it runs and forget it.  :returns: ``d_ret``."""
        return self.send("delete", {"key": "jid", "value": jid}).get("d_ret", {})

    def wait(self, jid: str, *, interval: float = 1.0, timeout: float = 3600,
             on_poll=None) -> JobState:
        """Poll ``status`` until every ``l_status`` item contains "finished" (pfcon's loop).

        :param on_poll: called with each :class:`JobState` (progress display).
        :raises ClientError: if the job is not finished after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            state = self.status(jid)
            if on_poll:
                on_poll(state)
            if state.finished:
                return state
            if time.monotonic() > deadline:
                raise ClientError(f"status: {jid} not finished after {timeout:.0f}s ({state.summary()})")
            time.sleep(interval)


class StatusLine:
    """Draws ``jid: state (elapsed)`` on stderr: one redrawn line on a terminal, else one line per
    change of state."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.started, self.last = time.monotonic(), None

    def __call__(self, state: JobState) -> None:
        text = f"{state.summary()} ({time.monotonic() - self.started:.0f}s)"
        if self.stream.isatty():
            self.stream.write("\r" + text + " " * 8 + ("\n" if state.finished else ""))
        elif state.l_status != self.last:
            self.stream.write(text + "\n")
        self.last = state.l_status
        self.stream.flush()


EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

EPILOG = """\
exit status:
  0  success
  1  failure: pman refused or failed the request (e.g. an unknown job, a duplicate JID), it
     could not be reached, or the job shown by status/--wait finished with an error
  2  usage error: bad arguments

examples:
  pman-client --pman http://127.0.0.1:5010 hello
  pman-client run --wait chris-jid-1 -- python proc.py /share/incoming /share/outgoing
  pman-client status chris-jid-1 --wait
  pman-client logs chris-jid-1
  pman-client delete chris-jid-1
"""
JID_HELP = "the job id (pfcon uses the same id as the pfioh key)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pman-client", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Run and watch jobs through pman's message API "
                                                 "(the pfurl/pfcon protocol).")
    parser.add_argument("--pman", "--url", dest="url", metavar="URL", default=os.environ.get("PMAN_URL", DEFAULT_URL),
                        help="pman address (env PMAN_URL; default %(default)s)")
    parser.add_argument("--auth-token", "--authToken", dest="token", metavar="TOKEN",
                        default=os.environ.get("PMAN_AUTH_TOKEN"),
                        help="token sent as 'Authorization: bearer <token>' (env PMAN_AUTH_TOKEN)")
    parser.add_argument("--timeout", type=float, default=60, metavar="SECONDS",
                        help="seconds to wait for each answer (default %(default)g)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON replies")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="what to do (COMMAND --help for its arguments)")
    sub.add_parser("hello", help="ask the server who it is",
                   description="Print pman's name, version and engine.")
    run = sub.add_parser("run", help="run a command as job JID",
                         description="Submit CMD as job JID (pfcon's run message); options go before JID.")
    run.add_argument("jid", metavar="JID", help=JID_HELP)
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD",
                     help="the command, after -- (options go before JID); its last two tokens are "
                          "the incoming and outgoing dirs")
    run.add_argument("--image", default="", help="container image (ignored by the local engine)")
    run.add_argument("--cpu-limit", default="1000m", metavar="QUANTITY",
                     help="CPU limit, Kubernetes quantity (default %(default)s; not enforced by the local engine)")
    run.add_argument("--memory-limit", default="1024Mi", metavar="QUANTITY",
                     help="memory limit, Kubernetes quantity (default %(default)s; not enforced by the "
                          "local engine)")
    run.add_argument("--wait", action="store_true", help="then poll until the job finishes")
    run.set_defaults(subparser=run)  # for its usage line in a usage error
    status = sub.add_parser("status", help="show a job's state",
                            description="Print job JID's state; exit 1 if it finished with an error.")
    status.add_argument("jid", metavar="JID", help=JID_HELP)
    status.add_argument("--wait", action="store_true", help="poll until the job finishes")
    for name, text in (("logs", "print a job's logs"), ("delete", "cancel and remove a job")):
        command = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        command.add_argument("jid", metavar="JID", help=JID_HELP)
    return parser


def _finish(client: PmanClient, args, state: JobState | None = None) -> int:
    """Print a state (waiting for the end with --wait); exit 0 unless the job failed."""
    if args.wait:
        state = client.wait(args.jid, on_poll=StatusLine())
    state = state or client.status(args.jid)
    print(json.dumps(state.raw, indent=2) if args.json else state.summary())
    return EXIT_FAILURE if state.finished and not state.succeeded else EXIT_OK


def run_command(args: argparse.Namespace) -> int:
    """Execute the parsed command.  :raises ClientError:"""
    client = PmanClient(args.url, token=args.token, timeout=args.timeout)
    if args.command == "hello":
        print(json.dumps(client.hello(), indent=2))
        return EXIT_OK
    if args.command == "run":
        reply = client.run(args.jid, shlex.join(args.cmd), image=args.image, cpu_limit=args.cpu_limit,
                           memory_limit=args.memory_limit)
        print(json.dumps(reply, indent=2) if args.json else f"{args.jid}: submitted")
        return _finish(client, args) if args.wait else EXIT_OK
    if args.command == "status":
        return _finish(client, args)
    if args.command == "logs":
        print(client.logs(args.jid))
        return EXIT_OK
    d_ret = client.delete(args.jid)  # not inside the print's condition: it must run without --json too
    print(json.dumps(d_ret, indent=2) if args.json else f"{args.jid}: deleted" + _data_said(d_ret))
    return EXIT_OK


def _data_said(d_ret: dict) -> str:
    """``; its data: deleted (Swift container j)``, when pman says what became of the data."""
    if not d_ret.get("data"):
        return ""  # a pman that does not delete data (older, or the original)
    return f"; its data: {d_ret['data']}" + (f" ({d_ret['data_detail']})" if d_ret.get("data_detail") else "")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse and check the arguments; a usage error exits with EXIT_USAGE (argparse's 2)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        PmanClient(args.url)
    except ValueError as exc:
        parser.error(str(exc))
    if args.command == "run":
        args.cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not args.cmd:
            args.subparser.error("no command given (pman-client run JID -- CMD ...)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    try:
        return run_command(args)
    except ClientError as exc:
        print(f"pman-client: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
