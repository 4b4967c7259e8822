"""Every template in openshift/ is well-formed, renders, and yields objects a cluster accepts."""
import kubernetes_validate
import pytest

from tests.support.deploy import schemas, templates
from tests.support.deploy.manifests import (K8S_VERSION, NAMESPACE, TEMPLATE_FILES, container, find,
                                        pod_spec, rendered)

OPENSHIFT_KINDS = {"Route": schemas.ROUTE}
NAMES = [path.name for path in TEMPLATE_FILES]


def test_the_expected_templates_exist():
    assert set(NAMES) >= {"pfioh-template.yaml", "pman-template.yaml", "publisher-rbac-template.yaml"}


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=NAMES)
def test_template_structure(path):
    schemas.check(templates.load(path), schemas.TEMPLATE)


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=NAMES)
def test_parameters_are_declared_once_and_all_used(path):
    template = templates.load(path)
    declared = [p["name"] for p in template["parameters"]]
    assert len(declared) == len(set(declared)), "duplicate parameter"
    used = templates.references([template["objects"], template.get("labels", {})])
    assert used <= set(declared), f"undeclared: {used - set(declared)}"
    assert set(declared) <= used, f"never used: {set(declared) - used}"


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=NAMES)
def test_namespace_is_required_and_applied_to_every_object(path):
    template = templates.load(path)
    with pytest.raises(templates.TemplateError, match="NAMESPACE is required"):
        templates.process(template)
    for obj in templates.process(template, {"NAMESPACE": NAMESPACE}):
        assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]
        for subject in obj.get("subjects", []):
            assert subject["namespace"] == NAMESPACE


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=NAMES)
def test_rendered_objects_validate(path):
    objects = templates.process(templates.load(path), {"NAMESPACE": NAMESPACE})
    assert objects
    for obj in objects:
        if obj["kind"] in OPENSHIFT_KINDS:
            schemas.check(obj, OPENSHIFT_KINDS[obj["kind"]])
        else:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_a_misspelt_field_fails_validation():
    """The validation above is strict: it would catch a typo in a template."""
    deployment = find(rendered("pfioh"), "Deployment")
    container(deployment)["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolcy"):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    route = find(rendered("pfioh"), "Route")
    route["spec"]["tls"]["termination"] = "edgy"
    with pytest.raises(Exception, match="edgy"):
        schemas.check(route, schemas.ROUTE)


def test_parameters_reach_the_objects():
    objects = rendered("pfioh", PFIOH_REPLICAS="3", PFIOH_IMAGE="quay.io/me/pfioh", PFIOH_IMAGE_TAG="dev",
                       PFIOH_MEMORY_LIMIT="4Gi", SWIFT_CREDENTIALS_SECRET="my-swift", ROUTE_HOST="io.example.org")
    deployment = find(objects, "Deployment", "pfioh")
    assert deployment["spec"]["replicas"] == 3
    assert container(deployment)["image"] == "quay.io/me/pfioh:dev"
    assert container(deployment)["resources"]["limits"]["memory"] == "4Gi"
    secrets = {v["secret"]["secretName"] for v in pod_spec(deployment)["volumes"] if "secret" in v}
    assert "my-swift" in secrets
    assert find(objects, "Route")["spec"]["host"] == "io.example.org"
    for obj in objects:
        if obj["kind"] != "Route":
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize("name,kinds", [
    ("pfioh", {"Deployment", "Service", "Route"}),
    ("pman", {"Deployment", "Service", "Route", "ServiceAccount", "Role", "RoleBinding"}),
    ("publisher-rbac", {"ServiceAccount", "Role", "RoleBinding"}),
    ("auth-secrets", {"Secret"}),
])
def test_each_template_has_its_objects(name, kinds):
    assert {obj["kind"] for obj in rendered(name)} == kinds


@pytest.mark.parametrize("name", ["pfioh", "pman"])
def test_services_use_apps_v1_deployments_with_probes_and_resources(name):
    deployment = find(rendered(name), "Deployment", name)
    assert deployment["apiVersion"] == "apps/v1"
    main = container(deployment)
    # liveness stays shallow; readiness checks the dependencies (Swift, the cluster API)
    assert main["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert main["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    assert set(main["resources"]["requests"]) == set(main["resources"]["limits"]) == {"cpu", "memory"}


@pytest.mark.parametrize("name", ["pfioh", "pman"])
def test_pods_fit_the_restricted_scc(name):
    """No fixed UID/GID (the SCC assigns them), non-root, no privileges, seccomp RuntimeDefault."""
    spec = pod_spec(find(rendered(name), "Deployment", name))
    assert spec["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    for c in spec["containers"]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert not {"runAsUser", "runAsGroup", "privileged"} & set(sc)
    assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec)
    assert all("hostPath" not in v for v in spec["volumes"])


@pytest.mark.parametrize("name", ["pfioh", "pman"])
def test_read_only_root_has_writable_scratch(name):
    """With a read-only root file system, /tmp (gunicorn, tempfile) must be a volume."""
    main = container(find(rendered(name), "Deployment", name))
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/tmp" in {m["mountPath"] for m in main["volumeMounts"] if not m.get("readOnly")}


def test_pman_role_is_limited_to_jobs_and_pods_in_its_namespace():
    objects = rendered("pman")
    role = find(objects, "Role", "pman")
    rules = {(group, resource): set(rule["verbs"])
             for rule in role["rules"] for group in rule["apiGroups"] for resource in rule["resources"]}
    assert rules == {
        ("batch", "jobs"): {"create", "get", "list", "watch", "delete"},
        ("", "pods"): {"get", "list", "watch"},
        ("", "pods/log"): {"get", "list", "watch"},
        ("", "events"): {"get", "list"},  # the only trace of a pod the cluster refuses to create
    }
    binding = find(objects, "RoleBinding", "pman")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pman"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pman", "namespace": NAMESPACE}]
    assert pod_spec(find(objects, "Deployment", "pman"))["serviceAccountName"] == "pman"
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]


def test_publisher_role_reads_pods_only():
    objects = rendered("publisher-rbac")
    account = find(objects, "ServiceAccount")["metadata"]["name"]
    assert find(objects, "Role")["rules"] == [{"apiGroups": [""], "resources": ["pods"],
                                               "verbs": ["get", "list", "watch"]}]
    binding = find(objects, "RoleBinding")
    assert binding["roleRef"]["name"] == find(objects, "Role")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]


def test_pfioh_does_not_get_a_kubernetes_token():
    assert pod_spec(find(rendered("pfioh"), "Deployment"))["automountServiceAccountToken"] is False


def test_generated_tokens_are_random_and_land_in_token_files():
    first = {s["metadata"]["name"]: s for s in rendered("auth-secrets")}
    second = {s["metadata"]["name"]: s for s in rendered("auth-secrets")}
    pfioh_cfg = first["pfioh-config"]["stringData"]["pfioh_config.cfg"]
    assert pfioh_cfg.startswith("[AUTH TOKENS]\ntoken = ")
    assert len(pfioh_cfg.split("= ", 1)[1].strip()) == 40
    assert pfioh_cfg != second["pfioh-config"]["stringData"]["pfioh_config.cfg"]
    assert "pman_config.cfg" in first["pman-config"]["stringData"]


def test_default_image_tags_are_the_package_version():
    from swiftstore.version import VERSION as version
    from tests.support.deploy import kustomize
    from tests.support.deploy.manifests import KUBERNETES, template_default
    assert template_default("pfioh", "PFIOH_IMAGE_TAG") == template_default("pman", "PMAN_IMAGE_TAG") == version
    assert kustomize.split_image(template_default("pman", "PUBLISHER_IMAGE"))[1] == version
    images = kustomize.yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["images"]
    assert {image["newTag"] for image in images} == {version}
