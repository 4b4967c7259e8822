"""``pman-swift-publisher put --wait`` end to end without a cluster or a network: the real CLI and
wait module, an in-memory Swift, and a fake in-cluster API whose watch reports the processor's end."""
import json

import pytest

import swiftstore
from pman import resultdoc
from pman.publisher import cli, wait
from tests.unit.pman.engines.kube.fakes import FakeCoreV1Api, FakeWatch
from tests.unit.pman.publisher.test_wait import running_pod, watch_events
from tests.unit.swiftstore.fake_conn import FakeSwift

KEY = "chris-jid-42"


@pytest.fixture
def swift(monkeypatch):
    fake = FakeSwift()
    monkeypatch.setattr(cli, "open_store", lambda args: swiftstore.SwiftStore(fake.connect, threads=2))
    for var in ("SWIFT_KEY", "INCOMING_DIR", "OUTGOING_DIR", "SWIFT_LAYOUT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("POD_NAME", "chris-jid-42-x7k2p")
    monkeypatch.setenv("POD_NAMESPACE", "chris")
    return fake


def in_cluster(monkeypatch, final_pod):
    events = [watch_events()[0], {"type": "MODIFIED", "raw_object": final_pod}]
    monkeypatch.setattr(wait, "incluster_api", lambda: (FakeCoreV1Api(read_pod=running_pod()), FakeWatch([events])))


def finished_pod(exit_code, reason):
    pod = watch_events()[1]["raw_object"]
    pod["status"]["containerStatuses"][0]["state"]["terminated"].update(exitCode=exit_code, reason=reason)
    return pod


def put(tmp_path, *extra):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (out / "report.txt").write_text("partial results")
    return cli.main(["put", "--wait", "--key", KEY, "--outgoing", str(out), "-q", *extra])


def test_failed_processor_output_is_still_published_then_the_result(swift, tmp_path, monkeypatch, capsys):
    in_cluster(monkeypatch, finished_pod(2, "Error"))
    assert put(tmp_path) == 0  # the publisher did its job; the processor's exit fails the pod by itself
    objects = swift.objects(KEY)
    assert swift.tree(KEY, "output/") == {"report.txt": b"partial results"}
    doc = json.loads(objects[resultdoc.RESULT_OBJECT])
    assert (doc["status"], doc["reason"], doc["processor"]["exitCode"]) == ("finishedWithError", "ProcessorError", 2)
    assert doc["output"]["files"] == 1 and doc["publishError"] is None
    puts = [c[2] for c in swift.calls if c[0] == "PUT"]
    assert puts.index("output.manifest.json") < puts.index(resultdoc.RESULT_OBJECT)  # the result comes last
    assert "processor exit code 2" in capsys.readouterr().err


def test_successful_processor_archive_layout(swift, tmp_path, monkeypatch):
    in_cluster(monkeypatch, finished_pod(0, "Completed"))
    assert put(tmp_path, "--layout", "archive") == 0
    doc = json.loads(swift.objects(KEY)[resultdoc.RESULT_OBJECT])
    assert (doc["status"], doc["output"]["layout"]) == ("finishedSuccessfully", "archive")
    assert "output/data" in swift.objects(KEY)


def test_upload_failure_fails_the_publisher_and_says_why(swift, tmp_path, monkeypatch, capsys):
    in_cluster(monkeypatch, finished_pod(0, "Completed"))

    def broken(*a, **k):
        raise swiftstore.errors.TransferError("Swift answered 503", container=KEY)
    monkeypatch.setattr(swiftstore.SwiftStore, "put_tree", broken)
    assert put(tmp_path) == 1
    doc = json.loads(swift.objects(KEY)[resultdoc.RESULT_OBJECT])
    assert (doc["status"], doc["reason"]) == ("finishedWithError", "PublisherError")
    assert "503" in doc["publishError"] and "503" in capsys.readouterr().err


def test_wait_failure_uploads_nothing(swift, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(wait, "incluster_api", lambda: (FakeCoreV1Api(read_pod=_forbidden()), FakeWatch([])))
    assert put(tmp_path) == 1
    assert not [c for c in swift.calls if c[0] == "PUT"]
    assert "get/watch on pods" in capsys.readouterr().err


def _forbidden():
    from tests.unit.pman.engines.kube.fakes import api_error
    return api_error("forbidden")
