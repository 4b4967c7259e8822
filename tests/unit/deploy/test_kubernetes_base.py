"""The kustomize base in kubernetes/: valid objects, the same containers and RBAC as the templates."""
import kubernetes_validate
import pytest

from tests.support.deploy import kustomize
from tests.support.deploy.manifests import K8S_VERSION, KUBERNETES, container, find, pod_spec, rendered

NAMESPACE = "chris-compute"
# Plain Kubernetes has no SCC to give the processor a UID: the base sets one (docs/deploy-openshift.md).
KUBERNETES_ONLY_ENV = {"pman": [("PMAN_JOB_PROCESSOR_RUN_AS_USER", "1001", None)], "pfioh": []}
SAME_CONTAINER_FIELDS = ("command", "args", "ports", "livenessProbe", "readinessProbe", "resources",
                         "securityContext", "volumeMounts", "imagePullPolicy")


def test_every_object_validates(kustomized):
    assert kustomized
    for obj in kustomized:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_every_object_lands_in_the_namespace(kustomized):
    find(kustomized, "Namespace", NAMESPACE)
    for obj in kustomized:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]
        for subject in obj.get("subjects", []):
            assert subject["namespace"] == NAMESPACE


def test_namespace_enforces_the_restricted_pod_security_standard(kustomized):
    labels = find(kustomized, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_builder_refuses_fields_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\npatches: []\n")
    with pytest.raises(kustomize.KustomizeError, match="patches"):
        kustomize.build(tmp_path)


def test_image_tags_are_set(kustomized):
    images = {container(d)["image"] for d in kustomized if d["kind"] == "Deployment"}
    assert images == {"docker.io/fnndsc/pfioh:0.1.0", "docker.io/fnndsc/pman:0.1.0"}


@pytest.mark.parametrize("name", ["pfioh", "pman"])
def test_containers_match_the_openshift_templates(kustomized, name):
    ours = find(kustomized, "Deployment", name)
    theirs = find(rendered(name), "Deployment", name)
    for field in SAME_CONTAINER_FIELDS:
        assert container(ours).get(field) == container(theirs).get(field), field
    assert container(ours)["image"] == container(theirs)["image"]
    env = lambda d: [(e["name"], e.get("value"), e.get("valueFrom")) for e in container(d).get("env", [])]
    assert [e for e in env(ours) if e not in KUBERNETES_ONLY_ENV[name]] == env(theirs)
    assert all(e in env(ours) for e in KUBERNETES_ONLY_ENV[name])
    assert pod_spec(ours)["volumes"] == pod_spec(theirs)["volumes"]
    assert pod_spec(ours).get("serviceAccountName") == pod_spec(theirs).get("serviceAccountName")


@pytest.mark.parametrize("name", ["pfioh", "pman"])
def test_pods_run_as_the_image_user_without_an_scc(kustomized, name):
    context = pod_spec(find(kustomized, "Deployment", name))["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] == 1001
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("template,kinds", [("pman", ("Role", "RoleBinding", "ServiceAccount")),
                                            ("publisher-rbac", ("Role", "RoleBinding", "ServiceAccount"))])
def test_rbac_matches_the_openshift_templates(kustomized, template, kinds):
    for kind in kinds:
        theirs = find(rendered(template), kind)
        ours = find(kustomized, kind, theirs["metadata"]["name"])
        for field in ("rules", "roleRef"):
            assert ours.get(field) == theirs.get(field)
        assert [s["name"] for s in ours.get("subjects", [])] == [s["name"] for s in theirs.get("subjects", [])]


def test_services_match(kustomized):
    for name in ("pfioh", "pman"):
        assert find(kustomized, "Service", name)["spec"] == find(rendered(name), "Service", name)["spec"]


def test_base_has_no_openshift_only_kinds(kustomized):
    assert not {o["kind"] for o in kustomized} & {"Route", "Template", "DeploymentConfig"}
    assert KUBERNETES.joinpath("kustomization.yaml").is_file()
