"""pfioh-client's progress against a real pfioh process, as a user runs the command: with
--progress and no terminal, each phase of a push (zipping while sending, as our pfioh takes a
chunked push; the server storing) and of a pull (receiving, unpacking) prints its start line with the totals and its end line, then the
summary line; in mount mode and in Swift mode (tree layout), where the pull's zip is built on the
fly and its exact size comes ahead of it, as its Content-Length."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pfioh.client.progress import human_bytes
from tests.support import pfioh_driver as sup

CLIENT = str(Path(sys.executable).parent / "pfioh-client")
SPEC = {"a.bin": 300_000, "sub/b.bin": 70_000, "sub/deep/c.txt": 10}
TOTAL = human_bytes(sum(SPEC.values()))  # 361.4 KiB


def _client(url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([CLIENT, "--pfioh", url, "--progress", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def _starts(stderr: str) -> list[str]:
    """Each line up to its timing (`` in 0.1s``, the seconds waited)."""
    return [line.split(" in ")[0].split("...")[0] for line in stderr.splitlines()]


def _assert_lines(lines: list[str], expected: list[str]) -> None:
    """``expected`` in order; anything else only the periodic lines of a phase that took longer
    than a few seconds on a slow machine."""
    remaining = iter(lines)
    assert all(any(line == want for line in remaining) for want in expected), (lines, expected)
    extra = [line for line in lines if line not in expected]
    assert all(re.match(r"(push|pull) \S+: (zipping|sending|waiting|receiving|unpacking) ", line)
               for line in extra), extra


def _check_push(stderr: str, key: str) -> None:
    # Our pfioh takes a chunked push (X-Pfioh-Chunked-Push): the client sends the zip as it makes it.
    lines = _starts(stderr)
    zipped = next(line for line in lines if line.startswith(f"push {key}: zipped and sent "))
    zip_size = zipped.split(" as a ")[1].removesuffix(" zip")
    _assert_lines(lines, [f"push {key}: zipping and sending 0/3 files, 0 B/{TOTAL} (0%)",
                     f"push {key}: zipped and sent 3 files, {TOTAL} as a {zip_size} zip",
                     f"push {key}: waiting for the server to store 3 files, {TOTAL}",
                     f"push {key}: stored by the server",
                     f"pfioh-client: pushed 3 files, {TOTAL} as {key}"])


def _check_pull(stderr: str, key: str, dest: Path) -> None:
    lines = _starts(stderr)
    received = next(line for line in lines if line.startswith(f"pull {key}: received "))
    zip_size = received.removeprefix(f"pull {key}: received ")
    _assert_lines(lines, [f"pull {key}: receiving 0 B/{zip_size} (0%)",
                     received,
                     f"pull {key}: unpacking 0/3 files, 0 B/{TOTAL} (0%)",
                     f"pull {key}: unpacked 3 files, {TOTAL}",
                     f"pfioh-client: pulled 3 files, {TOTAL} of {key} into {dest}"])


def test_progress_of_a_push_and_pull_in_mount_mode(server_factory, tmp_path):
    pfioh = sup.start_pfioh(server_factory, tmp_path)
    src = sup.make_tree(tmp_path / "src", SPEC)
    _check_push(_client(pfioh.url, "--plugin", "push", "jid-p1", str(src), cwd=tmp_path).stderr, "jid-p1")
    assert sup.same_tree(src, pfioh.store / "key-jid-p1" / "incoming")
    output = sup.make_tree(tmp_path / "output", SPEC)  # the job's output
    shutil.copytree(output, pfioh.store / "key-jid-p1" / "outgoing", dirs_exist_ok=True)
    dest = tmp_path / "out"
    _check_pull(_client(pfioh.url, "--plugin", "pull", "jid-p1", str(dest), cwd=tmp_path).stderr, "jid-p1", dest)
    assert sup.same_tree(output, dest)


@pytest.fixture
def store(swift):
    import swiftstore
    return swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file))


def test_progress_of_a_push_and_pull_in_swift_mode(server_factory, tmp_path, swift, unique_container, store):
    pfioh = sup.start_pfioh(server_factory, tmp_path, "--swift-storage",
                            env={"SWIFT_CREDENTIALS": swift.credentials_file})
    key = unique_container
    src = sup.make_tree(tmp_path / "src", SPEC)
    _check_push(_client(pfioh.url, "push", key, str(src), cwd=tmp_path).stderr, key)
    store.put_tree(key, "output/", str(src))  # what the job's publisher does
    dest = tmp_path / "out"
    _check_pull(_client(pfioh.url, "pull", key, str(dest), cwd=tmp_path).stderr, key, dest)
    assert sup.same_tree(src, dest)
