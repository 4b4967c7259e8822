"""Swift credentials: where they come from, and how to connect with them.

Sources, first match wins (see docs/credentials.md):

1. an explicit path (``--swift-credentials``);
2. the environment variable ``SWIFT_CREDENTIALS`` (a path);
3. the usual ``OS_*`` (Keystone v3 or a pre-authenticated token) or ``ST_*`` (tempauth v1) variables;
4. ``/etc/swift/swift-credentials.cfg`` (the secret ``swift-credentials`` mounted in pods).

A file holds one of three forms (INI, option names case-insensitive, no ``%`` interpolation so
secrets are taken literally)::

    [AUTHORIZATION] osAuthUrl              + [SECRET] applicationId, applicationSecret  (Keystone v3)
    [AUTHORIZATION] osAuthUrl, username, password
                  + [PROJECT] osProjectDomain, osProjectName                          (Keystone v3)
    [AUTHORIZATION] osAuthUrl (.../auth/v1.0) + [TEMPAUTH] user, key                  (tempauth v1)
"""
from __future__ import annotations

import configparser
import os
import threading
import urllib.parse
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Mapping

from swiftstore import errors

if TYPE_CHECKING:
    from keystoneauth1 import session as ksa_session

DEFAULT_PATH = "/etc/swift/swift-credentials.cfg"
ENV_PATH = "SWIFT_CREDENTIALS"
ENVIRONMENT = "environment"
# Keystone calls (token, catalogue) must not hang a job forever; Swift calls have their own timeout.
KEYSTONE_TIMEOUT = 30.0
DEFAULT_DOMAIN_ID = "default"

_OVERRIDE_HINT = (f"give another with --swift-credentials or ${ENV_PATH}, "
                  "or set OS_*/ST_* environment variables")
_plugin_lock = threading.Lock()
_SECRETS = ("password", "application_credential_secret", "token")


@dataclass(frozen=True)
class SwiftCredentials:
    """How to authenticate to Swift.  Secrets never appear in ``repr``/``str``.

    For ``tempauth`` the user is ``account:user`` in :attr:`username` and the key is :attr:`password`.
    """

    kind: str  # 'tempauth' | 'password' | 'application_credential' | 'token'
    auth_url: str | None
    source: str  # the file it came from, or 'environment'
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    project_name: str | None = None
    project_id: str | None = None
    project_domain_name: str | None = None
    project_domain_id: str | None = None
    user_domain_name: str | None = None
    user_domain_id: str | None = None
    application_credential_id: str | None = None
    application_credential_secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    storage_url: str | None = None
    region_name: str | None = None
    interface: str | None = None
    # One auth plugin per credentials object, shared by every Connection built from it: the plugin
    # is thread-safe, so N transfer threads share one token instead of authenticating N times.
    _plugin: object = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __repr__(self) -> str:
        # Only the fields that are set; secrets are never shown, only whether they are present.
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                 if f.repr and getattr(self, f.name) is not None]
        hidden = [f.name for f in fields(self) if f.name in _SECRETS and getattr(self, f.name)]
        if hidden:
            shown.append(f"secrets=<hidden: {', '.join(hidden)}>")
        return f"SwiftCredentials({', '.join(shown)})"

    __str__ = __repr__

    @property
    def is_keystone(self) -> bool:
        return self.kind in ("password", "application_credential")

    def auth_plugin(self):
        """The keystoneauth1 v3 auth plugin (created once, then shared).

        :raises errors.CredentialsError: for a non-Keystone kind.
        """
        if not self.is_keystone:
            raise errors.CredentialsError(f"{self.source}: {self.kind} credentials have no Keystone plugin")
        with _plugin_lock:
            if self._plugin is None:
                object.__setattr__(self, "_plugin", self._new_plugin())
            return self._plugin

    def _new_plugin(self):
        # keystoneauth1 (~6 MB of RSS) only for Keystone credentials, when first used: reading
        # credentials (pfioh's master checks them before it starts its workers) and tempauth or
        # token credentials never load it.
        from keystoneauth1.identity import v3 as ksa_v3
        if self.kind == "application_credential":
            return ksa_v3.ApplicationCredential(
                auth_url=self.auth_url, application_credential_id=self.application_credential_id,
                application_credential_secret=self.application_credential_secret)
        return ksa_v3.Password(
            auth_url=self.auth_url, username=self.username, password=self.password,
            user_domain_name=self.user_domain_name, user_domain_id=self.user_domain_id,
            project_name=self.project_name, project_id=self.project_id,
            project_domain_name=self.project_domain_name, project_domain_id=self.project_domain_id)

    def session(self) -> ksa_session.Session:
        """A new keystoneauth1 session over the shared auth plugin (Keystone kinds only)."""
        from keystoneauth1 import session as ksa_session
        return ksa_session.Session(auth=self.auth_plugin(), timeout=KEYSTONE_TIMEOUT)

    def connection_kwargs(self) -> dict:
        """Keyword arguments for :class:`swiftclient.client.Connection`.

        Keystone v3 kinds pass a keystoneauth1 ``session``: swiftclient then asks it for the token
        and the object-store endpoint, and on a 401 invalidates it and authenticates again.
        """
        if self.kind == "tempauth":
            return {"authurl": self.auth_url, "user": self.username, "key": self.password,
                    "auth_version": "1"}
        if self.kind == "token":
            return {"preauthurl": self.storage_url, "preauthtoken": self.token}
        options = {"service_type": "object-store", "endpoint_type": self.interface or "public"}
        if self.region_name:
            options["region_name"] = self.region_name
        if self.storage_url:
            options["object_storage_url"] = self.storage_url
        return {"session": self.session(), "os_options": options}


def load_credentials(path: str | os.PathLike | None = None,
                     environ: Mapping[str, str] | None = None) -> SwiftCredentials:
    """Find and read the Swift credentials.

    :param path: an explicit credentials file; wins over everything else.
    :param environ: the environment to read (default ``os.environ``).
    :raises errors.CredentialsError: naming the file (or variable) and the missing section/key.
    """
    env = os.environ if environ is None else environ
    if path:
        return read_file(path)
    if env.get(ENV_PATH):
        return read_file(env[ENV_PATH])
    found = from_environment(env)
    return found if found is not None else read_file(DEFAULT_PATH)


def read_file(path: str | os.PathLike) -> SwiftCredentials:
    """Read one credentials file in any of the three forms.

    :raises errors.CredentialsError: missing, unreadable, unparseable or incomplete file.
    """
    path = os.fspath(path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise errors.CredentialsError(f"{path}: credentials file not found; {_OVERRIDE_HINT}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise errors.CredentialsError(f"{path}: cannot read credentials file: {reason}") from exc
    except configparser.Error as exc:
        first = str(exc).splitlines()[0]
        raise errors.CredentialsError(f"{path}: not a valid credentials file: {first}") from None
    section = _Sections(parser, path)
    if parser.has_section("TEMPAUTH"):
        return _tempauth_file(section, path)
    if parser.has_section("SECRET"):
        return _appcred_file(section, path)
    return _password_file(section, path)


class _Sections:
    """Required/optional look-ups whose errors name the file, the section and the key."""

    def __init__(self, parser: configparser.ConfigParser, path: str):
        self.parser, self.path = parser, path

    def required(self, section: str, key: str) -> str:
        if not self.parser.has_section(section):
            raise errors.CredentialsError(f"{self.path}: missing section [{section}] (needs {key})")
        value = self.parser.get(section, key, fallback="").strip()
        if not value:
            raise errors.CredentialsError(f"{self.path}: missing [{section}] {key}")
        return value

    def optional(self, section: str, key: str) -> str | None:
        return self.parser.get(section, key, fallback="").strip() or None


def _tempauth_file(s: _Sections, path: str) -> SwiftCredentials:
    return SwiftCredentials(kind="tempauth", auth_url=s.required("AUTHORIZATION", "osAuthUrl"),
                            source=path, username=s.required("TEMPAUTH", "user"),
                            password=s.required("TEMPAUTH", "key"))


def _appcred_file(s: _Sections, path: str) -> SwiftCredentials:
    return SwiftCredentials(
        kind="application_credential", source=path,
        auth_url=_v3_url(s.required("AUTHORIZATION", "osAuthUrl"), path),
        application_credential_id=s.required("SECRET", "applicationId"),
        application_credential_secret=s.required("SECRET", "applicationSecret"),
        region_name=s.optional("AUTHORIZATION", "osRegionName"),
        interface=s.optional("AUTHORIZATION", "osInterface"))


def _password_file(s: _Sections, path: str) -> SwiftCredentials:
    auth_url = _v3_url(s.required("AUTHORIZATION", "osAuthUrl"), path)
    username = s.required("AUTHORIZATION", "username")
    password = s.required("AUTHORIZATION", "password")
    project_domain = s.required("PROJECT", "osProjectDomain")
    project_name = s.required("PROJECT", "osProjectName")
    user_domain = s.optional("AUTHORIZATION", "osUserDomain") or DEFAULT_DOMAIN_ID
    return SwiftCredentials(
        kind="password", auth_url=auth_url, source=path, username=username, password=password,
        project_name=project_name, **_domain("project", project_domain), **_domain("user", user_domain),
        region_name=s.optional("AUTHORIZATION", "osRegionName"),
        interface=s.optional("AUTHORIZATION", "osInterface"))


def _domain(prefix: str, value: str) -> dict:
    # The default domain has id 'default' and name 'Default'.  The originals passed 'default' as a
    # name, which only matches on case-insensitive databases; as an id it matches everywhere.
    if value.lower() == DEFAULT_DOMAIN_ID:
        return {f"{prefix}_domain_id": DEFAULT_DOMAIN_ID}
    return {f"{prefix}_domain_name": value}


def _v3_url(url: str, source: str) -> str:
    """Keystone v3 plugins post to ``<auth_url>/auth/tokens``: make sure the URL ends in /v3."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise errors.CredentialsError(f"{source}: osAuthUrl is not an http(s) URL: {url!r}")
    path = parts.path.rstrip("/")
    if path.endswith(("/v2.0", "/v1.0")):
        raise errors.CredentialsError(f"{source}: {url} is not a Keystone v3 URL (use .../v3)")
    if not path.endswith("/v3"):
        path += "/v3"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def from_environment(env: Mapping[str, str]) -> SwiftCredentials | None:
    """Credentials from ``OS_*`` or ``ST_*`` variables, or None when none are set.

    :raises errors.CredentialsError: a form is started but incomplete (names the variable).
    """
    if env.get("OS_AUTH_TOKEN"):
        return SwiftCredentials(kind="token", auth_url=None, source=ENVIRONMENT,
                                token=env["OS_AUTH_TOKEN"], storage_url=_need(env, "OS_STORAGE_URL"))
    common: dict[str, Any] = {"source": ENVIRONMENT, "region_name": env.get("OS_REGION_NAME") or None,
              "interface": env.get("OS_INTERFACE") or env.get("OS_ENDPOINT_TYPE") or None,
              "storage_url": env.get("OS_STORAGE_URL") or None}
    if env.get("OS_APPLICATION_CREDENTIAL_ID") or env.get("OS_APPLICATION_CREDENTIAL_SECRET"):
        return SwiftCredentials(
            kind="application_credential", auth_url=_v3_url(_need(env, "OS_AUTH_URL"), ENVIRONMENT),
            application_credential_id=_need(env, "OS_APPLICATION_CREDENTIAL_ID"),
            application_credential_secret=_need(env, "OS_APPLICATION_CREDENTIAL_SECRET"), **common)
    if env.get("OS_AUTH_URL") or env.get("OS_USERNAME") or env.get("OS_PASSWORD"):
        return _password_env(env, common)
    if env.get("ST_AUTH"):
        return SwiftCredentials(kind="tempauth", auth_url=env["ST_AUTH"], source=ENVIRONMENT,
                                username=_need(env, "ST_USER"), password=_need(env, "ST_KEY"))
    return None


def _password_env(env: Mapping[str, str], common: dict) -> SwiftCredentials:
    auth_url = _v3_url(_need(env, "OS_AUTH_URL"), ENVIRONMENT)
    username, password = _need(env, "OS_USERNAME"), _need(env, "OS_PASSWORD")
    project_id = env.get("OS_PROJECT_ID") or env.get("OS_TENANT_ID") or None
    project_name = env.get("OS_PROJECT_NAME") or env.get("OS_TENANT_NAME") or None
    if not (project_id or project_name):
        raise errors.CredentialsError(f"{ENVIRONMENT}: missing OS_PROJECT_NAME (or OS_PROJECT_ID)")
    domains = {}
    for prefix, var in (("project", "OS_PROJECT_DOMAIN"), ("user", "OS_USER_DOMAIN")):
        if env.get(f"{var}_ID"):
            domains[f"{prefix}_domain_id"] = env[f"{var}_ID"]
        else:
            domains.update(_domain(prefix, env.get(f"{var}_NAME") or DEFAULT_DOMAIN_ID))
    if project_id:
        # A project id is globally unique: a domain alongside it is ignored by Keystone anyway.
        domains.pop("project_domain_id", None)
        domains.pop("project_domain_name", None)
    return SwiftCredentials(kind="password", auth_url=auth_url, username=username, password=password,
                            project_name=None if project_id else project_name, project_id=project_id,
                            **domains, **common)


def _need(env: Mapping[str, str], name: str) -> str:
    value = (env.get(name) or "").strip()
    if not value:
        raise errors.CredentialsError(f"{ENVIRONMENT}: missing {name}")
    return value
