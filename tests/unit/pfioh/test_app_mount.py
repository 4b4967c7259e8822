"""The HTTP layer in mount mode, through Flask's test client (no network)."""
import io
import json
import os
import zipfile

import pytest

from pfioh import instance
from tests.support.pfioh_app import URL, control, make_zip, pull_query, push, with_


def _body(resp):
    return json.loads(resp.data)


def test_health(client):
    resp = client.get("/api/v1/health")
    assert resp.status_code == 200 and _body(resp)["status"] == "ok" and _body(resp)["storage"] == "mount"


@pytest.mark.parametrize("ask, field", [("timestamp", "timestamp"), ("sysinfo", "sysinfo"), ("echoBack", "echoBack")])
def test_hello_shape(client, ask, field):
    resp = control(client, "hello", {"askAbout": ask, "echoBack": "ping"}, headers={"User-Agent": "UA/1"})
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    body = _body(resp)
    assert set(body) == {"stdout"} and body["stdout"]["status"] is True
    d_ret = body["stdout"]["d_ret"]
    assert d_ret["name"] == "pfioh" and field in d_ret and d_ret["User-agent"] == "UA/1"
    if ask == "echoBack":
        assert d_ret["echoBack"] == {"msg": "ping"}


def test_compact_json(client):
    assert b": " not in control(client, "hello", {"askAbout": "echoBack", "echoBack": "x"}).data


def test_payload_wrapper_and_no_mode_header(client):
    resp = client.post(URL, data=json.dumps({"payload": {"action": "hello", "meta": {}}}))
    assert resp.status_code == 200 and _body(resp)["stdout"]["d_ret"]["name"] == "pfioh"


def test_internalctl(client, config):
    resp = control(client, "internalctl", {"var": "key2address", "compute": "k1"})
    assert _body(resp) == {"d_ret": {"key2address": os.path.join(config.store_base, "key-k1/")}, "status": True}
    resp = control(client, "internalctl", {"var": "storeBase", "get": ""})
    assert _body(resp) == {"d_ret": {"storeBase": config.store_base}, "status": True}
    resp = control(client, "internalctl", {"var": "storeBase", "set": "/"})
    assert resp.status_code == 400 and "not supported" in _body(resp)["error"]


def test_unknown_action_is_400_naming_it(client):
    resp = control(client, "bogus", {})
    assert resp.status_code == 400
    assert "bogus" in _body(resp)["error"] and _body(resp)["status"] is False
    assert "bogus_process" in _body(resp)["msg"]


def test_quit_replies_then_shuts_down(client, shutdowns):
    resp = control(client, "quit", {"ctl": {"serverCmd": "quit"}})
    assert _body(resp) == {"msg": "Server shut down", "status": True}
    resp.close()
    assert shutdowns.calls == 1


def test_without_forever_one_command_then_shutdown(make_client, config, shutdowns):
    client = make_client(with_(config, forever=False))
    client.get("/api/v1/health").close()
    assert shutdowns.calls == 0
    control(client, "hello", {}).close()
    assert shutdowns.calls == 1


def test_check_remote_creates_key_dir(client, config):
    q = pull_query("k1", check=True) | {"action": "pushPath"}
    body = _body(client.get(URL, query_string=q))
    assert body == {"status": True, "isfile": False, "isswiftstore": False, "isdir": False, "createdNewDir": True}
    assert os.path.isdir(os.path.join(config.store_base, "key-k1"))
    assert _body(client.get(URL, query_string=q))["isdir"] is True


def test_a_pushs_check_remote_says_a_chunked_push_is_welcome(client):
    """pfioh-client then zips while it sends; a pull's checkRemote does not say it."""
    push_check = client.get(URL, query_string=pull_query("k1", check=True) | {"action": "pushPath"})
    assert push_check.headers.get("X-Pfioh-Chunked-Push") == "1"
    pull_check = client.get(URL, query_string=pull_query("k1", check=True))
    assert "X-Pfioh-Chunked-Push" not in pull_check.headers


def test_push_pull_round_trip(client, config):
    files = {"a.txt": b"hello\n", "sub/b.bin": os.urandom(70000)}
    resp = push(client, "k1", make_zip(files))
    assert resp.status_code == 200, resp.data
    body = _body(resp)
    assert body["status"] is True and body["msg"] == "File written successfully!"
    assert body["write"]["file"] == os.path.join(config.store_base, "key-k1/") and body["postop"]["status"] is False
    resp = client.get(URL, query_string=pull_query("k1"))
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == files


def test_push_replaces_previous_tree(client, config):
    push(client, "k1", make_zip({"old.txt": b"1"}))
    push(client, "k1", make_zip({"new.txt": b"2"}))
    assert os.listdir(os.path.join(config.store_base, "key-k1")) == ["new.txt"]


def test_non_zip_upload_is_stored_under_local_basename(client, config):
    resp = push(client, "k2", b"raw bytes", unpack=False, local="/home/u/scan.dcm")
    assert resp.status_code == 200, resp.data
    with open(os.path.join(config.store_base, "key-k2", "scan.dcm"), "rb") as f:
        assert f.read() == b"raw bytes"


def test_plugin_push_makes_incoming_outgoing_and_pull_serves_outgoing(client, config):
    resp = push(client, "j1", make_zip({"in.txt": b"in"}), plugin=True)
    postop = _body(resp)["postop"]
    keydir = os.path.join(config.store_base, "key-j1")
    assert postop["op"] == "plugin" and postop["status"] is True and postop["shareDir"] == keydir + "/"
    assert os.listdir(os.path.join(keydir, "incoming")) == ["in.txt"]
    assert os.listdir(os.path.join(keydir, "outgoing")) == []
    assert oct(os.stat(os.path.join(keydir, "outgoing")).st_mode & 0o777) == "0o777"
    with open(os.path.join(keydir, "outgoing", "result.txt"), "w") as f:
        f.write("out")
    resp = client.get(URL, query_string=pull_query("j1", plugin=True, cleanup=True))
    assert zipfile.ZipFile(io.BytesIO(resp.data)).read("result.txt") == b"out"
    resp.close()
    assert not os.path.exists(keydir)  # specialHandling.cleanup


def test_pull_of_empty_dir_is_binary_zip(client, config):
    os.makedirs(os.path.join(config.store_base, "key-e"))
    data = client.get(URL, query_string=pull_query("e")).data
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == []
    with pytest.raises(UnicodeDecodeError):
        data.decode()


def test_a_file_name_a_zip_cannot_carry_is_refused_by_name_before_a_byte_is_sent(make_client, config):
    client = make_client(with_(config, lock_timeout=2.0))
    keydir = os.path.join(config.store_base, "key-n")
    os.makedirs(keydir)
    with open(os.path.join(os.fsencode(keydir), b"scan\xff.dcm"), "wb") as f:  # a plugin's non-UTF-8 name
        f.write(b"x")
    resp = client.get(URL, query_string=pull_query("n"))
    assert resp.status_code == 502 and "'scan\\udcff.dcm': the name is not valid UTF-8" in _body(resp)["error"]
    # The key's lock was let go: a push replaces the tree, and a pull serves it.
    assert push(client, "n", make_zip({"ok.dcm": b"1"})).status_code == 200
    assert zipfile.ZipFile(io.BytesIO(client.get(URL, query_string=pull_query("n")).data)).namelist() == ["ok.dcm"]


def test_pull_of_unknown_key_is_404(client):
    resp = client.get(URL, query_string=pull_query("nothing"))
    assert resp.status_code == 404 and "nothing" in _body(resp)["error"]


def test_ls(client, config):
    push(client, "k1", make_zip({"a.txt": b"12345", "sub/x": b"1"}))
    body = _body(control(client, "ls", {"key": "k1"}))
    assert body["status"] is True and body["d_ls"]["a.txt"]["size"] == 5 and body["d_ls"]["sub"]["type"] == "dir"


@pytest.mark.parametrize("payload, status, word", [
    (make_zip({"../../evil": b"x"}), 400, "'..'"),
    (make_zip({"/abs": b"x"}), 400, "absolute"),
    (make_zip({"a": os.urandom(3000)})[:-50], 400, "corrupt"),
    (make_zip({"zeros": bytes(12 << 20)}), 413, "ratio"),
    (make_zip({"r": os.urandom(11 << 20)}, compression=zipfile.ZIP_STORED), 413, "more than the limit"),
])
def test_bad_zip_push_is_4xx_and_leaves_nothing(client, config, payload, status, word):
    resp = push(client, "bad", payload)
    assert resp.status_code == status and word in _body(resp)["error"]
    assert not os.path.exists(os.path.join(config.store_base, "key-bad"))
    assert instance.leftovers(config.staging_root) == []


def test_failed_push_keeps_previous_data(client, config):
    push(client, "k1", make_zip({"good.txt": b"1"}))
    assert push(client, "k1", make_zip({"../x": b"2"})).status_code == 400
    assert os.listdir(os.path.join(config.store_base, "key-k1")) == ["good.txt"]


def test_oversize_upload_is_413(make_client, config):
    client = make_client(with_(config, max_upload_size=100_000))
    resp = push(client, "big", os.urandom(200_000))
    assert resp.status_code == 413 and "too large" in _body(resp)["error"]
    assert instance.leftovers(config.staging_root) == []


def test_temp_files_removed_after_success(client, config):
    push(client, "k1", make_zip({"a": os.urandom(600_000)})).close()
    assert instance.leftovers(config.staging_root) == []


@pytest.mark.parametrize("fields, word", [({"filename": "x.zip"}, "d_msg"), ({"d_msg": "{}"}, "local")])
def test_incomplete_form(client, fields, word):
    data = dict(fields)
    if word != "local":
        data["local"] = (io.BytesIO(b"PK"), "x.zip")
    resp = client.post(URL, data=data, headers={"Mode": "file"}, content_type="multipart/form-data")
    assert resp.status_code == 400 and word in _body(resp)["error"]


def test_metrics_count_requests_and_bytes(client):
    push(client, "k1", make_zip({"a": b"x" * 1000}))
    client.get(URL, query_string=pull_query("k1")).close()
    control(client, "bogus", {})
    text = client.get("/metrics").data.decode()
    assert 'pfioh_transfer_bytes_total{direction="in"}' in text
    assert 'pfioh_transfer_duration_seconds_count{direction="out"} 1.0' in text
    assert 'pfioh_errors_total{endpoint="/api/v1/cmd/",status="400"} 1.0' in text


def test_rmtree_deletes_one_keys_directory_and_nothing_else(client, config):
    from pathlib import Path
    assert push(client, "k1", make_zip({"a.txt": b"1"})).status_code == 200
    assert push(client, "k2", make_zip({"b.txt": b"2"})).status_code == 200
    body = _body(control(client, "rmtree", {"key": "k1"}))
    assert body["status"] is True
    assert not Path(config.key_dir("k1")).exists() and Path(config.key_dir("k2"), "b.txt").exists()
    assert control(client, "rmtree", {"key": "k1"}).status_code == 404
    assert control(client, "rmtree", {"key": "../k2"}).status_code == 400
    assert Path(config.key_dir("k2"), "b.txt").exists()
