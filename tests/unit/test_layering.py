"""One-way dependencies between packages, checked from the source (like an import-linter contract).

- swiftstore is a library: it imports neither service nor httpkit.
- httpkit is shared by both services: it imports neither of them.
- pfioh and pman do not import each other.
- pman's engines get their settings groups, never the service config, and import neither pman's
  HTTP layer nor the publisher; the local engine imports nothing of the Kubernetes engines (nor
  their client libraries), and the Kubernetes engines nothing of the local one.
- the publisher (the Jobs' data steps) imports neither the engines nor pman's HTTP layer; the
  result document both share (pman/resultdoc.py) imports neither of them.
- safearchive (safe zips, stage-and-commit) is used by all of them: it imports only the standard
  library, and zlib-ng's drop-in zlib (in its inflating module alone).
- pfioh's stores: the base imports neither implementation (nor swiftstore), the mount store
  neither the Swift store nor swiftstore, the Swift store not the mount store.
- no import cycle anywhere in the product code (imports inside functions count too).
- the tests never import one another: a test module or conftest.py imports, of tests/, only the
  support package (tests/support/, the helpers they share) and the fixture modules
  (tests/fixtures/, which conftest.py files load); so does every other module of tests/.
- nothing edits ``sys.path``: tools/ and benchmarks/ are packages, run with ``python -m`` from the
  repository root, and imported as ``tools.saio``, ``benchmarks.common``.
"""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("swiftstore", "pfioh", "pman", "httpkit", "safearchive", "processors")

HTTP_LAYER = ("pman.app", "pman.api_legacy", "pman.api_rest", "pman.jobs", "flask")
FORBIDDEN = {
    "swiftstore": ("pfioh", "pman", "httpkit", "flask"),
    "httpkit": ("pfioh", "pman", "swiftstore"),
    "pfioh": ("pman",),
    "pman": ("pfioh",),
    "pman/engines": HTTP_LAYER + ("pman.config", "pman.cli", "pman.publisher", "pman.client"),
    "pman/engines/local": ("pman.engines.kube", "kubernetes", "openshift"),
    "pman/engines/kube": ("pman.engines.local",),
    "pman/publisher": HTTP_LAYER + ("pman.engines", "pman.config", "pman.cli", "pman.client"),
    "pman/resultdoc.py": HTTP_LAYER + ("pman.engines", "pman.publisher", "pman.config", "pman.cli"),
    "safearchive": ("swiftstore", "pfioh", "pman", "httpkit", "processors"),
    "pfioh/stores/base.py": ("pfioh.stores.mount", "pfioh.stores.swift", "swiftstore"),
    "pfioh/stores/mount.py": ("pfioh.stores.swift", "swiftstore"),
    "pfioh/stores/swift.py": ("pfioh.stores.mount",),
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from pman.engines import kube" imports pman.engines.kube: name what is imported
            for alias in node.names:
                yield f"{node.module}.{alias.name}"


def _violations(package: str, banned: tuple[str, ...], root: Path = ROOT):
    target = root / package
    for path in sorted(target.rglob("*.py")) if target.is_dir() else [target]:
        for name in _imports(path):
            if any(name == b or name.startswith(b + ".") for b in banned):
                yield f"{path.relative_to(root)} imports {name}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_its_layer(package):
    assert (ROOT / package).exists()
    assert list(_violations(package, FORBIDDEN[package])) == []


def test_checker_sees_a_violation(tmp_path):
    """The checker itself must be able to fail."""
    pkg = tmp_path / "swiftstore"
    pkg.mkdir()
    (pkg / "bad.py").write_text("from pfioh import app\nimport httpkit.auth\nimport pfiohx\n")
    assert len(list(_violations("swiftstore", FORBIDDEN["swiftstore"], tmp_path))) == 2


@pytest.mark.parametrize("line", ["from pman.engines import kube", "from pman.engines.kube import spec",
                                  "import pman.engines.kube.status", "import kubernetes.client"])
def test_checker_sees_the_local_engine_reaching_into_kube(tmp_path, line):
    pkg = tmp_path / "pman" / "engines" / "local"
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text(f"from pman.engines import base\n{line}\n")
    assert len(list(_violations("pman/engines/local", FORBIDDEN["pman/engines/local"], tmp_path))) == 1


def test_checker_reads_a_single_module(tmp_path):
    (tmp_path / "pman").mkdir()
    (tmp_path / "pman" / "resultdoc.py").write_text("def f():\n    from pman.publisher import cli\n")
    assert list(_violations("pman/resultdoc.py", FORBIDDEN["pman/resultdoc.py"], tmp_path)) == \
        ["pman/resultdoc.py imports pman.publisher.cli"]


def test_safearchive_needs_only_the_standard_library():
    """swiftstore, pfioh, its client and pman all import it: it must not pull anything in but
    zlib-ng, which only ``inflating`` imports (one place decides which zlib reads streams)."""
    for path in sorted((ROOT / "safearchive").rglob("*.py")):
        allowed = {"safearchive", "zlib_ng"} if path.name == "inflating.py" else {"safearchive"}
        for name in _imports(path):
            top = name.partition(".")[0]
            assert top in allowed or top in sys.stdlib_module_names, f"{path.name} imports {name}"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name is resolved to its longest module prefix)."""
    modules = {_module_name(p, root): p for pkg in packages for p in (root / pkg).rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    return {mod: {r for n in _imports(path) if (r := resolve(n)) and r != mod} for mod, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` (``[a, b, a]``), or ``[]``."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(mod: str) -> list[str]:
        state[mod] = "open"
        stack.append(mod)
        for dep in sorted(graph[mod]):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        state[mod] = "done"
        stack.pop()
        return []

    for mod in sorted(graph):
        if mod not in state and (found := visit(mod)):
            return found
    return []


def test_no_import_cycles():
    assert _cycle(_import_graph(ROOT)) == []


def test_cycle_checker_sees_the_old_pfioh_stores_circle(tmp_path):
    """The layout before pfioh/stores/ became a package: stores <-> mount_store (lazily, in a function)."""
    pkg = tmp_path / "pfioh"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "stores.py").write_text("def make_store():\n    from pfioh import mount_store\n")
    (pkg / "mount_store.py").write_text("from pfioh import errors, stores\n")
    (pkg / "errors.py").write_text("")
    assert _cycle(_import_graph(tmp_path, ("pfioh",))) == ["pfioh.mount_store", "pfioh.stores", "pfioh.mount_store"]


# ----------------------------------------------------------------------------- the tests' own imports

TESTS_SHARED = ("tests.support", "tests.fixtures")


def _from_module(package: list[str], node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` reads, a relative one resolved against ``package``."""
    if not node.level:
        return node.module or ""
    return ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))


def _absolute_imports(path: Path, root: Path):
    """Every name ``path`` imports, relative imports (``from .conftest import x``) resolved."""
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield from (f"{_from_module(package, node)}.{alias.name}" for alias in node.names)


def _test_import_violations(root: Path = ROOT):
    for path in sorted((root / "tests").rglob("*.py")):
        for name in _absolute_imports(path, root):
            if name.startswith("tests.") and not name.startswith(tuple(s + "." for s in TESTS_SHARED)):
                yield f"{path.relative_to(root)} imports {name}"


def test_tests_import_only_the_support_package_and_the_fixtures():
    assert list(_test_import_violations()) == []


def test_test_import_checker_sees_tests_importing_each_other(tmp_path):
    files = {
        "tests/unit/deploy/test_a.py": "from tests.unit.deploy.test_b import helper\nfrom tests.support import trees\n",
        "tests/unit/deploy/test_b.py": "from .conftest import ROOT\nfrom . import kustomize\n",
        "tests/unit/deploy/conftest.py": "import tests.unit.deploy.test_a\nfrom tests.fixtures.swift import *\n",
        "tests/support/helpers.py": "def f():\n    from tests.images.conftest import TOKEN\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert sorted(_test_import_violations(tmp_path)) == [
        "tests/support/helpers.py imports tests.images.conftest.TOKEN",
        "tests/unit/deploy/conftest.py imports tests.unit.deploy.test_a",
        "tests/unit/deploy/test_a.py imports tests.unit.deploy.test_b.helper",
        "tests/unit/deploy/test_b.py imports tests.unit.deploy.conftest.ROOT",
        "tests/unit/deploy/test_b.py imports tests.unit.deploy.kustomize",
    ]


# ----------------------------------------------------------------------------- sys.path

def _path_edits(root: Path, folders=("tools", "benchmarks", "tests", "scripts", *PACKAGES)):
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Attribute) and node.attr == "path" and \
                        isinstance(node.value, ast.Name) and node.value.id == "sys":
                    yield f"{path.relative_to(root)}:{node.lineno}"


def test_no_module_edits_sys_path():
    assert list(_path_edits(ROOT)) == []


def test_path_edit_checker_sees_an_insert(tmp_path):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "quickstart.py").write_text("import sys\nsys.path.insert(1, '..')\nprint(sys.argv)\n")
    assert list(_path_edits(tmp_path, ("tools",))) == ["tools/quickstart.py:2"]
