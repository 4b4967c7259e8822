"""The result object: what the publisher writes, and what the engines read back after the TTL."""
import pytest
from swiftstore import errors

from pman import resultdoc
from pman.engines import base
from pman.engines.kube import status

OK = resultdoc.ProcessorOutcome(exit_code=0, reason="Completed", started_at="t1", finished_at="t2",
                                image="img", command=("run", "/share/incoming", "/share/outgoing"), pod_created_at="t0")
TREE = resultdoc.OutputSummary(layout="tree", files=3, bytes=1234)


class FakeStore:
    def __init__(self, objects=None, error=None):
        self.objects = objects if objects is not None else {}
        self.error = error

    def ensure_container(self, container):
        self.objects.setdefault((container, None), None)

    def put_json(self, container, name, obj):
        self.objects[(container, name)] = obj

    def get_json(self, container, name):
        if self.error:
            raise self.error
        if (container, name) not in self.objects:
            raise errors.NotFound("no such object", container=container, obj=name)
        return self.objects[(container, name)]


@pytest.mark.parametrize("outcome, publish_error, expected", [
    (OK, None, ("finishedSuccessfully", "")),
    (resultdoc.ProcessorOutcome(exit_code=3, reason="Error"), None, ("finishedWithError", "ProcessorError")),
    (resultdoc.ProcessorOutcome(exit_code=137, reason="OOMKilled"), None, ("finishedWithError", "OOMKilled")),
    (OK, "Swift 503", ("finishedWithError", "PublisherError")),
    (resultdoc.ProcessorOutcome(exit_code=1, reason="Error"), "Swift 503", ("finishedWithError", "ProcessorError")),
])
def test_verdict_puts_the_processor_first(outcome, publish_error, expected):
    doc = resultdoc.build("chris-jid-1", outcome, TREE, publish_error=publish_error, published_at="t3")
    assert (doc["status"], doc["reason"]) == expected
    assert doc["processor"]["exitCode"] == outcome.exit_code and doc["publishError"] == publish_error


def test_round_trip_through_the_store_and_the_status_mapping():
    store = FakeStore()
    doc = resultdoc.build("chris-jid-1", OK, TREE, published_at="t3")
    resultdoc.upload(store, "chris-jid-1", doc)
    assert ("chris-jid-1", "result.json") in store.objects
    info = status.info_from_result("chris-jid-1", resultdoc.reader(store)("chris-jid-1"))
    assert (info.status, info.exit_code, info.image, info.timestamp) == (base.JobStatus.finishedSuccessfully, 0,
                                                                         "img", "t0")
    assert info.cmd == "run /share/incoming /share/outgoing"
    assert doc["output"] == {"prefix": "output/", "layout": "tree", "files": 3, "bytes": 1234,
                             "manifest": "output.manifest.json"}


def test_reader_returns_none_for_missing_or_foreign_objects_and_raises_on_outages():
    assert resultdoc.reader(FakeStore())("chris-jid-1") is None
    foreign = FakeStore({("j", "result.json"): {"status": "finishedSuccessfully"}})  # no schema: not ours
    assert resultdoc.reader(foreign)("j") is None
    with pytest.raises(errors.TransferError):
        resultdoc.reader(FakeStore(error=errors.TransferError("503", container="j")))("j")


def test_archive_layout_has_no_manifest():
    doc = resultdoc.build("j", OK, resultdoc.OutputSummary(layout="archive", files=None, bytes=99))
    assert doc["output"]["manifest"] is None and doc["publishedAt"].endswith("Z")


def test_pmans_own_record_through_the_writer_reads_back_the_same():
    """What pman writes for a job whose publisher never ran (here: the input could not be fetched)."""
    store = FakeStore()
    outcome = resultdoc.ProcessorOutcome(exit_code=None, image="img", command=("run", "/in", "/out"))
    doc = resultdoc.observed("j", "finishedWithError", "InputError", "fetching the input failed with exit code 1",
                             outcome, created_at="t0", finished_at="t2")
    resultdoc.writer(store)("j", doc)
    back = resultdoc.reader(store)("j")
    assert (back["recordedBy"], back["output"], back["publishedAt"]) == ("pman", None, None)
    info = status.info_from_result("j", back)
    assert (info.status, info.reason, info.exit_code) == (base.JobStatus.finishedWithError, "InputError", None)
    assert (info.timestamp, info.finished_at, info.cmd) == ("t0", "t2", "run /in /out")


def test_an_unobserved_end_is_a_failure_that_says_the_output_may_be_incomplete():
    doc = resultdoc.unobserved("j", "pod j-x is not readable", TREE, published_at="t3")
    assert (doc["status"], doc["reason"], doc["recordedBy"]) == ("finishedWithError", "PublisherError", "publisher")
    assert "pod j-x is not readable" in doc["message"] and "3 files" in doc["message"]
    assert "may be incomplete" in doc["message"] and doc["processor"]["exitCode"] is None
    assert doc["output"]["files"] == 3 and doc["finishedAt"] == "t3"
    failed = resultdoc.unobserved("j", "API down", resultdoc.OutputSummary(), publish_error="Swift 503")
    assert "API down" in failed["message"] and "Swift 503" in failed["message"]
