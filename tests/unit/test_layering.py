"""One-way dependencies between packages, checked from the source (like an import-linter contract).

- swiftstore is a library: it imports neither service nor httpkit.
- httpkit is shared by both services: it imports neither of them.
- pfioh and pman do not import each other.
- pman's engines and the publisher never import pman's HTTP layer.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "swiftstore": ("pfioh", "pman", "httpkit", "flask"),
    "httpkit": ("pfioh", "pman", "swiftstore"),
    "pfioh": ("pman",),
    "pman": ("pfioh",),
    "pman/engines": ("pman.app", "pman.api_legacy", "pman.api_rest", "flask"),
    "pman/publisher": ("pman.app", "pman.api_legacy", "pman.api_rest", "flask"),
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _violations(package: str, banned: tuple[str, ...], root: Path = ROOT):
    for path in sorted((root / package).rglob("*.py")):
        for name in _imports(path):
            if any(name == b or name.startswith(b + ".") for b in banned):
                yield f"{path.relative_to(root)} imports {name}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_its_layer(package):
    assert (ROOT / package).is_dir()
    assert list(_violations(package, FORBIDDEN[package])) == []


def test_checker_sees_a_violation(tmp_path):
    """The checker itself must be able to fail."""
    pkg = tmp_path / "swiftstore"
    pkg.mkdir()
    (pkg / "bad.py").write_text("from pfioh import app\nimport httpkit.auth\nimport pfiohx\n")
    assert len(list(_violations("swiftstore", FORBIDDEN["swiftstore"], tmp_path))) == 2
