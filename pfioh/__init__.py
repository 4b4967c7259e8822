"""pfioh: the ChRIS file I/O service (push/pull of job data), wire-compatible with pfurl and pfcon.

Layers: :mod:`pfioh.cli` (flags) -> :mod:`pfioh.config` (a frozen config) -> :mod:`pfioh.app`
(HTTP routing) -> :mod:`pfioh.protocol` (message parsing) -> :mod:`pfioh.handlers` (actions) ->
:mod:`pfioh.stores` (mount directory or Swift, through :mod:`swiftstore`).

The version it reports is the distribution's, :data:`swiftstore.version.VERSION`.
"""
