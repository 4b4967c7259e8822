"""Helpers for pfioh's integration tests: start the real server, drive the real pfurl CLI and a
pfcon-3-style ``requests`` client, make and compare trees."""
from __future__ import annotations

import filecmp
import io
import json
import os
import subprocess
import sys
import time
import urllib.parse
import zipfile
from pathlib import Path

import requests

BIN = Path(sys.executable).parent
PFURL = str(BIN / "pfurl")
COMPRESS = {"mechanism": "compress", "compress": {"archive": "zip", "unpack": True, "cleanup": True}}


def start_pfioh(server_factory, tmp_path, *extra, env=None):
    store = tmp_path / "store"
    argv = ["pfioh", "--forever", "--httpResponse", "--createDirsAsNeeded", "--storeBase", str(store), *extra]
    server = server_factory(argv, env=env)
    server.store = store
    return server


def make_tree(root: Path, spec: dict[str, int], seed: int = 0) -> Path:
    """Files of random bytes: ``{"relpath": size}``."""
    for rel, size in spec.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    return root


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(same_tree(a / d, b / d) for d in cmp.common_dirs)


def pfurl(url: str, msg: dict, cwd: Path, token: str | None = None) -> dict:
    """Run the real pfurl 2.3.0.1 CLI (from a scratch cwd: it writes ``<uuid>.zip`` there)."""
    argv = [PFURL, "--verb", "POST", "--raw", "--quiet", "--http", f"{url.split('//')[1]}/api/v1/cmd",
            "--msg", json.dumps(msg)]
    if token:
        argv += ["--authToken", token]
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


def pfurl_push(url, key, src: Path, cwd: Path, token=None, **meta) -> dict:
    return pfurl(url, {"action": "pushPath", "meta": {"remote": {"key": key}, "local": {"path": str(src)},
                                                      "transport": COMPRESS, **meta}}, cwd, token)


def pfurl_pull(url, key, dest: Path, cwd: Path, token=None, **meta) -> dict:
    return pfurl(url, {"action": "pullPath", "meta": {"remote": {"key": key},
                                                      "local": {"path": str(dest), "createDir": True},
                                                      "transport": COMPRESS, **meta}}, cwd, token)


def zip_tree(src: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(src).as_posix())
    return buf.getvalue()


def pfcon3_push(url, key, payload, token=None, plugin=True) -> requests.Response:
    """As pfcon 3 (services.py) pushes: multipart files/data with ``Mode: file``."""
    meta = {"remote": {"key": key}, "local": {"path": f"/share/{key}"}, "transport": COMPRESS}
    if plugin:
        meta["specialHandling"] = {"op": "plugin", "cleanup": True}
    headers = {"Mode": "file", **({"Authorization": f"bearer {token}"} if token else {})}
    return requests.post(f"{url}/api/v1/cmd/", files={"local": payload},
                         data={"d_msg": json.dumps({"action": "pushPath", "meta": meta}), "filename": f"{key}.zip"},
                         headers=headers, timeout=300)


def pfcon3_pull(url, key, token=None, plugin=True) -> requests.Response:
    meta = {"remote": {"key": key}, "local": {"path": f"/share/{key}", "createDir": True}, "transport": COMPRESS}
    if plugin:
        meta["specialHandling"] = {"op": "plugin", "cleanup": False}
    query = urllib.parse.urlencode({"action": "pullPath", "meta": meta})
    headers = {"Authorization": f"bearer {token}"} if token else {}
    return requests.get(f"{url}/api/v1/cmd/?{query}", headers=headers, timeout=300)


def unzip_bytes(data: bytes, dest: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(dest)
    return dest


def wait_instances_gone(staging, timeout: float = 30) -> None:
    """Wait until no process holds an instance lock under ``staging`` (a killed server's workers
    may outlive its main process by a moment; until they are gone its staging is alive)."""
    import fcntl
    deadline = time.monotonic() + timeout
    for lock in staging.glob("inst-*.lock"):
        with open(lock, "rb") as f:
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    assert time.monotonic() < deadline, f"{lock} is still held"
                    time.sleep(0.05)
