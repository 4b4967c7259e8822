"""An in-memory stand-in for ``swiftclient.client.Connection`` (the seam SwiftStore builds on).

It records every call, reads request bodies the way swiftclient does (file-like bodies through
``read``), answers SLO manifests like Swift (ETag = MD5 of the segment ETags, GET = the
concatenated segments) and can be told to fail or to lie about an ETag.
"""
from __future__ import annotations

import hashlib
import json
import threading

from swiftclient.exceptions import ClientException


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class FakeSwift:
    """The shared state (one "cluster") behind any number of :class:`FakeConnection`."""

    def __init__(self):
        self.containers: dict[str, dict[str, dict]] = {}
        self.calls: list[tuple] = []
        self.lock = threading.Lock()
        self.fail: dict[tuple[str, str], BaseException] = {}   # (method, name) -> exception
        self.fail_suffix: dict[tuple[str, str], BaseException] = {}  # (method, end of name) -> exception
        self.bad_etag: set[str] = set()                          # object names answered with a wrong ETag
        self.connections = 0

    def connect(self):
        self.connections += 1
        return FakeConnection(self)

    def objects(self, container: str) -> dict[str, bytes]:
        return {k: v["data"] for k, v in self.containers.get(container, {}).items()}

    def tree(self, container: str, prefix: str) -> dict[str, bytes]:
        """``{relative name: bytes}`` of the tree version the manifest of ``prefix`` names now."""
        from swiftstore.manifest import Manifest
        objects = self.objects(container)
        manifest = Manifest.from_json(objects[prefix.rstrip("/") + ".manifest.json"])
        return {e.name: objects[manifest.object_of(e)] for e in manifest.entries}


def _missing(what: str):
    return ClientException(f"{what} GET failed", http_status=404, http_response_content=b"<html>Not Found</html>")


class _Body:
    def __init__(self, data: bytes, chunk: int):
        self.data, self.chunk = data, chunk or len(data) or 1

    def __iter__(self):
        for i in range(0, len(self.data), self.chunk):
            yield self.data[i:i + self.chunk]

    def close(self):
        pass


class FakeConnection:
    def __init__(self, swift: FakeSwift):
        self.swift = swift
        self.closed = False

    def _record(self, method: str, container: str, name: str | None = None):
        with self.swift.lock:
            self.swift.calls.append((method, container, name))
        exc = self.swift.fail.get((method, name or container))
        exc = exc or next((e for (m, end), e in self.swift.fail_suffix.items()
                           if m == method and (name or container).endswith(end)), None)
        if exc is not None:
            raise exc

    def put_container(self, container, headers=None):
        self._record("PUT", container)
        self.swift.containers.setdefault(container, {})

    def head_container(self, container):
        self._record("HEAD", container)
        if container not in self.swift.containers:
            raise _missing(container)
        return {}

    def delete_container(self, container):
        self._record("DELETE", container)
        if self.swift.containers.pop(container, None) is None:
            raise _missing(container)

    def get_container(self, container, prefix=None, limit=None, full_listing=False, **kw):
        self._record("LIST", container)
        if container not in self.swift.containers:
            raise _missing(container)
        listing = [{"name": k, "bytes": len(v["data"]), "hash": v["etag"]}
                   for k, v in sorted(self.swift.containers[container].items()) if k.startswith(prefix or "")]
        return {}, listing[:limit] if limit else listing

    def put_object(self, container, name, contents, content_length=None, content_type=None, headers=None,
                   query_string=None, chunk_size=None, **kw):
        if hasattr(contents, "read"):
            chunks = []
            while chunk := contents.read(65536):
                chunks.append(chunk)
            data = b"".join(chunks)
        else:
            data = contents.encode() if isinstance(contents, str) else bytes(contents or b"")
        self._record("PUT", container, name)
        if container not in self.swift.containers:
            raise _missing(container)
        record = {"data": data, "etag": md5(data), "headers": {k.lower(): v for k, v in (headers or {}).items()}}
        if query_string == "multipart-manifest=put":
            segments = json.loads(data)
            parts = [self._segment(s) for s in segments]
            record = {"data": b"".join(parts), "etag": md5("".join(s["etag"] for s in segments).encode()),
                      "headers": {**record["headers"], "x-static-large-object": "True"},
                      # what Swift answers to ?multipart-manifest=get
                      "segments": json.dumps([{"name": s["path"], "hash": s["etag"], "bytes": s["size_bytes"]}
                                              for s in segments]).encode()}
        self.swift.containers[container][name] = record
        return "0" * 32 if name in self.swift.bad_etag else record["etag"]

    def _segment(self, seg: dict) -> bytes:
        _, container, name = seg["path"].split("/", 2)
        stored = self.swift.containers[container][name]
        assert stored["etag"] == seg["etag"] and len(stored["data"]) == seg["size_bytes"]
        return stored["data"]

    def get_object(self, container, name, resp_chunk_size=None, query_string=None, headers=None, **kw):
        self._record("GET", container, name)
        try:
            record = self.swift.containers[container][name]
        except KeyError:
            raise _missing(name) from None
        if query_string == "multipart-manifest=get":
            return {}, record["segments"]
        etag = record["etag"]
        wanted = {k.lower(): v for k, v in (headers or {}).items()}.get("if-match")
        if wanted is not None and wanted.strip('"') != etag:
            raise ClientException("Object GET failed", http_status=412, http_response_content=b"Precondition Failed")
        answer = {"etag": f'"{etag}"' if "x-static-large-object" in record["headers"] else etag,
                  "content-length": str(len(record["data"])), **record["headers"]}
        data = record["data"]
        wanted = {k.lower(): v for k, v in (headers or {}).items()}.get("range")
        if wanted:  # "bytes=first-last", as swiftstore asks
            first, last = (int(x) for x in wanted.split("=", 1)[1].split("-"))
            data = data[first:last + 1]
            answer["content-length"] = str(len(data))
        return answer, _Body(data, resp_chunk_size)

    def head_object(self, container, name, headers=None):
        answer, _ = self.get_object(container, name)
        return answer

    def delete_object(self, container, name, **kw):
        self._record("DELETE", container, name)
        if self.swift.containers.get(container, {}).pop(name, None) is None:
            raise _missing(name)

    def close(self):
        self.closed = True
