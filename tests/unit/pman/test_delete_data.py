"""A job's delete deletes its stored data: the replies of both APIs, the opt-out setting, the kube
engine's order (Job, then its pods stopped, then the container) over the recorded API server, and
the mount-mode removal (links refused, other keys untouched).

Swift itself is the integration tests' (tests/integration/test_pman_delete_data.py); here the
kube engine's store is a stand-in recording what it is asked to delete.
"""
import os

import pytest

import swiftstore
from pman import app as app_mod, config, jobdata
from pman.engines import base
from pman.engines.kube import engine as kube_engine, settings as kubesettings
from tests.support.fake_kube import JID, recorded
from tests.support.kube_cluster import SETTINGS, Cluster, scenario
from tests.support.fake_engine import FakeEngine
from tests.support.pman_app import RUN, build, msg


# ---------------------------------------------------------------- the replies

@pytest.fixture
def engine():
    return FakeEngine()


@pytest.fixture
def client(engine, tmp_path):
    cfg = config.from_sources({"workdir": str(tmp_path)}, {})
    return app_mod.create_app(cfg, engine=engine, shutdown=lambda: None).test_client()


@pytest.mark.parametrize("removal", [base.Removal(base.DATA_DELETED, "Swift container chris-jid-1"),
                                     jobdata.KEPT, base.Removal(base.DATA_NONE, "no Swift container chris-jid-1")])
def test_the_message_api_says_what_became_of_the_data(client, engine, removal):
    engine.removal = removal
    msg(client, "run", RUN)
    d_ret = msg(client, "delete", {"key": "jid", "value": "chris-jid-1"}).get_json()["d_ret"]
    assert (d_ret["action"], d_ret["job_id"], d_ret["status"]) == ("Delete Job", "chris-jid-1", "deleted")
    assert (d_ret["data"], d_ret["data_detail"]) == (removal.data, removal.detail)


def test_the_rest_api_keeps_its_204_and_says_it_in_headers(client, engine):
    engine.removal = base.Removal(base.DATA_KEPT, "pman has no Swift credentials (no file: é\nnext line)")
    client.post("/api/v1/", json={"jid": "r1", "image": "busybox", "cmd": "true"})
    r = client.delete("/api/v1/r1/")
    assert r.status_code == 204 and r.data == b""
    assert r.headers["X-Pman-Data"] == "kept"
    assert r.headers["X-Pman-Data-Detail"] == "pman has no Swift credentials (no file: é next line)"


def test_the_openapi_document_describes_the_headers(client):
    delete = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/{jid}/"]["delete"]
    assert delete["responses"]["204"]["headers"]["X-Pman-Data"]["schema"]["enum"] == ["deleted", "kept", "none"]


def test_a_data_deletion_failure_is_a_json_503_and_the_job_stays(client, engine):
    def failing(jid):
        raise base.EngineError(f"job {jid!r}: cannot delete its Swift container: 503 (delete it again to retry)")
    msg(client, "run", RUN)
    engine.remove = failing
    r = msg(client, "delete", {"key": "jid", "value": "chris-jid-1"})
    assert r.status_code == 503
    reply = r.get_json()
    assert reply["status"] is False and "delete it again" in reply["error"] and reply["action"] == "delete"
    assert client.delete("/api/v1/chris-jid-1/").status_code == 503


@pytest.mark.parametrize("header", [None, "bearer wrong", "Basic czNjcmV0"])
def test_delete_needs_pmans_token_on_both_apis(engine, tmp_path, header):
    tokens = tmp_path / "pman_config.cfg"
    tokens.write_text("[AUTH TOKENS]\ntoken = s3cret\n")
    cfg = config.from_sources({"workdir": str(tmp_path), "token_auth": True, "token_path": str(tokens)}, {})
    client = app_mod.create_app(cfg, engine=engine, shutdown=lambda: None).test_client()
    good = {"Authorization": "bearer s3cret"}
    msg(client, "run", RUN, headers=good)
    bad = {"Authorization": header} if header else {}
    assert msg(client, "delete", {"key": "jid", "value": "chris-jid-1"}, headers=bad).status_code == 401
    assert client.delete("/api/v1/chris-jid-1/", headers=bad).status_code == 401
    assert engine.removed == []
    assert client.delete("/api/v1/chris-jid-1/", headers=good).headers["X-Pman-Data"] == "deleted"


@pytest.mark.parametrize("jid", ["../victim", "victim/..", "a b", "_segments", ".x"])
def test_a_crafted_jid_never_reaches_an_engine(client, engine, jid):
    from urllib.parse import quote
    assert msg(client, "delete", {"key": "jid", "value": jid}).status_code == 400
    assert client.delete(f"/api/v1/{quote(jid, safe='')}/").status_code in (400, 404)  # (a "/" never routes)
    assert engine.removed == []


def test_the_detail_never_shows_the_work_directory(tmp_path):
    engine = FakeEngine()
    engine.removal = base.Removal(base.DATA_DELETED, f"{tmp_path}/jobs/x")
    cfg = config.from_sources({"workdir": str(tmp_path)}, {})
    client = app_mod.create_app(cfg, engine=engine, shutdown=lambda: None).test_client()
    msg(client, "run", RUN)
    d_ret = msg(client, "delete", {"key": "jid", "value": "chris-jid-1"}).get_json()["d_ret"]
    assert d_ret["data_detail"] == "<workdir>/jobs/x"


# ---------------------------------------------------------------- the setting

def test_data_is_deleted_by_default_and_kept_on_request():
    default = build([], {"HOME": "/nonexistent-home"})
    assert (default.local.keep_data_on_delete, default.kube.keep_data_on_delete) == (False, False)
    flag = build(["--keep-data-on-delete"])
    env = build([], {"PMAN_KEEP_DATA_ON_DELETE": "yes"})
    for c in (flag, env):
        assert (c.local.keep_data_on_delete, c.kube.keep_data_on_delete) == (True, True)
    with pytest.raises(config.ConfigError, match="--keep-data-on-delete.*PMAN_KEEP_DATA_ON_DELETE"):
        build([], {"PMAN_KEEP_DATA_ON_DELETE": "sometimes"})


def test_the_flag_is_in_the_help():
    from pman import cli
    assert "--keep-data-on-delete" in cli.build_parser().format_help()


# ---------------------------------------------------------------- the kube engine

class Store:
    """Stands in for the SwiftStore: records the containers it deletes; ``missing`` ones are a
    NotFound, ``error`` is raised for any."""

    def __init__(self, missing=(), error=None):
        self.deleted, self.missing, self.error = [], set(missing), error

    def delete(self, container, prefix=None):
        assert prefix is None  # the whole container, never a prefix of another
        if self.error:
            raise self.error
        if container in self.missing:
            raise swiftstore.errors.NotFound("no container", container=container)
        self.deleted.append(container)


def with_store(cluster, store, settings=SETTINGS):
    cluster.engine.data_store, cluster.engine.settings = store, settings
    cluster.sleeps = []

    def sleep(seconds):  # time passes only when the engine waits
        cluster.sleeps.append(seconds)
        cluster.now += seconds
    cluster.engine.sleep = sleep
    return cluster


def test_remove_of_a_finished_job_deletes_its_container_and_only_it(flavour):
    store = Store()
    cluster = with_store(scenario(flavour, "succeeded"), store)
    removal = cluster.engine.remove(JID)
    assert (removal.data, store.deleted) == (base.DATA_DELETED, [JID])
    assert cluster.calls("delete") and cluster.sleeps == []  # its pods had ended: no wait


def test_remove_waits_for_the_pods_to_stop_before_deleting(flavour):
    store = Store()
    answers = iter([recorded("running/pods.json"), recorded("running/pods.json"), recorded("succeeded/pods.json")])
    cluster = with_store(scenario(flavour, "running"), store)
    _answer_pods(cluster, lambda *a, **kw: next(answers))
    removal = cluster.engine.remove(JID)
    assert (removal.data, store.deleted) == (base.DATA_DELETED, [JID])
    assert len(cluster.sleeps) == 2


def test_pods_that_do_not_stop_leave_the_data(flavour, caplog):
    store = Store()
    cluster = with_store(scenario(flavour, "running"), store)
    removal = cluster.engine.remove(JID)
    assert (removal.data, store.deleted) == (base.DATA_KEPT, [])
    assert "still stopping" in removal.detail and "retention" in removal.detail
    assert sum(cluster.sleeps) == pytest.approx(kube_engine.POD_STOP_WAIT)


def test_keep_data_on_delete_leaves_the_container(flavour):
    store = Store()
    keep = kubesettings.KubeSettings(**{**SETTINGS.__dict__, "keep_data_on_delete": True})
    cluster = with_store(scenario(flavour, "succeeded"), store, keep)
    assert cluster.engine.remove(JID) == jobdata.KEPT and store.deleted == []
    assert cluster.calls("delete")  # the Job is deleted all the same


def test_without_a_store_the_data_is_left_and_said(flavour):
    cluster = with_store(scenario(flavour, "succeeded"), None)
    removal = cluster.engine.remove(JID)
    assert removal.data == base.DATA_KEPT and "retention" in removal.detail


def test_a_job_known_by_its_result_only_has_its_container_deleted(flavour):
    from tests.support.fake_kube import api_error
    from tests.support.kube_cluster import Results
    store = Store()
    cluster = with_store(Cluster(flavour, delete=api_error("delete-job/delete-again.json"),
                                 results=Results({JID: {"schema": "pman-result/1"}})), store)
    assert cluster.engine.remove(JID).data == base.DATA_DELETED and store.deleted == [JID]


def test_no_container_is_none_and_a_swift_failure_is_a_503(flavour):
    cluster = with_store(scenario(flavour, "succeeded"), Store(missing={JID}))
    assert cluster.engine.remove(JID).data == base.DATA_NONE
    failing = Store(error=swiftstore.errors.TransferError("DELETE container failed: 503", container=JID))
    cluster = with_store(scenario(flavour, "succeeded"), failing)
    with pytest.raises(base.EngineError) as err:
        cluster.engine.remove(JID)
    assert err.value.status_code == 503 and "retry" in str(err.value)


def test_a_status_read_during_the_delete_records_no_result_object(flavour):
    """Writing it would bring the deleted container back."""
    cluster = with_store(scenario(flavour, "succeeded"), Store())
    cluster.engine.remove(JID)
    cluster.engine._record(JID, [], base.JobInfo(JID, "", "", base.JobStatus.finishedSuccessfully))
    assert cluster.results.writes == []


def _answer_pods(cluster, answer):
    if cluster.flavour == "kubernetes":
        cluster.core.answers["list_pods"] = answer
    else:
        cluster.pods.answers["get"] = answer


@pytest.fixture(params=["kubernetes", "openshift"])
def flavour(request):
    return request.param


# ---------------------------------------------------------------- mount mode

def test_mount_delete_removes_only_the_keys_directory(tmp_path):
    for key in ("j1", "j1_segments", "j1x", "xj1"):
        (tmp_path / f"key-{key}" / "outgoing").mkdir(parents=True)
        (tmp_path / f"key-{key}" / "outgoing" / "f").write_text(key)
    removal = jobdata.delete_mount(str(tmp_path), "j1")
    assert removal.data == base.DATA_DELETED and not (tmp_path / "key-j1").exists()
    for key in ("j1_segments", "j1x", "xj1"):
        assert (tmp_path / f"key-{key}" / "outgoing" / "f").read_text() == key
    assert jobdata.delete_mount(str(tmp_path), "j1").data == base.DATA_NONE
    assert not [p for p in (tmp_path / ".pfioh-staging").iterdir() if p.name != "locks"]  # no trash left


def test_mount_delete_refuses_a_link_and_never_follows_it(tmp_path):
    victim = tmp_path / "key-victim"
    (victim / "outgoing").mkdir(parents=True)
    (victim / "outgoing" / "f").write_text("precious")
    os.symlink(victim, tmp_path / "key-j1")
    with pytest.raises(base.EngineError) as err:
        jobdata.delete_mount(str(tmp_path), "j1")
    assert err.value.status_code == 409 and "symbolic link" in str(err.value)
    assert (victim / "outgoing" / "f").read_text() == "precious" and (tmp_path / "key-j1").is_symlink()


def test_mount_delete_never_follows_links_inside(tmp_path):
    victim = tmp_path / "elsewhere"
    victim.mkdir()
    (victim / "f").write_text("precious")
    (tmp_path / "key-j1").mkdir()
    os.symlink(victim, tmp_path / "key-j1" / "outgoing")
    assert jobdata.delete_mount(str(tmp_path), "j1").data == base.DATA_DELETED
    assert (victim / "f").read_text() == "precious"


def test_mount_delete_waits_for_the_keys_lock(tmp_path):
    """A pull of the key holds its lock shared: the delete waits for it, then fails clearly."""
    from safearchive import locks
    (tmp_path / "key-j1").mkdir()
    held = locks.for_store(tmp_path).acquire("j1", shared=True)
    try:
        old, jobdata.LOCK_TIMEOUT = jobdata.LOCK_TIMEOUT, 0.05
        try:
            with pytest.raises(base.EngineError) as err:
                jobdata.delete_mount(str(tmp_path), "j1")
        finally:
            jobdata.LOCK_TIMEOUT = old
    finally:
        locks.for_store(tmp_path).release(held, "j1")
    assert err.value.status_code == 503 and "retry" in str(err.value) and (tmp_path / "key-j1").is_dir()


# ---------------------------------------------------------------- the local engine

def _local_engine(tmp_path, **settings):
    from pman.engines.local import engine as local
    cfg = config.from_sources({"workdir": str(tmp_path / "work"), "store_base": str(tmp_path / "store"),
                               **settings}, {})
    return local.LocalEngine(cfg.local, reconcile_interval=0)


def _finished_row(engine, jid, plan):
    job_dir = engine.settings.jobs_dir / jid
    (job_dir / "logs").mkdir(parents=True)
    engine.store.insert(jid, {"jid": jid, "command": ["true"]}, {"job_dir": str(job_dir), **plan})
    engine.store.update(jid, state="done", status=base.JobStatus.finishedSuccessfully.value)


def test_local_swift_data_without_credentials_is_left_and_said(tmp_path):
    engine = _local_engine(tmp_path)
    try:
        _finished_row(engine, "j1", {"mode": "swift", "credentials": str(tmp_path / "gone.cfg")})
        removal = engine.remove("j1")
        assert removal.data == base.DATA_KEPT and "no Swift credentials" in removal.detail
        assert "retention" in removal.detail and engine.store.get("j1") is None
    finally:
        engine.close()


def test_local_data_follows_the_jobs_plan_not_todays_settings(tmp_path):
    """A job submitted in mount mode keeps its data in its storeBase, whatever pman says now."""
    engine = _local_engine(tmp_path, swift_storage=True)
    try:
        (tmp_path / "old-store" / "key-j1" / "outgoing").mkdir(parents=True)
        _finished_row(engine, "j1", {"mode": "mount", "store_base": str(tmp_path / "old-store")})
        assert engine.remove("j1").data == base.DATA_DELETED
        assert not (tmp_path / "old-store" / "key-j1").exists()
    finally:
        engine.close()


def test_a_local_delete_that_cannot_delete_the_data_can_be_repeated(tmp_path):
    engine = _local_engine(tmp_path)
    try:
        os.makedirs(tmp_path / "victim")
        os.makedirs(tmp_path / "store")
        os.symlink(tmp_path / "victim", tmp_path / "store" / "key-j1")
        _finished_row(engine, "j1", {"mode": "mount", "store_base": str(tmp_path / "store")})
        with pytest.raises(base.EngineError):
            engine.remove("j1")
        assert engine.info("j1").reason == "Cancelled"  # still known, marked cancelled
        os.unlink(tmp_path / "store" / "key-j1")
        assert engine.remove("j1").data == base.DATA_NONE
        assert (tmp_path / "victim").is_dir()
    finally:
        engine.close()


def test_keep_data_on_delete_in_the_local_engine(tmp_path):
    engine = _local_engine(tmp_path, keep_data_on_delete=True)
    try:
        (tmp_path / "store" / "key-j1").mkdir(parents=True)
        _finished_row(engine, "j1", {"mode": "mount", "store_base": str(tmp_path / "store")})
        assert engine.remove("j1") == jobdata.KEPT and (tmp_path / "store" / "key-j1").is_dir()
    finally:
        engine.close()


def test_a_runner_whose_job_was_deleted_runs_no_further_step(tmp_path):
    """Marked done by a delete before its put: it stops there, so it cannot publish again."""
    from pman.engines.local import jobdb, runner
    store = jobdb.JobStore(tmp_path / "db.sqlite")
    job_dir = tmp_path / "job"
    (job_dir / "logs").mkdir(parents=True)
    row = store.insert("j1", {"jid": "j1", "command": ["true"], "incoming_dir": "/share/incoming",
                              "outgoing_dir": "/share/outgoing"},
                       {"job_dir": str(job_dir), "mode": "mount", "store_base": str(tmp_path / "store")})
    store.update("j1", state="done", reason="Cancelled")
    runner.Runner(store, row, environ={}).execute()
    assert store.get("j1").step_codes == {} and store.get("j1").reason == "Cancelled"
    assert list((job_dir / "logs").iterdir()) == []  # not even the get step started
    store.close()
