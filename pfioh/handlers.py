"""pfioh's actions: each takes parsed input and returns the reply dict (or a streamed pull).

The reply shapes are the original pfioh's, field for field.  Nothing here knows HTTP.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass

from httpkit import sysinfo
from pfioh import errors, protocol, stores
from pfioh.config import PfiohConfig
from swiftstore.version import VERSION


@dataclass
class Context:
    """What every action may use: the config and the store."""

    config: PfiohConfig
    store: stores.Store


def hello(ctx: Context, meta: dict, user_agent: str) -> dict:
    """``hello``: name, version and whatever ``meta.askAbout`` asks for."""
    ask = meta.get("askAbout", "")
    d_ret: dict = {"name": "pfioh", "version": VERSION}
    if ask == "timestamp":
        d_ret["timestamp"] = {"now": datetime.datetime.now().strftime("%Y%m%d%H%M%S.%f")}
    elif ask == "sysinfo":
        d_ret["sysinfo"] = sysinfo.sysinfo()
    elif ask == "echoBack":
        d_ret["echoBack"] = {"msg": meta.get("echoBack")}
    d_ret["User-agent"] = user_agent
    return {"stdout": {"d_ret": d_ret, "status": True}}


def internalctl(ctx: Context, meta: dict) -> dict:
    """``internalctl``: read ``storeBase`` or compute ``key2address``; setting is refused."""
    var = meta.get("var")
    if var == "key2address" and "compute" in meta:
        key = protocol.validate_key(meta["compute"])
        return {"d_ret": {"key2address": ctx.config.key_dir(key)}, "status": True}
    if var == "storeBase" and "get" in meta:
        return {"d_ret": {"storeBase": ctx.config.store_base}, "status": True}
    if "set" in meta:
        raise errors.BadRequest("internalctl: setting server variables is not supported")
    raise errors.BadRequest(f"internalctl: unknown request for var {str(var)[:80]!r} "
                            "(supported: key2address+compute, storeBase+get)")


def ls(ctx: Context, meta: dict) -> dict:
    """``ls``: the entries stored under ``meta.key`` (or ``meta.remote.key``)."""
    return ctx.store.ls(_meta_key(meta))


def _meta_key(meta: dict) -> str:
    """The control message's ``meta.key`` (or ``meta.remote.key``), validated."""
    key = meta.get("key")
    if key is None and isinstance(meta.get("remote"), dict):
        key = meta["remote"].get("key")
    return protocol.validate_key(key)


def rmtree(ctx: Context, meta: dict) -> dict:
    """``rmtree``: delete everything stored under ``meta.key`` (or ``meta.remote.key``), and only
    that: the key's own directory (mount mode) or container (Swift mode)."""
    key = _meta_key(meta)
    ctx.store.delete(key)
    return {"status": True, "msg": f"Deleted everything stored for key {errors.clip(key)}"}


def is_quit(meta: dict) -> bool:
    """The original exits on ``meta.ctl.serverCmd == "quit"`` whatever the action."""
    ctl = meta.get("ctl")
    return isinstance(ctl, dict) and ctl.get("serverCmd") == "quit"


def control(ctx: Context, action: str, meta: dict, user_agent: str) -> dict:
    """Dispatch a control POST.  :raises errors.BadRequest: unknown action."""
    if is_quit(meta):
        return {"msg": "Server shut down", "status": True}
    if action == "hello":
        return hello(ctx, meta, user_agent)
    if action == "internalctl":
        return internalctl(ctx, meta)
    if action == "ls":
        return ls(ctx, meta)
    if action == "rmtree":
        return rmtree(ctx, meta)
    if action in protocol.PATH_ACTIONS:
        request = protocol.parse_path_request(action, meta)
        if request.transport.check_remote:
            return check_remote(ctx, request)
        raise errors.BadRequest(f"{action} data goes by GET (pullPath) or a multipart POST with Mode: file (pushPath)")
    raise errors.BadRequest(f"unknown action {action[:80]!r}",
                            msg=f"Class '{type(ctx.store).__name__}' does not implement method '{action[:80]}_process'")


def check_remote(ctx: Context, request: protocol.PathRequest) -> dict:
    """The checkRemote reply; ``--createDirsAsNeeded`` makes the key directory in mount mode."""
    return ctx.store.check(request.key, create=ctx.config.create_dirs)


def push(ctx: Context, request: protocol.PathRequest, upload: stores.Upload, user_agent: str) -> dict:
    """``pushPath``: store the upload under the key."""
    if request.action != "pushPath":
        raise errors.BadRequest(f"a file upload must carry action 'pushPath', not {request.action[:80]!r}")
    reply = ctx.store.push(request.key, upload, plugin=request.plugin)
    reply["User-agent"] = user_agent
    return reply


def pull(ctx: Context, request: protocol.PathRequest) -> stores.Pull:
    """``pullPath``: the key's data (``outgoing`` for op=plugin) as a streamed zip."""
    if request.action != "pullPath":
        raise errors.BadRequest("pushPath data must be POSTed (multipart, Mode: file); GET only checks it")
    if not request.transport.is_zip:
        raise errors.BadRequest("pullPath supports only transport.compress.archive == 'zip' with unpack")
    return ctx.store.pull(request.key, plugin=request.plugin, cleanup=request.special_cleanup)
