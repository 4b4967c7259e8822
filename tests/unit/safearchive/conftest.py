"""Fixtures of safearchive's tests (the zips are built by tests/support/zips.py)."""
from __future__ import annotations

import zipfile

import pytest

from tests.support.zips import build_zip


@pytest.fixture
def make_zip(tmp_path):
    def make(entries, compression=zipfile.ZIP_DEFLATED, name="a.zip"):
        return build_zip(tmp_path / name, entries, compression)
    return make
