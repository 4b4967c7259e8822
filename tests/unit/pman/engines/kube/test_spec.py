"""The Job spec builder: each piece, then the whole manifest against golden files and the schema.

Goldens live in tests/golden/; ``UPDATE_GOLDEN=1`` rewrites them (review the diff), otherwise
the built manifests must equal them exactly.
"""
import json
import os
import re
from pathlib import Path

import kubernetes_validate
import pytest

from pman.engines import base
from pman.engines.kube import settings as kubesettings, spec

K8S_VERSIONS = ("1.37.0", "1.30.0")  # kubernetes-validate==1.37.0 ships both; 1.30 ~ OpenShift 4.17
GOLDEN = Path(__file__).resolve().parents[4] / "golden"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")

JOB = base.JobSpec(jid="chris-jid-42", image="ghcr.io/fnndsc/pl-simpledsapp:2.1.0",
                   command=("simpledsapp", "--prefix", "le", "/share/incoming", "/share/outgoing"),
                   resources=base.Resources(cpu_limit="1000m", memory_limit="200Mi"), auid="chris")
GPU_JOB = base.JobSpec(jid="chris-jid-43", image="ghcr.io/fnndsc/pl-gpu:1.0", command=("gpu", "/in", "/out"),
                       resources=base.Resources(number_of_workers=2, cpu_limit="2", memory_limit="4Gi",
                                                gpu_limit=2),
                       env={"SEED": "7", "CPU_LIMIT": "overridden"}, incoming_dir="/in", outgoing_dir="/out")
HARDENED = kubesettings.KubeSettings(namespace="radiology", publisher_image="quay.io/chris/publisher:0.1.0",
                                     image_pull_policy="Always", processor_run_as_non_root=True,
                                     processor_run_as_user=1001, publisher_run_as_user=1001, fs_group=1001,
                                     share_size_limit="5Gi", ttl_seconds_after_finished=600,
                                     active_deadline_seconds=7200, storage_layout="archive")
CASES = {"job_default": (JOB, kubesettings.KubeSettings()), "job_gpu_hardened": (GPU_JOB, HARDENED)}


def containers(job):
    pod = job["spec"]["template"]["spec"]
    return {c["name"]: c for c in pod["initContainers"] + pod["containers"]}


def env_of(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# ---------------------------------------------------------------- pieces

def test_init_container_gets_the_input_with_the_key_and_dirs():
    init = spec._init_container(GPU_JOB, kubesettings.KubeSettings())
    assert init["image"] == kubesettings.KubeSettings().publisher_image
    assert init["args"] == ["get"]
    env = env_of(init)
    assert (env["SWIFT_KEY"], env["INCOMING_DIR"], env["OUTGOING_DIR"]) == ("chris-jid-43", "/in", "/out")
    assert env["OUTGOING_MODE"] == "0777", "the processor may run as another user than the publisher"
    assert {m["name"]: m.get("readOnly", False) for m in init["volumeMounts"]} == {"share": False,
                                                                                   "swift-credentials": True}


def test_processor_has_limits_and_equal_requests_but_no_gpu_by_default():
    proc = spec._processor_container(JOB, kubesettings.KubeSettings())
    assert proc["command"] == list(JOB.command)
    assert proc["resources"]["limits"] == {"cpu": "1000m", "memory": "200Mi"}
    assert proc["resources"]["requests"] == proc["resources"]["limits"]
    assert not any(k.startswith("NVIDIA_") for k in env_of(proc))
    assert [m["name"] for m in proc["volumeMounts"]] == ["share"]  # no credentials, no token


def test_processor_gpu_resources_and_nvidia_env():
    proc = spec._processor_container(GPU_JOB, kubesettings.KubeSettings())
    assert proc["resources"]["limits"]["nvidia.com/gpu"] == "2"
    env = env_of(proc)
    assert env["NVIDIA_VISIBLE_DEVICES"] == "all" and env["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
    assert env["NUMBER_OF_WORKERS"] == "2" and env["SEED"] == "7"
    assert env["CPU_LIMIT"] == "overridden"  # the request's own variables win


def test_publish_container_waits_and_knows_its_pod():
    pub = spec._publish_container(JOB, kubesettings.KubeSettings())
    assert pub["args"] == ["put", "--wait"]
    env = env_of(pub)
    assert env["SWIFT_KEY"] == "chris-jid-42" and env["PROCESSOR_CONTAINER"] == "processor"
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    mounts = {m["mountPath"]: m for m in pub["volumeMounts"]}
    assert mounts["/etc/swift"]["readOnly"] and mounts[kubesettings.SA_MOUNT]["readOnly"]


def test_the_publisher_is_told_not_to_compress_only_when_so_configured():
    assert "SWIFT_COMPRESS" not in env_of(spec._publish_container(JOB, kubesettings.KubeSettings()))
    off = kubesettings.KubeSettings(publisher_compress=False)
    assert env_of(spec._publish_container(JOB, off))["SWIFT_COMPRESS"] == "off"
    assert "SWIFT_COMPRESS" not in env_of(spec._init_container(JOB, off))  # get has nothing to compress


@pytest.mark.parametrize("maker", [spec._init_container, spec._processor_container, spec._publish_container])
def test_every_container_is_locked_down(maker):
    ctx = maker(JOB, kubesettings.KubeSettings())["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"] == {"drop": ["ALL"]}


def test_every_container_is_non_root_by_default_and_the_processor_can_opt_out():
    """Pod Security 'restricted' (the shipped namespaces) needs runAsNonRoot on every container."""
    default, hardened = kubesettings.KubeSettings(), HARDENED
    for maker in (spec._init_container, spec._processor_container, spec._publish_container):
        assert maker(JOB, default)["securityContext"]["runAsNonRoot"] is True
        assert "runAsUser" not in maker(JOB, default)["securityContext"]  # the image's, or the SCC's
    root_ok = kubesettings.KubeSettings(processor_run_as_non_root=False)
    assert "runAsNonRoot" not in spec._processor_container(JOB, root_ok)["securityContext"]
    proc = spec._processor_container(JOB, hardened)["securityContext"]
    assert proc["runAsNonRoot"] is True and proc["runAsUser"] == 1001


def test_volumes_share_secret_and_token_only_for_the_publisher():
    vols = {v["name"]: v for v in spec._volumes(HARDENED)}
    assert vols["share"] == {"name": "share", "emptyDir": {"sizeLimit": "5Gi"}}
    assert vols["swift-credentials"]["secret"]["secretName"] == "swift-credentials"
    sources = vols["kube-api-access"]["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["path"] == "token"
    job = spec.build_job(JOB, HARDENED)
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    with_token = [n for n, c in containers(job).items()
                  if any(m["name"] == "kube-api-access" for m in c["volumeMounts"])]
    assert with_token == ["publish"]


def test_job_level_policy_and_labels():
    job = spec.build_job(JOB, HARDENED)
    s = job["spec"]
    assert (s["backoffLimit"], s["activeDeadlineSeconds"], s["ttlSecondsAfterFinished"]) == (0, 7200, 600)
    assert s["template"]["spec"]["restartPolicy"] == "Never"
    assert s["template"]["spec"]["serviceAccountName"] == "pman-publisher"
    assert s["template"]["spec"]["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"},
                                                        "fsGroup": 1001}
    want = {"app": "pman-job", "job-origin": "pman", "jid": "chris-jid-42"}
    assert job["metadata"]["labels"] == want == s["template"]["metadata"]["labels"]
    assert job["metadata"]["namespace"] == "radiology" and job["metadata"]["name"] == "chris-jid-42"


def test_an_instance_label_marks_the_job_and_its_pods_for_this_pmans_cache():
    from dataclasses import replace
    job = spec.build_job(JOB, replace(HARDENED, instance_label="pman-a"))
    want = {"app": "pman-job", "job-origin": "pman", "jid": "chris-jid-42", kubesettings.INSTANCE_LABEL: "pman-a"}
    assert job["metadata"]["labels"] == want == job["spec"]["template"]["metadata"]["labels"]
    selector = dict(t.split("=") for t in kubesettings.scope_selector(replace(HARDENED, instance_label="pman-a"))
                    .split(","))
    assert selector.items() <= want.items()


@pytest.mark.parametrize("jid", ["Chris-Jid-1", "jid_1", "a.b", "-x", "x-", "a" * 64, ""])
def test_a_jid_that_cannot_be_a_job_name_is_a_400(jid):
    with pytest.raises(base.EngineError) as err:
        spec.build_job(base.JobSpec(jid=jid, image="i", command=("c",)), kubesettings.KubeSettings())
    assert err.value.status_code == 400 and "lowercase letters, digits" in str(err.value)


def test_longest_valid_jid_is_accepted():
    assert spec.build_job(base.JobSpec(jid="a" * 63, image="i", command=("c",)),
                          kubesettings.KubeSettings())["metadata"]["name"] == "a" * 63


# ---------------------------------------------------------------- the whole manifest

@pytest.mark.parametrize("case", sorted(CASES))
def test_manifest_matches_its_golden_file(case):
    built = spec.build_job(*CASES[case])
    path = GOLDEN / f"{case}.json"
    text = json.dumps(built, indent=2) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"no golden {path}: run with UPDATE_GOLDEN=1 and review it"
    assert json.loads(path.read_text()) == built


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_manifest_is_valid_kubernetes_strictly(case, version):
    kubernetes_validate.validate(spec.build_job(*CASES[case]), version, strict=True)


def test_validator_catches_a_misspelt_field():
    job = spec.build_job(*CASES["job_default"])
    job["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSIONS[0], strict=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_manifest_names_and_references_are_consistent(case):
    """What the schema cannot check: names, label values, and mounts naming declared volumes."""
    job = spec.build_job(*CASES[case])
    pod = job["spec"]["template"]["spec"]
    names = [c["name"] for c in pod["initContainers"] + pod["containers"]]
    assert len(set(names)) == len(names) and all(DNS_LABEL.match(n) for n in names)
    volumes = {v["name"] for v in pod["volumes"]}
    for c in pod["initContainers"] + pod["containers"]:
        mounts = [m["name"] for m in c["volumeMounts"]]
        assert set(mounts) <= volumes and len(set(m["mountPath"] for m in c["volumeMounts"])) == len(mounts)
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert all(LABEL_VALUE.match(v) for v in labels.values())
    assert all(containers(job)[n]["image"] for n in names)
