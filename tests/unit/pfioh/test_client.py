"""pfioh-client at its own seam, without network.

The client's ``requests.Session`` gets an adapter that hands each prepared request to an
in-process WSGI stub speaking the original pfioh's wire format (as pfurl 2.3.0.1 exchanges it), so
the tests see exactly the bytes the client sends; and the client against our pfioh app in-process.
"""
import ast
import io
import json
import os
import zipfile

import pytest
import requests

import pfioh.client
from pfioh.client import api as pfioh_api, archive, wire
from tests.support.pfioh_app import make_zip
from tests.support.pfioh_stub import WSGIAdapter, make_pfioh_stub


def client_for(app, **kw):
    session = requests.Session()
    session.mount("http://", WSGIAdapter(app))
    return pfioh.client.PfiohClient("http://pfioh.test:5055", session=session, show_progress=False, **kw)


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.bin").write_bytes(os.urandom(3000))
    return src


def test_push_speaks_the_pfurl_sequence(tree):
    app = make_pfioh_stub()
    client_for(app, token="s3cret").push("chris-jid-1", tree)
    check, post = app.log
    # 1. checkRemote GET: meta is str(dict) (a Python literal, not JSON), checkRemote True
    assert check["method"] == "GET" and check["args"]["action"] == "pushPath"
    with pytest.raises(ValueError):
        json.loads(check["args"]["meta"])
    meta = ast.literal_eval(check["args"]["meta"])
    assert meta["remote"] == {"key": "chris-jid-1"} and meta["transport"]["checkRemote"] is True
    # 2. multipart POST, Mode: file, exactly three fields in pfurl's order; with a Content-Length,
    # as the original's cgi parser needs (it does not say it takes a chunked push)
    assert post["headers"]["Mode"] == "file"
    assert int(post["headers"]["Content-Length"]) > 0 and "Transfer-Encoding" not in post["headers"]
    assert post["headers"]["Authorization"] == "bearer s3cret"
    assert [name for name, _ in post["form"]] == ["d_msg", "filename"] and post["files"] == ["local"]
    d_msg = json.loads(dict(post["form"])["d_msg"])
    assert d_msg["action"] == "pushPath" and d_msg["meta"]["transport"]["checkRemote"] is False
    assert d_msg["meta"]["transport"]["compress"] == {"archive": "zip", "unpack": True, "cleanup": True}
    with zipfile.ZipFile(io.BytesIO(app.pushed["chris-jid-1"])) as z:
        assert sorted(z.namelist()) == ["a.txt", "sub/b.bin"]
        assert z.read("sub/b.bin") == (tree / "sub" / "b.bin").read_bytes()


def test_a_ready_made_zip_goes_through_request_as_pfurl_sends_it(tmp_path):
    """The benchmarks' server-alone push: wire.MultipartUpload and its headers, through request."""
    app = make_pfioh_stub()
    zip_path = tmp_path / "ready.zip"
    zip_path.write_bytes(make_zip({"a.txt": b"alpha"}))
    body = wire.MultipartUpload({"action": "pushPath", "meta": wire.path_meta("k", "/x", check_remote=False)},
                                zip_path, "ready.zip")
    try:
        resp = client_for(app, token="t").request("POST", "push k", data=body, headers=body.headers)
    finally:
        body.close()
    assert wire.parse_reply(resp.content)["status"] is True and app.pushed["k"] == zip_path.read_bytes()
    (post,) = app.log
    assert post["headers"]["Mode"] == "file" and post["headers"]["Authorization"] == "bearer t"
    assert int(post["headers"]["Content-Length"]) == len(body)
    with pytest.raises(pfioh.client.ClientError, match="no output for key nothing"):
        client_for(app).request("GET", "pull nothing", params=wire.query("pullPath", wire.path_meta(
            "nothing", "/x", check_remote=False)))


def test_push_leaves_no_temp_zip(tree, tmp_path, monkeypatch):
    monkeypatch.setattr(archive.tempfile, "tempdir", str(tmp_path / "tmpdir"))
    (tmp_path / "tmpdir").mkdir()
    client_for(make_pfioh_stub()).push("k", tree)
    assert list((tmp_path / "tmpdir").iterdir()) == []


def test_push_single_file_and_skips_symlinks(tree, tmp_path):
    app = make_pfioh_stub()
    client_for(app).push("one", tree / "a.txt")
    with zipfile.ZipFile(io.BytesIO(app.pushed["one"])) as z:
        assert z.namelist() == ["a.txt"]
    secret = tmp_path / "secret"
    secret.write_text("outside")
    os.symlink(secret, tree / "link")
    client_for(app).push("two", tree)
    with zipfile.ZipFile(io.BytesIO(app.pushed["two"])) as z:
        assert "link" not in z.namelist()


def test_push_refused_by_server_names_the_step(tree):
    app = make_pfioh_stub()
    app.push_status = False
    with pytest.raises(pfioh.client.ClientError, match="pushPath: pfioh did not store k: not stored"):
        client_for(app).push("k", tree)


def test_push_of_a_missing_path_fails_clearly(tmp_path):
    with pytest.raises(pfioh.client.ClientError, match="does not exist"):
        client_for(make_pfioh_stub()).push("k", tmp_path / "absent")


@pytest.mark.parametrize("legacy", [False, True])
def test_pull_unpacks_the_output(tmp_path, legacy):
    """Also the original pfioh's pull framing: no headers, status JSON after the zip."""
    app = make_pfioh_stub(legacy_pull=legacy)
    app.outputs["k"] = make_zip({"summary.json": "{}", "previews/s01/0001.png": b"\x89PNG"})
    files = client_for(app).pull("k", tmp_path / "out")
    assert files == ["previews/s01/0001.png", "summary.json"]
    assert (tmp_path / "out" / "previews" / "s01" / "0001.png").read_bytes() == b"\x89PNG"
    meta = ast.literal_eval(app.log[-1]["args"]["meta"])
    assert app.log[-1]["args"]["action"] == "pullPath" and meta["transport"]["checkRemote"] is False
    assert meta["local"]["createDir"] is True


def test_pull_without_output_reports_the_server_error(tmp_path):
    with pytest.raises(pfioh.client.ClientError, match="HTTP 404: no output for key k"):
        client_for(make_pfioh_stub()).pull("k", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_pull_refuses_a_non_empty_destination_unless_clean(tmp_path):
    app = make_pfioh_stub()
    app.outputs["k"] = make_zip({"new.txt": "new"})
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(pfioh.client.ClientError, match="not empty"):
        client_for(app).pull("k", dest)
    client_for(app).pull("k", dest, clean=True)
    assert sorted(p.name for p in dest.iterdir()) == ["new.txt"]


@pytest.mark.parametrize("http_response", [False, True])
def test_hello_reads_plain_and_nested_replies(http_response):
    d_ret = client_for(make_pfioh_stub(http_response=http_response)).hello("echoBack", echo="ping")
    assert d_ret["name"] == "pfioh" and d_ret["echoBack"] == {"msg": "ping"}


def test_unreachable_server_names_the_url():
    client = pfioh.client.PfiohClient("127.0.0.1:9", timeout=2, show_progress=False)
    with pytest.raises(pfioh.client.ClientError, match=r"hello: cannot connect to pfioh at http://127.0.0.1:9/api/v1/cmd \(is it running"):
        client.hello()


def test_cli_push_then_pull(tree, tmp_path, monkeypatch, capsys):
    app = make_pfioh_stub()
    real_session = requests.Session

    def session():
        s = real_session()
        s.mount("http://", WSGIAdapter(app))
        return s

    monkeypatch.setattr(pfioh_api.requests, "Session", session)
    assert pfioh.client.main(["--pfioh", "http://x:1", "push", "key1", str(tree)]) == 0
    app.outputs["key1"] = app.pushed["key1"]
    assert pfioh.client.main(["--pfioh", "http://x:1", "pull", "key1", str(tmp_path / "back")]) == 0
    assert (tmp_path / "back" / "sub" / "b.bin").read_bytes() == (tree / "sub" / "b.bin").read_bytes()
    out = capsys.readouterr().out
    pushed, end = json.JSONDecoder().raw_decode(out)
    pulled, _ = json.JSONDecoder().raw_decode(out[end:].lstrip())
    assert pushed["status"] is True and pulled["files"] == 2
    assert pfioh.client.main(["--pfioh", "http://x:1", "pull", "missing", str(tmp_path / "m")]) == 1
    assert "pfioh-client: error: pullPath" in capsys.readouterr().err


def test_url_normalisation():
    assert wire.normalize_url("127.0.0.1:5055", 5055) == "http://127.0.0.1:5055/api/v1/cmd"
    assert wire.normalize_url("http://h", 5055) == "http://h:5055/api/v1/cmd"
    assert wire.normalize_url("https://h:1/api/v1/cmd/", 5055) == "https://h:1/api/v1/cmd/"


# ----------------------------------------------------------------------------- safe unzip


def _zip_with(tmp_path, name, data=b"x", mode=None):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        z.writestr(info, data)
    return path


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/abs.txt", "a/../../b", "C:/win.txt", "a\\..\\b"])
def test_safe_extract_refuses_escaping_names(tmp_path, name):
    with pytest.raises(archive.ArchiveError, match="unsafe entry name"):
        archive.safe_extract(_zip_with(tmp_path, name), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.zip"]  # nothing half-written


def test_safe_extract_refuses_symlinks(tmp_path):
    with pytest.raises(archive.ArchiveError, match="not a regular file"):
        archive.safe_extract(_zip_with(tmp_path, "link", b"/etc/passwd", mode=0o120777), tmp_path / "out")


def test_safe_extract_refuses_bombs_and_oversize(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros", b"\0" * (8 * 1024 * 1024))
    with pytest.raises(archive.ArchiveError, match="compressed more than"):
        archive.safe_extract(path, tmp_path / "out")
    with pytest.raises(archive.ArchiveError, match="expands to more than"):
        archive.safe_extract(path, tmp_path / "out2", limits=archive.Limits(max_bytes=1000, max_ratio=1e9))


def test_safe_extract_rejects_garbage(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"PK not really a zip")
    with pytest.raises(archive.ArchiveError, match="not a valid zip"):
        archive.safe_extract(junk, tmp_path / "out")

# ----------------------------------------------------------------------------- our pfioh, in-process


def test_round_trip_through_our_pfioh_app_in_mount_mode(tree, tmp_path):
    """The client against this project's pfioh app (mount mode, op=plugin), in-process."""
    from pfioh import app as pfioh_app
    from pfioh.config import PfiohConfig
    store = tmp_path / "store"
    config = PfiohConfig(host="127.0.0.1", port=5055, store_base=str(store), create_dirs=True)
    app = pfioh_app.create_app(config, shutdown=lambda: None)
    client = client_for(app)
    assert client.hello("timestamp")["name"] == "pfioh"
    client.push("jid-1", tree, special_handling=pfioh.client.PLUGIN)
    incoming = store / "key-jid-1" / "incoming"
    assert (incoming / "sub" / "b.bin").read_bytes() == (tree / "sub" / "b.bin").read_bytes()
    # the "job": write results into outgoing, then pull them back
    outgoing = store / "key-jid-1" / "outgoing"
    outgoing.mkdir(exist_ok=True)
    (outgoing / "summary.json").write_text('{"slices": 1}')
    files = client.pull("jid-1", tmp_path / "results", special_handling={"op": "plugin", "cleanup": False})
    assert files == ["summary.json"]
    assert json.loads((tmp_path / "results" / "summary.json").read_text()) == {"slices": 1}
