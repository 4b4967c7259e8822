"""``pman-swift-publisher put --wait`` end to end without a cluster or a network: the real CLI and
wait module, an in-memory Swift, and a fake in-cluster API answering with the recorded pod watch.

The output is never lost: whatever happens to the wait, what the processor wrote is uploaded with
a result object that says what happened, and the exit status is 1 when the publisher had to guess.
"""
import json

import pytest

import swiftstore
from pman import resultdoc
from pman.publisher import cli, wait
from tests.support.fake_kube import FakeCoreV1Api, FakeWatch, api_error, items, load, watch_lines
from tests.support.fake_swiftclient import FakeSwift

KEY = "chris-jid-50"


@pytest.fixture
def fake_swift(monkeypatch, tmp_path):
    fake = FakeSwift()
    monkeypatch.setattr(cli, "open_store", lambda args: swiftstore.SwiftStore(fake.connect, threads=2))
    for var in ("SWIFT_KEY", "INCOMING_DIR", "OUTGOING_DIR", "SWIFT_LAYOUT", "WAIT_UNREACHABLE_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("POD_NAME", load("pod-watch/read-pod.json")["metadata"]["name"])
    monkeypatch.setenv("POD_NAMESPACE", "chris")
    termination_log = tmp_path / "termination-log"
    termination_log.write_text("")
    monkeypatch.setenv("TERMINATION_LOG", str(termination_log))
    fake.termination_log = termination_log
    return fake


def in_cluster(monkeypatch, final_pod=None, *, read_pod=None, watch=None):
    """The in-cluster API: the recorded first read, then the recorded watch up to ``final_pod``."""
    lines = watch_lines("pod-watch/watch.jsonl")
    if watch is None:
        watch = FakeWatch([[lines[0], {"type": "MODIFIED", "raw_object": final_pod}]])
    api = FakeCoreV1Api(read_pod=read_pod if read_pod is not None else load("pod-watch/read-pod.json"))
    monkeypatch.setattr(wait, "incluster_api", lambda: (api, watch))
    return api


def put(tmp_path, *extra):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (out / "report.txt").write_text("partial results")
    return cli.main(["put", "--wait", "--key", KEY, "--outgoing", str(out), "-q", *extra])


def result(fake_swift):
    return json.loads(fake_swift.objects(KEY)[resultdoc.RESULT_OBJECT])


def test_failed_processor_output_is_still_published_then_the_result(fake_swift, tmp_path, monkeypatch, capsys):
    in_cluster(monkeypatch, items("processor-failed/pods-processor-exited.json")[0])
    assert put(tmp_path) == 0  # the publisher did its job; the processor's exit fails the pod by itself
    assert fake_swift.tree(KEY, "output/") == {"report.txt": b"partial results"}
    doc = result(fake_swift)
    assert (doc["status"], doc["reason"], doc["processor"]["exitCode"]) == ("finishedWithError", "ProcessorError", 3)
    assert doc["output"]["files"] == 1 and doc["publishError"] is None and doc["recordedBy"] == "publisher"
    puts = [c[2] for c in fake_swift.calls if c[0] == "PUT"]
    assert puts.index("output.manifest.json") < puts.index(resultdoc.RESULT_OBJECT)  # the result comes last
    assert "processor exit code 3" in capsys.readouterr().err


def test_the_recorded_successful_run(fake_swift, tmp_path, monkeypatch):
    in_cluster(monkeypatch, watch=FakeWatch([watch_lines("pod-watch/watch.jsonl")]))
    assert put(tmp_path, "--layout", "archive") == 0
    doc = result(fake_swift)
    assert (doc["status"], doc["output"]["layout"], doc["processor"]["exitCode"]) == ("finishedSuccessfully",
                                                                                      "archive", 0)
    assert "output/data" in fake_swift.objects(KEY)


def test_upload_failure_fails_the_publisher_and_says_why(fake_swift, tmp_path, monkeypatch, capsys):
    in_cluster(monkeypatch, watch=FakeWatch([watch_lines("pod-watch/watch.jsonl")]))

    def broken(*a, **k):
        raise swiftstore.errors.TransferError("Swift answered 503", container=KEY)
    monkeypatch.setattr(swiftstore.SwiftStore, "put_tree", broken)
    assert put(tmp_path) == 1
    doc = result(fake_swift)
    assert (doc["status"], doc["reason"]) == ("finishedWithError", "PublisherError")
    assert "503" in doc["publishError"] and "503" in capsys.readouterr().err
    assert "503" in fake_swift.termination_log.read_text()  # pman shows it in the job's status


@pytest.mark.parametrize("answer, words", [
    ("forbidden/default-sa-get-pod.json", "get/watch on pods"),
    ("forbidden/bad-token.json", "rejected our token"),
    ("pod-watch/read-pod-deleted.json", "does not exist"),
])
def test_a_fatal_answer_still_publishes_the_output_and_a_result(fake_swift, tmp_path, monkeypatch, capsys, answer, words):
    in_cluster(monkeypatch, read_pod=api_error(answer), watch=FakeWatch([]))
    assert put(tmp_path) == 1  # it had to guess
    assert fake_swift.tree(KEY, "output/") == {"report.txt": b"partial results"}
    doc = result(fake_swift)
    assert (doc["status"], doc["reason"], doc["recordedBy"]) == ("finishedWithError", "PublisherError", "publisher")
    assert "could not observe how the processor ended" in doc["message"] and words in doc["message"]
    assert "may be incomplete" in doc["message"] and doc["processor"]["exitCode"] is None
    err = capsys.readouterr().err
    assert "processor's end was not observed" in err and words in err
    assert "not observed" in fake_swift.termination_log.read_text()


def test_a_pod_deleted_mid_wait_still_publishes(fake_swift, tmp_path, monkeypatch):
    lines = watch_lines("pod-watch/watch.jsonl")
    in_cluster(monkeypatch, watch=FakeWatch([lines[:3] + [lines[-1]]]))
    assert put(tmp_path) == 1
    assert "was deleted" in result(fake_swift)["message"] and fake_swift.tree(KEY, "output/")


def test_an_unreachable_api_is_bounded_then_the_output_is_published(fake_swift, tmp_path, monkeypatch):
    in_cluster(monkeypatch, read_pod=ConnectionRefusedError(111, "Connection refused"), watch=FakeWatch([]))
    assert put(tmp_path, "--wait-unreachable-timeout", "0") == 1
    doc = result(fake_swift)
    assert "has not answered for 0 s" in doc["message"] and "Connection refused" in doc["message"]
    assert fake_swift.tree(KEY, "output/") == {"report.txt": b"partial results"}


def test_the_bound_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("WAIT_UNREACHABLE_TIMEOUT", "42")
    assert cli.build_parser().parse_args(["put", "--key", KEY]).wait_unreachable_timeout == 42
    monkeypatch.delenv("WAIT_UNREACHABLE_TIMEOUT")
    assert cli.build_parser().parse_args(["put", "--key", KEY]).wait_unreachable_timeout == wait.UNREACHABLE_TIMEOUT


def test_unobserved_and_upload_failed_says_both(fake_swift, tmp_path, monkeypatch):
    in_cluster(monkeypatch, read_pod=api_error("forbidden/default-sa-get-pod.json"), watch=FakeWatch([]))

    def broken(*a, **k):
        raise swiftstore.errors.TransferError("Swift answered 503", container=KEY)
    monkeypatch.setattr(swiftstore.SwiftStore, "put_tree", broken)
    assert put(tmp_path) == 1
    doc = result(fake_swift)
    assert "could not observe" in doc["message"] and "503" in doc["message"]
