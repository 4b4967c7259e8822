"""The Job that pman builds from the deployed configuration fits the rest of the deployment.

pman reads its settings from the pman template; the Job pods then need the publisher's
ServiceAccount (from the RBAC template), the Swift secret pfioh also mounts, at the same path,
and publisher commands that ``pman-swift-publisher`` accepts.
"""
import pytest

from pman import config as pman_config
from pman.engines import base
from pman.engines.kube import settings as kubesettings, spec
from pman.publisher import cli as publisher_cli
from tests.support.deploy.manifests import NAMESPACE, container, find, flags_of, pod_environment, rendered

JOB = base.JobSpec(jid="chris-jid-7", image="docker.io/fnndsc/pl-simpledsapp:2.1.0",
                   command=("simpledsapp", "/share/incoming", "/share/outgoing"))


@pytest.fixture(scope="module")
def job():
    deployment = find(rendered("pman"), "Deployment", "pman")
    config = pman_config.from_sources(flags_of(container(deployment)["args"]), pod_environment(deployment))
    return spec.build_job(JOB, config.kube)


def _containers(job):
    pod = job["spec"]["template"]["spec"]
    return {c["name"]: c for c in pod["initContainers"] + pod["containers"]}


def test_job_runs_in_the_deployed_namespace_as_the_publisher_account(job):
    rbac = rendered("publisher-rbac")
    account = find(rbac, "ServiceAccount")["metadata"]["name"]
    assert job["metadata"]["namespace"] == NAMESPACE
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == account
    binding = find(rbac, "RoleBinding")
    assert {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE} in [
        {k: s.get(k) for k in ("kind", "name", "namespace")} for s in binding["subjects"]]


def test_publisher_role_allows_what_put_wait_does(job):
    rules = find(rendered("publisher-rbac"), "Role")["rules"]
    pods = [r for r in rules if "pods" in r["resources"]]
    # wait.py reads its own pod and watches it, falling back to polling.
    assert pods and {"get", "watch"} <= set(pods[0]["verbs"])


def test_swift_secret_and_mount_match_pfioh(job):
    pfioh = find(rendered("pfioh"), "Deployment", "pfioh")
    pfioh_pod = pfioh["spec"]["template"]["spec"]
    pfioh_secret_volume = next(v for v in pfioh_pod["volumes"] if v["name"] in
                               {m["name"] for m in container(pfioh)["volumeMounts"] if m["mountPath"] == "/etc/swift"})
    job_volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    swift_volume = next(v for v in job_volumes.values() if "secret" in v)
    assert swift_volume["secret"]["secretName"] == pfioh_secret_volume["secret"]["secretName"]
    for name in (kubesettings.INIT, kubesettings.PUBLISH):
        c = _containers(job)[name]
        mount = next(m for m in c["volumeMounts"] if m["name"] == swift_volume["name"])
        assert mount["mountPath"] == "/etc/swift" and mount["readOnly"] is True
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["SWIFT_CREDENTIALS"] == "/etc/swift/swift-credentials.cfg"
    assert all(m["name"] != swift_volume["name"]
               for m in _containers(job)[kubesettings.PROCESSOR]["volumeMounts"]), "the plugin never sees Swift secrets"


def test_publisher_commands_are_ones_the_publisher_accepts(job, monkeypatch):
    monkeypatch.setenv("SWIFT_KEY", JOB.jid)
    parser = publisher_cli.build_parser()
    for name, command in ((kubesettings.INIT, "get"), (kubesettings.PUBLISH, "put")):
        args = parser.parse_args(_containers(job)[name]["args"])
        assert args.command == command and args.key == JOB.jid
    assert parser.parse_args(_containers(job)[kubesettings.PUBLISH]["args"]).wait is True


def test_publisher_image_is_the_templates(job):
    deployment = find(rendered("pman"), "Deployment", "pman")
    image = pod_environment(deployment)["PMAN_PUBLISHER_IMAGE"]
    assert {_containers(job)[n]["image"] for n in (kubesettings.INIT, kubesettings.PUBLISH)} == {image}
