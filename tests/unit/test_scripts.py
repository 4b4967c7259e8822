"""The developer scripts: ``scripts/test`` and ``scripts/bootstrap``, run as a user runs them.

``scripts/test`` is run from a small copy of the repository (the real script and pytest.ini, a
few sample tests, the real ``.venv``) whose ``scripts/bootstrap`` only records that it ran: the
real one would install into the shared ``.venv``.  ``scripts/bootstrap venv`` is run against
throwaway virtualenvs, with pip pointed at a closed loopback port or at a local wheel: no network.
"""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_TESTS = {
    "tests/unit/test_a.py": "def test_a():\n    pass\n",
    "tests/integration/test_b.py": "def test_b():\n    pass\n",
    "benchmarks/test_c.py": "def test_c():\n    pass\n",  # outside testpaths: never collected by default
}


@pytest.fixture
def repo_copy(tmp_path):
    """A repository with the real scripts/test and pytest.ini, and a bootstrap that leaves a mark."""
    (tmp_path / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "test", tmp_path / "scripts" / "test")
    shutil.copy2(ROOT / "pytest.ini", tmp_path / "pytest.ini")
    shutil.copy2(ROOT / "ruff.toml", tmp_path / "ruff.toml")
    (tmp_path / "typed.py").write_text("def double(n: int) -> int:\n    return 2 * n\n")
    (tmp_path / "mypy.ini").write_text("[mypy]\nfiles = typed.py\n")
    bootstrap = tmp_path / "scripts" / "bootstrap"
    bootstrap.write_text('#!/bin/sh\ntouch "$(dirname "$0")/../bootstrapped"\n')
    bootstrap.chmod(0o755)
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    for name, text in SAMPLE_TESTS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def collected(repo: Path, *args: str) -> list[str]:
    """The test ids ``scripts/test ARGS --collect-only -q`` lists, run from another directory."""
    proc = subprocess.run([str(repo / "scripts" / "test"), *args, "--collect-only", "-q"], cwd="/",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (repo / "bootstrapped").exists(), "scripts/test must bootstrap first"
    return sorted(line for line in proc.stdout.splitlines() if "::" in line)


def test_script_test_runs_only_the_paths_it_is_given(repo_copy):
    assert collected(repo_copy, "tests/unit", "-x") == ["tests/unit/test_a.py::test_a"]
    assert collected(repo_copy, "tests/integration/test_b.py::test_b") == ["tests/integration/test_b.py::test_b"]


@pytest.mark.parametrize("bad", ['import os\n', 'def double(n: int) -> int:\n    return "twice"\n'])
def test_script_test_stops_on_a_lint_or_type_error_before_any_test(repo_copy, bad):
    (repo_copy / "typed.py").write_text(bad)
    proc = subprocess.run([str(repo_copy / "scripts" / "test"), "--collect-only", "-q"], cwd="/",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "test_a" not in proc.stdout
    assert ("ruff found problems" if "import" in bad else "mypy found problems") in proc.stderr


def test_script_test_without_paths_runs_the_whole_suite(repo_copy):
    # .ci/run passes options only; "-p no:cacheprovider" has a value that is not a path.
    assert collected(repo_copy, "-x", "-p", "no:cacheprovider") == [
        "tests/integration/test_b.py::test_b", "tests/unit/test_a.py::test_a"]


def make_wheel(directory: Path, name: str = "tinypkg", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, so pip can install from a local directory without a network."""
    dist_info = f"{name}-{version}.dist-info"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist_info}/RECORD"] = "".join(f"{f},,\n" for f in [*files, f"{dist_info}/RECORD"])
    with zipfile.ZipFile(path, "w") as zf:
        for arcname, text in files.items():
            zf.writestr(arcname, text)
    return path


def bootstrap_venv(venv: Path, requirements: Path, **pip_env: str) -> subprocess.CompletedProcess:
    """``scripts/bootstrap venv VENV tinypkg REQUIREMENTS`` with only the given PIP_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_NO_CACHE_DIR="1", PIP_CONFIG_FILE=os.devnull, **pip_env)
    return subprocess.run([str(ROOT / "scripts" / "bootstrap"), "venv", str(venv), "tinypkg", str(requirements)],
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def offline(tmp_path):
    """Requirements naming tinypkg, the PIP_* settings of an unreachable index and of a local wheel."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("tinypkg==1.0\n")
    (tmp_path / "wheels").mkdir()
    make_wheel(tmp_path / "wheels")
    # Port 9 (discard) on loopback: nothing listens there, the connection is refused at once.
    unreachable = {"PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_RETRIES": "1"}
    local = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "wheels")}
    return requirements, unreachable, local


def test_bootstrap_fails_loudly_and_retries_after_a_failed_install(tmp_path, offline):
    requirements, unreachable, local = offline
    venv = tmp_path / "venv"

    failed = bootstrap_venv(venv, requirements, **unreachable)
    assert failed.returncode != 0
    assert "No matching distribution found for tinypkg==1.0" in failed.stderr  # pip's own words
    assert "Connection refused" in failed.stderr
    assert "next run tries again" in failed.stderr
    assert not (venv / ".stamp-req").exists()

    retried = bootstrap_venv(venv, requirements, **local)
    assert retried.returncode == 0, retried.stderr
    assert "installing" in retried.stderr
    assert (venv / ".stamp-req").exists()
    assert subprocess.run([venv / "bin" / "python", "-c", "import tinypkg"]).returncode == 0

    again = bootstrap_venv(venv, requirements, **unreachable)  # nothing changed: pip is not even asked
    assert again.returncode == 0, again.stderr
    assert again.stderr == ""

    # A stamp that lies (the old bootstrap wrote one after a failed install) no longer blocks it.
    subprocess.run([venv / "bin" / "pip", "uninstall", "-q", "-y", "tinypkg"], check=True)
    repaired = bootstrap_venv(venv, requirements, **local)
    assert repaired.returncode == 0, repaired.stderr
    assert "marked installed but 'import tinypkg' fails" in repaired.stderr
    assert subprocess.run([venv / "bin" / "python", "-c", "import tinypkg"]).returncode == 0


def test_bootstrap_rebuilds_a_broken_venv(tmp_path, offline):
    requirements, _, local = offline
    venv = tmp_path / "venv"
    assert bootstrap_venv(venv, requirements, **local).returncode == 0
    for python in (venv / "bin").glob("python*"):
        python.unlink()

    rebuilt = bootstrap_venv(venv, requirements, **local)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"{venv} is broken" in rebuilt.stderr
    assert subprocess.run([venv / "bin" / "python", "-c", "import tinypkg"]).returncode == 0


def test_bootstrap_refuses_to_replace_a_directory_that_is_not_a_venv(tmp_path, offline):
    requirements, _, local = offline
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.txt").write_text("keep me")

    refused = bootstrap_venv(precious, requirements, **local)
    assert refused.returncode != 0
    assert "is not a virtualenv" in refused.stderr
    assert (precious / "data.txt").read_text() == "keep me"


def test_bootstrap_usage_errors_exit_2_with_the_usage():
    for args in (["venv", "only-a-dir"], ["--frobnicate"]):
        proc = subprocess.run([str(ROOT / "scripts" / "bootstrap"), *args], capture_output=True, text=True)
        assert proc.returncode == 2
        assert "scripts/bootstrap venv DIR MODULES REQ" in proc.stderr


def test_readme_starts_with_the_two_set_up_commands():
    text = (ROOT / "README.rst").read_text()
    first_block = text.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in first_block.splitlines()]
    assert commands == ["scripts/quickstart", "scripts/test"]
    assert all(os.access(ROOT / command, os.X_OK) for command in commands)
