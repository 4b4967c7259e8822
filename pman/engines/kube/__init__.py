"""The Kubernetes and OpenShift engines: each pman job is one ``batch/v1`` Job.

- :mod:`~pman.engines.kube.settings`: :class:`KubeSettings`, the Job name rule, labels, container names;
- :mod:`~pman.engines.kube.spec`: ``build_job(spec, settings)``, the pure Job builder;
- :mod:`~pman.engines.kube.status`: the pure mapping of a Job and its pods (or a result object) to ``JobInfo``;
- :mod:`~pman.engines.kube.engine`: :class:`KubeEngine`, both engines' logic over a small API seam;
- :mod:`~pman.engines.kube.cache` and :mod:`~pman.engines.kube.records`: the status cache (one
  LIST+WATCH of the Jobs and one of the pods in scope, kept as small frozen records);
- :mod:`~pman.engines.kube.logcache` and :mod:`~pman.engines.kube.budget`: logs read only when they
  can have changed, and the deadline of a status;
- :mod:`~pman.engines.kube.kubernetes` and :mod:`~pman.engines.kube.openshift`: the client adapters,
  each with its ``create(settings)``.

Nothing here is imported by the local engine, so it runs without the cluster client libraries.
"""
