"""Small frozen records of the Jobs, pods and Events the status cache keeps.

A Job or pod as the API server sends it is 8-14 KB of JSON (managedFields, the whole pod spec,
every volume); parsed, 30-60 KB of Python objects.  The status mapping
(:mod:`~pman.engines.kube.status`) reads a few dozen fields of it, so the cache keeps only those,
in slotted frozen dataclasses, and rebuilds the minimal dict the mapping reads with ``as_dict()``.
The mapping stays the one place that decides a status: a record must give it exactly the
answer the full object gives (tests compare both on every recorded object).

Like the mapping, the constructors never raise: any field may be missing or of the wrong type.
Strings that repeat across thousands of objects (images, reasons, phases, times to the second)
are interned; unique ones (names, uids, versions) are not, as the table would only grow.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from pman.engines.kube.settings import PROCESSOR
from pman.engines.kube.status import nested

_SCALARS = (str, int, float, bool)


def _scalar(value: Any) -> Any:
    """A scalar field as it came (the mapping reads it as the API sent it), or None."""
    return value if isinstance(value, _SCALARS) else None


def _s(value: Any) -> Any:
    """A scalar field whose string values repeat across objects (interned: stored once)."""
    return sys.intern(value) if isinstance(value, str) else _scalar(value)


def _strings(value: Any) -> tuple[str, ...] | None:
    return tuple(str(v) for v in value) if isinstance(value, list) else None


def _put(out: dict, key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


@dataclass(frozen=True, slots=True)
class Condition:
    """A Job condition whose status is ``"True"`` (the mapping reads no other)."""

    type: str | None
    reason: str | None
    message: str | None
    last_transition: str | None

    def as_dict(self) -> dict:
        out = {"type": self.type, "status": "True"}
        _put(out, "reason", self.reason)
        _put(out, "message", self.message)
        _put(out, "lastTransitionTime", self.last_transition)
        return out


@dataclass(frozen=True, slots=True)
class JobRecord:
    name: str
    uid: str | None
    resource_version: str | None
    created: str | None
    deleting: bool
    image: str | None
    command: tuple[str, ...] | None
    args: tuple[str, ...] | None
    has_processor: bool
    conditions: tuple[Condition, ...]
    completion_time: str | None
    start_time: str | None

    @classmethod
    def of(cls, job: Any) -> "JobRecord | None":
        """The record of a Job object; None if it has no name."""
        name = nested(job, "metadata", "name")
        if not isinstance(name, str) or not name:
            return None
        containers = nested(job, "spec", "template", "spec", "containers")
        processor = next((c for c in containers if isinstance(c, dict) and c.get("name") == PROCESSOR), None) \
            if isinstance(containers, list) else None
        conditions = nested(job, "status", "conditions")
        kept = tuple(Condition(_s(c.get("type")), _s(c.get("reason")), _s(c.get("message")),
                               _s(c.get("lastTransitionTime")))
                     for c in (conditions if isinstance(conditions, list) else [])
                     if isinstance(c, dict) and c.get("status") == "True")
        return cls(name=name, uid=_scalar(nested(job, "metadata", "uid")),
                   resource_version=_scalar(nested(job, "metadata", "resourceVersion")),
                   created=_s(nested(job, "metadata", "creationTimestamp")),
                   deleting=nested(job, "metadata", "deletionTimestamp") is not None,
                   image=_s(nested(processor, "image")), command=_strings(nested(processor, "command")),
                   args=_strings(nested(processor, "args")), has_processor=processor is not None,
                   conditions=kept, completion_time=_s(nested(job, "status", "completionTime")),
                   start_time=_s(nested(job, "status", "startTime")))

    def as_dict(self) -> dict:
        """The Job as the status mapping reads it."""
        meta = {"name": self.name}
        _put(meta, "uid", self.uid)
        _put(meta, "resourceVersion", self.resource_version)
        _put(meta, "creationTimestamp", self.created)
        containers = []
        if self.has_processor:
            processor = {"name": PROCESSOR}
            _put(processor, "image", self.image)
            _put(processor, "command", list(self.command) if self.command is not None else None)
            _put(processor, "args", list(self.args) if self.args is not None else None)
            containers.append(processor)
        job_status = {"conditions": [c.as_dict() for c in self.conditions]}
        _put(job_status, "completionTime", self.completion_time)
        _put(job_status, "startTime", self.start_time)
        return {"metadata": meta, "spec": {"template": {"spec": {"containers": containers}}}, "status": job_status}


@dataclass(frozen=True, slots=True)
class Terminated:
    exit_code: Any
    reason: str | None
    message: str | None
    started_at: str | None
    finished_at: str | None

    @classmethod
    def of(cls, term: Any) -> "Terminated | None":
        if not isinstance(term, dict) or not term:
            return None
        return cls(_scalar(term.get("exitCode")), _s(term.get("reason")), _s(term.get("message")),
                   _s(term.get("startedAt")), _s(term.get("finishedAt")))

    def as_dict(self) -> dict:
        return {"exitCode": self.exit_code, "reason": self.reason, "message": self.message,
                "startedAt": self.started_at, "finishedAt": self.finished_at}


@dataclass(frozen=True, slots=True)
class Container:
    """A container's status: what the mapping and the log reader need."""

    init: bool
    name: str
    image: str | None
    container_id: str | None
    waiting_reason: str | None
    waiting_message: str | None
    running: bool
    running_started_at: str | None
    terminated: Terminated | None
    last_terminated: Terminated | None

    @classmethod
    def of(cls, cs: Any, init: bool) -> "Container | None":
        if not isinstance(cs, dict) or not cs.get("name"):
            return None
        waiting = nested(cs, "state", "waiting")
        running = nested(cs, "state", "running")
        return cls(init=init, name=sys.intern(str(cs["name"])), image=_s(cs.get("image")),
                   container_id=_scalar(cs.get("containerID")),
                   waiting_reason=_s(nested(waiting, "reason")), waiting_message=_s(nested(waiting, "message")),
                   running=bool(running), running_started_at=_s(nested(running, "startedAt")),
                   terminated=Terminated.of(nested(cs, "state", "terminated")),
                   last_terminated=Terminated.of(nested(cs, "lastState", "terminated")))

    def as_dict(self) -> dict:
        state: dict = {}
        if self.waiting_reason is not None or self.waiting_message is not None:
            waiting = {}
            _put(waiting, "reason", self.waiting_reason)
            _put(waiting, "message", self.waiting_message)
            state["waiting"] = waiting
        if self.running:
            state["running"] = {"startedAt": self.running_started_at}
        if self.terminated is not None:
            state["terminated"] = self.terminated.as_dict()
        out = {"name": self.name, "state": state}
        _put(out, "image", self.image)
        _put(out, "containerID", self.container_id)
        if self.last_terminated is not None:
            out["lastState"] = {"terminated": self.last_terminated.as_dict()}
        return out


@dataclass(frozen=True, slots=True)
class PodRecord:
    name: str
    jid: str | None
    uid: str | None
    resource_version: str | None
    created: str | None
    phase: str | None
    start_time: str | None
    unscheduled_reason: str | None
    unscheduled_message: str | None
    unscheduled: bool
    containers: tuple[Container, ...]

    @classmethod
    def of(cls, pod: Any) -> "PodRecord | None":
        """The record of a pod object; None if it has no name."""
        name = nested(pod, "metadata", "name")
        if not isinstance(name, str) or not name:
            return None
        conditions = nested(pod, "status", "conditions")
        unscheduled = next((c for c in (conditions if isinstance(conditions, list) else [])
                            if isinstance(c, dict) and c.get("type") == "PodScheduled" and c.get("status") == "False"),
                           None)
        containers = []
        for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
            statuses = nested(pod, "status", key)
            for cs in statuses if isinstance(statuses, list) else []:
                record = Container.of(cs, init)
                if record is not None:
                    containers.append(record)
        jid = nested(pod, "metadata", "labels", "jid")
        return cls(name=name, jid=_scalar(jid), uid=_scalar(nested(pod, "metadata", "uid")),
                   resource_version=_scalar(nested(pod, "metadata", "resourceVersion")),
                   created=_s(nested(pod, "metadata", "creationTimestamp")), phase=_s(nested(pod, "status", "phase")),
                   start_time=_s(nested(pod, "status", "startTime")),
                   unscheduled_reason=_s(nested(unscheduled, "reason")),
                   unscheduled_message=_s(nested(unscheduled, "message")), unscheduled=unscheduled is not None,
                   containers=tuple(containers))

    def as_dict(self) -> dict:
        """The pod as the status mapping and the log reader read it."""
        meta = {"name": self.name}
        _put(meta, "uid", self.uid)
        _put(meta, "resourceVersion", self.resource_version)
        _put(meta, "creationTimestamp", self.created)
        if self.jid is not None:
            meta["labels"] = {"jid": self.jid}
        pod_status: dict = {}
        _put(pod_status, "phase", self.phase)
        _put(pod_status, "startTime", self.start_time)
        if self.unscheduled:
            cond = {"type": "PodScheduled", "status": "False"}
            _put(cond, "reason", self.unscheduled_reason)
            _put(cond, "message", self.unscheduled_message)
            pod_status["conditions"] = [cond]
        pod_status["initContainerStatuses"] = [c.as_dict() for c in self.containers if c.init]
        pod_status["containerStatuses"] = [c.as_dict() for c in self.containers if not c.init]
        return {"metadata": meta, "status": pod_status}


# The Event reasons the mapping reads (status.py: FailedCreate of a Job, FailedMount and
# FailedAttachVolume of a pod); the cache keeps no other Event.
EVENT_REASONS = frozenset({"FailedCreate", "FailedMount", "FailedAttachVolume"})


@dataclass(frozen=True, slots=True)
class EventRecord:
    kind: str | None
    name: str | None
    uid: str | None
    reason: str
    message: str | None
    first: str | None
    last: str | None

    @classmethod
    def of(cls, event: Any) -> "EventRecord | None":
        """The record of an Event the mapping reads; None for any other Event."""
        reason = nested(event, "reason")
        if reason not in EVENT_REASONS:
            return None
        created = nested(event, "metadata", "creationTimestamp")
        first = nested(event, "firstTimestamp") or nested(event, "eventTime") or created
        last = nested(event, "lastTimestamp") or nested(event, "eventTime") or created
        return cls(kind=_s(nested(event, "involvedObject", "kind")),
                   name=_scalar(nested(event, "involvedObject", "name")),
                   uid=_scalar(nested(event, "involvedObject", "uid")), reason=sys.intern(reason),
                   message=_s(nested(event, "message")), first=_s(first), last=_s(last))

    def as_dict(self) -> dict:
        involved = {}
        _put(involved, "kind", self.kind)
        _put(involved, "name", self.name)
        _put(involved, "uid", self.uid)
        out = {"reason": self.reason, "involvedObject": involved}
        _put(out, "message", self.message)
        _put(out, "firstTimestamp", self.first)
        _put(out, "lastTimestamp", self.last)
        return out
