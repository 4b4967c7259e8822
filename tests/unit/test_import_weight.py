"""What each process imports, so idle memory cannot silently grow back (benchmarks/bench_memory.py
measures it; docs in benchmarks/README.md, "memory").

- ``import swiftstore`` (and its ``version`` and ``errors``, which pfioh's and pman's CLIs and
  pfioh's app import) loads none of python-swiftclient, requests, keystoneauth1;
- pfioh's gunicorn master (``pfioh.cli.main`` up to gunicorn) loads neither the app's libraries
  (Flask, prometheus_client) nor Swift's, in either mode; the workers load what their mode needs;
- a Swift-mode worker never loads python-keystoneclient (installed here by the dev requirements),
  and with Keystone credentials loads keystoneauth1 only when it connects.

Each check runs in a fresh interpreter: sys.modules of the pytest process says nothing.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SWIFT_LIBS = ["keystoneauth1", "keystoneclient", "requests", "swiftclient"]
APP_LIBS = ["flask", "prometheus_client", "werkzeug"]
KEYSTONE_PASSWORD = """[AUTHORIZATION]
osAuthUrl = https://keystone.example.org:5000/v3
username = chris
password = secret

[PROJECT]
osProjectDomain = default
osProjectName = radiology
"""
TEMPAUTH = """[AUTHORIZATION]
osAuthUrl = http://127.0.0.1:18080/auth/v1.0

[TEMPAUTH]
user = test:tester
key = testing
"""
# Runs pfioh's main() with gunicorn replaced by a recorder, then what a worker does with the app
# factory (build the app), then (Swift mode) what a first Swift request does (make a connection).
# Prints which of the watched libraries are loaded after each step.
PFIOH_STEPS = r"""
import json, sys
from httpkit import serve
watched = json.loads(sys.argv[1])
loaded = lambda: sorted(m for m in watched if m in sys.modules)
started = {}
serve.run = lambda factory, **options: started.update(factory=factory)
from pfioh import cli
assert cli.main(sys.argv[2:]) == 0, "pfioh did not get to gunicorn"
steps = {"master": loaded()}
app = started["factory"]()
steps["worker"] = loaded()
if "--swift-credentials" in sys.argv:
    from swiftstore import connection, credentials
    creds = credentials.load_credentials(sys.argv[sys.argv.index("--swift-credentials") + 1])
    connection.factory(creds, retries=0)()
    steps["connected"] = loaded()
print(json.dumps(steps))
"""


def _run(code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.splitlines()[-1])


def _pfioh(tmp_path: Path, *flags: str) -> dict:
    return _run(PFIOH_STEPS, json.dumps(SWIFT_LIBS + APP_LIBS), "--forever", "--storeBase",
                str(tmp_path / "store"), *flags)


def test_keystoneclient_is_installed_here():
    """The worker's check below means something only where keystoneclient could be imported."""
    assert importlib.util.find_spec("keystoneclient") is not None, "requirements/dev.txt installs it"


def test_swiftstore_version_and_errors_import_no_swift_library():
    found = _run("import json, sys\nimport swiftstore, swiftstore.version, swiftstore.errors\n"
                 "before = sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)\n"
                 "swiftstore.SwiftStore\n"
                 "print(json.dumps([before, sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)]))",
                 json.dumps(SWIFT_LIBS))
    assert found[0] == []
    assert "swiftclient" in found[1]  # the public names still work, loading what they need on use


def test_mount_mode_master_and_worker(tmp_path):
    steps = _pfioh(tmp_path)
    assert steps["master"] == []
    assert steps["worker"] == APP_LIBS  # no Swift library at all


@pytest.mark.parametrize("form, text", [("keystone", KEYSTONE_PASSWORD), ("tempauth", TEMPAUTH)])
def test_swift_mode_master_and_worker(tmp_path, form, text):
    creds = tmp_path / "swift-credentials.cfg"
    creds.write_text(text)
    steps = _pfioh(tmp_path, "--swift-storage", "--swift-credentials", str(creds))
    assert steps["master"] == []  # it reads the credentials, and leaves Swift to the workers
    assert steps["worker"] == sorted(APP_LIBS + ["requests", "swiftclient"])
    expected = ["keystoneauth1"] if form == "keystone" else []
    assert steps["connected"] == sorted(APP_LIBS + ["requests", "swiftclient"] + expected)


def test_keystoneclient_stays_importable_after_the_worker_imported_swiftclient():
    """Hidden only while swiftclient is imported: swiftclient goes without it (as in the pfioh
    image), anything imported later that wants it gets it."""
    found = _run("import json, sys\nfrom pfioh import stores\nstores.import_swiftclient_alone()\n"
                 "import keystoneclient, swiftclient.client\n"
                 "print(json.dumps([swiftclient.client.ksclient_v3 is None, 'keystoneclient' in sys.modules]))")
    assert found == [True, True]
