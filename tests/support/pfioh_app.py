"""pfioh's Flask app under test: its URL, the messages pfurl sends it, zips and configs made to order."""
from __future__ import annotations

import dataclasses
import io
import json
import zipfile

from pfioh.config import PfiohConfig
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

URL = "/api/v1/cmd/"


def make_zip(files: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def push_meta(key, *, plugin=False, unpack=True, local="/src/dir") -> dict:
    meta = {"remote": {"key": key}, "local": {"path": local},
            "transport": {"mechanism": "compress", "checkRemote": False,
                          "compress": {"archive": "zip", "unpack": unpack, "cleanup": True}}}
    if plugin:
        meta["specialHandling"] = {"op": "plugin", "cleanup": True}
    return meta


def pull_query(key, *, plugin=False, check=False, cleanup=False) -> dict:
    meta = {"remote": {"key": key}, "local": {"path": "/dst", "createDir": True},
            "transport": {"mechanism": "compress", "checkRemote": check,
                          "compress": {"archive": "zip", "unpack": True, "cleanup": True}}}
    if plugin:
        meta["specialHandling"] = {"op": "plugin", "cleanup": cleanup}
    # pfurl sends str(dict): a Python literal, not JSON.
    return {"action": "pullPath", "meta": str(meta)}


def push(client, key, payload: bytes, **kw):
    meta = push_meta(key, **{k: v for k, v in kw.items() if k in ("plugin", "unpack", "local")})
    fields = {"d_msg": json.dumps({"action": "pushPath", "meta": meta}), "filename": "x.zip",
              "local": FileStorage(io.BytesIO(payload), "x.zip")}
    # Encoded in memory: given a dict, the test client spools bodies over 500 KB to a temporary
    # file that nothing ever closes (a ResourceWarning, raised in whichever test runs the GC).
    boundary, body = encode_multipart(fields)
    return client.post(URL, data=body, headers={"Mode": "file", **kw.get("headers", {})},
                       content_type=f'multipart/form-data; boundary="{boundary}"')


def control(client, action, meta, headers=None):
    return client.post(URL, data=json.dumps({"action": action, "meta": meta}),
                       headers={"Mode": "control", **(headers or {})},
                       content_type="application/x-www-form-urlencoded")


def with_(config: PfiohConfig, **changes) -> PfiohConfig:
    return dataclasses.replace(config, **changes)
