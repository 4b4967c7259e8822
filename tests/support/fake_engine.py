"""An in-memory engine at our own seam (pman.engines.base), for testing the HTTP layer."""
from __future__ import annotations

from pman.engines import base


class FakeEngine(base.Engine):
    name = "fake"

    def __init__(self):
        self.jobs: dict[str, base.JobInfo] = {}
        self.specs: dict[str, base.JobSpec] = {}
        self.removed: list[str] = []
        self.job_logs: dict[str, dict[str, str]] = {}
        self.removal = base.Removal(base.DATA_DELETED, "Swift container (fake)")

    def submit(self, spec: base.JobSpec) -> base.JobInfo:
        if spec.jid in self.jobs:
            raise base.JobExists(f"job {spec.jid!r} exists already")
        self.specs[spec.jid] = spec
        self.jobs[spec.jid] = base.JobInfo(jid=spec.jid, image=spec.image, cmd=" ".join(spec.command),
                                           status=base.JobStatus.notstarted, message="queued",
                                           timestamp="2026-11-25T00:00:00Z")
        return self.jobs[spec.jid]

    def set(self, jid: str, **changes) -> None:
        import dataclasses
        self.jobs[jid] = dataclasses.replace(self.jobs[jid], **changes)

    def info(self, jid: str) -> base.JobInfo:
        if jid not in self.jobs:
            raise base.JobNotFound(f"no job {jid!r}")
        return self.jobs[jid]

    def logs(self, jid: str, tail: int | None = None) -> dict[str, str]:
        self.info(jid)
        return self.job_logs.get(jid, {})

    def remove(self, jid: str) -> base.Removal:
        self.info(jid)
        del self.jobs[jid]
        self.removed.append(jid)
        return self.removal
