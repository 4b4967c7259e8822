"""Parse job requests of both APIs into :class:`pman.engines.base.JobSpec`, rejecting bad input.

Two forms:

- the message API's ``run`` meta (pfcon/CUBE): ``cmd`` is one command line whose last two tokens
  are the incoming and outgoing directories; limits are strings, ``gpu_limit`` an int;
- the REST body (pman v4+ style): ``entrypoint``/``args`` lists (or ``cmd``), ``resources``, ``env``.

Every problem is collected and reported at once: :class:`RequestError` carries the offending fields.
:func:`info_fields` is the other direction: the fields of a :class:`~pman.engines.base.JobInfo` that
both APIs answer with.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping

from pman.engines import base

# jids become Swift containers, directory names and Kubernetes names: keep them plain.
JID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")  # used with fullmatch: no trailing newline
# re.ASCII: \d would match other scripts' digits, which int() and float() accept but nothing downstream does.
CPU_RE = re.compile(r"(\d{1,12}(\.\d{1,9})?|\.\d{1,9})m?", re.ASCII)
MEMORY_RE = re.compile(r"(\d{1,18}(\.\d{1,9})?|\.\d{1,9})([EPTGMK]i?|[kmu])?", re.ASCII)
# Counts (number_of_workers, gpu_limit): ASCII digits, and no count a cluster could honour is larger.
COUNT_RE = re.compile(r"[0-9]{1,6}")
MAX_COUNT = 100_000
MAX_ENV_VALUE = 65536
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,255}")
# Unquoted shell syntax that argv cannot express (shlex with punctuation_chars yields these as tokens).
SHELL_PUNCTUATION = set("();<>|&")
MAX_CMD_LENGTH = 65536


class RequestError(ValueError):
    """A job request is invalid.  ``fields`` names what is wrong; ``status`` is the HTTP status."""

    def __init__(self, message: str, fields: list[str] | None = None, status: int = 400):
        super().__init__(message)
        self.fields = fields or []
        self.status = status


@dataclass
class _Problems:
    items: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, problem: str) -> None:
        self.items.append((name, problem))

    def raise_if_any(self) -> None:
        if self.items:
            text = "; ".join(f"{name}: {problem}" for name, problem in self.items)
            raise RequestError(f"invalid job request: {text}", [name for name, _ in self.items])


def info_fields(info: base.JobInfo) -> dict[str, Any]:
    """A job's state as both APIs answer it (the field names are pfcon's and pman 3's)."""
    return {"jid": info.jid, "image": info.image, "cmd": info.cmd, "status": info.status.value,
            "message": info.message, "reason": info.reason, "exitcode": info.exit_code,
            "timestamp": info.timestamp, "started_at": info.started_at, "finished_at": info.finished_at}


def jid_from(meta: Mapping[str, Any]) -> str:
    """The job id of a status/done/info/delete message.

    Accepts ``{"key": "jid", "value": J}`` (pman), ``{"remote": {"key": J}}`` (pfcon) and ``{"jid": J}``.

    :raises RequestError: no jid found, or an invalid one.
    """
    jid: Any = None
    if isinstance(meta.get("remote"), Mapping):
        jid = meta["remote"].get("key")
    if jid is None and "value" in meta:
        jid = meta.get("value")
    if jid is None:
        jid = meta.get("jid")
    if jid is None or jid == "":
        raise RequestError("missing job id: send meta {\"key\": \"jid\", \"value\": <jid>} "
                           "or {\"remote\": {\"key\": <jid>}}", ["meta.value"])
    return check_jid(jid, "meta.value")


def check_jid(jid: Any, name: str = "jid") -> str:
    """:raises RequestError: unless ``jid`` is 1-200 letters, digits, ``.``, ``_``, ``-`` (not first)."""
    if not isinstance(jid, str) or not JID_RE.fullmatch(jid):
        raise RequestError(f"{name}: invalid job id {str(jid)[:80]!r} (use 1-200 letters, digits, '.', '_', "
                           "'-', starting with a letter or digit)", [name])
    return jid


def split_command(cmd: str) -> tuple[str, ...]:
    """argv for ``cmd``: shlex-split when it is a plain command line, else ``/bin/sh -c cmd``.

    A shell is used only for real shell syntax (``;``, pipes, redirections, ``&&``, ``$``,
    backquotes), as the original pman ran every command through one.

    :raises ValueError: unbalanced quotes.
    """
    lexer = shlex.shlex(cmd, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    if "$" in cmd or "`" in cmd or any(tok and set(tok) <= SHELL_PUNCTUATION for tok in tokens):
        return ("/bin/sh", "-c", cmd)
    return tuple(shlex.split(cmd))


def _io_dirs(argv: tuple[str, ...]) -> tuple[str, str]:
    """The last two tokens when they are absolute paths (the pfcon convention), else the defaults."""
    if argv[:2] == ("/bin/sh", "-c") and len(argv) == 3:
        try:
            argv = tuple(shlex.split(argv[2]))
        except ValueError:
            argv = ()
    if len(argv) >= 3 and argv[-2].startswith("/") and argv[-1].startswith("/"):
        return argv[-2], argv[-1]
    return "/share/incoming", "/share/outgoing"


def _resources(src: Mapping[str, Any], problems: _Problems, prefix: str, defaults: base.Resources) -> base.Resources:
    values = {}
    for name, least in (("number_of_workers", 1), ("gpu_limit", 0)):
        value = src.get(name, getattr(defaults, name))
        count = _count(value)
        if count is not None and count >= least:
            values[name] = count
        else:
            problems.add(f"{prefix}{name}", f"must be an integer from {least} to {MAX_COUNT}, not {_abridged(value)}")
    for name, pattern, example in (("cpu_limit", CPU_RE, "1000m or 2"), ("memory_limit", MEMORY_RE, "200Mi or 2Gi")):
        value = src.get(name, getattr(defaults, name))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        matched = isinstance(value, str) and pattern.fullmatch(value.strip())
        if matched and float(re.sub(r"[^0-9.]", "", value) or 0) > 0:
            values[name] = value.strip()
        else:
            problems.add(f"{prefix}{name}", f"not a valid quantity: {_abridged(value)} (e.g. {example})")
    return base.Resources(**values) if len(values) == 4 else defaults


def _count(value: Any) -> int | None:
    """An int, or a string of ASCII digits, from 0 to :data:`MAX_COUNT`; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and COUNT_RE.fullmatch(value.strip()):
        value = int(value.strip())
    return value if isinstance(value, int) and 0 <= value <= MAX_COUNT else None


def _abridged(value: Any) -> str:
    """``repr`` of a bad value for an error message, at most about 80 characters."""
    if isinstance(value, (int, float)) and not abs(value) < 10 ** 30:
        return f"<a {type(value).__name__} too large to show>"  # repr of a 4000-digit int is slow and long
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _env(value: Any, problems: _Problems, name: str = "env") -> dict[str, str]:
    """``{"K": "V"}`` or ``["K=V", ...]`` (pman v4's form)."""
    if value is None:
        return {}
    pairs: list[tuple[Any, Any]] = []
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(v, str) and "=" in v for v in value):
        pairs = [tuple(v.split("=", 1)) for v in value]
    else:
        problems.add(name, "must be an object {NAME: value} or a list of 'NAME=value' strings")
        return {}
    env = {}
    for key, val in pairs:
        if not isinstance(key, str) or not ENV_NAME_RE.fullmatch(key):
            problems.add(name, f"bad variable name {str(key)[:40]!r} (letters, digits, '_', '.', '-')")
        elif isinstance(val, bool) or not isinstance(val, (str, int, float)):
            problems.add(f"{name}.{key}", "the value must be a string or a number")
        elif "\x00" in str(val) or len(str(val)) > MAX_ENV_VALUE:
            problems.add(f"{name}.{key}",
                         f"the value holds a NUL character or is longer than {MAX_ENV_VALUE} characters")
        else:
            env[key] = str(val)
    return env


def _image(target: Any) -> str:
    if isinstance(target, Mapping) and isinstance(target.get("image"), str):
        return target["image"]
    return ""


def from_run_meta(meta: Any, defaults: base.Resources = base.Resources()) -> base.JobSpec:
    """The message API's ``run`` meta -> JobSpec.  :raises RequestError: listing every bad field."""
    if not isinstance(meta, Mapping):
        raise RequestError("run: meta must be an object", ["meta"])
    problems = _Problems()
    jid = meta.get("jid")
    try:
        check_jid(jid, "meta.jid")
    except RequestError as e:
        problems.add("meta.jid", "missing" if jid in (None, "") else str(e).split(": ", 1)[1])
    cmd, argv = meta.get("cmd"), ()
    if not isinstance(cmd, str) or not cmd.strip():
        problems.add("meta.cmd", "missing: the command line to run")
    elif len(cmd) > MAX_CMD_LENGTH or "\x00" in cmd:
        problems.add("meta.cmd", f"longer than {MAX_CMD_LENGTH} characters or holds a NUL character")
    else:
        try:
            argv = split_command(cmd.strip())
        except ValueError as e:
            problems.add("meta.cmd", f"cannot parse ({e})")
    resources = _resources(meta, problems, "meta.", defaults)
    container = meta.get("container") if isinstance(meta.get("container"), Mapping) else {}
    image = _image(container.get("target"))
    env = _env(meta.get("env"), problems, "meta.env")
    auid = meta.get("auid", "")
    problems.raise_if_any()
    incoming, outgoing = _io_dirs(argv)
    return base.JobSpec(jid=jid, image=image, command=argv, resources=resources, env=env,
                        incoming_dir=incoming, outgoing_dir=outgoing, auid=str(auid or ""))


def from_rest_body(body: Any, defaults: base.Resources = base.Resources()) -> base.JobSpec:
    """The REST API's ``POST /api/v1/`` body -> JobSpec.  :raises RequestError: listing every bad field.

    The command is ``entrypoint + args`` as given (lists of strings), or ``cmd`` (a string parsed
    like the message API's, or a list).  Resources may be top-level or under ``resources``.
    """
    if not isinstance(body, Mapping):
        raise RequestError("the body must be a JSON object", ["body"])
    problems = _Problems()
    jid = body.get("jid")
    try:
        check_jid(jid)
    except RequestError as e:
        problems.add("jid", "missing" if jid in (None, "") else str(e).split(": ", 1)[1])
    image = body.get("image")
    if not isinstance(image, str) or not image.strip():
        problems.add("image", "missing: the container image to run")
    argv = _rest_command(body, problems)
    res_src = body.get("resources") if isinstance(body.get("resources"), Mapping) else body
    resources = _resources(res_src, problems, "resources." if res_src is not body else "", defaults)
    env = _env(body.get("env"), problems)
    dirs = {}
    for name, default in (("input_dir", "/share/incoming"), ("output_dir", "/share/outgoing")):
        value = body.get(name, default)
        if not isinstance(value, str) or not value.startswith("/"):
            problems.add(name, f"must be an absolute path, not {value!r}")
        dirs[name] = value
    if any("\x00" in token or len(token) > MAX_CMD_LENGTH for token in argv):
        problems.add("cmd", f"a token holds a NUL character or is longer than {MAX_CMD_LENGTH} characters")
    problems.raise_if_any()
    return base.JobSpec(jid=jid, image=image.strip(), command=argv, resources=resources, env=env,
                        incoming_dir=dirs["input_dir"], outgoing_dir=dirs["output_dir"],
                        auid=str(body.get("auid") or ""))


def _rest_command(body: Mapping[str, Any], problems: _Problems) -> tuple[str, ...]:
    def str_list(name: str) -> list[str] | None:
        value = body.get(name)
        if value is None:
            return []
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        problems.add(name, "must be a list of strings")
        return None

    if "cmd" in body and not ("entrypoint" in body or "args" in body):
        cmd = body["cmd"]
        if isinstance(cmd, list) and cmd and all(isinstance(v, str) for v in cmd):
            return tuple(cmd)
        if isinstance(cmd, str) and cmd.strip():
            try:
                return split_command(cmd.strip())
            except ValueError as e:
                problems.add("cmd", f"cannot parse ({e})")
                return ()
        problems.add("cmd", "must be a command line or a non-empty list of strings")
        return ()
    entrypoint, args = str_list("entrypoint"), str_list("args")
    if entrypoint is None or args is None:
        return ()
    if not entrypoint and not args:
        problems.add("entrypoint", "missing: give entrypoint (and args), or cmd")
    return tuple(entrypoint + args)
