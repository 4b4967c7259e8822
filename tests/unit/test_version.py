"""One version everywhere: setup.py, every command's --version, and every reply that carries one."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pfioh import app as pfioh_app
from pfioh.config import PfiohConfig
from pman import app as pman_app, config as pman_config
from swiftstore.version import VERSION
from tests.support.fake_engine import FakeEngine

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("swiftstore", "httpkit", "pfioh", "pman")


def test_the_version_is_a_release_number():
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION)


def test_setup_py_takes_it_from_the_version_module():
    proc = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    assert proc.stdout.splitlines()[-1] == VERSION


def test_no_other_version_literal_in_the_packages():
    assigned = re.compile(r"""^\s*(__version__|VERSION)\s*=\s*["']""", re.MULTILINE)
    hits = [str(path.relative_to(ROOT)) for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            if assigned.search(path.read_text())]
    assert hits == ["swiftstore/version.py"]


@pytest.mark.parametrize("module, prog", [("pfioh", "pfioh"), ("pman", "pman"),
                                          ("pman.publisher.cli", "pman-swift-publisher")])
def test_every_command_reports_it(module, prog):
    proc = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, f"{prog} {VERSION}\n")


def test_pfioh_replies_report_it(tmp_path):
    config = PfiohConfig(host="127.0.0.1", port=5055, store_base=str(tmp_path))
    client = pfioh_app.create_app(config, shutdown=lambda: None).test_client()
    hello = client.post("/api/v1/cmd/", data=json.dumps({"action": "hello", "meta": {"askAbout": "timestamp"}}),
                        headers={"Mode": "control"})
    assert hello.get_json()["stdout"]["d_ret"]["version"] == VERSION
    assert client.get("/api/v1/health").get_json()["version"] == VERSION


def test_pman_replies_report_it(tmp_path):
    config = pman_config.from_sources({"workdir": str(tmp_path)}, {})
    client = pman_app.create_app(config, engine=FakeEngine(), shutdown=lambda: None).test_client()
    hello = client.post("/api/v1/cmd", data=json.dumps({"payload": {"action": "hello", "meta": {}}}),
                        headers={"Mode": "control"})
    assert hello.get_json()["d_ret"]["version"] == VERSION
    assert client.get("/api/v1/").get_json()["server_version"] == VERSION
    assert client.get("/api/v1/health").get_json()["version"] == VERSION
    assert client.get("/api/v1/openapi.json").get_json()["info"]["version"] == VERSION
