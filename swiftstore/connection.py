"""How SwiftStore makes its per-thread swiftclient ``Connection``s.

Two things on top of plain ``client.Connection(**creds.connection_kwargs())``:

* tempauth: a new thread's connection starts from a token another one already holds, instead of
  authenticating again (each still re-authenticates by itself on a 401);
* requests reads proxy and CA-bundle environment variables on *every* request (it walks all of
  ``os.environ`` twice per call: ~20% of the client's CPU on small objects).  We resolve them
  once per HTTP connection, with requests' own functions, and turn the per-request lookup off.
  Proxies and ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` are honoured exactly as before; ``.netrc``
  (never used with Swift tokens) is not consulted.
"""
from __future__ import annotations

import os

from requests import utils as requests_utils
from swiftclient import client


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
