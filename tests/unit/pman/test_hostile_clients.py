"""Issue 12, pman's part, over the real Flask app and a fake engine: every hostile or careless input
is a 4xx JSON error naming the problem, bodies are bounded, credentials are neither accepted under
another scheme nor echoed, the work directory's path is not shown, and the defaults are safe.
"""
import io
import json
import socket

import pytest

from pman import app as app_mod, cli, config
from pman.engines import base
from tests.support.fake_engine import FakeEngine

RUN = {"jid": "j1", "cmd": "true /share/incoming /share/outgoing", "number_of_workers": "1",
       "cpu_limit": "1000m", "memory_limit": "200Mi", "gpu_limit": 0,
       "container": {"target": {"image": "busybox"}}}
REST = {"jid": "j1", "image": "busybox", "cmd": "true", "resources": {"number_of_workers": 1, "gpu_limit": 0}}


@pytest.fixture
def engine():
    return FakeEngine()


@pytest.fixture
def client(engine, tmp_path):
    cfg = config.from_sources({"workdir": str(tmp_path / "work")}, {})
    return app_mod.create_app(cfg, engine=engine, shutdown=lambda: None).test_client()


def post_message(client, meta, action="run", **kw):
    return client.post("/api/v1/cmd", data=json.dumps({"payload": {"action": action, "meta": meta}}), **kw)


def nested(depth: int):
    value = 1
    for _ in range(depth):
        value = {"a": value}
    return value


# The whole list of issue 12.2 for pman: (name, message-API meta, REST body, field named).
DEEP = '{"payload": {"action": "hello", "meta": ' + '{"a": ' * 2000 + "1" + "}" * 2002
BAD_INPUTS = [
    ("workers superscript two", {**RUN, "number_of_workers": "²"},
     {**REST, "resources": {"number_of_workers": "²"}}, "number_of_workers"),
    ("gpu superscript two", {**RUN, "gpu_limit": "²"}, {**REST, "resources": {"gpu_limit": "²"}}, "gpu_limit"),
    ("workers 5000 digits", {**RUN, "number_of_workers": "9" * 5000},
     {**REST, "resources": {"number_of_workers": "9" * 5000}}, "number_of_workers"),
    ("gpu 5000 digits", {**RUN, "gpu_limit": "9" * 5000}, {**REST, "resources": {"gpu_limit": "9" * 5000}},
     "gpu_limit"),
    ("workers huge int", {**RUN, "number_of_workers": 10 ** 4000},
     {**REST, "resources": {"number_of_workers": 10 ** 4000}}, "number_of_workers"),
    ("workers arabic-indic digits", {**RUN, "number_of_workers": "٣"},
     {**REST, "resources": {"number_of_workers": "٣"}}, "number_of_workers"),
    ("gpu devanagari digits", {**RUN, "gpu_limit": "१"}, {**REST, "resources": {"gpu_limit": "१"}}, "gpu_limit"),
    ("cpu arabic-indic digits", {**RUN, "cpu_limit": "١٠٠٠m"}, {**REST, "resources": {"cpu_limit": "١٠٠٠m"}},
     "cpu_limit"),
    ("memory fullwidth digits", {**RUN, "memory_limit": "２００Mi"},
     {**REST, "resources": {"memory_limit": "２００Mi"}}, "memory_limit"),
    ("env value with NUL", {**RUN, "env": {"A": "x\x00y"}}, {**REST, "env": {"A": "x\x00y"}}, "env.A"),
    ("env list value with NUL", {**RUN, "env": ["A=x\x00y"]}, {**REST, "env": ["A=x\x00y"]}, "env.A"),
    ("env name with newline", {**RUN, "env": {"A\nB": "1"}}, {**REST, "env": {"A\nB": "1"}}, "env"),
    ("jid with trailing newline", {**RUN, "jid": "j1\n"}, {**REST, "jid": "j1\n"}, "jid"),
]


@pytest.mark.parametrize("name,meta,body,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_every_bad_input_is_a_400_naming_the_field_on_both_apis(client, engine, name, meta, body, field):
    for reply in (post_message(client, meta), client.post("/api/v1/", json=body)):
        assert reply.status_code == 400, (name, reply.status_code, reply.get_data(as_text=True)[:300])
        error = reply.get_json()
        assert error["status"] is False
        assert any(f.endswith(field) for f in error["fields"]), (name, error)
        assert len(reply.get_data()) < 20000  # the 5000 digits are not echoed back whole
    assert engine.jobs == {}


@pytest.mark.parametrize("path,content_type", [("/api/v1/cmd", "application/json"), ("/api/v1/", "application/json")])
def test_deeply_nested_json_is_a_400_on_both_apis(client, path, content_type):
    for data in (DEEP, json.dumps({"payload": {"action": "hello", "meta": nested(100)}}),
                 json.dumps({**REST, "env": nested(100)})):
        reply = client.post(path, data=data, headers={"Content-Type": content_type})
        assert reply.status_code == 400 and "nested deeper" in reply.get_json()["error"]
        assert reply.get_json()["fields"] == ["body"]


def test_valid_counts_still_pass(client, engine):
    assert post_message(client, {**RUN, "number_of_workers": " 2 ", "gpu_limit": "0"}).status_code == 200
    assert client.post("/api/v1/", json={**REST, "jid": "j2", "env": {"A": 5, "B": "x y"}}).status_code == 201
    assert engine.specs["j2"].env == {"A": "5", "B": "x y"}


# ---------------------------------------------------------------- 12.3: bodies over 1 MiB

BIG = 2 << 20


@pytest.mark.parametrize("path", ["/api/v1/", "/api/v1/cmd", "/api/v1/j1/", "/api/v1/health"])
def test_a_declared_body_over_1_mib_is_a_413_before_it_is_read(client, engine, path):
    stream = io.BytesIO(b'{"jid": "big", "image": "x", "cmd": "true", "pad": "' + b"x" * BIG + b'"}')
    reply = client.post(path, input_stream=stream, content_length=len(stream.getvalue()),
                        headers={"Content-Type": "application/json"})
    assert reply.status_code == 413 and "1048576" in reply.get_json()["error"]
    assert stream.tell() == 0, "the body was read"
    assert engine.jobs == {}


def test_a_chunked_body_over_1_mib_is_a_413_after_at_most_the_limit(client, engine):
    stream = io.BytesIO(json.dumps({**REST, "pad": "x" * BIG}).encode())
    # gunicorn marks a chunked body's end itself (wsgi.input_terminated), as here.
    reply = client.post("/api/v1/", input_stream=stream, headers={"Content-Type": "application/json",
                                                                  "Transfer-Encoding": "chunked"},
                        environ_overrides={"wsgi.input_terminated": True})
    assert reply.status_code == 413
    assert stream.tell() <= (1 << 20) + (1 << 16)
    assert engine.jobs == {}


def test_a_body_just_under_the_limit_is_read(client, engine):
    body = json.dumps({**REST, "auid": "x" * ((1 << 20) - 200)})
    assert len(body) <= 1 << 20
    assert client.post("/api/v1/", data=body, headers={"Content-Type": "application/json"}).status_code == 201


# ---------------------------------------------------------------- 12.4: auth, echo, paths, defaults

@pytest.fixture
def auth_client(engine, tmp_path):
    tokens = tmp_path / "pman_config.cfg"
    tokens.write_text("[AUTH TOKENS]\ntoken = s3cret\n")
    cfg = config.from_sources({"workdir": str(tmp_path / "work"), "token_auth": True, "token_path": str(tokens)}, {})
    return app_mod.create_app(cfg, engine=engine).test_client()


@pytest.mark.parametrize("header,status", [
    ("Bearer s3cret", 200), ("bearer s3cret", 200), ("BEARER s3cret", 200),
    ("Basic s3cret", 401), ("token s3cret", 401), ("s3cret", 401), ("x y s3cret", 401), ("Bearer s3cret x", 401),
])
def test_only_the_bearer_scheme_is_accepted(auth_client, header, status):
    reply = auth_client.get("/api/v1/", headers={"Authorization": header})
    assert reply.status_code == status
    if status == 401:
        assert "Bearer <token>" in reply.get_json()["error"]


def test_credential_headers_are_never_echoed(auth_client):
    secrets = {"Authorization": "Bearer s3cret", "Cookie": "session=c00kie", "Proxy-Authorization": "Basic pr0xy",
               "X-Auth-Token": "sw1ft", "X-Storage-Token": "st0rage"}
    for path in ("/api/v1/cmd", "/api/v1/cmd/"):
        reply = auth_client.post(path, data=json.dumps({"action": "hello", "meta": {}}), headers=secrets)
        assert reply.status_code == 200
        text = reply.get_data(as_text=True)
        for value in ("s3cret", "c00kie", "pr0xy", "sw1ft", "st0rage"):
            assert value not in text
        assert "X-Auth-Token: <redacted>" in "".join(reply.get_json()["receivedByServer"])


def test_status_and_logs_do_not_reveal_the_work_directory(client, engine, tmp_path):
    work = str(tmp_path / "work")
    assert post_message(client, RUN).status_code == 200
    engine.set("j1", status=base.JobStatus.finishedWithError, message=f"cannot write {work}/jobs/j1/outgoing/x",
               reason="RunnerError")
    engine.job_logs["j1"] = {"run": f"cwd is {work}/jobs/j1/tmp\nsibling {work}2/keep\n"}
    for reply in (post_message(client, {"key": "jid", "value": "j1"}, action="status"),
                  client.get("/api/v1/j1/")):
        text = reply.get_data(as_text=True)
        assert work + "/" not in text and str(tmp_path) + "/work/" not in text
        assert "<workdir>/jobs/j1/outgoing/x" in text and "<workdir>/jobs/j1/tmp" in text
        assert f"{work}2/keep" in text  # a sibling directory is not the work directory


def test_engine_errors_do_not_reveal_the_work_directory(client, engine, tmp_path):
    work = str(tmp_path / "work")

    def failing_submit(spec):
        raise base.EngineError(f"cannot create the work directory {work}/jobs/{spec.jid}: No space left")

    engine.submit = failing_submit
    reply = client.post("/api/v1/", json=REST)
    assert reply.status_code == 503 and work not in reply.get_data(as_text=True)
    assert "<workdir>/jobs/j1" in reply.get_json()["error"]


def test_defaults_bind_loopback_unless_auth_is_on(tmp_path):
    assert config.from_sources({"workdir": str(tmp_path)}, {}).host == "127.0.0.1"
    token = {"workdir": str(tmp_path), "token_auth": True}
    assert config.from_sources(token, {}).host == "0.0.0.0"
    assert config.from_sources({"workdir": str(tmp_path)}, {"PMAN_ENABLE_TOKEN_AUTH": "1"}).host == "0.0.0.0"
    with pytest.raises(config.ConfigError, match="--insecure-open") as e:
        config.from_sources({"workdir": str(tmp_path), "host": "0.0.0.0"}, {})
    assert "--ip" in str(e.value) and "--enableTokenAuth" in str(e.value)
    with pytest.raises(config.ConfigError, match="without token auth"):
        config.from_sources({"workdir": str(tmp_path)}, {"PMAN_IP": "10.1.2.3"})
    assert config.from_sources({"workdir": str(tmp_path), "host": "0.0.0.0", "insecure_open": True}, {}).host == "0.0.0.0"
    assert config.from_sources({"workdir": str(tmp_path)}, {"PMAN_IP": "::", "PMAN_INSECURE_OPEN": "1"}).host == "::"


def test_an_open_inherited_socket_without_auth_refuses_to_start(tmp_path, capsys):
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        code = cli.main(["--workdir", str(tmp_path), "--listen-fd", str(sock.fileno())])
    assert code == 2
    err = capsys.readouterr().err
    assert "refusing to serve 0.0.0.0 without token auth" in err and "--insecure-open" in err
