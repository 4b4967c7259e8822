"""swiftstore.credentials: file forms, environment, precedence and errors (no network)."""
from __future__ import annotations

import pytest
from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3 as ksa_v3

from swiftstore import credentials, errors

APPCRED = """[AUTHORIZATION]
osAuthUrl = https://keystone.example.org:5000/v3

[SECRET]
applicationId = 0123abcd
applicationSecret = s3cr%t-app
"""
PASSWORD = """[AUTHORIZATION]
osAuthUrl = https://keystone.example.org:5000/v3
username = chris
password = pw%d-secret

[PROJECT]
osProjectDomain = default
osProjectName = radiology
"""
TEMPAUTH = """[AUTHORIZATION]
osAuthUrl = http://127.0.0.1:18080/auth/v1.0

[TEMPAUTH]
user = test:tester
key = testing-key
"""
SECRETS = ("s3cr%t-app", "pw%d-secret", "testing-key", "tok-secret")


@pytest.fixture
def write(tmp_path):
    def write(text: str, name: str = "swift-credentials.cfg") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


@pytest.fixture
def no_default(monkeypatch, tmp_path):
    """Point DEFAULT_PATH somewhere that does not exist, so the real /etc is never read."""
    missing = str(tmp_path / "etc-swift" / "swift-credentials.cfg")
    monkeypatch.setattr(credentials, "DEFAULT_PATH", missing)
    return missing


# --- file forms -------------------------------------------------------------------------------

def test_application_credential_file(write):
    creds = credentials.load_credentials(write(APPCRED), environ={})
    assert creds.kind == "application_credential"
    assert creds.auth_url == "https://keystone.example.org:5000/v3"
    assert creds.application_credential_id == "0123abcd"
    # No interpolation: a '%' in a secret is taken literally.
    assert creds.application_credential_secret == "s3cr%t-app"
    kwargs = creds.connection_kwargs()
    assert isinstance(kwargs["session"], ksa_session.Session)
    plugin = kwargs["session"].auth
    assert isinstance(plugin, ksa_v3.ApplicationCredential)
    assert plugin.auth_url == "https://keystone.example.org:5000/v3"
    assert kwargs["os_options"] == {"service_type": "object-store", "endpoint_type": "public"}
    assert "authurl" not in kwargs and "key" not in kwargs


def test_password_file_default_domain_becomes_id(write):
    creds = credentials.load_credentials(write(PASSWORD), environ={})
    assert (creds.kind, creds.username, creds.password) == ("password", "chris", "pw%d-secret")
    assert creds.project_name == "radiology"
    # 'default' is the default domain's id; as a name it only matches case-insensitive databases.
    assert (creds.project_domain_id, creds.user_domain_id) == ("default", "default")
    assert creds.project_domain_name is None and creds.user_domain_name is None
    plugin = creds.connection_kwargs()["session"].auth
    assert isinstance(plugin, ksa_v3.Password)
    method = plugin.auth_methods[0]
    assert (method.username, method.user_domain_id) == ("chris", "default")
    assert (plugin.project_name, plugin.project_domain_id) == ("radiology", "default")


def test_password_file_named_domains_and_options(write):
    text = PASSWORD.replace("osProjectDomain = default", "osProjectDomain = Radiology")
    text = text.replace("password = pw%d-secret", "password = pw%d-secret\nosUserDomain = Hospital\n"
                        "osRegionName = RegionTwo\nosInterface = internal")
    creds = credentials.load_credentials(write(text), environ={})
    assert (creds.project_domain_name, creds.user_domain_name) == ("Radiology", "Hospital")
    assert creds.connection_kwargs()["os_options"] == {
        "service_type": "object-store", "endpoint_type": "internal", "region_name": "RegionTwo"}


def test_tempauth_file(write):
    creds = credentials.load_credentials(write(TEMPAUTH), environ={})
    assert creds.kind == "tempauth"
    assert creds.connection_kwargs() == {"authurl": "http://127.0.0.1:18080/auth/v1.0",
                                         "user": "test:tester", "key": "testing-key",
                                         "auth_version": "1"}


def test_option_names_are_case_insensitive(write):
    creds = credentials.load_credentials(write(APPCRED.replace("applicationId", "APPLICATIONID")),
                                         environ={})
    assert creds.application_credential_id == "0123abcd"


@pytest.mark.parametrize("url, expected", [
    ("http://k:5000", "http://k:5000/v3"),
    ("http://k:5000/", "http://k:5000/v3"),
    ("http://k/identity/v3/", "http://k/identity/v3"),
])
def test_auth_url_is_normalised_to_v3(write, url, expected):
    text = APPCRED.replace("https://keystone.example.org:5000/v3", url)
    assert credentials.load_credentials(write(text), environ={}).auth_url == expected


@pytest.mark.parametrize("url", ["http://k:5000/v2.0", "keystone:5000", "ftp://k/v3"])
def test_bad_keystone_url_is_refused(write, url):
    path = write(APPCRED.replace("https://keystone.example.org:5000/v3", url))
    with pytest.raises(errors.CredentialsError, match=f"^{path}: .*"):
        credentials.load_credentials(path, environ={})


def test_plugin_is_shared_between_connections(write):
    creds = credentials.load_credentials(write(APPCRED), environ={})
    first, second = creds.connection_kwargs()["session"], creds.connection_kwargs()["session"]
    assert first is not second
    assert first.auth is second.auth


def test_repr_never_shows_secrets(write, monkeypatch):
    found = [credentials.load_credentials(write(text, f"c{i}.cfg"), environ={})
             for i, text in enumerate((APPCRED, PASSWORD, TEMPAUTH))]
    found.append(credentials.load_credentials(environ={"OS_AUTH_TOKEN": "tok-secret",
                                                       "OS_STORAGE_URL": "http://s/v1/AUTH_x"}))
    for creds in found:
        for text in (repr(creds), str(creds), f"{creds}"):
            assert not any(secret in text for secret in SECRETS), text
            assert "secrets=<hidden" in text
    assert "0123abcd" in repr(found[0])  # identifiers stay visible for debugging


def test_credentials_are_frozen(write):
    creds = credentials.load_credentials(write(TEMPAUTH), environ={})
    with pytest.raises(AttributeError):
        creds.password = "other"


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, section, key", [
    (APPCRED.replace("applicationSecret = s3cr%t-app", ""), "SECRET", "applicationSecret"),
    (APPCRED.replace("applicationId = 0123abcd", ""), "SECRET", "applicationId"),
    (APPCRED.replace("osAuthUrl = https://keystone.example.org:5000/v3", ""), "AUTHORIZATION", "osAuthUrl"),
    (PASSWORD.replace("username = chris", ""), "AUTHORIZATION", "username"),
    (PASSWORD.replace("password = pw%d-secret", "password ="), "AUTHORIZATION", "password"),
    (PASSWORD.replace("osProjectName = radiology", ""), "PROJECT", "osProjectName"),
    (PASSWORD.replace("osProjectDomain = default", ""), "PROJECT", "osProjectDomain"),
    (TEMPAUTH.replace("key = testing-key", ""), "TEMPAUTH", "key"),
    (TEMPAUTH.replace("user = test:tester", ""), "TEMPAUTH", "user"),
])
def test_missing_key_names_file_section_and_key(write, text, section, key):
    path = write(text)
    with pytest.raises(errors.CredentialsError) as info:
        credentials.load_credentials(path, environ={})
    assert str(info.value) == f"{path}: missing [{section}] {key}"


def test_missing_section_names_file_and_section(write):
    path = write(PASSWORD.split("[PROJECT]")[0])
    with pytest.raises(errors.CredentialsError, match=r"missing section \[PROJECT\]") as info:
        credentials.load_credentials(path, environ={})
    assert str(info.value).startswith(f"{path}: ")


def test_empty_file_asks_for_authorization(write):
    path = write("")
    with pytest.raises(errors.CredentialsError, match=r"missing section \[AUTHORIZATION\]"):
        credentials.load_credentials(path, environ={})


def test_missing_file_names_file_and_how_to_override(tmp_path):
    path = str(tmp_path / "nope.cfg")
    with pytest.raises(errors.CredentialsError) as info:
        credentials.load_credentials(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}: credentials file not found")
    assert "--swift-credentials" in message and "SWIFT_CREDENTIALS" in message


@pytest.mark.parametrize("text", [
    "osAuthUrl = http://x/v3\n",                       # no section header
    "[AUTHORIZATION]\nosAuthUrl = a\nosAuthUrl = b\n",  # duplicate option
    "[AUTHORIZATION\nosAuthUrl = a\n",                 # broken header
])
def test_broken_file_is_a_clear_error(write, text):
    path = write(text)
    with pytest.raises(errors.CredentialsError, match=f"^{path}: not a valid credentials file: "):
        credentials.load_credentials(path, environ={})


def test_binary_file_is_a_clear_error(tmp_path):
    path = tmp_path / "binary.cfg"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(errors.CredentialsError, match=f"^{path}: cannot read credentials file"):
        credentials.load_credentials(str(path), environ={})


def test_directory_instead_of_file_is_a_clear_error(tmp_path):
    # (A mode-0 file would do too, but root reads any file; a directory fails for everyone.)
    path = tmp_path / "swift-credentials.cfg"
    path.mkdir()
    with pytest.raises(errors.CredentialsError, match=f"^{path}: cannot read credentials file: "):
        credentials.load_credentials(str(path), environ={})


# --- environment ------------------------------------------------------------------------------

OS_PASSWORD_ENV = {"OS_AUTH_URL": "http://k:5000/v3", "OS_USERNAME": "chris", "OS_PASSWORD": "pw%d-secret",
                   "OS_PROJECT_NAME": "radiology", "OS_USER_DOMAIN_NAME": "Hospital",
                   "OS_PROJECT_DOMAIN_ID": "d0m41n", "OS_REGION_NAME": "RegionOne"}


def test_os_password_environment(no_default):
    creds = credentials.load_credentials(environ=OS_PASSWORD_ENV)
    assert (creds.kind, creds.source, creds.username, creds.password) == (
        "password", "environment", "chris", "pw%d-secret")
    assert (creds.user_domain_name, creds.project_domain_id) == ("Hospital", "d0m41n")
    assert creds.connection_kwargs()["os_options"]["region_name"] == "RegionOne"


def test_os_project_id_needs_no_domain(no_default):
    env = {**OS_PASSWORD_ENV, "OS_PROJECT_ID": "abc123"}
    del env["OS_PROJECT_NAME"]
    creds = credentials.load_credentials(environ=env)
    assert (creds.project_id, creds.project_name, creds.project_domain_id) == ("abc123", None, None)


def test_os_application_credential_environment(no_default):
    env = {"OS_AUTH_URL": "http://k:5000", "OS_APPLICATION_CREDENTIAL_ID": "ac1",
           "OS_APPLICATION_CREDENTIAL_SECRET": "s3cr%t-app", "OS_USERNAME": "ignored"}
    creds = credentials.load_credentials(environ=env)
    assert (creds.kind, creds.auth_url, creds.application_credential_id) == (
        "application_credential", "http://k:5000/v3", "ac1")
    assert isinstance(creds.connection_kwargs()["session"].auth, ksa_v3.ApplicationCredential)


def test_os_token_environment(no_default):
    creds = credentials.load_credentials(environ={"OS_AUTH_TOKEN": "tok-secret",
                                                  "OS_STORAGE_URL": "http://s/v1/AUTH_x"})
    assert creds.kind == "token"
    assert creds.connection_kwargs() == {"preauthurl": "http://s/v1/AUTH_x", "preauthtoken": "tok-secret"}


def test_st_environment(no_default):
    env = {"ST_AUTH": "http://127.0.0.1:1/auth/v1.0", "ST_USER": "test:tester", "ST_KEY": "testing-key"}
    creds = credentials.load_credentials(environ=env)
    assert (creds.kind, creds.username, creds.password) == ("tempauth", "test:tester", "testing-key")


@pytest.mark.parametrize("env, missing", [
    ({"OS_AUTH_URL": "http://k/v3", "OS_USERNAME": "u", "OS_PROJECT_NAME": "p"}, "OS_PASSWORD"),
    ({"OS_USERNAME": "u", "OS_PASSWORD": "x", "OS_PROJECT_NAME": "p"}, "OS_AUTH_URL"),
    ({"OS_AUTH_URL": "http://k/v3", "OS_USERNAME": "u", "OS_PASSWORD": "x"}, "OS_PROJECT_NAME"),
    ({"OS_AUTH_URL": "http://k/v3", "OS_APPLICATION_CREDENTIAL_ID": "a"}, "OS_APPLICATION_CREDENTIAL_SECRET"),
    ({"OS_AUTH_TOKEN": "t"}, "OS_STORAGE_URL"),
    ({"ST_AUTH": "http://s/auth/v1.0", "ST_USER": "u"}, "ST_KEY"),
])
def test_incomplete_environment_names_the_variable(no_default, env, missing):
    with pytest.raises(errors.CredentialsError, match=f"^environment: missing {missing}"):
        credentials.load_credentials(environ=env)


# --- precedence -------------------------------------------------------------------------------

def test_explicit_path_beats_everything(write, no_default):
    env = {"SWIFT_CREDENTIALS": write(APPCRED, "env.cfg"), **OS_PASSWORD_ENV}
    creds = credentials.load_credentials(write(TEMPAUTH, "explicit.cfg"), environ=env)
    assert (creds.kind, creds.source) == ("tempauth", write(TEMPAUTH, "explicit.cfg"))


def test_swift_credentials_variable_beats_os_and_st(write, no_default):
    path = write(APPCRED, "env.cfg")
    env = {"SWIFT_CREDENTIALS": path, "ST_AUTH": "http://s/auth/v1.0", **OS_PASSWORD_ENV}
    creds = credentials.load_credentials(environ=env)
    assert (creds.kind, creds.source) == ("application_credential", path)


def test_os_variables_beat_st_variables(no_default):
    env = {"ST_AUTH": "http://s/auth/v1.0", "ST_USER": "u", "ST_KEY": "k", **OS_PASSWORD_ENV}
    assert credentials.load_credentials(environ=env).kind == "password"


def test_environment_beats_default_file(write, monkeypatch):
    monkeypatch.setattr(credentials, "DEFAULT_PATH", write(APPCRED, "default.cfg"))
    env = {"ST_AUTH": "http://s/auth/v1.0", "ST_USER": "u", "ST_KEY": "k"}
    assert credentials.load_credentials(environ=env).kind == "tempauth"


def test_default_file_is_the_last_resort(write, monkeypatch):
    path = write(APPCRED, "default.cfg")
    monkeypatch.setattr(credentials, "DEFAULT_PATH", path)
    assert credentials.load_credentials(environ={"OS_REGION_NAME": "r"}).source == path


def test_nothing_configured_names_the_default_file(no_default):
    with pytest.raises(errors.CredentialsError, match=f"^{no_default}: credentials file not found"):
        credentials.load_credentials(environ={})


def test_reads_process_environment_by_default(write, monkeypatch):
    path = write(TEMPAUTH)
    monkeypatch.setenv("SWIFT_CREDENTIALS", path)
    assert credentials.load_credentials().source == path


def test_module_default_path():
    assert credentials.DEFAULT_PATH == "/etc/swift/swift-credentials.cfg"


# --- re-authentication through the session (fault injection, no network) ---------------------

def _token_response(token: str, storage: str) -> dict:
    catalog = [{"type": "object-store", "name": "swift", "endpoints": [
        {"interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": storage}]}]
    body = {"token": {"methods": ["application_credential"], "expires_at": "2999-01-01T00:00:00Z",
                      "project": {"id": "p1", "name": "chris", "domain": {"id": "default"}},
                      "user": {"id": "u1", "name": "chris", "domain": {"id": "default"}},
                      "catalog": catalog}}
    return {"status_code": 201, "json": body, "headers": {"X-Subject-Token": token}}


def test_expired_token_re_authenticates_once(write, requests_mock):
    from swiftclient import client
    storage = "http://swift.example.org/v1/AUTH_p1"
    tokens = requests_mock.post("https://keystone.example.org:5000/v3/auth/tokens", [
        _token_response("tok-1", storage), _token_response("tok-2", storage)])
    account = requests_mock.head(storage, [{"status_code": 401}, {"status_code": 204}])
    creds = credentials.load_credentials(write(APPCRED), environ={})
    conn = client.Connection(**creds.connection_kwargs(), retries=0)
    conn.head_account()
    assert tokens.call_count == 2
    sent = tokens.request_history[0].json()["auth"]["identity"]
    assert sent["application_credential"] == {"id": "0123abcd", "secret": "s3cr%t-app"}
    assert [r.headers["X-Auth-Token"] for r in account.request_history] == [b"tok-1", b"tok-2"]
    assert conn.url == storage
