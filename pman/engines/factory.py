"""The one place that picks an engine: a plain ``if`` over the engine names, no reflection.

Each engine module has one entry point, ``create(settings)``, taking its own settings group
(:class:`~pman.engines.local.settings.LocalSettings` or
:class:`~pman.engines.kube.settings.KubeSettings`).  :func:`load` imports the module of an engine
only when it is chosen, so the local engine starts fast and works without the cluster libraries.
"""
from __future__ import annotations

from types import ModuleType

from pman.engines import base

NAMES = ("local", "kubernetes", "openshift")


def load(name: str) -> ModuleType:
    """The module of engine ``name``, which provides ``create(settings)``.

    :raises base.EngineError: unknown engine, or its module cannot be imported (e.g. not installed).
    """
    try:
        if name == "local":
            from pman.engines.local import engine as local_engine
            return local_engine
        if name == "kubernetes":
            from pman.engines.kube import kubernetes
            return kubernetes
        if name == "openshift":
            from pman.engines.kube import openshift
            return openshift
    except ImportError as e:
        raise base.EngineError(f"the {name} engine is not available: {e}") from e
    raise base.EngineError(f"unknown engine {name!r} (choose {', '.join(NAMES)})")


def create(name: str, settings) -> base.Engine:
    """Build engine ``name`` from its settings group (``PmanConfig.engine_settings``).

    :raises base.EngineError: unknown or unavailable engine, or it cannot start.
    """
    return load(name).create(settings)
