"""pfioh's ``GET /api/v1/ready`` (issue 12.8) in mount mode and with a Swift store whose probe
fails; the real SAIO with a wrong key is in tests/integration/test_pfioh_swift.py."""
import shutil

from pfioh.stores import swift as swift_stores

from tests.support.fake_swiftstore import FakeSwift
from tests.support.pfioh_app import with_


def test_mount_ready(client):
    resp = client.get("/api/v1/ready")
    assert resp.status_code == 200 and resp.get_json()["status"] == "ready"


def test_mount_not_ready_when_the_store_takes_no_file(make_client, config):
    from pfioh import stores
    store = stores.make_store(config)
    client = make_client(config, store=store)
    shutil.rmtree(store.staging)
    store.staging.write_text("in the way")
    resp = client.get("/api/v1/ready")
    body = resp.get_json()
    assert resp.status_code == 503 and "storeBase is not writable" in body["failing"]["store"]
    assert client.get("/api/v1/health").status_code == 200  # liveness stays shallow


def test_swift_not_ready_when_the_probe_fails(make_client, config):
    class Refused(Exception):
        http_status = 401

    def probe():
        raise Refused("Auth GET failed: 401 Unauthorized")
    cfg = with_(config, swift_storage=True)
    client = make_client(cfg, store=swift_stores.SwiftTreeStore(cfg, FakeSwift(), probe=probe))
    resp = client.get("/api/v1/ready")
    assert resp.status_code == 503 and "HTTP 401" in resp.get_json()["failing"]["store"]


def test_ready_needs_no_token(make_client, config, tmp_path):
    token_file = tmp_path / "t.cfg"
    token_file.write_text("[AUTH TOKENS]\ntoken = s3cret\n")
    client = make_client(with_(config, token_auth=True, token_path=str(token_file)))
    assert client.get("/api/v1/ready").status_code == 200
