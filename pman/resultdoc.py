"""The result object: a job's final state, stored beside its data in Swift as ``<jid>/result.json``.

Whoever first sees the job end writes it: normally the publish container, after the output
(``put --wait``, :mod:`pman.publisher.cli`, ``recordedBy: publisher``); pman itself when it sees a
terminal state and finds no result object (the pod never got to publish: input missing, image
not pullable, deadline, pod refused; ``recordedBy: pman``).  The Kubernetes engines read it back
(:mod:`pman.engines.kube`), so every finished job still answers ``status`` after Kubernetes has
deleted its Job (``ttlSecondsAfterFinished``).  The format lives here, apart from both, so that
neither imports the other.  The object lives outside ``output/`` so that it is never part of the
plugin's output tree.  Example::

    {"schema": "pman-result/1", "jid": "chris-jid-7", "status": "finishedWithError",
     "reason": "ProcessorError", "message": "the processor failed with exit code 2",
     "processor": {"exitCode": 2, "reason": "Error", "startedAt": "...", "finishedAt": "...",
                   "image": "fnndsc/pl-simpledsapp", "command": ["python", "..."]},
     "output": {"prefix": "output/", "layout": "tree", "files": 3, "bytes": 1234,
                "manifest": "output.manifest.json"},
     "publishError": null, "createdAt": "...", "publishedAt": "...", "finishedAt": "...",
     "recordedBy": "publisher"}
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Callable

from swiftstore import errors

RESULT_OBJECT = "result.json"
SCHEMA = "pman-result/1"
SUCCESS, FAILURE = "finishedSuccessfully", "finishedWithError"


@dataclass(frozen=True)
class ProcessorOutcome:
    """How the processor container ended, as its pod status tells it."""

    exit_code: int | None
    reason: str = ""
    """Kubernetes' ``state.terminated.reason``: Completed, Error, OOMKilled, ..."""
    message: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    image: str = ""
    command: tuple[str, ...] = ()
    pod_created_at: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class OutputSummary:
    """What ``put`` stored (or None fields when it failed before knowing)."""

    layout: str = "tree"
    files: int | None = None
    bytes: int | None = None
    manifest: str | None = "output.manifest.json"
    extra: dict = field(default_factory=dict)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def verdict(outcome: ProcessorOutcome, publish_error: str | None) -> tuple[str, str, str]:
    """(status, reason, message) of the whole job; the processor's failure comes first."""
    if outcome.reason == "OOMKilled":
        return FAILURE, "OOMKilled", f"the processor ran out of memory (exit code {outcome.exit_code})"
    if not outcome.succeeded:
        return FAILURE, "ProcessorError", f"the processor failed with exit code {outcome.exit_code}"
    if publish_error:
        return FAILURE, "PublisherError", f"publishing the output failed: {publish_error}"
    return SUCCESS, "", "finished successfully"


def build(jid: str, outcome: ProcessorOutcome, output: OutputSummary, *, publish_error: str | None = None,
          published_at: str | None = None) -> dict:
    """The publisher's result document (plain JSON types) for ``jid``: the processor's end was observed."""
    status, reason, message = verdict(outcome, publish_error)
    published_at = published_at or now_iso()
    return _document(jid, status, reason, message, outcome, output=output, publish_error=publish_error,
                     created_at=outcome.pod_created_at, published_at=published_at, finished_at=published_at,
                     recorded_by="publisher")


def unobserved(jid: str, why: str, output: OutputSummary, *, publish_error: str | None = None,
               published_at: str | None = None) -> dict:
    """The publisher's result document when it could not observe the processor's end (``why``):
    it uploaded what it found, which may be incomplete, so the job counts as failed."""
    found = f"{output.files} files" if output.files is not None else "what it found"
    if publish_error:
        message = (f"the publisher could not observe how the processor ended ({why}), and uploading "
                   f"the output failed too: {publish_error}")
    else:
        message = (f"the publisher could not observe how the processor ended ({why}); it uploaded the output "
                   f"as it found it ({found}), which may be incomplete")
    published_at = published_at or now_iso()
    return _document(jid, FAILURE, "PublisherError", message, ProcessorOutcome(exit_code=None), output=output,
                     publish_error=publish_error or why, created_at=None, published_at=published_at,
                     finished_at=published_at, recorded_by="publisher")


def observed(jid: str, status: str, reason: str, message: str, processor: ProcessorOutcome, *,
             created_at: str | None, finished_at: str | None) -> dict:
    """pman's result document: the terminal state it saw in the cluster, for a job whose publisher
    left none (no output was published: ``output`` says nothing)."""
    return _document(jid, status, reason, message, processor, output=None, publish_error=None,
                     created_at=created_at, published_at=None, finished_at=finished_at or now_iso(),
                     recorded_by="pman")


def _document(jid: str, status: str, reason: str, message: str, outcome: ProcessorOutcome, *,
              output: OutputSummary | None, publish_error: str | None, created_at: str | None,
              published_at: str | None, finished_at: str | None, recorded_by: str) -> dict:
    out = None
    if output is not None:
        out = {"prefix": "output/", "layout": output.layout, "files": output.files, "bytes": output.bytes,
               "manifest": output.manifest if output.layout == "tree" else None, **output.extra}
    return {
        "schema": SCHEMA, "jid": jid, "status": status, "reason": reason, "message": message,
        "processor": {"exitCode": outcome.exit_code, "reason": outcome.reason, "message": outcome.message,
                      "startedAt": outcome.started_at, "finishedAt": outcome.finished_at,
                      "image": outcome.image, "command": list(outcome.command)},
        "output": out,
        "publishError": publish_error,
        "createdAt": created_at,
        "publishedAt": published_at,
        "finishedAt": finished_at,
        "recordedBy": recorded_by,
    }


def upload(store, jid: str, document: dict) -> None:
    """Store the result object (a verified small JSON object) in container ``jid``."""
    store.ensure_container(jid)  # normally there (it held the input), but a failure path must not depend on it
    store.put_json(jid, RESULT_OBJECT, document)


def reader(store) -> Callable[[str], "dict | None"]:
    """``jid -> result dict | None`` over a :class:`swiftstore.SwiftStore`, for the engines.

    A missing container or object is None (the job is unknown); other errors propagate, so that a
    Swift outage is not mistaken for an unknown job.
    """
    def read(jid: str) -> dict | None:
        try:
            doc = store.get_json(jid, RESULT_OBJECT)
        except errors.NotFound:
            return None
        return doc if isinstance(doc, dict) and doc.get("schema") == SCHEMA else None

    return read


def writer(store) -> Callable[[str, dict], None]:
    """``(jid, document) -> None`` over a :class:`swiftstore.SwiftStore`: :func:`upload`, for the engines."""
    def write(jid: str, document: dict) -> None:
        upload(store, jid, document)

    return write


def upload_quietly(store, jid: str, document: dict) -> bool:
    """:func:`upload`, for a failure path: a second error must not hide the first one."""
    try:
        upload(store, jid, document)
        return True
    except Exception as e:  # noqa: BLE001 - best effort by design
        logging.getLogger("pman.publisher").warning("cannot store the result object of %s: %s", jid, e)
        return False
