"""Mount mode against a hostile file system and hostile clients: links planted in the store are
never followed, lock waits are bounded, lock files do not pile up, and names in logs are clipped."""
import json
import logging
import os
import threading

import pytest

from pfioh import errors, instance
from pfioh.stores import base

from tests.support.pfioh_app import URL, control, make_zip, pull_query, push, with_


@pytest.fixture
def secret(tmp_path):
    """A directory outside the store, standing for a root-only one (mode 0700, a private file)."""
    path = tmp_path / "secret"
    path.mkdir(mode=0o700)
    (path / "id_rsa").write_bytes(b"PRIVATE KEY")
    return path


def _plant(config, key, target, sub=None):
    keydir = os.path.join(config.store_base, f"key-{key}")
    os.makedirs(config.store_base, exist_ok=True)
    if sub:
        os.makedirs(keydir, exist_ok=True)
        os.symlink(target, os.path.join(keydir, sub))
    else:
        os.symlink(target, keydir)


def _refused(resp):
    body = json.loads(resp.data)
    return resp.status_code == 409 and "symbolic link" in body["error"] and body["status"] is False


@pytest.mark.parametrize("plugin", [False, True])
def test_pull_never_follows_a_planted_key_link(client, config, secret, plugin):
    _plant(config, "k", secret)
    resp = client.get(URL, query_string=pull_query("k", plugin=plugin))
    assert _refused(resp) and b"PRIVATE" not in resp.data


def test_plugin_pull_never_follows_a_planted_outgoing_link(client, config, secret):
    _plant(config, "k", secret, sub="outgoing")
    resp = client.get(URL, query_string=pull_query("k", plugin=True))
    assert _refused(resp) and b"PRIVATE" not in resp.data


@pytest.mark.parametrize("plugin", [False, True])
def test_push_never_follows_nor_chmods_a_planted_link(client, config, secret, plugin):
    _plant(config, "k", secret)
    resp = push(client, "k", make_zip({"a": b"1"}), plugin=plugin)
    assert _refused(resp)
    assert os.stat(secret).st_mode & 0o777 == 0o700 and sorted(os.listdir(secret)) == ["id_rsa"]
    assert os.path.islink(os.path.join(config.store_base, "key-k"))


def test_ls_and_check_never_follow_a_planted_link(client, config, secret):
    _plant(config, "k", secret)
    assert _refused(control(client, "ls", {"key": "k"}))
    assert _refused(client.get(URL, query_string=pull_query("k", check=True)))


def test_a_stalled_pull_blocks_pushes_only_until_the_lock_timeout(make_client, config):
    client = make_client(with_(config, lock_timeout=0.2))
    assert push(client, "k", make_zip({"a": b"1"})).status_code == 200
    stalled = client.get(URL, query_string=pull_query("k"), buffered=False)  # holds the key's lock
    try:
        resp = push(client, "k", make_zip({"a": b"2"}))
        body = json.loads(resp.data)
        assert resp.status_code == 409 and "busy" in body["error"] and "'k'" in body["error"]
    finally:
        stalled.close()
    assert push(client, "k", make_zip({"a": b"2"})).status_code == 200


def test_lock_files_are_removed_when_free(client, config, secret):
    assert client.get(URL, query_string=pull_query("missing")).status_code == 404
    _plant(config, "lnk", secret)
    assert _refused(client.get(URL, query_string=pull_query("lnk")))
    for key in (f"job-{i}" for i in range(20)):
        assert push(client, key, make_zip({"a": b"1"})).status_code == 200
        with client.get(URL, query_string=pull_query(key)) as resp:  # the server closes it
            assert resp.status_code == 200
    assert os.listdir(config.staging_root / "locks") == []


def test_lock_removal_keeps_mutual_exclusion(config):
    """Holders remove the file as they leave while others wait on it: never two inside at once."""
    config.staging_root.mkdir(parents=True)
    locks = base.KeyLocks(config.staging_root, timeout=60)
    inside, overlaps = [0], []

    def worker():
        for _ in range(200):
            with locks.hold("k"):
                inside[0] += 1
                if inside[0] != 1:
                    overlaps.append(inside[0])
                inside[0] -= 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [] and os.listdir(config.staging_root / "locks") == []


def test_lock_timeout_names_the_key(config):
    config.staging_root.mkdir(parents=True)
    locks = base.KeyLocks(config.staging_root, timeout=0.05)
    with locks.hold("k" * 300):
        with pytest.raises(errors.Busy, match="is busy") as caught:
            locks.acquire("k" * 300)
    assert len(str(caught.value)) < 300  # clipped


def test_hostile_names_are_clipped_in_logs(client, caplog):
    caplog.set_level(logging.INFO, logger="pfioh")
    key = "K" * 251
    assert push(client, key, make_zip({"a/" + "N" * 255: b"x"})).status_code == 200
    assert push(client, "k", make_zip({"a/" * 300 + "f": b"x"})).status_code == 400
    assert caplog.records and all("K" * 130 not in r.getMessage() and "a/" * 100 not in r.getMessage()
                                  for r in caplog.records)


def test_second_instance_keeps_the_first_ones_staging(config):
    """Starting another pfioh on the same storeBase (its sweep) spares a running one's uploads."""
    config.staging_root.mkdir(parents=True)
    first = instance.claim(config.staging_root)
    upload = config.staging_root / first.name / "upload-inflight"
    upload.write_bytes(b"half")
    assert instance.sweep(config.staging_root) == 0
    assert upload.read_bytes() == b"half"
