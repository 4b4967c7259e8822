"""A minimal Dockerfile reader for the structural checks: instructions with continuation lines joined."""
from __future__ import annotations

import json
import shlex
from pathlib import Path


def instructions(path: str | Path) -> list[tuple[str, str]]:
    """``[(INSTRUCTION, arguments), ...]`` in order; comments and blank lines dropped."""
    out, pending = [], ""
    for line in Path(path).read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def exec_form(args: str) -> list[str]:
    """The argv of an exec-form ``["a", "b"]`` instruction (ENTRYPOINT, CMD).

    :raises ValueError: for the shell form, which would run under /bin/sh and swallow SIGTERM.
    """
    if not args.startswith("["):
        raise ValueError(f"not in exec form: {args}")
    return json.loads(args)


def last(path: str | Path, keyword: str) -> str | None:
    """Arguments of the last ``keyword`` instruction (the effective one), or None."""
    found = [args for kw, args in instructions(path) if kw == keyword]
    return found[-1] if found else None


def copy_sources(path: str | Path) -> list[str]:
    """Every source path of every COPY/ADD (the last argument is the destination)."""
    sources = []
    for keyword, args in instructions(path):
        if keyword in ("COPY", "ADD"):
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            sources.extend(words[:-1])
    return sources
