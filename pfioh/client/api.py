"""PfiohClient: hello, push and pull against pfioh (ours or the original) over the pfurl protocol.

Usage::

    client = PfiohClient("http://127.0.0.1:5055", token=None)
    client.hello()
    client.push("chris-jid-1", "./dicoms")                 # zip, checkRemote GET, multipart POST
    client.pull("chris-jid-1", "./results")                # checkRemote GET, streaming GET, safe unzip
"""
from __future__ import annotations

import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import requests

from pfioh import protocol
from pfioh.client import archive, progress, wire

DEFAULT_PORT = 5055
PLUGIN = {"op": "plugin", "cleanup": True}
"""pfcon's specialHandling: mount-mode input goes to ``<key>/incoming``, pulls serve ``outgoing``."""


class ClientError(Exception):
    """A pfioh request failed; the message says which one and why."""


def _root_cause(exc: BaseException) -> str:
    """The innermost error (e.g. ``[Errno 111] Connection refused``), not urllib3's wrapper chain."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return str(exc) or type(exc).__name__


def _error_text(resp: requests.Response) -> str:
    """The ``error``/``msg`` of a JSON error reply, else the start of the body."""
    with resp:
        body = resp.content[:4096]  # error replies are small JSON documents
    try:
        reply = wire.parse_reply(body)
        return str(reply.get("error") or reply.get("msg") or reply)[:300]
    except wire.ReplyError:
        return body[:300].decode("utf-8", "replace") or resp.reason or ""


@dataclass
class Transfer:
    """What a push or pull moved and how long each phase took (the summary line's data)."""

    action: str
    """``push`` or ``pull``."""
    key: str
    files: int = 0
    bytes: int = 0
    """The files' bytes (unpacked)."""
    zip_bytes: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per phase: zip, send, server (push); receive, unpack (pull)."""
    seconds: float = 0.0

    def summary(self, where: str = "") -> str:
        """``pushed 3 files, 1.2 MiB as K in 0.4s (zip 0.1s, send 0.1s, server 0.2s)``."""
        verb, prep = ("pushed", "as") if self.action == "push" else ("pulled", "of")
        phases = ", ".join(f"{name} {secs:.1f}s" for name, secs in self.phases.items())
        return (f"{verb} {self.files} files, {progress.human_bytes(self.bytes)} {prep} {self.key}"
                f"{' ' + where if where else ''} in {self.seconds:.1f}s ({phases})")


class PfiohClient:
    """A small pfioh client.

    :param url: ``http://host:port[/path]`` or ``host:port``; the path defaults to ``/api/v1/cmd``.
    :param token: sent as ``Authorization: bearer <token>`` when given.
    :param timeout: seconds to wait for the server to answer (not for the whole transfer).
    :param show_progress: show each phase of a push or pull on ``progress_stream``: redrawn on
        a terminal, a line every few seconds otherwise (see :mod:`pfioh.client.progress`).
    :param progress_stream: default stderr.

    After each push or pull, :attr:`last_transfer` holds its :class:`Transfer` (for a summary).
    """

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 300,
                 show_progress: bool = True, progress_stream: TextIO | None = None,
                 session: requests.Session | None = None):
        self.url = wire.normalize_url(url, DEFAULT_PORT)
        self.timeout = timeout
        self.show_progress = show_progress
        self.progress_stream = progress_stream
        self.last_transfer: Transfer | None = None
        self.session = session or requests.Session()
        self.headers = {"Authorization": f"bearer {token}"} if token else {}

    def request(self, method: str, what: str, **kw) -> requests.Response:
        """One HTTP request to pfioh with the client's token and timeout (``kw`` as for
        ``requests``), e.g. a ready-made zip sent as pushPath; ``what`` names it in errors.

        :raises ClientError: pfioh unreachable, the request failed, or an HTTP error status.
        """
        headers = {**self.headers, **kw.pop("headers", {})}
        try:
            resp = self.session.request(method, self.url, headers=headers, timeout=self.timeout, **kw)
        except requests.ConnectionError as exc:
            raise ClientError(f"{what}: cannot connect to pfioh at {self.url} "
                              f"(is it running? {_root_cause(exc)})") from exc
        except requests.RequestException as exc:
            raise ClientError(f"{what}: request to pfioh at {self.url} failed: {_root_cause(exc)}") from exc
        if resp.status_code >= 400:
            raise ClientError(f"{what}: pfioh answered HTTP {resp.status_code}: {_error_text(resp)}")
        return resp

    def _json(self, resp: requests.Response, what: str) -> dict:
        try:
            return wire.parse_reply(resp.content)
        except wire.ReplyError as exc:
            raise ClientError(f"{what}: {exc}") from exc

    def control(self, action: str, meta: dict) -> dict:
        """POST a control message (``Mode: control``, JSON body) and return the JSON reply."""
        body = json.dumps({"action": action, "meta": meta})
        resp = self.request("POST", action, data=body.encode(), headers={"Mode": "control"})
        return self._json(resp, action)

    def hello(self, ask_about: str = "sysinfo", echo: str | None = None) -> dict:
        """The server's name/version (and sysinfo/timestamp/echoBack).  :returns: ``d_ret``."""
        meta = {"askAbout": ask_about, **({"echoBack": echo} if echo is not None else {})}
        reply = self.control("hello", meta)
        stdout = reply.get("stdout", reply)
        if not stdout.get("status", False) or "d_ret" not in stdout:
            raise ClientError(f"hello: unexpected reply {str(reply)[:300]}")
        return stdout["d_ret"]

    def check_remote(self, action: str, meta: dict) -> dict:
        """pfurl's step 2: a GET with ``checkRemote: True`` (creates dirs with --createDirsAsNeeded)."""
        return self._check_remote(action, meta)[0]

    def _check_remote(self, action: str, meta: dict) -> tuple[dict, bool]:
        """:meth:`check_remote`'s reply, and whether the server takes a chunked push."""
        resp = self.request("GET", f"{action} (checkRemote)",
                            params=wire.query(action, {**meta, "transport": wire.transport(True)}))
        reply = self._json(resp, f"{action} (checkRemote)")
        if not reply.get("status", False):
            raise ClientError(f"{action}: the server refused the remote location: {str(reply)[:300]}")
        return reply, resp.headers.get(protocol.CHUNKED_PUSH_HEADER) == "1"

    def _display(self) -> progress.Display:
        return progress.Display(self.progress_stream or sys.stderr, enabled=self.show_progress)

    def push(self, key: str, local: str | os.PathLike, *, special_handling: dict | None = None,
             service_man: str | None = None) -> dict:
        """Zip ``local`` and store it under ``key``, showing each phase (zipping, sending, the
        server storing).

        :returns: the server's pushPath reply (``status`` true).
        :raises ClientError: naming the failing step (zip, checkRemote, upload).
        """
        started, local = time.monotonic(), Path(local)
        try:
            members = archive.list_members(local)  # before any request: a typo fails at once
        except (archive.ArchiveError, OSError) as exc:
            raise ClientError(f"pushPath: {exc}") from exc
        meta = wire.path_meta(key, str(local), check_remote=False, special_handling=special_handling,
                              service_man=service_man)
        _, chunked = self._check_remote("pushPath", meta)
        stats = Transfer("push", key, len(members), sum(m.size for m in members))
        display = self._display()
        zip_path = archive.temp_zip_path()
        try:
            if chunked:  # zipped while it is sent, and unpacked by the server as it arrives
                reply = self._stream(key, meta, members, display, stats)
            else:
                self._zip(members, zip_path, display, stats)
                reply = self._upload(key, meta, zip_path, display, stats)
        finally:
            display.break_line()
            zip_path.unlink(missing_ok=True)
        if not reply.get("status", False):
            raise ClientError(f"pushPath: pfioh did not store {key}: {reply.get('msg') or str(reply)[:300]}")
        stats.seconds = time.monotonic() - started
        self.last_transfer = stats
        return reply

    def _zip(self, members: list[archive.Member], zip_path: Path, display: progress.Display,
             stats: Transfer) -> None:
        phase = progress.Phase(display, f"push {stats.key}", "zipping", total_bytes=stats.bytes,
                               total_files=stats.files)
        try:
            archive.zip_members(members, zip_path, phase.add)
        except OSError as exc:
            raise ClientError(f"pushPath: zipping failed: {exc}") from exc
        stats.zip_bytes = zip_path.stat().st_size
        stats.phases["zip"] = phase.finish(f"zipped {stats.files} files, {progress.human_bytes(stats.bytes)} "
                                           f"into a {progress.human_bytes(stats.zip_bytes)} zip")

    def _upload(self, key: str, meta: dict, zip_path: Path, display: progress.Display,
                stats: Transfer) -> dict:
        label = f"push {key}"
        sending = progress.Phase(display, label, "sending", total_bytes=stats.zip_bytes, rate=True)
        waiting: list[progress.Wait] = []

        def sent() -> None:  # the body is out: what remains is the server storing it
            stats.phases["send"] = sending.finish(f"sent {progress.human_bytes(stats.zip_bytes)}")
            waiting.append(progress.Wait(display, label, f"store {stats.files} files, "
                                                         f"{progress.human_bytes(stats.bytes)}"))

        body = wire.MultipartUpload({"action": "pushPath", "meta": meta}, zip_path,
                                    f"{uuid.uuid4()}.zip", progress=sending.add, on_sent=sent)
        try:
            return self._post_push(body, waiting, stats)
        finally:
            body.close()

    def _post_push(self, body: wire.MultipartUpload | wire.StreamedUpload, waiting: list[progress.Wait],
                   stats: Transfer) -> dict:
        """POST the push ``body``; its reply.  ``waiting`` has the server's phase once the body is out."""
        reply: dict = {}
        try:
            resp = self.request("POST", "pushPath", data=body, headers=body.headers)
            reply = self._json(resp, "pushPath")
        except wire.ZipFailed as exc:
            raise ClientError(f"pushPath: zipping failed: {exc}") from exc
        finally:
            if waiting:  # a refusal or error is the caller's message, not a progress line
                stored = "stored by the server" if reply.get("status", False) else None
                stats.phases["server"] = waiting[0].finish(stored)
        return reply

    def _stream(self, key: str, meta: dict, members: list[archive.Member], display: progress.Display,
                stats: Transfer) -> dict:
        label = f"push {key}"
        phase = progress.Phase(display, label, "zipping and sending", total_bytes=stats.bytes,
                               total_files=stats.files, rate=True)
        waiting: list[progress.Wait] = []

        def sent(zip_bytes: int) -> None:  # the body is out: what remains is the server storing it
            stats.zip_bytes = zip_bytes
            stats.phases["zip+send"] = phase.finish(f"zipped and sent {stats.files} files, "
                                                    f"{progress.human_bytes(stats.bytes)} as a "
                                                    f"{progress.human_bytes(zip_bytes)} zip")
            waiting.append(progress.Wait(display, label, f"store {stats.files} files, "
                                                         f"{progress.human_bytes(stats.bytes)}"))

        body = wire.StreamedUpload({"action": "pushPath", "meta": meta}, archive.zip_stream(members, phase.add),
                                   f"{uuid.uuid4()}.zip", on_sent=sent)
        return self._post_push(body, waiting, stats)

    def pull(self, key: str, dest: str | os.PathLike, *, special_handling: dict | None = None,
             clean: bool = False, limits: archive.Limits = archive.Limits()) -> list[str]:
        """Fetch what is stored under ``key`` (the job's output) and unpack it into ``dest``,
        showing each phase (receiving, unpacking).

        :param clean: replace a non-empty ``dest`` (otherwise it is refused).
        :returns: the relative names of the files written.
        :raises ClientError: naming the failing step (checkRemote, download, unzip).
        """
        started, dest = time.monotonic(), Path(dest)
        meta = wire.path_meta(key, str(dest), check_remote=False, special_handling=special_handling,
                              create_dir=True)
        self.check_remote("pullPath", meta)
        stats = Transfer("pull", key)
        display = self._display()
        zip_path = archive.temp_zip_path()
        try:
            self._download(key, meta, zip_path, display, stats)
            names = self._unpack(zip_path, dest, display, stats, limits=limits, clean=clean)
        finally:
            display.break_line()
            zip_path.unlink(missing_ok=True)
        stats.seconds = time.monotonic() - started
        self.last_transfer = stats
        return names

    def _download(self, key: str, meta: dict, zip_path: Path, display: progress.Display,
                  stats: Transfer) -> None:
        resp = self.request("GET", "pullPath", params=wire.query("pullPath", meta), stream=True)
        with resp:
            phase = progress.Phase(display, f"pull {key}", "receiving", total_bytes=_expected_size(resp.headers),
                                   rate=True)
            try:
                with open(zip_path, "wb") as out:
                    for chunk in resp.iter_content(archive.CHUNK):
                        out.write(chunk)
                        phase.add(len(chunk))
            except requests.RequestException as exc:
                raise ClientError(f"pullPath: the download of {key} broke off after "
                                  f"{progress.human_bytes(phase.bytes)}: {_root_cause(exc)}") from exc
            except OSError as exc:
                raise ClientError(f"pullPath: cannot write the download to {zip_path}: {exc}") from exc
            stats.zip_bytes = phase.bytes
            stats.phases["receive"] = phase.finish(f"received {progress.human_bytes(phase.bytes)}")
            is_json = "json" in resp.headers.get("Content-Type", "")
        with open(zip_path, "rb") as f:
            magic = f.read(2)
        if is_json or magic != b"PK":
            # pfioh answers with JSON instead of a zip when there is nothing to pull.
            try:
                reply = wire.parse_reply(zip_path.read_bytes()[:65536])
            except wire.ReplyError:
                reply = {}
            raise ClientError(f"pullPath: pfioh sent no archive for {key}: "
                              f"{reply.get('msg') or reply.get('error') or str(reply)[:300] or 'empty reply'}")

    def _unpack(self, zip_path: Path, dest: Path, display: progress.Display, stats: Transfer, *,
                limits: archive.Limits, clean: bool) -> list[str]:
        phases: list[progress.Phase] = []

        def totals(files: int, nbytes: int) -> None:
            stats.files, stats.bytes = files, nbytes
            phases.append(progress.Phase(display, f"pull {stats.key}", "unpacking", total_bytes=nbytes,
                                         total_files=files))

        try:
            names = archive.safe_extract(zip_path, dest, limits=limits, clean=clean, on_totals=totals,
                                         progress=lambda n, files: phases[0].add(n, files))
        except archive.ArchiveError as exc:
            raise ClientError(f"pullPath: {exc}") from exc
        except OSError as exc:
            raise ClientError(f"pullPath: cannot unpack into {dest}: {exc}") from exc
        stats.phases["unpack"] = phases[0].finish(f"unpacked {stats.files} files, "
                                                  f"{progress.human_bytes(stats.bytes)}")
        return names


def _expected_size(headers) -> int | None:
    """The download's size: its Content-Length (our pfioh sends one even with a zip it builds
    on the fly), else unknown."""
    try:
        return int(headers["Content-Length"])
    except (KeyError, ValueError):
        return None
