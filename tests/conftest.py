"""Test configuration shared by every tier: nothing but what all of them need.

The real services' fixtures (Swift, Keystone, our servers) belong to the integration tier and are
loaded by tests/integration/conftest.py only, so a unit test can never start a real Swift by
asking for a fixture it forgot to fake (fakes are named ``fake_*``).  ``tests`` is a package, so
pytest puts the repository root on the path and the tests import ``tools.saio``, ``tools.ports``...
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

_SESSION_TMP: str | None = None


def pytest_configure(config):
    """One temporary directory per test session, for everything the tests and the processes they
    start put in ``$TMPDIR`` (a root pman's job directories among them: ``pman-jobs-*``), removed
    when the session ends.  0711: a job user (``nobody``) can pass through to its own job's
    directory, as through ``/tmp``, but cannot list what else is there."""
    global _SESSION_TMP
    _SESSION_TMP = tempfile.mkdtemp(prefix="chris-tests-")
    os.chmod(_SESSION_TMP, 0o711)
    os.environ["TMPDIR"] = _SESSION_TMP
    tempfile.tempdir = None  # recomputed from TMPDIR on next use


def pytest_unconfigure(config):
    if _SESSION_TMP is not None:
        shutil.rmtree(_SESSION_TMP, ignore_errors=True)


@pytest.fixture
def gates():
    """A directory for gate files that a job sees also when it runs as another user (a root pman's
    default; pytest's own temporary directories are private to root)."""
    top = Path(tempfile.mkdtemp(prefix="pman-gates-"))
    os.chmod(top, 0o711)
    yield top
    shutil.rmtree(top, ignore_errors=True)
