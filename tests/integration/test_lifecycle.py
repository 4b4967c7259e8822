"""Data lifecycle against the real Swift: retention by Swift's own object expiry (carried out by
its object expirer), and deleting a key's data on demand through pfioh's ``rmtree``."""
from __future__ import annotations

import json

import pytest
import requests

import swiftstore
from swiftstore import errors
from tests.support import pfioh_driver as sup
from tests.support.trees import listed, make_tree
from tests.support.waiting import wait_until
from tools import saio


def test_a_retention_expires_what_a_store_wrote_and_the_expirer_removes_it(swift, unique_container,
                                                                           swift_connection):
    creds = swiftstore.load_credentials(swift.credentials_file)
    with swiftstore.SwiftStore.from_credentials(creds, retention=2) as store:  # seconds
        store.ensure_container(unique_container)
        store.put_json(unique_container, "result.json", {"status": "finishedSuccessfully"})
    with swiftstore.SwiftStore.from_credentials(creds) as reader:
        assert reader.get_json(unique_container, "result.json")["status"] == "finishedSuccessfully"

        def gone() -> bool:
            try:
                reader.get_json(unique_container, "result.json")
                return False
            except errors.NotFound:
                return True
        wait_until(gone, "Swift to stop serving the expired object", interval=0.2)
    assert "result.json" in listed(swift_connection, unique_container)  # expired, not yet deleted
    saio.run_expirer(swift.base or saio.DEFAULT_BASE)  # (a reused SAIO is the default one)
    wait_until(lambda: "result.json" not in listed(swift_connection, unique_container),
               "the expirer's deletion to reach the listing", interval=0.2)


def test_a_tree_expires_manifest_first(swift, unique_container, tmp_path):
    creds = swiftstore.load_credentials(swift.credentials_file)
    with swiftstore.SwiftStore.from_credentials(creds, retention=2) as store:
        manifest = store.put_tree(unique_container, "input/", make_tree(tmp_path / "t", {"a": b"1"}))
        wait_until(lambda: store.read_manifest(unique_container, "input/") is None, "the manifest to expire",
                   interval=0.2)
        with pytest.raises(errors.IncompleteError):  # no version at all, never half of one
            store.get_tree(unique_container, "input/", tmp_path / "out")
        # The data outlives the manifest (by an hour): nobody reads it without one.
        assert store.exists(unique_container, manifest.owned()[0])


def test_pfioh_rmtree_deletes_one_keys_container_only(server_factory, tmp_path, swift, swift_connection):
    import uuid
    server = sup.start_pfioh(server_factory, tmp_path, "--swift-storage",
                             env={"SWIFT_CREDENTIALS": swift.credentials_file})
    keys = [f"test-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    try:
        for key in keys:
            payload = sup.zip_tree(sup.make_tree(tmp_path / key, {"a.dcm": 3000}))
            assert sup.pfcon3_push(server.url, key, payload).status_code == 200

        def rmtree(key):
            return requests.post(f"{server.url}/api/v1/cmd/", data=json.dumps({"action": "rmtree", "meta": {"key": key}}),
                                 headers={"Mode": "control"}, timeout=60)
        reply = rmtree(keys[0])
        assert reply.status_code == 200 and reply.json()["status"] is True
        names = [c["name"] for c in swift_connection.get_account()[1]]
        assert keys[0] not in names and keys[1] in names
        assert rmtree(keys[0]).status_code == 404
        assert rmtree(keys[1] + "/..").status_code == 400
    finally:
        for key in keys:
            try:
                swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file)).delete(key)
            except errors.NotFound:
                pass
