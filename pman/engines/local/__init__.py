"""The local engine (the default): jobs run as processes on this host.

- :mod:`~pman.engines.local.settings`: :class:`LocalSettings`, what the engine needs to know;
- :mod:`~pman.engines.local.engine`: :class:`LocalEngine` and its ``create(settings)``;
- :mod:`~pman.engines.local.jobdb`: the SQLite job table shared with the runners;
- :mod:`~pman.engines.local.processes`: launching, scheduling and cancelling the runners;
- :mod:`~pman.engines.local.runner`: one job's detached runner (get -> run -> put).
"""
