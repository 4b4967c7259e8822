"""Every shipped configuration makes Jobs (and pods) that the namespace they land in admits.

The Pod Security Standards are published rules, so they are checked here without a cluster
(``podsecurity.py``), and the checker itself is held against the real API server's verdicts
recorded in tests/fixtures/k8s-1.36/pod-forbidden-podsecurity/: the Job it warned about (and whose
pods it refused) and the one it admitted silently.
"""
import copy

import pytest

from pman import config as pman_config
from pman.engines import base
from pman.engines.kube import settings as kubesettings, spec
from tests.support.deploy import podsecurity
from tests.support.deploy.manifests import container, find, flags_of, pod_environment, pod_spec, rendered
from tests.support.fake_kube import http, items, load

JOBS = [base.JobSpec(jid="chris-jid-7", image="docker.io/library/busybox:1.37",
                     command=("cp", "-r", "/share/incoming", "/share/outgoing")),
        base.JobSpec(jid="chris-jid-8", image="ghcr.io/fnndsc/pl-gpu:1.0", command=("gpu", "/in", "/out"),
                     resources=base.Resources(cpu_limit="2", memory_limit="4Gi", gpu_limit=1))]
RECORDED_REFUSAL = 'runAsNonRoot != true (pod or container "processor" must set securityContext.runAsNonRoot=true)'


def template(job: dict) -> dict:
    return job["spec"]["template"]


def deployed_settings(deployment: dict) -> kubesettings.KubeSettings:
    """The Job settings pman reads from a deployment's command line and environment."""
    return pman_config.from_sources(flags_of(container(deployment)["args"]), pod_environment(deployment)).kube


# ---------------------------------------------------------------- the checker against the real server

def test_the_checker_finds_what_the_api_server_refused():
    job = load("pod-forbidden-podsecurity/create-response.json")
    assert podsecurity.violations(template(job), "restricted") == [RECORDED_REFUSAL]
    warning, = [v for h, v in http("pod-forbidden-podsecurity/create-response.json")["responseHeaders"]
                if h == "Warning"]
    assert RECORDED_REFUSAL.replace('"', '\\"') in warning
    assert all(RECORDED_REFUSAL in e["message"] for e in items("pod-forbidden-podsecurity/events.json"))
    assert podsecurity.violations(template(job), "baseline") == []


def test_the_checker_admits_what_the_api_server_admitted_without_warning():
    job = load("pod-forbidden-podsecurity/create-response-processor-non-root.json")
    assert not [h for h, _v in http("pod-forbidden-podsecurity/create-response-processor-non-root.json")
                ["responseHeaders"] if h == "Warning"]
    assert podsecurity.violations(template(job), "restricted") == []


def _admitted():
    return template(load("pod-forbidden-podsecurity/create-response-processor-non-root.json"))


@pytest.mark.parametrize("change, level, words", [
    (lambda p: p["spec"].update(hostNetwork=True), "baseline", "host namespaces"),
    (lambda p: p["spec"]["containers"][0]["securityContext"].update(privileged=True), "baseline", "privileged"),
    (lambda p: p["spec"]["containers"][0]["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]), "baseline",
     "non-default capabilities"),
    (lambda p: p["spec"]["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "baseline", "hostPath"),
    (lambda p: p["spec"]["securityContext"].update(seccompProfile={"type": "Unconfined"}), "baseline",
     "Unconfined"),
    (lambda p: p["spec"]["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]), "baseline",
     "forbidden sysctls"),
    (lambda p: p["spec"]["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]), "baseline",
     "hostPort"),
    (lambda p: p["spec"]["containers"][1]["securityContext"].pop("allowPrivilegeEscalation"), "restricted",
     'allowPrivilegeEscalation != false (container "publish"'),
    (lambda p: p["spec"]["initContainers"][0]["securityContext"]["capabilities"].update(drop=[]), "restricted",
     'unrestricted capabilities (container "init"'),
    (lambda p: p["spec"]["securityContext"].pop("seccompProfile"), "restricted", "seccompProfile (pod or containers"),
    (lambda p: p["spec"]["containers"][0]["securityContext"].update(runAsUser=0), "restricted", "runAsUser=0"),
    (lambda p: p["spec"]["volumes"].append({"name": "n", "nfs": {"server": "s", "path": "/"}}), "restricted",
     "restricted volume types"),
])
def test_the_checker_catches_each_rule(change, level, words):
    pod = copy.deepcopy(_admitted())
    change(pod)
    found = podsecurity.violations(pod, level)
    assert any(words in v for v in found), found
    if level == "restricted":
        assert podsecurity.violations(pod, "baseline") == []


# ---------------------------------------------------------------- the shipped configurations

def test_pmans_own_defaults_make_restricted_jobs():
    for job in JOBS:
        assert podsecurity.violations(template(spec.build_job(job, kubesettings.KubeSettings())), "restricted") == []


def test_the_kustomize_base_jobs_are_admitted_by_its_namespace(kustomized):
    namespace = find(kustomized, "Namespace")
    level = podsecurity.enforced_level(namespace)
    assert level == "restricted"
    settings = deployed_settings(find(kustomized, "Deployment", "pman"))
    assert settings.namespace == namespace["metadata"]["name"]
    for job in JOBS:
        assert podsecurity.violations(template(spec.build_job(job, settings)), level) == []


def test_the_kustomize_base_runs_root_images_as_a_uid(kustomized):
    """No SCC assigns a UID on plain Kubernetes, and the kubelet refuses runAsNonRoot for an image
    whose USER is root (CreateContainerConfigError): the base gives the processor UID 1001."""
    settings = deployed_settings(find(kustomized, "Deployment", "pman"))
    processor = spec.build_job(JOBS[0], settings)["spec"]["template"]["spec"]["containers"][0]
    assert processor["securityContext"]["runAsNonRoot"] is True and processor["securityContext"]["runAsUser"] == 1001


def test_the_openshift_template_jobs_are_restricted_and_leave_the_uid_to_the_scc():
    settings = deployed_settings(find(rendered("pman"), "Deployment", "pman"))
    for job in JOBS:
        built = spec.build_job(job, settings)
        assert podsecurity.violations(template(built), "restricted") == []
        for _name, c in podsecurity.containers(built["spec"]["template"]["spec"]):
            assert "runAsUser" not in c["securityContext"]  # restricted-v2 assigns the project's UID


def test_the_operator_switch_lowers_the_jobs_to_baseline():
    settings = deployed_settings(find(rendered("pman", JOB_PROCESSOR_NON_ROOT="false"), "Deployment", "pman"))
    job = template(spec.build_job(JOBS[0], settings))
    assert podsecurity.violations(job, "restricted") == [RECORDED_REFUSAL]
    assert podsecurity.violations(job, "baseline") == []


def test_the_services_own_pods_are_restricted_too(kustomized):
    level = podsecurity.enforced_level(find(kustomized, "Namespace"))
    for deployment in [o for o in kustomized if o["kind"] == "Deployment"]:
        assert podsecurity.violations(deployment["spec"]["template"], level) == [], deployment["metadata"]["name"]
    for name in ("pfioh", "pman"):
        deployment = find(rendered(name), "Deployment", name)
        assert podsecurity.violations(deployment["spec"]["template"], "restricted") == [], name
        assert pod_spec(deployment)["securityContext"]["runAsNonRoot"] is True


def test_pmans_role_may_read_the_events_that_explain_a_refused_pod(kustomized):
    for objects in (kustomized, rendered("pman")):
        rules = find(objects, "Role", "pman")["rules"]
        assert any("events" in r["resources"] and {"get", "list"} <= set(r["verbs"]) for r in rules)

