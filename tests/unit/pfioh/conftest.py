"""Fixtures for pfioh's unit tests: a config on a temp storeBase, a Flask test client (the helpers
to talk to it are in tests/support/pfioh_app.py)."""
from __future__ import annotations

import pytest

from pfioh import app as app_mod
from pfioh.config import PfiohConfig


class Shutdowns:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1


@pytest.fixture
def config(tmp_path) -> PfiohConfig:
    return PfiohConfig(host="127.0.0.1", port=5055, store_base=str(tmp_path / "store"),
                       create_dirs=True, max_unpacked_size=10 << 20, max_upload_size=20 << 20)


@pytest.fixture
def shutdowns():
    return Shutdowns()


@pytest.fixture
def make_client(shutdowns):
    def factory(config, store=None):
        app = app_mod.create_app(config, store=store, shutdown=shutdowns)
        app.testing = True
        return app.test_client()
    return factory


@pytest.fixture
def client(make_client, config):
    return make_client(config)
