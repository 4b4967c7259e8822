"""Status outlives the Job: the Kubernetes engine records a terminal state nobody recorded in the
real Swift, with pman's own credentials, and answers from it once the TTL deleted the Job.

The API server is the recorded one (tests/fixtures/k8s-1.36, through the fakes of
the client in tests/support/fake_kube.py); Swift is real.
"""
from __future__ import annotations

import json

import pytest

from pman.engines import base
from pman.engines.kube import engine as kube_engine, kubernetes as kube, settings as kubesettings, status
from tests.support.fake_kube import FakeBatchV1Api, FakeCoreV1Api, api_error, load, recorded


def engine_over(swift, job, pods, events=None, after=0.0):
    settings = kubesettings.KubeSettings(swift_credentials=swift.credentials_file)
    reader, writer, _store = kube_engine.swift_results(settings, "kubernetes")
    created = status.epoch(load(job)["metadata"]["creationTimestamp"])
    batch = FakeBatchV1Api(read=recorded(job), delete=recorded("delete-job/delete-response.json"))
    core = FakeCoreV1Api(list_pods=recorded(pods),
                         list_events=recorded(events) if events else {"kind": "EventList", "items": []})
    engine = kube.KubernetesEngine(kube.ClientApi(batch, core), settings, result_reader=reader,
                                   result_writer=writer, clock=lambda: created + after)
    return engine, batch


@pytest.mark.parametrize("folder, events, reason", [
    ("init-failed", None, "InputError"),
    ("pod-forbidden-podsecurity", "events.json", "PodSecurityViolation"),
])
def test_pman_records_the_end_in_swift_and_answers_after_the_ttl(swift, swift_connection, unique_container,
                                                                  folder, events, reason):
    engine, batch = engine_over(swift, f"{folder}/job.json", f"{folder}/pods.json",
                                f"{folder}/{events}" if events else None)
    before = engine.info(unique_container)
    assert (before.status, before.reason) == (base.JobStatus.finishedWithError, reason)
    _headers, body = swift_connection.get_object(unique_container, "result.json")
    doc = json.loads(body)
    assert (doc["recordedBy"], doc["status"], doc["reason"]) == ("pman", "finishedWithError", reason)
    assert bool(batch.called("delete")) == (reason == "PodSecurityViolation")  # pman gave up: the Job goes

    gone = FakeBatchV1Api(read=api_error("ttl-deleted/job.json"))
    after = kube.KubernetesEngine(kube.ClientApi(gone, FakeCoreV1Api()), engine.settings,
                                  result_reader=engine.result_reader).info(unique_container)
    assert (after.status, after.reason, after.message, after.finished_at) == (
        before.status, before.reason, before.message, before.finished_at)


def test_the_publishers_record_is_not_overwritten(swift, swift_connection, unique_container):
    published = {"schema": "pman-result/1", "jid": unique_container, "status": "finishedWithError",
                 "reason": "ProcessorError", "recordedBy": "publisher"}
    swift_connection.put_container(unique_container)
    swift_connection.put_object(unique_container, "result.json", json.dumps(published))
    engine, _batch = engine_over(swift, "processor-failed/job.json", "processor-failed/pods.json")
    assert engine.info(unique_container).reason == "ProcessorError"
    _headers, body = swift_connection.get_object(unique_container, "result.json")
    assert json.loads(body) == published
