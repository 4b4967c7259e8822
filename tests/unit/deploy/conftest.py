"""Fixtures of the deployment tests (their loaders are in tests/support/deploy/)."""
from __future__ import annotations

import pytest

from tests.support.deploy import kustomize
from tests.support.deploy.manifests import KUBERNETES


@pytest.fixture(scope="session")
def kustomized() -> list[dict]:
    return kustomize.build(KUBERNETES)
