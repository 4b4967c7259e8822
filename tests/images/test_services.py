"""Every image's --help; pfioh and pman from their image's default command, as OpenShift runs them.

The services run in their own network namespace (no host port, so no port to race for); the
probes run inside the container with the image's Python, as the image's HEALTHCHECK does.
"""
from __future__ import annotations

import json

import pytest

from tests.support import podman
from tests.support.podman import TOKEN

pytestmark = pytest.mark.timeout(1800)  # the first test builds the images (minutes on a fresh machine)

SERVICES = {"pfioh": (5055, "/etc/pfioh/auth/pfioh_config.cfg"), "pman": (5010, "/etc/pman/auth/pman_config.cfg")}
HELP_WORDS = {"pfioh": "--enableTokenAuth", "pman": "--enableTokenAuth", "pman-swift-publisher": "{get,put}"}

# Runs inside the container: one HTTP request, prints "<status> <body>" (errors are answers too).
PROBE = """
import sys, urllib.request, urllib.error
url, method, token = sys.argv[1], sys.argv[2], sys.argv[3]
data = b'{"action": "hello", "meta": {"askAbout": "sysinfo", "echoBack": "hi"}}' if method == "POST" else None
req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
if token:
    req.add_header("Authorization", "bearer " + token)
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except OSError as e:
    print(0, e)
"""


def probe(name: str, port: int, path: str, method: str = "GET", token: str = "") -> tuple[int, str]:
    out = podman.run("exec", name, "python", "-c", PROBE, f"http://127.0.0.1:{port}{path}", method, token,
                     timeout=60).stdout.strip()
    status, _, body = out.partition(" ")
    return int(status), body


@pytest.mark.parametrize("name", podman.IMAGES)
def test_help(images, name):
    result = podman.run("run", "--rm", "--user", podman.OPENSHIFT_UID, images[name], "--help")
    assert result.stdout.startswith("usage:"), result.stdout
    assert HELP_WORDS[name] in result.stdout


def start_service(images, name: str, container: str, token_file: str) -> int:
    """Start ``name`` from its default command as an arbitrary UID; return its port once healthy."""
    port, token_path = SERVICES[name]
    podman.run("run", "--detach", "--name", container, "--user", podman.OPENSHIFT_UID, "--network", "none",
               "--volume", f"{token_file}:{token_path}:ro", images[name])

    def healthy():
        if not podman.inspect(container)["State"]["Running"]:
            logs = podman.run("logs", container, check=False)
            raise AssertionError(f"{name} exited: {logs.stdout}{logs.stderr}")
        return probe(container, port, "/api/v1/health")[0] == 200

    podman.wait_until(healthy, f"{name} to answer health")
    return port


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_starts_healthy_and_ready_as_an_arbitrary_uid(images, name, container_names, token_file):
    container = container_names(name)
    port = start_service(images, name, container, token_file)
    status, body = probe(container, port, "/api/v1/health")
    assert json.loads(body)["service"] == name
    # Readiness: /api/v1/ready where the service has it (open, like health); a service without it
    # answers 404, or 401 where its command API takes every other path, and its probes use health.
    status, body = probe(container, port, "/api/v1/ready")
    assert status in (200, 401, 404), (status, body)
    if status != 200:
        assert probe(container, port, "/api/v1/health")[0] == 200
    # The process runs as OpenShift's UID in group 0, not as the image's user.
    ids = podman.run("exec", container, "id", "-u").stdout.strip(), podman.run("exec", container, "id", "-g").stdout.strip()
    assert ids == tuple(podman.OPENSHIFT_UID.split(":"))
    # The image's HEALTHCHECK command itself passes.
    assert podman.run("healthcheck", "run", container, check=False).returncode == 0


def test_pfioh_rejects_unauthenticated_commands(images, container_names, token_file):
    container = container_names("pfioh")
    port = start_service(images, "pfioh", container, token_file)
    assert probe(container, port, "/api/v1/cmd", "POST")[0] == 401
    assert probe(container, port, "/api/v1/cmd", "POST", "not-the-token")[0] == 401
    status, body = probe(container, port, "/api/v1/cmd", "POST", TOKEN)
    assert status == 200, body
    assert "hi" in body  # the echoBack of the hello


def test_pman_rejects_unauthenticated_requests(images, container_names, token_file):
    container = container_names("pman")
    port = start_service(images, "pman", container, token_file)
    assert probe(container, port, "/api/v1/")[0] == 401
    assert probe(container, port, "/api/v1/", token="not-the-token")[0] == 401
    status, body = probe(container, port, "/api/v1/", token=TOKEN)
    assert status == 200, body


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_without_its_token_file_refuses_to_start(images, name, container_names):
    """Auth is on in the image: no token file means no service, not an open one."""
    container = container_names(name)
    podman.run("run", "--name", container, "--user", podman.OPENSHIFT_UID, "--network", "none", images[name],
               check=False, timeout=120)
    state = podman.inspect(container)["State"]
    assert not state["Running"] and state["ExitCode"] != 0
    logs = podman.run("logs", container)
    assert "token" in (logs.stdout + logs.stderr).lower()
