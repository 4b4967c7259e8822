"""Running the project's images with podman, for the image tests.

Every call goes through :func:`run` with docker/containers.conf (runc, explicit ulimits: what a
plain root Debian machine needs, see scripts/build-images).  Containers get unique names and are
removed by the fixtures that start them.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "docker" / "containers.conf"
OPT_OUT = "CHRIS_SKIP_IMAGE_TESTS"  # README: a developer machine without podman; CI never sets it
OPENSHIFT_UID = "1000620000:0"  # what OpenShift's restricted SCC assigns: an arbitrary UID, group 0
TAG = os.environ.get("CHRIS_IMAGE_TAG", "test")
IMAGES = ("pfioh", "pman", "pman-swift-publisher")
TOKEN = "image-test-token-4f1c9a"  # the one token of the [AUTH TOKENS] file the services get


def image(name: str) -> str:
    return f"localhost/{name}:{TAG}"


def env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))}


def available() -> str | None:
    """None if podman can run containers here, else why not."""
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/bootstrap installs it on Debian)"
    probe = subprocess.run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"], env=env(),
                           capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        return f"podman does not work here: {probe.stderr.strip()[-500:]}"
    return None


def run(*args: str, check: bool = True, timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess:
    """``podman ARGS``; with ``check``, a failure raises with podman's stderr in the message."""
    result = subprocess.run(["podman", *args], env=env(), capture_output=True, text=True, timeout=timeout,
                            input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def inspect(name: str) -> dict:
    return json.loads(run("container", "inspect", name).stdout)[0]


def wait_until(condition, what: str, timeout: float = 60.0, interval: float = 0.2):
    """Poll ``condition()`` until it returns something true (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def remove(name: str) -> None:
    run("rm", "--force", "--time", "5", name, check=False, timeout=60)
