"""Both HTTP APIs over a fake engine: reply shapes, status codes, auth, metrics, OpenAPI."""
import json

import pytest

from pman import app as app_mod, config
from pman.engines import base
from tests.support.fake_engine import FakeEngine
from tests.support.pman_app import RUN, msg

ENVELOPE = {"status", "RESTheader", "RESTverb", "action", "path", "receivedByServer", "client_json_payload",
            "client_json_len", "payloadsize", "meta"}


@pytest.fixture
def engine():
    return FakeEngine()


@pytest.fixture
def shutdowns():
    return []


@pytest.fixture
def app(engine, shutdowns, tmp_path):
    cfg = config.from_sources({"workdir": str(tmp_path)}, {})
    return app_mod.create_app(cfg, engine=engine, shutdown=lambda: shutdowns.append(1))


@pytest.fixture
def client(app):
    return app.test_client()


def test_hello_envelope(client):
    r = msg(client, "hello", {"askAbout": "timestamp"})
    assert r.status_code == 200 and r.mimetype == "application/json"
    reply = r.get_json()
    assert ENVELOPE | {"d_ret"} <= set(reply)
    assert reply["status"] is True and reply["action"] == "hello" and reply["path"] == "/api/v1/cmd"
    assert reply["d_ret"]["name"] == "pman" and "now" in reply["d_ret"]["timestamp"]
    assert reply["RESTheader"].startswith("POST /api/v1/cmd ")
    assert reply["client_json_len"] == len(reply["client_json_payload"])
    assert reply["receivedByServer"][-1] == reply["client_json_payload"]


@pytest.mark.parametrize("wrap,path", [(True, "/api/v1/cmd"), (False, "/api/v1/cmd/")])
def test_run_with_or_without_payload_wrapper(client, engine, wrap, path):
    r = msg(client, "run", RUN, wrap=wrap, path=path)
    assert r.status_code == 200
    assert r.get_json()["meta"] == RUN
    spec = engine.specs["chris-jid-1"]
    assert spec.image == "busybox" and spec.resources.memory_limit == "200Mi"


def test_status_reply_shape_pfcon_polls(client, engine):
    msg(client, "run", RUN)
    reply = msg(client, "status", {"key": "jid", "value": "chris-jid-1"}).get_json()
    assert reply["status"] is True
    assert reply["d_ret"]["l_status"] == ["notstarted"]
    engine.set("chris-jid-1", status=base.JobStatus.finishedWithError, message="run failed (exit code 2)",
               reason="ProcessorError", exit_code=2)
    engine.job_logs["chris-jid-1"] = {"run": "boom\n"}
    d_ret = msg(client, "status", {"remote": {"key": "chris-jid-1"}}).get_json()["d_ret"]
    assert all("finished" in s for s in d_ret["l_status"])
    assert d_ret["l_status"] == ["finishedWithError"]
    assert "boom" in d_ret["l_logs"][0]
    assert "ProcessorError" in d_ret["description"] and d_ret["exitcode"] == 2


def test_done_is_status_without_l_status(client, engine):
    msg(client, "run", RUN)
    d_ret = msg(client, "done", {"key": "jid", "value": "chris-jid-1"}).get_json()["d_ret"]
    assert "l_status" not in d_ret and "l_logs" in d_ret


def test_info(client, engine):
    msg(client, "run", RUN)
    engine.set("chris-jid-1", status=base.JobStatus.started)
    d_ret = msg(client, "info", {"key": "jid", "value": "chris-jid-1"}).get_json()["d_ret"]
    assert d_ret["0.0"]["chris-jid-1"]["startInfo"]["allJobsStarted"] is True
    assert d_ret["0.1"]["chris-jid-1"]["endInfo"]["allJobsDone"] is False


def test_both_apis_answer_the_same_job_fields(client, engine):
    """One rendering of JobInfo: REST, info's ``job`` and status's ``d_ret`` (whose state is l_status)."""
    msg(client, "run", RUN)
    engine.set("chris-jid-1", status=base.JobStatus.finishedWithError, reason="ProcessorError", exit_code=2,
               started_at="t1", finished_at="t2")
    fields = {"jid": "chris-jid-1", "image": "busybox", "cmd": "cp -r /share/incoming /share/outgoing",
              "status": "finishedWithError", "message": "queued", "reason": "ProcessorError", "exitcode": 2,
              "timestamp": "2026-11-25T00:00:00Z", "started_at": "t1", "finished_at": "t2"}
    rest = client.get("/api/v1/chris-jid-1/").get_json()
    assert {k: rest[k] for k in fields} == fields
    assert msg(client, "info", {"key": "jid", "value": "chris-jid-1"}).get_json()["d_ret"]["job"] == fields
    d_ret = msg(client, "status", {"key": "jid", "value": "chris-jid-1"}).get_json()["d_ret"]
    assert {k: d_ret[k] for k in fields if k != "status"} == {k: v for k, v in fields.items() if k != "status"}
    assert "status" not in d_ret and d_ret["l_status"] == ["finishedWithError"]


def test_delete(client, engine):
    msg(client, "run", RUN)
    reply = msg(client, "delete", {"key": "jid", "value": "chris-jid-1"}).get_json()
    # the original's fields as they were, and what became of the job's data
    assert reply["d_ret"] == {"action": "Delete Job", "job_id": "chris-jid-1", "status": "deleted",
                              "data": "deleted", "data_detail": "Swift container (fake)"}
    assert engine.removed == ["chris-jid-1"]


@pytest.mark.parametrize("action", ["status", "done", "info", "delete"])
def test_unknown_jid_is_a_json_404_with_the_envelope(client, action):
    r = msg(client, action, {"key": "jid", "value": "nope"})
    assert r.status_code == 404
    reply = r.get_json()
    assert reply["status"] is False and "nope" in reply["error"] and reply["action"] == action


def test_duplicate_jid_is_409(client):
    assert msg(client, "run", RUN).status_code == 200
    r = msg(client, "run", RUN)
    assert r.status_code == 409 and "exists" in r.get_json()["error"]


@pytest.mark.parametrize("data,named", [
    ("not json", "not JSON"), ("[1, 2]", "JSON object"), ('{"payload": {"meta": {}}}', "missing action"),
    ('{"action": "run", "meta": []}', "meta must be"), ('{"action": "fly", "meta": {}}', "unknown action 'fly'"),
])
def test_malformed_messages_are_400(client, data, named):
    r = client.post("/api/v1/cmd", data=data)
    assert r.status_code == 400
    assert named in r.get_json()["error"]


def test_bad_run_names_fields(client):
    r = msg(client, "run", {**RUN, "cpu_limit": "abc", "jid": None})
    assert r.status_code == 400
    assert r.get_json()["fields"] == ["meta.jid", "meta.cpu_limit"]


def test_quit_replies_then_shuts_down(client, shutdowns):
    r = msg(client, "quit", {"when": "now", "saveDB": True})
    assert r.get_json()["d_ret"] == {} and r.status_code == 200
    r.close()
    assert shutdowns == [1]


# ---------------------------------------------------------------- REST

def test_rest_version(client):
    assert client.get("/api/v1/").get_json()["server_version"] == config.VERSION


def test_rest_create_get_delete(client, engine):
    body = {"jid": "r1", "image": "busybox", "entrypoint": ["echo"], "args": ["hi"], "env": {"A": "1"},
            "resources": {"cpu_limit": "500m"}}
    r = client.post("/api/v1/", json=body)
    assert r.status_code == 201 and r.headers["Location"] == "/api/v1/r1/"
    assert r.get_json()["status"] == "notstarted"
    engine.set("r1", status=base.JobStatus.finishedSuccessfully, exit_code=0)
    engine.job_logs["r1"] = {"run": "hi\n"}
    job = client.get("/api/v1/r1/").get_json()
    assert {"jid", "image", "cmd", "status", "message", "timestamp", "exitcode", "logs"} <= set(job)
    assert (job["status"], job["exitcode"], job["cmd"]) == ("finishedSuccessfully", 0, "echo hi")
    assert "hi" in job["logs"]
    assert client.delete("/api/v1/r1/").status_code == 204
    assert client.get("/api/v1/r1/").status_code == 404
    assert client.delete("/api/v1/r1/").status_code == 404


@pytest.mark.parametrize("body,status,field", [
    ({"image": "i", "cmd": "x"}, 400, "jid"),
    ({"jid": "r", "image": "i", "cmd": "x", "resources": {"cpu_limit": "abc"}}, 400, "resources.cpu_limit"),
    ({"jid": "r", "cmd": "x"}, 400, "image"),
])
def test_rest_bad_requests(client, body, status, field):
    r = client.post("/api/v1/", json=body)
    assert r.status_code == status and field in r.get_json()["fields"]


def test_rest_duplicate_and_non_json(client):
    body = {"jid": "r1", "image": "i", "cmd": "x"}
    assert client.post("/api/v1/", json=body).status_code == 201
    assert client.post("/api/v1/", json=body).status_code == 409
    assert client.post("/api/v1/", data="jid=r1").status_code == 400


def test_openapi_describes_every_rest_route(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("rest."):
            path = rule.rule.replace("<jid>", "{jid}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert method.lower() in doc["paths"][path], (path, method)
    for path_item in doc["paths"].values():
        for op in path_item.values():
            if isinstance(op, dict) and "responses" in op:
                for resp in op["responses"].values():
                    for media in resp.get("content", {}).values():
                        ref = media["schema"]["$ref"].rsplit("/", 1)[1]
                        assert ref in doc["components"]["schemas"]


# ---------------------------------------------------------------- auth, health, metrics

@pytest.fixture
def auth_client(engine, tmp_path):
    tokens = tmp_path / "pman_config.cfg"
    tokens.write_text("[AUTH TOKENS]\ntoken = s3cret\n")
    cfg = config.from_sources({"workdir": str(tmp_path), "token_auth": True, "token_path": str(tokens)}, {})
    return app_mod.create_app(cfg, engine=engine).test_client()


@pytest.mark.parametrize("header,status", [(None, 401), ("bearer wrong", 401), ("bearer s3cret", 200)])
def test_token_auth_on_both_apis(auth_client, header, status):
    headers = {"Authorization": header} if header else {}
    assert msg(auth_client, "hello", {}, headers=headers).status_code == status
    assert auth_client.get("/api/v1/", headers=headers).status_code == status


def test_token_is_not_echoed(auth_client):
    reply = msg(auth_client, "hello", {}, headers={"Authorization": "bearer s3cret"}).get_json()
    assert "s3cret" not in json.dumps(reply)


def test_health_metrics_openapi_need_no_token(auth_client):
    assert auth_client.get("/api/v1/health").get_json()["status"] == "ok"
    assert auth_client.get("/api/v1/openapi.json").status_code == 200
    msg(auth_client, "hello", {})
    metrics = auth_client.get("/metrics").get_data(as_text=True)
    assert 'pman_requests_total{endpoint="/api/v1/cmd",method="POST",status="401"} 1.0' in metrics
