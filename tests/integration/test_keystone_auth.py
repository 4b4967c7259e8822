"""End to end against the real loopback Keystone v3 and the Swift proxy that takes its tokens."""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from keystoneauth1 import exceptions as ksa_exceptions
from swiftclient import client
from swiftclient.exceptions import ClientException

from swiftstore import credentials
from tools import keystone_aio, ports, saio

ROOT = Path(__file__).resolve().parents[2]
FORMS = ["password_credentials", "appcred_credentials"]


@pytest.fixture
def container():
    return f"test-ks-{uuid.uuid4().hex[:12]}"


def _connect(creds: credentials.SwiftCredentials) -> client.Connection:
    return client.Connection(**creds.connection_kwargs(), retries=1)


def _round_trip(conn: client.Connection, container: str) -> None:
    """put, list, get and delete one object and its container."""
    payload = uuid.uuid4().bytes * 100
    conn.put_container(container)
    try:
        etag = conn.put_object(container, "input/a.bin", payload)
        _, listing = conn.get_container(container)
        assert [(o["name"], o["bytes"], o["hash"]) for o in listing] == [("input/a.bin", len(payload), etag)]
        _, body = conn.get_object(container, "input/a.bin")
        assert body == payload
    finally:
        conn.delete_object(container, "input/a.bin")
        conn.delete_container(container)
    with pytest.raises(ClientException) as gone:
        conn.head_container(container)
    assert gone.value.http_status == 404


def _with_secret(path: str, tmp_path: Path, old_key: str, new_value: str) -> str:
    """A copy of a credentials file whose ``old_key`` line carries ``new_value``."""
    lines = [f"{old_key} = {new_value}" if line.startswith(f"{old_key} =") else line
             for line in Path(path).read_text().splitlines()]
    copy = tmp_path / "swift-credentials.cfg"
    copy.write_text("\n".join(lines) + "\n")
    return str(copy)


@pytest.mark.parametrize("form, kind", zip(FORMS, ["password", "application_credential"]))
def test_round_trip_with_each_file_form(keystone, container, form, kind):
    creds = credentials.load_credentials(getattr(keystone, form), environ={})
    assert creds.kind == kind
    conn = _connect(creds)
    _round_trip(conn, container)
    # The object-store endpoint came from Keystone's catalogue: the demo project's account.
    assert conn.url == keystone.storage_url


def test_round_trip_with_os_environment(keystone, container):
    s = keystone.settings
    env = {"OS_AUTH_URL": s.auth_url, "OS_USERNAME": s.user, "OS_PASSWORD": s.password,
           "OS_PROJECT_NAME": s.project, "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_ID": "default"}
    creds = credentials.load_credentials(environ=env)
    assert (creds.kind, creds.source) == ("password", "environment")
    _round_trip(_connect(creds), container)


@pytest.mark.parametrize("form, key", zip(FORMS, ["password", "applicationSecret"]))
def test_wrong_secret_is_refused_with_401(keystone, tmp_path, form, key):
    creds = credentials.load_credentials(_with_secret(getattr(keystone, form), tmp_path, key, "wrong"),
                                         environ={})
    # Keystone refuses it before Swift is ever asked: keystoneauth1's 401, not swiftclient's.
    with pytest.raises(ksa_exceptions.Unauthorized) as refused:
        _connect(creds).head_account()
    assert refused.value.http_status == 401


def test_proxy_refuses_missing_and_bogus_tokens(keystone):
    for headers in ({}, {"X-Auth-Token": "bogus"}):
        assert requests.head(keystone.storage_url, headers=headers, timeout=10).status_code == 401
    conn = client.Connection(preauthurl=keystone.storage_url, preauthtoken="bogus", retries=0)
    with pytest.raises(ClientException) as refused:
        conn.head_account()
    assert refused.value.http_status == 401


def test_pre_authenticated_token_form_works(keystone, container):
    password = credentials.load_credentials(keystone.password_credentials, environ={})
    session = password.session()
    env = {"OS_AUTH_TOKEN": session.get_token(), "OS_STORAGE_URL": keystone.storage_url}
    _round_trip(_connect(credentials.load_credentials(environ=env)), container)


def test_another_projects_account_is_forbidden(keystone):
    creds = credentials.load_credentials(keystone.appcred_credentials, environ={})
    token = creds.session().get_token()
    other = keystone.storage_url.replace(keystone.project_id, keystone.service_project_id)
    assert requests.get(other, headers={"X-Auth-Token": token}, timeout=10).status_code == 403


def _revoke(keystone, token: str) -> None:
    """Revoke ``token`` in Keystone (its owner may do so) and check Keystone now rejects it."""
    base = keystone.auth_url
    requests.delete(f"{base}/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token},
                    timeout=10).raise_for_status()
    admin = requests.post(f"{base}/auth/tokens", timeout=10, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": keystone.admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
    admin.raise_for_status()
    check = requests.get(f"{base}/auth/tokens", timeout=10, headers={
        "X-Auth-Token": admin.headers["X-Subject-Token"], "X-Subject-Token": token})
    assert check.status_code == 404


@pytest.mark.parametrize("form", FORMS)
def test_revoked_token_re_authenticates(keystone, container, form):
    creds = credentials.load_credentials(getattr(keystone, form), environ={})
    conn = _connect(creds)
    conn.put_container(container)
    try:
        revoked = conn.token
        _revoke(keystone, revoked)
        # The next call gets a 401 from the proxy; swiftclient invalidates the session and
        # Keystone issues a fresh token, all within this one call (a seekable body can be re-sent).
        conn.put_object(container, "after-revoke", io.BytesIO(b"still works"))
        assert conn.token != revoked
        assert conn.get_object(container, "after-revoke")[1] == b"still works"
    finally:
        for name in ("after-revoke",):
            try:
                conn.delete_object(container, name)
            except ClientException:
                pass
        conn.delete_container(container)


def test_start_is_idempotent(keystone):
    s = keystone.settings
    pids = saio._pids(Path(s.base))
    assert set(pids) == {"keystone", "proxy-keystone"}
    again = keystone_aio.start(Path(s.base), 0, 0, Path(s.saio_base))
    assert again == s
    assert saio._pids(Path(s.base)) == pids, "a second start must reuse the running servers"


def test_restart_of_a_kept_directory_keeps_accounts(keystone, container):
    """Restarted on new ports (never rebinding a released one: another process may hold it by
    now), it keeps its accounts and moves the catalog and the credential files along."""
    s = keystone.settings
    keystone_aio.stop(Path(s.base), keep=True)
    assert not keystone_aio.healthy(Path(s.base))
    with contextlib.ExitStack() as hold:  # Keystone's old port is not free: the restart must not need it
        try:
            hold.enter_context(ports.bound_socket(s.port))
        except OSError:
            pass  # another process holds it: just as good
        again = keystone_aio.start(Path(s.base), 0, 0, Path(s.saio_base))
    assert again.application_credential_id == s.application_credential_id and again.project_id == s.project_id
    assert again.port != s.port and keystone.settings == again
    creds = credentials.load_credentials(again.appcred_credentials, environ={})
    assert creds.auth_url == again.auth_url
    conn = _connect(creds)
    _round_trip(conn, container)
    assert conn.url == again.storage_url  # the catalog's object-store endpoint moved to the new proxy


def test_cli_status_and_env(keystone):
    run = lambda *a: subprocess.run([sys.executable, "-m", "tools.keystone_aio", *a, "--base", keystone.settings.base],
                                    cwd=ROOT, capture_output=True, text=True)
    assert run("status").returncode == 0
    env = run("env")
    assert env.returncode == 0
    assert f"export OS_AUTH_URL={keystone.auth_url}" in env.stdout
    assert f"export KEYSTONE_APPCRED_CREDENTIALS={keystone.appcred_credentials}" in env.stdout


def test_start_without_saio_names_it(tmp_path):
    missing = tmp_path / "no-saio"
    with pytest.raises(RuntimeError, match=f"no healthy Swift all-in-one in {missing}"):
        keystone_aio.start(tmp_path / "ks", 1, 2, missing)
    assert not (tmp_path / "ks").exists()


def test_credential_files_are_private(keystone):
    for path in (keystone.password_credentials, keystone.appcred_credentials):
        assert Path(path).stat().st_mode & 0o077 == 0
