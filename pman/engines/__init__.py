"""The compute engines behind pman's APIs, one module each; :func:`get_engine` picks one.

The Kubernetes/OpenShift modules (and their client libraries) are imported only when selected, so
the local engine starts fast and works without them.
"""
from __future__ import annotations

import importlib

from pman.engines import base

MODULES = {"local": "pman.engines.local", "kubernetes": "pman.engines.kubernetes",
           "openshift": "pman.engines.openshift"}


def get_engine(config) -> base.Engine:
    """Build the engine ``config.engine`` names.

    An engine module provides ``create(config)``, or one :class:`base.Engine` subclass with a
    ``from_config(config)`` class method (or a constructor taking the config).

    :raises base.EngineError: unknown engine, or its module cannot be imported (e.g. not installed).
    """
    name = config.engine
    if name not in MODULES:
        raise base.EngineError(f"unknown engine {name!r} (choose {', '.join(MODULES)})")
    try:
        module = importlib.import_module(MODULES[name])
    except ImportError as e:
        raise base.EngineError(f"the {name} engine is not available: {e}") from e
    if hasattr(module, "create"):
        return module.create(config)
    classes = [obj for obj in vars(module).values()
               if isinstance(obj, type) and issubclass(obj, base.Engine) and obj is not base.Engine
               and obj.__module__ == module.__name__ and not getattr(obj, "__abstractmethods__", None)]
    if len(classes) != 1:
        raise base.EngineError(f"{module.__name__} defines no single engine class")
    cls = classes[0]
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(config)
