"""pman-swift-publisher as a real process against the real Swift, as pman runs it."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import swiftstore
from tests.support.trees import make_tree, read_tree

EXE = str(Path(sys.executable).parent / "pman-swift-publisher")
FILES = {"in.txt": b"input", "series/ünï 1.dcm": os.urandom(50_000), "empty": b""}


@pytest.fixture
def store(swift):
    with swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file)) as s:
        yield s


def run(swift, *argv, env=None, cwd=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ST_", "OS_", "SWIFT_"))}
    base.update({"SWIFT_CREDENTIALS": swift.credentials_file, **(env or {})})
    return subprocess.run([EXE, *argv], env=base, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_get_then_put_like_a_job(swift, store, unique_container, tmp_path):
    store.put_tree(unique_container, "input/", make_tree(tmp_path / "pushed", FILES))
    share = tmp_path / "share"
    env = {"SWIFT_KEY": unique_container, "INCOMING_DIR": str(share / "incoming"),
           "OUTGOING_DIR": str(share / "outgoing")}
    got = run(swift, "get", env=env)
    assert got.returncode == 0, got.stderr
    assert read_tree(share / "incoming") == FILES and (share / "outgoing").is_dir()
    assert "3/3 files" in got.stderr and "MB/s" in got.stderr
    # The processor writes its results; the publish step uploads them with a manifest.
    make_tree(share / "outgoing", {"result.json": b"{}", "img/a.png": os.urandom(2000)})
    put = run(swift, "put", env=env)
    assert put.returncode == 0, put.stderr
    assert store.read_manifest(unique_container, "output/") is not None
    store.get_tree(unique_container, "output/", tmp_path / "pulled")
    assert read_tree(tmp_path / "pulled") == read_tree(share / "outgoing")


def test_flags_win_over_the_environment(swift, store, unique_container, tmp_path):
    store.put_tree(unique_container, "input/", make_tree(tmp_path / "pushed", {"a": b"a"}))
    got = run(swift, "get", "--key", unique_container, "--incoming", str(tmp_path / "in"),
              "--outgoing", str(tmp_path / "out"), env={"SWIFT_KEY": "some-other-key"})
    assert got.returncode == 0, got.stderr
    assert read_tree(tmp_path / "in") == {"a": b"a"}


def test_get_of_an_incomplete_input_fails_with_one_line(swift, store, unique_container, tmp_path, swift_connection):
    store.put_tree(unique_container, "input/", make_tree(tmp_path / "pushed", {"a": b"a"}))
    swift_connection.delete_object(unique_container, "input.manifest.json")
    got = run(swift, "get", "--key", unique_container, "--incoming", str(tmp_path / "in"),
              "--outgoing", str(tmp_path / "out"))
    assert got.returncode == 1
    last = got.stderr.strip().splitlines()[-1]
    assert last.startswith("pman-swift-publisher: error: get failed: no manifest input.manifest.json")
    assert not (tmp_path / "in").exists()


def test_bad_credentials_fail_with_one_line(swift, unique_container, tmp_path):
    bad = tmp_path / "creds.cfg"
    bad.write_text("[AUTHORIZATION]\n")
    got = run(swift, "put", "--key", unique_container, "--outgoing", str(tmp_path), "--swift-credentials", str(bad))
    assert got.returncode == 1 and len(got.stderr.strip().splitlines()) == 1
    assert str(bad) in got.stderr


def test_missing_key_is_a_usage_error(swift, tmp_path):
    got = run(swift, "get", "--incoming", str(tmp_path / "in"))
    assert got.returncode == 2 and "SWIFT_KEY" in got.stderr


def test_archive_layout_interoperates_with_the_originals(swift, store, unique_container, swift_connection, tmp_path):
    # What the original pfioh stored: one zip, input/data.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in FILES.items():
            zf.writestr(rel, data)
    swift_connection.put_container(unique_container)
    swift_connection.put_object(unique_container, "input/data", buf.getvalue())
    dirs = ["--key", unique_container, "--layout", "archive", "--incoming", str(tmp_path / "in"),
            "--outgoing", str(tmp_path / "out")]
    got = run(swift, "get", *dirs)
    assert got.returncode == 0, got.stderr
    assert read_tree(tmp_path / "in") == FILES
    make_tree(tmp_path / "out", {"res.txt": b"result"})
    put = run(swift, "put", *dirs)
    assert put.returncode == 0, put.stderr
    _, data = swift_connection.get_object(unique_container, "output/data")  # what the original pfioh pulls
    assert zipfile.ZipFile(io.BytesIO(data)).read("res.txt") == b"result"


def test_help_explains_the_commands():
    out = subprocess.run([EXE, "--help"], capture_output=True, text=True).stdout
    assert "get" in out and "put" in out and "input/" in out
    put = subprocess.run([EXE, "put", "--help"], capture_output=True, text=True).stdout
    for flag in ("--key", "--outgoing", "--swift-credentials", "--layout", "--wait", "SWIFT_KEY", "OUTGOING_DIR"):
        assert flag in put


def test_sigterm_during_get_leaves_no_partial_incoming(swift, store, unique_container, tmp_path):
    """A pod stopped mid-download: exit 143, and neither the incoming dir nor a temp dir remains."""
    files = {f"s{i % 5}/f{i:03d}": os.urandom(2000) for i in range(400)}
    store.put_tree(unique_container, "input/", make_tree(tmp_path / "pushed", files))
    share = tmp_path / "share"
    share.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ST_", "OS_", "SWIFT_"))}
    proc = subprocess.Popen([EXE, "get", "--key", unique_container, "--threads", "1", "--incoming",
                             str(share / "incoming"), "--outgoing", str(share / "outgoing")],
                            env={**base, "SWIFT_CREDENTIALS": swift.credentials_file},
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".incoming.swiftstore-part-") for p in share.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "the download never started"
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "pman-swift-publisher: error: get interrupted by signal 15"
    assert list(share.iterdir()) == []
