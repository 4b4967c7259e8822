"""Keep pman's own file-system layout out of what clients are told.

Status and log replies (and engine errors) may quote paths under the local engine's work directory:
a runner's message, a job that prints its working directory, a directory it could not create.
pfcon copies those replies into what CUBE shows its users, so the work directory's absolute path
(which names the service account's home, say) is written as ``<workdir>`` instead.
"""
from __future__ import annotations

import dataclasses
import os
import re

from pman.engines import base

PLACEHOLDER = "<workdir>"


class PathRedactor:
    """Replaces the given directories (as given and with links resolved) by :data:`PLACEHOLDER`."""

    def __init__(self, *roots: str):
        spellings = set()
        for root in roots:
            if not root:
                continue
            for spelling in (os.path.abspath(root), os.path.realpath(root)):
                if len(spelling.rstrip("/")) > 1:  # never "/": that would mangle every path
                    spellings.add(spelling.rstrip("/"))
        # Longest first, and only whole path components: /srv/pman must not eat /srv/pman2.
        alternatives = "|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True))
        self._pattern = re.compile(f"(?:{alternatives})(?![^/\\s'\":;,)\\]}}])") if spellings else None

    def text(self, value: str) -> str:
        if self._pattern is None or not isinstance(value, str):
            return value
        return self._pattern.sub(PLACEHOLDER, value)

    def info(self, info: base.JobInfo) -> base.JobInfo:
        return dataclasses.replace(info, cmd=self.text(info.cmd), message=self.text(info.message),
                                   reason=self.text(info.reason))

    def logs(self, logs: dict[str, str]) -> dict[str, str]:
        return {step: self.text(text) for step, text in logs.items()}


class RedactingEngine:
    """An engine whose replies pass through a :class:`PathRedactor` (everything else is delegated)."""

    def __init__(self, engine: base.Engine, redactor: PathRedactor):
        self._engine = engine
        self._redactor = redactor

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def submit(self, spec: base.JobSpec) -> base.JobInfo:
        return self._redactor.info(self._engine.submit(spec))

    def info(self, jid: str) -> base.JobInfo:
        return self._redactor.info(self._engine.info(jid))

    def remove(self, jid: str) -> base.Removal:
        removal = self._engine.remove(jid)
        return dataclasses.replace(removal, detail=self._redactor.text(removal.detail))

    def logs(self, jid: str, tail: int | None = None) -> dict[str, str]:
        return self._redactor.logs(self._engine.logs(jid, tail) if tail else self._engine.logs(jid))
