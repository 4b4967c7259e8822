"""The local runner's mount-mode get/put never follow a link planted at ``key-<jid>`` (issue 12.5)."""
import os

import pytest

from pman.engines.local import runner


class Log(list):
    write = list.append


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret"
    (path / "incoming").mkdir(parents=True, mode=0o700)
    (path / "incoming" / "id_rsa").write_bytes(b"PRIVATE KEY")
    return path


@pytest.fixture
def dirs(tmp_path):
    store, job = tmp_path / "store", tmp_path / "job"
    (job / "outgoing").mkdir(parents=True)
    (job / "outgoing" / "result").write_text("r")
    store.mkdir()
    return store, job


def test_get_refuses_a_linked_key_dir(dirs, secret):
    store, job = dirs
    (store / "key-j1").symlink_to(secret)
    with pytest.raises(OSError, match="symbolic link"):
        runner.mount_get(str(store), "j1", job, Log())
    assert not (job / "incoming").exists()


def test_get_refuses_a_linked_incoming(dirs, secret):
    store, job = dirs
    (store / "key-j1").mkdir()
    (store / "key-j1" / "incoming").symlink_to(secret / "incoming")
    with pytest.raises(OSError, match="symbolic link"):
        runner.mount_get(str(store), "j1", job, Log())
    assert not (job / "incoming").exists()


def test_put_refuses_a_linked_key_dir(dirs, secret):
    store, job = dirs
    (store / "key-j1").symlink_to(secret)
    with pytest.raises(OSError, match="symbolic link"):
        runner.mount_put(str(store), "j1", job, Log())
    assert sorted(os.listdir(secret)) == ["incoming"]


def test_get_and_put_still_work(dirs):
    store, job = dirs
    (store / "key-j1" / "incoming" / "sub").mkdir(parents=True)
    (store / "key-j1" / "incoming" / "sub" / "a").write_text("a")
    assert runner.mount_get(str(store), "j1", job, Log()) == 0
    assert (job / "incoming" / "sub" / "a").read_text() == "a"
    assert runner.mount_put(str(store), "j1", job, Log()) == 0
    assert (store / "key-j1" / "outgoing" / "result").read_text() == "r"
