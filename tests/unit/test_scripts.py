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


def test_script_test_without_paths_runs_the_whole_suite(repo_copy):
    # .ci/run passes options only; "-p no:cacheprovider" has a value that is not a path.
    assert collected(repo_copy, "-x", "-p", "no:cacheprovider") == [
        "tests/integration/test_b.py::test_b", "tests/unit/test_a.py::test_a"]
