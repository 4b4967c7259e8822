"""How SwiftStore makes its per-thread swiftclient ``Connection``s.

Two things on top of plain ``client.Connection(**creds.connection_kwargs())``:

* tempauth: a new thread's connection starts from a token another one already holds, instead of
  authenticating again (each still re-authenticates by itself on a 401);
* requests reads proxy and CA-bundle environment variables on *every* request (it walks all of
  ``os.environ`` twice per call: ~20% of the client's CPU on small objects).  We resolve them
  once per HTTP connection, with requests' own functions, and turn the per-request lookup off.
  Proxies and ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` are honoured exactly as before; ``.netrc``
  (never used with Swift tokens) is not consulted.

And one setting of swiftclient's, for every connection of the process: its request log (at INFO
for a failed request, such as the 404 of a manifest not there yet, at DEBUG for every other one,
so in pfioh's ``-v 1`` and ``-v 2`` logs) shows sensitive headers cut to their first 16
characters: half of a tempauth token's secret part, or of a 32-character key.  We show none.
"""
from __future__ import annotations

import os

from requests import utils as requests_utils
from swiftclient import client

client.logger_settings["reveal_sensitive_prefix"] = 0  # X-Auth-Token, X-Auth-Key...: logged as "..."


class Connection(client.Connection):
    """``swiftclient.client.Connection`` with the environment read once per HTTP connection."""

    def http_connection(self, url=None):
        parsed, conn = super().http_connection(url)
        session = conn.request_session
        if session.trust_env:
            session.proxies.update(requests_utils.get_environ_proxies(conn.url, no_proxy=None))
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle and conn.requests_args.get("verify") is True:
                conn.requests_args["verify"] = bundle
            session.trust_env = False
        return parsed, conn


def factory(creds, **options):
    """A callable returning a new :class:`Connection` for ``creds`` (a SwiftCredentials).

    :param options: more ``Connection`` keyword arguments (retries, timeout, backoff).
    """
    made: list = []

    def new_connection() -> Connection:
        kwargs = creds.connection_kwargs()
        if "authurl" in kwargs:  # tempauth (v1); Keystone sessions share their token already
            known = next(((c.url, c.token) for c in reversed(made) if c.url and c.token), None)
            if known:
                kwargs.update(preauthurl=known[0], preauthtoken=known[1])
        conn = Connection(**options, **kwargs)
        made.append(conn)
        return conn
    return new_connection
