"""The image tests: the three images built by scripts/build-images, run with podman.

The session fixture builds them (a no-op but for the cache check when nothing changed).  Without
podman the tests fail with the reason; a developer machine that cannot run podman may set
CHRIS_SKIP_IMAGE_TESTS=1 to skip them (README), which CI never does.  The base image is made with
mmdebstrap (no registry needed) unless CHRIS_IMAGE_BASE names one, e.g. python:3.11.14-slim-bookworm.
"""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.fixtures.swift import *  # noqa: F401,F403  (the real Swift the publisher and pod tests use)
from tests.support import podman
from tests.support.podman import TOKEN


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """``name -> image reference`` of the freshly built images."""
    if os.environ.get(podman.OPT_OUT) == "1":
        pytest.skip(f"{podman.OPT_OUT}=1: image tests skipped on request")
    why = podman.available()
    if why:
        pytest.fail(f"the image tests need podman: {why}.  On a machine that cannot run it, set "
                    f"{podman.OPT_OUT}=1 to skip them (CI never does).", pytrace=False)
    base = os.environ.get("CHRIS_IMAGE_BASE")
    cmd = [str(podman.ROOT / "scripts" / "build-images"), "--tag", podman.TAG,
           *(["--base", base] if base else ["--debian-base"])]
    result = subprocess.run(cmd, env=podman.env(), capture_output=True, text=True, timeout=1500)
    if result.returncode != 0:
        pytest.fail(f"scripts/build-images failed:\n{result.stderr[-4000:]}", pytrace=False)
    return {name: podman.image(name) for name in podman.IMAGES}


@pytest.fixture
def token_file(tmp_path) -> str:
    """An [AUTH TOKENS] file readable by any UID (it is mounted into the containers)."""
    path = tmp_path / "auth.cfg"
    path.write_text(f"[AUTH TOKENS]\ntoken = {TOKEN}\n")
    path.chmod(0o644)
    tmp_path.chmod(0o755)
    return str(path)


@pytest.fixture
def container_names():
    """Names for containers; each is removed (force) after the test."""
    names: list[str] = []

    def make(prefix: str) -> str:
        names.append(podman.unique(prefix))
        return names[-1]

    yield make
    for name in names:
        podman.remove(name)
