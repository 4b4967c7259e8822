"""The compute engines behind pman's APIs.

- :mod:`~pman.engines.base`: the interface every engine implements and the neutral types it speaks;
- :mod:`~pman.engines.factory`: ``create(name, settings)``, the one place that picks an engine;
- :mod:`~pman.engines.local`: the local engine (processes on this host);
- :mod:`~pman.engines.kube`: the Kubernetes and OpenShift engines.

Nothing is imported here, so importing :mod:`pman.engines.base` loads no engine.
"""
