"""Test configuration shared by every suite.

Fixtures live in tests/fixtures/, one module per real component (Swift, Keystone, our servers).
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

pytest_plugins = [
    "tests.fixtures.swift",
    "tests.fixtures.swift_replicated",
    "tests.fixtures.servers",
    "tests.fixtures.keystone",
]
