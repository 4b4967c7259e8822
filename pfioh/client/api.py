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
import uuid
from pathlib import Path

import requests

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


class PfiohClient:
    """A small pfioh client.

    :param url: ``http://host:port[/path]`` or ``host:port``; the path defaults to ``/api/v1/cmd``.
    :param token: sent as ``Authorization: bearer <token>`` when given.
    :param timeout: seconds to wait for the server to answer (not for the whole transfer).
    :param show_progress: draw progress bars for transfers on stderr.
    """

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 300,
                 show_progress: bool = True, session: requests.Session | None = None):
        self.url = wire.normalize_url(url, DEFAULT_PORT)
        self.timeout = timeout
        self.show_progress = show_progress
        self.session = session or requests.Session()
        self.headers = {"Authorization": f"bearer {token}"} if token else {}

    def _request(self, method: str, what: str, **kw) -> requests.Response:
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
        resp = self._request("POST", action, data=body.encode(), headers={"Mode": "control"})
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
        reply = self._json(self._request("GET", f"{action} (checkRemote)",
                                         params=wire.query(action, {**meta, "transport": wire.transport(True)})),
                           f"{action} (checkRemote)")
        if not reply.get("status", False):
            raise ClientError(f"{action}: the server refused the remote location: {str(reply)[:300]}")
        return reply

    def push(self, key: str, local: str | os.PathLike, *, special_handling: dict | None = None,
             service_man: str | None = None) -> dict:
        """Zip ``local`` and store it under ``key``.

        :returns: the server's pushPath reply (``status`` true).
        :raises ClientError: naming the failing step (zip, checkRemote, upload).
        """
        local = Path(local)
        meta = wire.path_meta(key, str(local), check_remote=False, special_handling=special_handling,
                              service_man=service_man)
        self.check_remote("pushPath", meta)
        zip_path = archive.temp_zip_path()
        try:
            try:
                archive.zip_tree(local, zip_path)
            except (archive.ArchiveError, OSError) as exc:
                raise ClientError(f"pushPath: {exc}") from exc
            reply = self._upload(key, meta, zip_path)
        finally:
            zip_path.unlink(missing_ok=True)
        if not reply.get("status", False):
            raise ClientError(f"pushPath: pfioh did not store {key}: {reply.get('msg') or str(reply)[:300]}")
        return reply

    def _upload(self, key: str, meta: dict, zip_path: Path) -> dict:
        bar = progress.Progress(f"push {key}", zip_path.stat().st_size, enabled=self.show_progress)
        body = wire.MultipartUpload({"action": "pushPath", "meta": meta}, zip_path,
                                    f"{uuid.uuid4()}.zip", progress=bar)
        try:
            resp = self._request("POST", "pushPath", data=body,
                                 headers={"Mode": "file", "Content-Type": body.content_type,
                                          "Content-Length": str(len(body))})
        finally:
            body.close()
        bar.close()
        return self._json(resp, "pushPath")

    def pull(self, key: str, dest: str | os.PathLike, *, special_handling: dict | None = None,
             clean: bool = False, limits: archive.Limits = archive.Limits()) -> list[str]:
        """Fetch what is stored under ``key`` (the job's output) and unpack it into ``dest``.

        :param clean: replace a non-empty ``dest`` (otherwise it is refused).
        :returns: the relative names of the files written.
        :raises ClientError: naming the failing step (checkRemote, download, unzip).
        """
        dest = Path(dest)
        meta = wire.path_meta(key, str(dest), check_remote=False, special_handling=special_handling,
                              create_dir=True)
        self.check_remote("pullPath", meta)
        zip_path = archive.temp_zip_path()
        try:
            self._download(key, meta, zip_path)
            try:
                return archive.safe_extract(zip_path, dest, limits=limits, clean=clean)
            except archive.ArchiveError as exc:
                raise ClientError(f"pullPath: {exc}") from exc
        finally:
            zip_path.unlink(missing_ok=True)

    def _download(self, key: str, meta: dict, zip_path: Path) -> None:
        resp = self._request("GET", "pullPath", params=wire.query("pullPath", meta), stream=True)
        with resp:
            length = resp.headers.get("Content-Length")
            bar = progress.Progress(f"pull {key}", int(length) if length else None,
                                    enabled=self.show_progress)
            with open(zip_path, "wb") as out:
                for chunk in resp.iter_content(archive.CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            bar.close()
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
