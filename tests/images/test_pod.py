"""pman's own Job, as a Pod under ``podman kube play``: init ``get`` -> processor -> publish ``put --wait``.

The Job comes from :func:`pman.engines.kube.spec.build_job` with default settings (only the
publisher image named as built here).  Its pod template becomes a Pod; what changes is only what a
cluster would supply and podman cannot:

- the Pod is named and placed as the Job controller named the recorded one (``chris-jid-50-j4n5p``
  in ``chris``), and ``POD_NAME``/``POD_NAMESPACE`` get those values (the kubelet's downward API);
- the kubelet's ``KUBERNETES_SERVICE_HOST``/``PORT`` point at the stand-in API (kube_standin.py);
- the Secret and the projected service-account volume become host directories with the same
  files (swift-credentials.cfg; token, ca.crt, namespace); the emptyDir stays an emptyDir;
- every container runs as an arbitrary UID in group 0, as OpenShift's restricted SCC makes it;
- host networking, so that the containers reach the loopback Swift and the stand-in.
"""
from __future__ import annotations

import copy
import datetime
import json
import secrets
import shutil
from pathlib import Path

import pytest
import yaml

import swiftstore
from pman import resultdoc
from pman.engines import base
from pman.engines.kube import spec as kube_spec
from pman.engines.kube.settings import INIT, PROCESSOR, PUBLISH, KubeSettings
from tests.support import podman
from tests.support.kube_standin import StandIn
from tests.support.trees import make_shared_tree, read_tree

pytestmark = pytest.mark.timeout(1800)  # the first test builds the images (minutes on a fresh machine)

ARBITRARY_UID = int(podman.OPENSHIFT_UID.split(":")[0])
INPUT = {"in/one.txt": b"one\n", "two.bin": bytes(range(256)) * 300}
# The processor (the publisher image's shell, as a stand-in plugin): copy the input, add a file.
PROCESS = "cp -R /share/incoming/. /share/outgoing/ && id -u > /share/outgoing/processed-by.txt"


def pod_from_job(job: dict, *, name: str, namespace: str, api_port: int, credentials_dir: Path,
                 token_dir: Path) -> dict:
    template = copy.deepcopy(job["spec"]["template"])
    pod_spec = template["spec"]
    pod_spec["hostNetwork"] = True
    values = {"POD_NAME": name, "POD_NAMESPACE": namespace}
    for container in pod_spec["initContainers"] + pod_spec["containers"]:
        env = [{"name": e["name"], "value": values[e["name"]]} if "valueFrom" in e else e for e in container["env"]]
        env += [{"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
                {"name": "KUBERNETES_SERVICE_PORT", "value": str(api_port)}]
        container["env"] = env
        container["securityContext"]["runAsUser"] = ARBITRARY_UID
    host_paths = {kube_spec.SWIFT_VOLUME: credentials_dir, kube_spec.TOKEN_VOLUME: token_dir}
    pod_spec["volumes"] = [{"name": v["name"], "hostPath": {"path": str(host_paths[v["name"]]), "type": "Directory"}}
                           if v["name"] in host_paths else v for v in pod_spec["volumes"]]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": template["metadata"]["labels"]},
            "spec": pod_spec}


def init_exit_code(container: str, since: str) -> int | None:
    """The exit code of a finished init container: podman removes those, its "died" event stays."""
    events = podman.run("events", "--stream=false", "--since", since, "--filter", f"container={container}",
                        "--filter", "event=died", "--format", "{{.ContainerExitCode}}", timeout=60).stdout.split()
    return int(events[-1]) if events else None


def exit_code(container: str) -> int | None:
    state = podman.run("container", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container,
                       check=False)
    if state.returncode != 0:
        return None
    status, code = state.stdout.split()
    return int(code) if status in ("exited", "stopped") else None


@pytest.fixture
def pod_files(swift, tmp_path):
    creds = tmp_path / "swift-secret"
    creds.mkdir()
    shutil.copyfile(swift.credentials_file, creds / "swift-credentials.cfg")
    token_dir = tmp_path / "serviceaccount"
    token_dir.mkdir()
    token = secrets.token_hex(16)
    (token_dir / "token").write_text(token)
    (token_dir / "namespace").write_text("chris")
    for d in (creds, token_dir):
        d.chmod(0o755)
        for f in d.iterdir():
            f.chmod(0o644)
    return creds, token_dir, token


def test_pman_job_runs_as_a_pod_from_get_through_processor_to_put_wait(images, swift, swift_connection, pod_files,
                                                                       unique_container, tmp_path):
    creds_dir, token_dir, token = pod_files
    source = tmp_path / "input"
    make_shared_tree(source, INPUT)
    with swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file)) as store:
        store.put_tree(unique_container, "input/", source)

    settings = KubeSettings(publisher_image=images["pman-swift-publisher"])
    job = kube_spec.build_job(base.JobSpec(jid=unique_container, image=images["pman-swift-publisher"],
                                           command=("sh", "-c", PROCESS)), settings)
    api_dir = tmp_path / "api"
    api_dir.mkdir()
    name_of = {}
    with StandIn(api_dir, token, lambda: exit_code(name_of[PROCESSOR])) as api:
        shutil.copyfile(api.cert, token_dir / "ca.crt")
        (token_dir / "ca.crt").chmod(0o644)
        rec = api.recording
        pod = pod_from_job(job, name=rec.pod, namespace=rec.namespace, api_port=api.port,
                           credentials_dir=creds_dir, token_dir=token_dir)
        name_of.update({c: f"{rec.pod}-{c}" for c in (INIT, PROCESSOR, PUBLISH)})
        manifest = tmp_path / "pod.yaml"
        manifest.write_text(yaml.safe_dump(pod, sort_keys=False))
        podman.run("pod", "rm", "--force", rec.pod, check=False)  # a run killed half-way
        try:
            started = datetime.datetime.now(datetime.timezone.utc).isoformat()
            podman.run("kube", "play", str(manifest), timeout=300)
            podman.wait_until(lambda: exit_code(name_of[PUBLISH]) is not None, "the publish container to exit",
                              timeout=300, interval=0.5)
            codes = {c: exit_code(name) for c, name in name_of.items() if c != INIT}
            codes[INIT] = init_exit_code(name_of[INIT], started)
            logs = {c: podman.run("logs", name, check=False) for c, name in name_of.items() if c != INIT}
        finally:
            podman.run("pod", "rm", "--force", rec.pod, check=False, timeout=120)
    report = "\n".join(f"--- {c} (exit {codes[c]}):\n{logs[c].stdout}{logs[c].stderr}" for c in logs)
    assert codes == {INIT: 0, PROCESSOR: 0, PUBLISH: 0}, report
    assert not api.problems, f"{api.problems}\n{report}"
    # put --wait asked the stand-in exactly what it asked the recorded API server.
    assert api.requests[0] == rec.read_request and rec.watch_request.split("?")[0] in api.requests[1], api.requests
    assert "terminated: exit code 0" in logs[PUBLISH].stderr, report

    back = tmp_path / "back"
    with swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file)) as store:
        store.get_tree(unique_container, "output/", back)
    assert read_tree(back) == {**INPUT, "processed-by.txt": f"{ARBITRARY_UID}\n".encode()}
    _, body = swift_connection.get_object(unique_container, resultdoc.RESULT_OBJECT)
    result = json.loads(body)
    assert result["status"] == resultdoc.SUCCESS, result
