"""The per-thread Connection: environment proxies and CA bundle resolved once, tokens shared."""
import pytest

from swiftstore import connection
from swiftstore.credentials import SwiftCredentials

URL = "http://swift.example:8080/v1/AUTH_test"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy",
                "ALL_PROXY", "all_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)


def _http(conn, url=URL):
    _, http = conn.http_connection(url)
    return http


def test_environment_proxies_are_kept_but_read_once(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    http = _http(connection.Connection(preauthurl=URL, preauthtoken="t"))
    assert http.request_session.trust_env is False
    assert http.request_session.proxies["http"] == "http://proxy.example:3128"


def test_no_proxy_is_honoured(monkeypatch):
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", "swift.example")
    http = _http(connection.Connection(preauthurl=URL, preauthtoken="t"))
    assert "http" not in http.request_session.proxies


def test_ca_bundle_from_the_environment(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/site.pem")
    http = _http(connection.Connection(preauthurl=URL, preauthtoken="t"), "https://swift.example/v1/AUTH_test")
    assert http.requests_args["verify"] == "/etc/ssl/site.pem"
    insecure = _http(connection.Connection(preauthurl=URL, preauthtoken="t", insecure=True),
                     "https://swift.example/v1/AUTH_test")
    assert insecure.requests_args["verify"] is False


def test_tempauth_connections_start_from_a_shared_token():
    creds = SwiftCredentials(kind="tempauth", auth_url="http://127.0.0.1:1/auth/v1.0", source="test",
                             username="test:tester", password="testing")
    make = connection.factory(creds, retries=0)
    first = make()
    assert first.url is None and first.token is None and first.retries == 0
    first.url, first.token = URL, "AUTH_tk1"  # what its first request's auth would set
    second = make()
    assert (second.url, second.token) == (URL, "AUTH_tk1")
    assert (second.authurl, second.user, second.key) == (creds.auth_url, "test:tester", "testing")  # can re-auth
