"""Provision a fresh loopback Keystone for Swift, through the Keystone v3 API (used by keystone_aio.py).

Runs in the main venv with keystoneauth1: the admin (from ``keystone-manage bootstrap``) creates
the proxy's service user, the object-store endpoint and the demo project/user; the demo user then
creates its own application credential (Keystone lets only the owner do that).
"""
from __future__ import annotations

import secrets

from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import v3 as ksa_v3

DOMAIN = "default"


class Api:
    """A thin JSON client over one keystoneauth1 session; HTTP errors raise keystoneauth1's."""

    def __init__(self, auth_url: str, **auth):
        plugin = ksa_v3.Password(auth_url=auth_url, user_domain_id=DOMAIN, project_domain_id=DOMAIN, **auth)
        self.session = ksa_session.Session(auth=plugin, timeout=30)
        self.url = auth_url

    def get(self, path: str, key: str) -> list:
        return self.session.get(self.url + path).json()[key]

    def create(self, path: str, key: str, body: dict) -> dict:
        return self.session.post(self.url + path, json={key: body}).json()[key]

    def put(self, path: str) -> None:
        self.session.put(self.url + path)

    def role_id(self, name: str) -> str:
        return self.get(f"/roles?name={name}", "roles")[0]["id"]

    def project_user(self, project_name: str, user_name: str, password: str, role: str) -> tuple[str, str]:
        """A project, and a user with ``role`` on it; returns their (project, user) ids."""
        project = self.create("/projects", "project", {"name": project_name, "domain_id": DOMAIN})["id"]
        user = self.create("/users", "user", {"name": user_name, "domain_id": DOMAIN, "password": password,
                                              "default_project_id": project})["id"]
        self.put(f"/projects/{project}/users/{user}/roles/{self.role_id(role)}")
        return project, user


def provision(auth_url: str, admin_password: str, proxy_url: str, *, region: str, demo: str,
              service_user: str, service_password: str) -> dict:
    """Create the service user, object-store endpoint, demo project/user and application credential.

    :param service_password: the password the Swift proxy already runs with for ``service_user``.
    :returns: the new state: ids and generated secrets (``password``,
        ``application_credential_id``/``_secret``, ``project_id``...).
    """
    admin = Api(auth_url, username="admin", password=admin_password, project_name="admin")
    state = {"service_password": service_password, "password": secrets.token_urlsafe(18),
             "project": demo, "user": demo}
    state["service_project_id"], _ = admin.project_user("service", service_user,
                                                         state["service_password"], "admin")
    service = admin.create("/services", "service", {"type": "object-store", "name": "swift",
                                                    "description": "Swift on loopback"})["id"]
    admin.create("/endpoints", "endpoint", {
        "service_id": service, "interface": "public", "region_id": region,
        "url": f"{proxy_url}/v1/AUTH_$(project_id)s"})
    state["project_id"], user_id = admin.project_user(demo, demo, state["password"], "member")
    owner = Api(auth_url, username=demo, password=state["password"], project_name=demo)
    cred = owner.create(f"/users/{user_id}/application_credentials", "application_credential",
                        {"name": f"{demo}-swift", "description": "swiftstore on loopback"})
    state["application_credential_id"] = cred["id"]
    state["application_credential_secret"] = cred["secret"]
    return state


def move_endpoints(auth_url: str, admin_password: str, proxy_url: str) -> None:
    """Point the catalog's public identity and object-store endpoints at new URLs (a restart of a
    kept data directory on new ports)."""
    admin = Api(auth_url, username="admin", password=admin_password, project_name="admin")
    services = {s["id"]: s["type"] for s in admin.get("/services", "services")}
    urls = {"identity": auth_url, "object-store": f"{proxy_url}/v1/AUTH_$(project_id)s"}
    for endpoint in admin.get("/endpoints?interface=public", "endpoints"):
        url = urls.get(services.get(endpoint["service_id"]))
        if url and endpoint["url"] != url:
            admin.session.patch(f"{admin.url}/endpoints/{endpoint['id']}", json={"endpoint": {"url": url}})


def password_file(state: dict) -> str:
    """swiftstore's legacy password form (the originals' [AUTHORIZATION] + [PROJECT])."""
    return (f"# Keystone v3 password credentials for the loopback Keystone ({state['base']}).\n"
            f"[AUTHORIZATION]\nosAuthUrl = {state['auth_url']}\nusername = {state['user']}\n"
            f"password = {state['password']}\n\n"
            f"[PROJECT]\nosProjectDomain = {DOMAIN}\nosProjectName = {state['project']}\n")


def appcred_file(state: dict) -> str:
    """swiftstore's application-credential form ([AUTHORIZATION] + [SECRET])."""
    return (f"# Keystone v3 application credential for the loopback Keystone ({state['base']}).\n"
            f"[AUTHORIZATION]\nosAuthUrl = {state['auth_url']}\n\n"
            f"[SECRET]\napplicationId = {state['application_credential_id']}\n"
            f"applicationSecret = {state['application_credential_secret']}\n")
