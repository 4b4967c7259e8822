"""A pman job's state from its Job, its pods and their Events, as the API server returns them.

Pure: no API calls, and the clock comes in as ``now``.  Every field may be missing or None (a Job
just created has no status, a pod being scheduled has no containerStatuses), and none of that may
crash the mapping.

Order of evidence:

1. Job conditions: ``Failed`` (or ``FailureTarget``) and ``Complete`` (or ``SuccessCriteriaMet``,
   which 1.31+ servers set first) are final;
2. a pod in phase ``Failed``/``Succeeded`` (the Job controller has not caught up yet);
3. a job that cannot start: a container that cannot be pulled or created, a volume that cannot be
   mounted (the pod's Events), or a pod the API server refuses to create (the Job's
   ``FailedCreate`` Events, the only trace of a Pod Security, ServiceAccount or quota refusal).
   The cluster keeps retrying these until the Job's deadline (24 h by default), so pman gives up
   itself: at once when the cause cannot go away (a Pod Security violation, an invalid image
   name), else when it has lasted ``start_failure_timeout`` seconds;
4. ``started`` once the processor container runs or ran, else ``notstarted``.

The reason of a failure comes from the containers: the processor OOMKilled or non-zero, the
init container (``InputError``) or the publish container (``PublisherError``) non-zero; the Job's
``DeadlineExceeded`` wins (it kills whatever still runs), with the first failed container as detail.
"""
from __future__ import annotations

import datetime as dt
import shlex
from typing import Any, Iterable, NamedTuple

from pman.engines import base
from pman.engines.kube.settings import INIT, PROCESSOR, PUBLISH

# Container waiting reasons (kubelet) -> our reason.  Permanent ones cannot go away by retrying.
PERMANENT_WAITING = {"InvalidImageName": "ImagePullError", "ErrImageNeverPull": "ImagePullError"}
BOUNDED_WAITING = {"ErrImagePull": "ImagePullError", "ImagePullBackOff": "ImagePullError",
                   "RegistryUnavailable": "ImagePullError", "SignatureValidationFailed": "ImagePullError",
                   "CreateContainerConfigError": "ContainerConfigError",
                   "CreateContainerError": "ContainerCreateError"}
POD_EVENT_FAILURES = {"FailedMount": "VolumeMountError", "FailedAttachVolume": "VolumeMountError"}
# Verdicts pman reaches by giving up on a Job the cluster would retry until its deadline: the
# engine records them and deletes the Job, so that it cannot start behind the caller's back.
GIVE_UP_REASONS = frozenset({"PodSecurityViolation", "QuotaExceeded", "ServiceAccountNotFound", "PodCreateError",
                             "VolumeMountError", *PERMANENT_WAITING.values(), *BOUNDED_WAITING.values()})
STEP_REASONS = {INIT: "InputError", PROCESSOR: "ProcessorError", PUBLISH: "PublisherError"}
STEP_WORDS = {INIT: "fetching the input", PROCESSOR: "the processor", PUBLISH: "publishing the output"}
MESSAGE_LIMIT = 400


def nested(obj: Any, *path: str) -> Any:
    """``obj[p0][p1]...`` or None when anything on the way is missing or not a dict."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def epoch(stamp: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 time as the API server writes it, or None."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).timestamp()


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(int(seconds), dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _short(text: Any) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 3] + "..."


def condition(job: dict | None, kind: str) -> dict | None:
    """The Job condition of type ``kind`` whose status is ``"True"``, if any."""
    for cond in _list(nested(job, "status", "conditions")):
        if isinstance(cond, dict) and cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def job_finished(job: dict | None) -> bool:
    """The Job controller itself has decided (either step of its two-step terminal conditions)."""
    return any(condition(job, kind) for kind in ("Failed", "FailureTarget", "Complete", "SuccessCriteriaMet"))


def _by_creation(pods: Iterable[dict]) -> list[dict]:
    return sorted((p for p in pods if isinstance(p, dict)),
                  key=lambda p: str(nested(p, "metadata", "creationTimestamp") or ""))


def container_statuses(pods: Iterable[dict]) -> dict[str, dict]:
    """Container name -> status (init and regular), the newest pod's winning."""
    out: dict[str, dict] = {}
    for pod in _by_creation(pods):
        for key in ("initContainerStatuses", "containerStatuses"):
            for cs in _list(nested(pod, "status", key)):
                if isinstance(cs, dict) and cs.get("name"):
                    out[cs["name"]] = cs
    return out


def terminated(cs: dict | None) -> dict | None:
    return nested(cs, "state", "terminated") or nested(cs, "lastState", "terminated")


def processor_started_at(statuses: dict[str, dict]) -> str | None:
    """When the processor container really started (running or terminated), else None."""
    cs = statuses.get(PROCESSOR)
    stamp = nested(cs, "state", "running", "startedAt") or nested(terminated(cs), "startedAt")
    return stamp if isinstance(stamp, str) and stamp else None


def _failure(statuses: dict[str, dict]) -> tuple[str, str, int | None] | None:
    """(reason, message, processor exit code) of the first container that exited non-zero, in pipeline order."""
    for name in (INIT, PROCESSOR, PUBLISH):
        term = terminated(statuses.get(name))
        code = nested(term, "exitCode")
        if term and code not in (None, 0):
            proc_code = code if name == PROCESSOR else None
            if term.get("reason") == "OOMKilled":
                return "OOMKilled", f"{name}: out of memory (OOMKilled, exit code {code})", proc_code
            # The publisher writes its one-line reason to its termination message (terminationMessagePath).
            said = _short(term.get("message")) if name != PROCESSOR else ""
            detail = f": {said}" if said else ""
            return STEP_REASONS[name], f"{STEP_WORDS[name]} failed with exit code {code}{detail}", proc_code
    return None


def _processor_exit(statuses: dict[str, dict]) -> int | None:
    code = nested(terminated(statuses.get(PROCESSOR)), "exitCode")
    return code if isinstance(code, int) else None


def _pod_phase(pods: list[dict]) -> str:
    phases = [nested(p, "status", "phase") for p in _by_creation(pods)]
    return phases[-1] if phases and isinstance(phases[-1], str) else ""


def _finished_at(job: dict | None, statuses: dict[str, dict]) -> str | None:
    done = next(filter(None, (condition(job, kind) for kind in ("Complete", "Failed", "SuccessCriteriaMet",
                                                                 "FailureTarget"))), None)
    stamp = nested(job, "status", "completionTime") or nested(done, "lastTransitionTime")
    return stamp or nested(terminated(statuses.get(PUBLISH)), "finishedAt") or None


class Stuck(NamedTuple):
    """Why a job cannot start, and since when (epoch seconds, None if unknown)."""

    reason: str
    message: str
    since: float | None
    permanent: bool


def _containers_since(pods: list[dict], statuses: dict[str, dict]) -> tuple[float | None, float | None]:
    """When the init container, and when the regular containers, could first have started."""
    pod = _by_creation(pods)[-1] if pods else None
    pod_start = epoch(nested(pod, "status", "startTime")) or epoch(nested(pod, "metadata", "creationTimestamp"))
    init_done = epoch(nested(terminated(statuses.get(INIT)), "finishedAt"))
    return pod_start, init_done or pod_start


def _stuck_container(pods: list[dict], statuses: dict[str, dict]) -> Stuck | None:
    init_since, main_since = _containers_since(pods, statuses)
    for name in (INIT, PROCESSOR, PUBLISH):
        cs = statuses.get(name)
        waiting = nested(cs, "state", "waiting") or {}
        why = waiting.get("reason")
        if why not in PERMANENT_WAITING and why not in BOUNDED_WAITING:
            continue
        reason = PERMANENT_WAITING.get(why) or BOUNDED_WAITING[why]
        said = _short(waiting.get("message"))
        if reason == "ImagePullError":
            text = f"{name}: cannot pull image {(cs or {}).get('image', '')}: {why}"
        else:
            text = f"{name}: the container cannot be created: {why}"
        text += f": {said}" if said else ""
        if "runAsNonRoot" in said:
            text += (" (the image runs as root or as a user name: give the processor a UID, "
                     "--job-processor-uid, see docs/engines.md)")
        return Stuck(reason, text, init_since if name == INIT else main_since, why in PERMANENT_WAITING)
    return None


def _warnings(events: Iterable[dict], kind: str, reasons: Iterable[str], uid: str | None = None) -> list[dict]:
    wanted = set(reasons)
    out = []
    for event in events:
        if not isinstance(event, dict) or event.get("reason") not in wanted:
            continue
        if nested(event, "involvedObject", "kind") != kind:
            continue
        if uid and nested(event, "involvedObject", "uid") not in (None, uid):
            continue  # an Event of an older object of the same name
        out.append(event)
    return sorted(out, key=_event_time)


def _event_time(event: dict) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or nested(event, "metadata", "creationTimestamp")
               or "")


def _first_seen(events: list[dict]) -> float | None:
    stamps = [epoch(e.get("firstTimestamp") or e.get("eventTime") or nested(e, "metadata", "creationTimestamp"))
              for e in events]
    stamps = [s for s in stamps if s is not None]
    return min(stamps) if stamps else None


def create_failure_reason(message: str) -> str:
    """Our reason for a ``FailedCreate`` Event's message (the API server's refusal of the pod)."""
    if "violates PodSecurity" in message:
        return "PodSecurityViolation"
    if "exceeded quota" in message:
        return "QuotaExceeded"
    if "serviceaccount" in message.lower() and "not found" in message:
        return "ServiceAccountNotFound"
    return "PodCreateError"


def _pod_not_created(job: dict | None, events: list[dict]) -> Stuck | None:
    failed = _warnings(events, "Job", ["FailedCreate"], nested(job, "metadata", "uid"))
    if not failed:
        return None
    message = str(failed[-1].get("message") or "")
    reason = create_failure_reason(message)
    since = _first_seen(failed) or epoch(nested(job, "metadata", "creationTimestamp"))
    text = "the cluster refuses to create its pod: " + _short(message.removeprefix("Error creating: "))
    return Stuck(reason, text, since, reason == "PodSecurityViolation")


def _volume_not_mounted(pods: list[dict], events: list[dict]) -> Stuck | None:
    pod = _by_creation(pods)[-1] if pods else None
    failed = _warnings(events, "Pod", POD_EVENT_FAILURES, nested(pod, "metadata", "uid"))
    failed = [e for e in failed if nested(e, "involvedObject", "name") == nested(pod, "metadata", "name")]
    if not failed:
        return None
    last = failed[-1]
    since = _first_seen(failed) or epoch(nested(pod, "metadata", "creationTimestamp"))
    return Stuck(POD_EVENT_FAILURES[last.get("reason")], f"its pod cannot start: {_short(last.get('message'))}",
                 since, False)


def _unscheduled(pods: list[dict]) -> str:
    pod = _by_creation(pods)[-1] if pods else None
    for cond in _list(nested(pod, "status", "conditions")):
        if isinstance(cond, dict) and cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return _short(cond.get("message") or cond.get("reason"))
    return ""


class Verdict(NamedTuple):
    status: base.JobStatus
    reason: str = ""
    message: str = ""
    decided_at: float | None = None
    """Set when pman gave up (a :class:`Stuck` that lasted): the time of that decision."""


def _bounded(stuck: Stuck, now: float | None, timeout: float) -> Verdict:
    if stuck.permanent or (now is not None and stuck.since is not None and now - stuck.since >= timeout):
        return Verdict(base.JobStatus.finishedWithError, stuck.reason, stuck.message, now)
    waited = "" if now is None or stuck.since is None else f" for {max(0, int(now - stuck.since))} s"
    return Verdict(base.JobStatus.notstarted, stuck.reason,
                   f"{stuck.message} (so far{waited}; reported as finishedWithError if it lasts {int(timeout)} s)")


def _terminal(job: dict | None, pods: list[dict], statuses: dict[str, dict]) -> Verdict | None:
    """What the Job controller (or a finished pod) has already decided."""
    failure = _failure(statuses)
    failed = condition(job, "Failed") or condition(job, "FailureTarget")
    if failed:
        if failed.get("reason") == "DeadlineExceeded":
            # The deadline kills what still runs (exit 137/143): name the deadline, keep the detail.
            detail = f" ({failure[1]})" if failure else ""
            return Verdict(base.JobStatus.finishedWithError, "DeadlineExceeded", f"the job ran out of time{detail}")
        if failure:
            return Verdict(base.JobStatus.finishedWithError, failure[0], failure[1])
        why = failed.get("message") or failed.get("reason") or "failed"
        return Verdict(base.JobStatus.finishedWithError, failed.get("reason") or "Failed", str(why))
    if condition(job, "Complete") or condition(job, "SuccessCriteriaMet") or _pod_phase(pods) == "Succeeded":
        return Verdict(base.JobStatus.finishedSuccessfully, "", "finished successfully")
    if _pod_phase(pods) == "Failed" and failure:
        return Verdict(base.JobStatus.finishedWithError, failure[0], failure[1])
    return None


def _verdict(job: dict | None, pods: list[dict], statuses: dict[str, dict], events: list[dict],
             now: float | None, timeout: float) -> Verdict:
    decided = _terminal(job, pods, statuses)
    if decided:
        return decided
    stuck = _stuck_container(pods, statuses) or (None if pods else _pod_not_created(job, events))
    stuck = stuck or (_volume_not_mounted(pods, events) if processor_started_at(statuses) is None else None)
    if stuck:
        return _bounded(stuck, now, timeout)
    if processor_started_at(statuses):
        step = next((n for n in (PROCESSOR, PUBLISH) if nested(statuses.get(n), "state", "running")), "")
        return Verdict(base.JobStatus.started, "", f"running: {step}" if step else "running")
    if nested(statuses.get(INIT), "state", "running") or terminated(statuses.get(INIT)):
        return Verdict(base.JobStatus.notstarted, "", "fetching the input (init container)")
    if pods:
        unscheduled = _unscheduled(pods)
        if unscheduled:
            return Verdict(base.JobStatus.notstarted, "", f"pending: not scheduled yet: {unscheduled}")
        return Verdict(base.JobStatus.notstarted, "", "pending: its pod is being scheduled or pulling images")
    return Verdict(base.JobStatus.notstarted, "", "waiting for its pod to be created")


def job_info(jid: str, job: dict | None, pods: Iterable[dict] | None, events: Iterable[dict] | None = None, *,
             now: float | None = None, start_failure_timeout: float = 30) -> base.JobInfo:
    """Map a Job, its pods and the Events of both to a :class:`base.JobInfo`; nothing missing makes it raise.

    :param now: the time (epoch seconds) to measure how long a job could not start; None: never give up.
    """
    job = job if isinstance(job, dict) else None
    pods = [p for p in (pods or []) if isinstance(p, dict)]
    events = [e for e in (events or []) if isinstance(e, dict)]
    statuses = container_statuses(pods)
    verdict = _verdict(job, pods, statuses, events, now, start_failure_timeout)
    processor = next((c for c in _list(nested(job, "spec", "template", "spec", "containers"))
                      if isinstance(c, dict) and c.get("name") == PROCESSOR), {})
    command = [str(t) for t in _list(processor.get("command"))] + [str(t) for t in _list(processor.get("args"))]
    finished_at = None
    if verdict.status.finished:
        finished_at = iso(verdict.decided_at) if verdict.decided_at is not None else _finished_at(job, statuses)
    return base.JobInfo(
        jid=jid, image=str(processor.get("image") or ""), cmd=shlex.join(command), status=verdict.status,
        message=verdict.message, reason=verdict.reason, exit_code=_processor_exit(statuses),
        timestamp=str(nested(job, "metadata", "creationTimestamp") or ""),
        started_at=processor_started_at(statuses), finished_at=finished_at)


def gave_up(info: base.JobInfo, job: dict | None) -> bool:
    """pman, not the Job controller, ended this job: the Job would otherwise retry until its deadline."""
    return (info.status == base.JobStatus.finishedWithError and info.reason in GIVE_UP_REASONS
            and not job_finished(job if isinstance(job, dict) else None))


def info_from_result(jid: str, result: dict) -> base.JobInfo:
    """A finished job's info from its result object (see :mod:`pman.resultdoc`)."""
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
        finished_at=result.get("finishedAt") or result.get("publishedAt") or processor.get("finishedAt") or None)
