"""Token auth on and off, and malformed requests: every client error is a 4xx JSON, never a 500."""
import io
import json
import os

import pytest
from httpkit import auth

from pfioh import app as app_mod, instance

from tests.support.pfioh_app import URL, control, make_zip, pull_query, push, with_


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "pfioh_config.cfg"
    path.write_text("[AUTH TOKENS]\ntoken = s3cret\nother = second\n")
    return path


@pytest.fixture
def auth_client(make_client, config, token_file):
    return make_client(with_(config, token_auth=True, token_path=str(token_file)))


@pytest.mark.parametrize("header, word", [(None, "missing"), ("bearer nope", "invalid"), ("bearer", "malformed"), ("Basic s3cret", "malformed")])
def test_auth_rejects(auth_client, header, word):
    headers = {"Authorization": header} if header else {}
    resp = control(auth_client, "hello", {}, headers=headers)
    assert resp.status_code == 401 and word in json.loads(resp.data)["error"]
    resp = auth_client.get(URL, query_string=pull_query("k"), headers=headers)
    assert resp.status_code == 401


def test_auth_rejects_push_without_storing(auth_client, config):
    resp = push(auth_client, "k", make_zip({"a": b"1"}))
    assert resp.status_code == 401 and not os.path.exists(os.path.join(config.store_base, "key-k"))


@pytest.mark.parametrize("token", ["s3cret", "second"])
def test_auth_accepts_any_token_of_the_section(auth_client, token):
    resp = control(auth_client, "hello", {}, headers={"Authorization": f"bearer {token}"})
    assert resp.status_code == 200
    assert push(auth_client, "k", make_zip({"a": b"1"}), headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_health_and_metrics_need_no_token(auth_client):
    assert auth_client.get("/api/v1/health").status_code == 200
    assert auth_client.get("/metrics").status_code == 200


def test_auth_off_accepts_no_token(client):
    assert control(client, "hello", {}).status_code == 200


def test_bad_token_file_fails_at_startup(config, tmp_path):
    bad = tmp_path / "x.cfg"
    bad.write_text("[OTHER]\na = b\n")
    with pytest.raises(auth.TokenFileError, match="AUTH TOKENS"):
        app_mod.create_app(with_(config, token_auth=True, token_path=str(bad)))


def _multipart(d_msg, payload=b"PK\x05\x06" + bytes(18)):
    return {"d_msg": d_msg, "filename": "x.zip", "local": (io.BytesIO(payload), "x.zip")}


MALFORMED = [
    ("GET", {"query_string": {}}),
    ("GET", {"query_string": {"action": "pullPath"}}),
    ("GET", {"query_string": {"action": "pullPath", "meta": "{'remote': "}}),
    ("GET", {"query_string": {"action": "pullPath", "meta": "{'remote': {'key': '../x'}}"}}),
    ("GET", {"query_string": {"action": "pullPath", "meta": "{'remote': 5}"}}),
    ("GET", {"query_string": {"action": "pullPath", "meta": "[" * 3000}}),
    ("GET", {"query_string": {"action": "pushPath", "meta": "{'remote': {'key': 'k'}}"}}),
    ("GET", {"query_string": {"action": "rm -rf", "meta": "{}"}}),
    ("GET", {"query_string": {"action": "pullPath", "meta": "{'remote': {'key': 'k'}, 'transport': 'x'}"}}),
    ("POST", {"data": b"\xff\xfe garbage", "headers": {"Mode": "control"}}),
    ("POST", {"data": b"", "headers": {"Mode": "control"}}),
    ("POST", {"data": b'{"action": 7}', "headers": {"Mode": "control"}}),
    ("POST", {"data": b'{"action": "ls", "meta": {}}', "headers": {"Mode": "control"}}),
    ("POST", {"data": b'{"action": "ls", "meta": {"key": "nope"}}', "headers": {"Mode": "control"}}),
    ("POST", {"data": b'{"action": "internalctl", "meta": {"var": "key2address", "compute": "a/b"}}'}),
    ("POST", {"data": b'{"action": "pullPath", "meta": {"remote": {"key": "k"}}}'}),
    ("POST", {"data": b"x" * (2 << 20), "headers": {"Mode": "control"}}),
    ("POST", {"data": b"not multipart", "headers": {"Mode": "file"}}),
    ("POST", {"data": _multipart("not json"), "headers": {"Mode": "file"}, "content_type": "multipart/form-data"}),
    ("POST", {"data": _multipart('{"action": "pullPath", "meta": {"remote": {"key": "k"}}}'),
              "headers": {"Mode": "file"}, "content_type": "multipart/form-data"}),
    ("POST", {"data": _multipart('{"action": "pushPath", "meta": {"remote": {}}}'),
              "headers": {"Mode": "file"}, "content_type": "multipart/form-data"}),
    ("POST", {"data": _multipart('{"action": "pushPath", "meta": {"remote": {"key": "k"}}}', b"junk"),
              "headers": {"Mode": "file"}, "content_type": "multipart/form-data"}),
    ("POST", {"data": b"--b\r\nContent-Disposition: form-data; name=\"d_msg\"\r\n\r\n{}\r\n--b",
              "headers": {"Mode": "file", "Content-Type": "multipart/form-data; boundary=b"}}),
    ("PUT", {"data": b"x"}),
]


@pytest.mark.parametrize("method, kwargs", MALFORMED)
def test_malformed_requests_are_4xx_json(client, config, method, kwargs):
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("data"), dict):  # the test client consumes file objects: rebuild
        kwargs["data"] = {k: (io.BytesIO(v[0].getvalue()), v[1]) if isinstance(v, tuple) else v
                          for k, v in kwargs["data"].items()}
    resp = client.open(URL, method=method, **kwargs)
    assert 400 <= resp.status_code < 500, resp.data
    body = json.loads(resp.data)
    assert body["status"] is False and body["error"]
    assert instance.leftovers(config.staging_root) == []


# --- The hostile-input list of issue 12 (point 2, pfioh): each one a 4xx JSON naming the problem,
# --- nothing stored, nothing left in the staging area.

def _zip_push(key, files):
    return lambda client: push(client, key, make_zip(files))


def _file_push(local):
    return lambda client: push(client, "k", b"plain bytes", unpack=False, local=local)


def _mount_key(n):
    return lambda client: push(client, "k" * n, make_zip({"a": b"1"}))


def _raw_get(query: bytes):
    return lambda client: client.get(URL + "?" + query.decode("latin-1"))


def _invalid_utf8_d_msg(client):
    d_msg = b'{"action": "pushPath", "meta": {"remote": {"key": "k\xff"}}}'
    body = (b"--B\r\nContent-Disposition: form-data; name=\"d_msg\"\r\n\r\n" + d_msg + b"\r\n"
            b"--B\r\nContent-Disposition: form-data; name=\"local\"; filename=\"x.zip\"\r\n\r\n"
            + make_zip({"a": b"1"}) + b"\r\n--B--\r\n")
    return client.post(URL, data=body, headers={"Mode": "file", "Content-Type": "multipart/form-data; boundary=B"})


def _query_meta(key_escaped: str) -> bytes:
    return b"action=pullPath&meta=%7B%27remote%27%3A%7B%27key%27%3A%27" + key_escaped.encode() + b"%27%7D%7D"


HOSTILE = {
    "component-over-255-bytes": (_zip_push("k", {"d/" + "n" * 256: b"x"}), 400, "longer than 255 bytes"),
    "multibyte-component-over-255-bytes": (_zip_push("k", {"é" * 128: b"x"}), 400, "longer than 255 bytes"),
    "path-over-4096-bytes": (_zip_push("k", {"/".join(["p" * 200] * 21): b"x"}), 400, "bytes long"),
    "1000-levels-deep": (_zip_push("k", {"a/" * 1000 + "f": b"x"}), 400, "levels deep"),
    "1000-levels-deep-dir": (_zip_push("k", {"a/" * 1000: b""}), 400, "levels deep"),
    "upload-name-over-255-bytes": (_file_push("/src/" + "n" * 256), 400, "file name too long"),
    **{f"mount-key-{n}-bytes": (_mount_key(n), 400, "at most 251 bytes") for n in range(252, 257)},
    "mount-key-252-bytes-check-remote": (lambda client: client.get(URL, query_string=pull_query("k" * 252, check=True)),
                                         400, "at most 251 bytes"),
    "mount-key-256-bytes-pull": (lambda client: client.get(URL, query_string=pull_query("k" * 256)),
                                 400, "at most 251 bytes"),
    "invalid-utf8-key-in-query": (_raw_get(_query_meta("k%FF")), 400, "not valid UTF-8"),
    "invalid-utf8-key-in-d_msg": (_invalid_utf8_d_msg, 400, "not valid UTF-8"),
    "query-over-8000-bytes": (_raw_get(_query_meta("k") + b"&pad=" + b"x" * 8100), 414, "query string too long"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_input_is_4xx_json_naming_the_problem(client, config, case):
    """Walks the whole list: before, these were 500s (ENAMETOOLONG, RecursionError), a mangled
    key name, or gunicorn's HTML."""
    send, status, words = HOSTILE[case]
    resp = send(client)
    assert resp.status_code == status, resp.data[:300]
    body = json.loads(resp.data)
    assert body["status"] is False and words in body["error"]
    assert sorted(os.listdir(config.store_base)) == [".pfioh-staging"]  # nothing stored, no key dir
    assert instance.leftovers(config.staging_root) == []


def test_longest_names_that_fit_are_accepted(client, config):
    """The limits are where the file system's are: 255-byte components, 251-byte mount keys."""
    resp = push(client, "k" * 251, make_zip({"d/" + "n" * 255: b"x", "/".join(["a"] * 256): b"y"}))
    assert resp.status_code == 200, resp.data
    assert (os.path.getsize(os.path.join(config.store_base, "key-" + "k" * 251, "d", "n" * 255))) == 1


@pytest.mark.parametrize("limit, files, words", [
    ({"max_dirs": 50}, {f"d{i}/": b"" for i in range(60)}, "directory limit"),
    ({"max_dirs": 50}, {f"d{i}/f": b"x" for i in range(60)}, "directory limit"),
    ({"max_files": 50}, {f"f{i}": b"x" for i in range(60)}, "more than the limit 50"),
])
def test_entry_and_directory_limits_are_413(make_client, config, limit, files, words):
    """Point 7: a zip of many (empty) directories cannot fill the staging area, nor one of many
    entries hold a worker for hours."""
    client = make_client(with_(config, **limit))
    resp = push(client, "k", make_zip(files))
    assert resp.status_code == 413 and words in json.loads(resp.data)["error"]
    assert not os.path.exists(os.path.join(config.store_base, "key-k"))
    assert instance.leftovers(config.staging_root) == []
