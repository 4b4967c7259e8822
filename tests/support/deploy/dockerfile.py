"""A minimal Dockerfile reader for the structural checks: instructions with continuation lines
joined, and the build stages (``FROM ... AS name``) an image's target is made of."""
from __future__ import annotations

import json
import shlex
from pathlib import Path

Instructions = list[tuple[str, str]]


def instructions(path: str | Path) -> Instructions:
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


def stages(path: str | Path) -> dict[str, Instructions]:
    """``{stage name: its instructions, its FROM first}``; what comes before the first FROM (the
    global ARGs) is under ``""``."""
    out: dict[str, Instructions] = {"": []}
    current = ""
    for keyword, args in instructions(path):
        if keyword == "FROM":
            words = args.split()
            current = words[2] if len(words) == 3 and words[1].upper() == "AS" else f"#{len(out)}"
            out[current] = []
        out[current].append((keyword, args))
    return out


def image(path: str | Path, target: str) -> Instructions:
    """The instructions that make the image of ``target``: the global ARGs, then each stage it is
    built ``FROM``, outermost first, then its own."""
    every = stages(path)
    chain, name = [], target
    while name in every:
        chain.insert(0, every[name])
        name = every[name][0][1].split()[0]  # FROM <image or stage> [AS name]
    return [*every[""], *(step for stage in chain for step in stage)]


def exec_form(args: str) -> list[str]:
    """The argv of an exec-form ``["a", "b"]`` instruction (ENTRYPOINT, CMD).

    :raises ValueError: for the shell form, which would run under /bin/sh and swallow SIGTERM.
    """
    if not args.startswith("["):
        raise ValueError(f"not in exec form: {args}")
    return json.loads(args)


def last(steps: Instructions, keyword: str) -> str | None:
    """Arguments of the last ``keyword`` instruction (the effective one), or None."""
    found = [args for kw, args in steps if kw == keyword]
    return found[-1] if found else None


def copy_sources(steps: Instructions) -> list[str]:
    """Every source path of every COPY/ADD (the last argument is the destination)."""
    sources = []
    for keyword, args in steps:
        if keyword in ("COPY", "ADD"):
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            sources.extend(words[:-1])
    return sources
