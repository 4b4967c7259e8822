"""pfioh-client against a real pfioh process: our pfioh answers a push's checkRemote with
X-Pfioh-Chunked-Push, so the client sends the zip while it makes it (chunked transfer encoding),
and pfioh unpacks it as it arrives; a zip that fails half-way leaves nothing stored.  (Against a
server without the header, the original's wire format, the client sends a finished zip with a
Content-Length: tests/unit/pfioh/test_client.py.)"""
from __future__ import annotations

import os

import pytest
import requests

import pfioh.client
from pfioh.client import archive
from safearchive import packzip
from tests.support import pfioh_driver as sup

KiB = 1 << 10


@pytest.fixture
def small_blocks(monkeypatch):
    """64 KiB blocks: the tree's larger files take the multi-block paths."""
    monkeypatch.setattr(packzip, "BLOCK", 64 * KiB)
    monkeypatch.setattr(packzip, "IN_FLIGHT", 256 * KiB)


def _tree(root):
    files = {
        "series1/img001.dcm": b"".join(os.urandom(256) + bytes(768) for _ in range(300)),  # 300 KiB, compressible
        "series1/img002.j2k": os.urandom(200 * KiB),  # noise: stored
        "series2/a.txt": b"hello\n" * 1000,
        "series2/empty": b"",
        # too large to bundle, compressible: in Swift mode kept as the client's DEFLATE stream
        "series3/large.dcm": b"".join(os.urandom(256) + bytes(768) for _ in range(1500)),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _client(url):
    """A client that records the headers of every request it sends."""
    client = pfioh.client.PfiohClient(url, show_progress=False)
    client.sent = []
    client.session.hooks["response"].append(lambda resp, **kw: client.sent.append(resp.request.headers))
    return client


@pytest.fixture(params=["mount", "swift"])
def server(request, server_factory, tmp_path):
    """Our pfioh in mount mode or in Swift mode, and a function reading a key's pushed tree back.
    Info logs: the early path's; a 2 MiB upload limit, well above the test tree's zip."""
    limits = ("--verbosity", "1", "--max-upload-size", "2M")
    if request.param == "mount":
        srv = sup.start_pfioh(server_factory, tmp_path, *limits)
        return srv, "chris-jid-7", lambda key, dest: srv.store / f"key-{key}" / "incoming"
    swift = request.getfixturevalue("swift")
    import swiftstore
    store = swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file))
    srv = sup.start_pfioh(server_factory, tmp_path, "--swift-storage", *limits,
                          env={"SWIFT_CREDENTIALS": swift.credentials_file})

    def fetch(key, dest):
        if store.read_manifest(key, "input/") is None:
            return dest / "nothing"
        store.get_tree(key, "input/", str(dest))
        return dest
    fetch.store = store  # type: ignore[attr-defined]
    return srv, request.getfixturevalue("unique_container"), fetch


def test_the_zip_is_sent_as_it_is_made_and_unpacked_as_it_arrives(server, tmp_path, small_blocks):
    srv, key, fetch = server
    src = _tree(tmp_path / "src")
    client = _client(srv.url)
    client.push(key, src, special_handling=pfioh.client.PLUGIN)
    post = client.sent[-1]
    assert post.get("Transfer-Encoding") == "chunked" and "Content-Length" not in post
    assert sup.same_tree(src, fetch(key, tmp_path / "back"))
    if hasattr(fetch, "store"):  # Swift mode: the large image is stored as the stream the client made
        manifest = fetch.store.read_manifest(key, "input/")
        assert {e.name for e in manifest.entries if e.kept_deflated} == {"series3/large.dcm"}
    log = srv.log_text()
    assert f"push '{key}': " in log and "early unpacking stopped" not in log, log[-2000:]


def test_a_zip_that_fails_half_way_stores_nothing(server, tmp_path, small_blocks, monkeypatch):
    srv, key, fetch = server
    src = _tree(tmp_path / "src")
    listed = archive.list_members(src)
    last = listed[-1]
    # The last file claims more than it has: zipping fails after the others were sent.
    broken = [*listed[:-1], archive.Member(last.path, last.arcname, last.size + 10, last.mtime)]
    monkeypatch.setattr(archive, "list_members", lambda source: broken)
    client = _client(srv.url)
    with pytest.raises(pfioh.client.ClientError, match=r"pushPath: zipping failed: .*changed size"):
        client.push(key, src, special_handling=pfioh.client.PLUGIN)
    assert not fetch(key, tmp_path / "back").exists()
    # The server is fine, and the next push of the key goes through.
    monkeypatch.undo()
    client.push(key, src, special_handling=pfioh.client.PLUGIN)
    assert sup.same_tree(src, fetch(key, tmp_path / "again"))
    assert requests.get(f"{srv.url}/api/v1/health", timeout=10).json()["status"] == "ok"


def test_a_chunked_push_over_the_upload_limit_is_a_413_and_stores_nothing(server, tmp_path):
    """Without a Content-Length the server cannot refuse up front: it counts the bytes as they
    come, answers pfioh's 413 once past the limit, and keeps nothing of the key."""
    srv, key, fetch = server
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.j2k").write_bytes(os.urandom(3 << 20))  # noise: stored, 3 MiB past the 2 MiB limit
    client = _client(srv.url)
    with pytest.raises(pfioh.client.ClientError, match=r"HTTP 413: upload too large: the limit is 2097152 bytes"):
        client.push(key, src, special_handling=pfioh.client.PLUGIN)
    assert client.sent[-1].get("Transfer-Encoding") == "chunked"
    assert not fetch(key, tmp_path / "back").exists()
    assert requests.get(f"{srv.url}/api/v1/health", timeout=10).json()["status"] == "ok"
