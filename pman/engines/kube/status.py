"""A pman job's state from its Job and pods, as the API server returns them (camelCase dicts).

Pure: no API calls.  Every field may be missing or None (a Job just created has no status, a
pod being scheduled has no containerStatuses), and none of that may crash the mapping.

Order of evidence:

1. Job conditions: ``Failed`` (or ``FailureTarget``) and ``Complete`` (or ``SuccessCriteriaMet``,
   which 1.31+ servers set first) are final;
2. a pod in phase ``Failed``/``Succeeded`` (the Job controller has not caught up yet);
3. an image that can never be pulled (``InvalidImageName``, ``ErrImageNeverPull``) is final too;
4. otherwise ``started`` once any container runs or ran, else ``notstarted``.

The reason of a failure comes from the containers: the processor OOMKilled or non-zero, the
init container (``InputError``) or the publish container (``PublisherError``) non-zero, an image
pull failure; the Job's ``DeadlineExceeded`` wins (it kills whatever still runs), with the
first failed container as detail.
"""
from __future__ import annotations

import shlex
from typing import Any, Iterable

from pman.engines import base
from pman.engines.kube.settings import INIT, PROCESSOR, PUBLISH

PULL_ERRORS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
PERMANENT_PULL_ERRORS = {"InvalidImageName", "ErrImageNeverPull"}
STEP_REASONS = {INIT: "InputError", PROCESSOR: "ProcessorError", PUBLISH: "PublisherError"}


def nested(obj: Any, *path: str) -> Any:
    """``obj[p0][p1]...`` or None when anything on the way is missing or not a dict."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def condition(job: dict | None, kind: str) -> dict | None:
    """The Job condition of type ``kind`` whose status is ``"True"``, if any."""
    for cond in _list(nested(job, "status", "conditions")):
        if isinstance(cond, dict) and cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def container_statuses(pods: Iterable[dict]) -> dict[str, dict]:
    """Container name -> status (init and regular), the newest pod's winning."""
    out: dict[str, dict] = {}
    ordered = sorted((p for p in pods if isinstance(p, dict)),
                     key=lambda p: str(nested(p, "metadata", "creationTimestamp") or ""))
    for pod in ordered:
        for key in ("initContainerStatuses", "containerStatuses"):
            for cs in _list(nested(pod, "status", key)):
                if isinstance(cs, dict) and cs.get("name"):
                    out[cs["name"]] = cs
    return out


def terminated(cs: dict | None) -> dict | None:
    return nested(cs, "state", "terminated") or nested(cs, "lastState", "terminated")


def _failure(statuses: dict[str, dict]) -> tuple[str, str, int | None] | None:
    """(reason, message, processor exit code) of the first failed container, in pipeline order."""
    for name in (INIT, PROCESSOR, PUBLISH):
        cs = statuses.get(name)
        waiting = nested(cs, "state", "waiting") or {}
        if waiting.get("reason") in PULL_ERRORS:
            image = (cs or {}).get("image", "")
            return "ImagePullError", f"{name}: cannot pull image {image}: {waiting.get('reason')}", None
        term = terminated(cs)
        code = nested(term, "exitCode")
        if term and code not in (None, 0):
            proc_code = code if name == PROCESSOR else None
            if term.get("reason") == "OOMKilled":
                return "OOMKilled", f"{name}: out of memory (OOMKilled, exit code {code})", proc_code
            what = {INIT: "fetching the input", PROCESSOR: "the processor", PUBLISH: "publishing the output"}[name]
            return STEP_REASONS[name], f"{what} failed with exit code {code}", proc_code
    return None


def _processor_exit(statuses: dict[str, dict]) -> int | None:
    code = nested(terminated(statuses.get(PROCESSOR)), "exitCode")
    return code if isinstance(code, int) else None


def _pod_phase(pods: list[dict]) -> str:
    phases = [nested(p, "status", "phase") for p in pods]
    return phases[-1] if phases and isinstance(phases[-1], str) else ""


def _running(statuses: dict[str, dict]) -> bool:
    return any(nested(cs, "state", "running") is not None or terminated(cs) for cs in statuses.values())


def _finished_at(job: dict | None, statuses: dict[str, dict]) -> str | None:
    done = condition(job, "Failed") or condition(job, "Complete")
    stamp = nested(job, "status", "completionTime") or nested(done, "lastTransitionTime")
    return stamp or nested(terminated(statuses.get(PUBLISH)), "finishedAt") or None


def _verdict(job: dict | None, pods: list[dict], statuses: dict[str, dict]) -> tuple[base.JobStatus, str, str]:
    failure = _failure(statuses)
    failed = condition(job, "Failed") or condition(job, "FailureTarget")
    if failed:
        if failed.get("reason") == "DeadlineExceeded":
            # The deadline kills what still runs (exit 137/143): name the deadline, keep the detail.
            detail = f" ({failure[1]})" if failure else ""
            return base.JobStatus.finishedWithError, "DeadlineExceeded", f"the job ran out of time{detail}"
        if failure:
            return base.JobStatus.finishedWithError, failure[0], failure[1]
        why = failed.get("message") or failed.get("reason") or "failed"
        return base.JobStatus.finishedWithError, failed.get("reason") or "Failed", str(why)
    if condition(job, "Complete") or condition(job, "SuccessCriteriaMet") or _pod_phase(pods) == "Succeeded":
        return base.JobStatus.finishedSuccessfully, "", "finished successfully"
    if _pod_phase(pods) == "Failed" and failure:
        return base.JobStatus.finishedWithError, failure[0], failure[1]
    if failure and failure[0] == "ImagePullError":
        waiting = {nested(cs, "state", "waiting", "reason") for cs in statuses.values()}
        final = bool(waiting & PERMANENT_PULL_ERRORS)
        status = base.JobStatus.finishedWithError if final else base.JobStatus.notstarted
        suffix = "" if final else " (retrying until the job's deadline)"
        return status, "ImagePullError", failure[1] + suffix
    if _running(statuses):
        step = next((n for n in (PROCESSOR, PUBLISH, INIT) if nested(statuses.get(n), "state", "running")), "")
        return base.JobStatus.started, "", f"running: {step}" if step else "running"
    if pods:
        return base.JobStatus.notstarted, "", "pending: its pod is being scheduled or pulling images"
    return base.JobStatus.notstarted, "", "waiting for its pod to be created"


def job_info(jid: str, job: dict | None, pods: Iterable[dict] | None) -> base.JobInfo:
    """Map a Job and its pods to a :class:`base.JobInfo`; nothing missing makes it raise."""
    pods = [p for p in (pods or []) if isinstance(p, dict)]
    statuses = container_statuses(pods)
    status, reason, message = _verdict(job if isinstance(job, dict) else None, pods, statuses)
    processor = next((c for c in _list(nested(job, "spec", "template", "spec", "containers"))
                      if isinstance(c, dict) and c.get("name") == PROCESSOR), {})
    command = [str(t) for t in _list(processor.get("command"))] + [str(t) for t in _list(processor.get("args"))]
    return base.JobInfo(
        jid=jid, image=str(processor.get("image") or ""), cmd=shlex.join(command), status=status,
        message=message, reason=reason, exit_code=_processor_exit(statuses),
        timestamp=str(nested(job, "metadata", "creationTimestamp") or ""),
        started_at=nested(job, "status", "startTime") or None,
        finished_at=_finished_at(job, statuses) if status.finished else None)


def info_from_result(jid: str, result: dict) -> base.JobInfo:
    """A finished job's info from the publisher's result object (see :mod:`pman.resultdoc`)."""
    try:
        state = base.JobStatus(result.get("status"))
    except ValueError:
        state = base.JobStatus.undefined
    processor = result.get("processor") if isinstance(result.get("processor"), dict) else {}
    command = processor.get("command") if isinstance(processor.get("command"), list) else []
    code = processor.get("exitCode")
    return base.JobInfo(
        jid=jid, image=str(processor.get("image") or ""), cmd=shlex.join(str(t) for t in command), status=state,
        message=str(result.get("message") or ""), reason=str(result.get("reason") or ""),
        exit_code=code if isinstance(code, int) else None,
        timestamp=str(result.get("createdAt") or ""), started_at=processor.get("startedAt") or None,
        finished_at=result.get("publishedAt") or processor.get("finishedAt") or None)
