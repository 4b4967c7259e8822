"""The publisher image against the loopback Swift, as a Job runs it: the credentials file mounted at
/etc/swift/swift-credentials.cfg, /share a volume, an arbitrary UID in group 0, host networking
(the Swift all-in-one listens on the host's loopback)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import swiftstore
from tests.support import podman
from tests.support.trees import make_shared_tree, read_tree

pytestmark = pytest.mark.timeout(1800)  # the first test builds the images (minutes on a fresh machine)

CREDENTIALS_MOUNT = "/etc/swift/swift-credentials.cfg"  # where the Job mounts the secret (spec.SWIFT_MOUNT)


@pytest.fixture
def credentials(swift, tmp_path) -> str:
    """The SAIO's credentials file, readable by any UID (a Secret's files are 0644 by default)."""
    path = tmp_path / "creds" / "swift-credentials.cfg"
    path.parent.mkdir()
    shutil.copyfile(swift.credentials_file, path)
    path.chmod(0o644)
    path.parent.chmod(0o755)
    return str(path)


@pytest.fixture
def store(credentials):
    with swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(credentials)) as s:
        yield s


@pytest.fixture
def share(tmp_path) -> Path:
    """The /share volume, empty and writable by anyone, like an emptyDir."""
    path = tmp_path / "share"
    path.mkdir()
    path.chmod(0o777)
    return path


def publisher(images, credentials: str, share: Path, key: str, *args: str, env: dict[str, str] | None = None):
    """Run the publisher image once; the CompletedProcess (not checked)."""
    env_args = [a for k, v in {"SWIFT_KEY": key, **(env or {})}.items() for a in ("--env", f"{k}={v}")]
    return podman.run("run", "--rm", "--user", podman.OPENSHIFT_UID, "--network", "host",
                      "--volume", f"{credentials}:{CREDENTIALS_MOUNT}:ro", "--volume", f"{share}:/share",
                      *env_args, images["pman-swift-publisher"], *args, check=False, timeout=300)


INPUT = {"a.txt": b"alpha\n", "sub/b.bin": bytes(range(256)) * 64, "sub/deeper/c.json": b'{"c": 3}\n'}
OUTPUT = {"result.txt": b"done\n", "plots/p.dat": os.urandom(70000)}


def test_get_and_put_round_trip_a_tree(images, credentials, store, share, unique_container, tmp_path):
    source = tmp_path / "input"
    make_shared_tree(source, INPUT)
    store.put_tree(unique_container, "input/", source)

    got = publisher(images, credentials, share, unique_container, "get", env={"OUTGOING_MODE": "0777"})
    assert got.returncode == 0, got.stderr
    assert read_tree(share / "incoming") == INPUT
    outgoing = share / "outgoing"
    assert outgoing.is_dir() and outgoing.stat().st_mode & 0o777 == 0o777
    assert outgoing.stat().st_uid == 1000620000  # made by the container's arbitrary UID

    make_shared_tree(outgoing, OUTPUT)
    put = publisher(images, credentials, share, unique_container, "put")
    assert put.returncode == 0, put.stderr
    back = tmp_path / "back"
    store.get_tree(unique_container, "output/", back)
    assert read_tree(back) == OUTPUT


@pytest.mark.parametrize("mode, ok", [(0o775, True), (0o755, False)])
def test_get_with_a_root_owned_outgoing_dir(images, credentials, store, share, unique_container, tmp_path, mode, ok):
    """A /share populated from the image, or a re-run, holds an outgoing/ the init UID does not own:
    group-writable for group 0 is enough (every container of the pod runs in group 0 on OpenShift);
    otherwise the failure says what is wrong."""
    source = tmp_path / "input"
    make_shared_tree(source, {"x": b"x"})
    store.put_tree(unique_container, "input/", source)
    outgoing = share / "outgoing"
    outgoing.mkdir()
    os.chown(outgoing, 0, 0)
    outgoing.chmod(mode)

    got = publisher(images, credentials, share, unique_container, "get", "--outgoing-mode", "0777")
    if ok:
        assert got.returncode == 0, got.stderr
        assert "kept at mode 0775" in got.stderr
        assert read_tree(share / "incoming") == {"x": b"x"}
    else:
        assert got.returncode == 1
        last = got.stderr.strip().splitlines()[-1]
        assert "outgoing directory /share/outgoing cannot be made mode 0777" in last
        assert "belongs to uid 0" in last
    assert outgoing.stat().st_mode & 0o777 == mode
