"""docs/deploy-openshift.md and the example files agree with the templates and the code."""
import re
import shlex

import pytest

from httpkit import auth
from swiftstore import credentials
from tests.support.deploy import templates
from tests.support.deploy.manifests import OPENSHIFT, ROOT, find, pod_spec, rendered

DOC = ROOT / "docs" / "deploy-openshift.md"


def shell_commands(text: str) -> list[list[str]]:
    """argv of every command in the ```sh blocks (continuations and quoted newlines joined,
    pipelines and ``&&``/``;`` lists split)."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines():
            pending += line + "\n"
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on
                continue
            commands.extend(_split_lists(pending))
            pending = ""
        assert not pending, f"unbalanced quotes in {DOC.name}: {pending!r}"
    return commands


def _split_lists(command: str) -> list[list[str]]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";|&")
    lexer.whitespace_split, lexer.commenters = True, "#"
    out, current = [], []
    for token in lexer:
        if token in (";", "|", "&&", "||", "&"):
            out.append(current)
            current = []
        else:
            current.append(token)
    return [argv for argv in out + [current] if argv]


def secret_files_used() -> set[tuple[str, str]]:
    """(secret name, key) of every secret file the Deployments mount, template defaults."""
    used = set()
    for name in ("pfioh", "pman"):
        for volume in pod_spec(find(rendered(name), "Deployment", name))["volumes"]:
            if "secret" in volume:
                used |= {(volume["secret"]["secretName"], item["key"]) for item in volume["secret"]["items"]}
    return used


def created_secrets(commands: list[list[str]]) -> set[tuple[str, str]]:
    found = set()
    for argv in commands:
        if argv[:1] in (["oc"], ["kubectl"]) and "secret" in argv and "create" in argv:
            name = argv[argv.index("generic") + 1]
            for arg in argv:
                if arg.startswith("--from-file="):
                    found.add((name, arg.split("=", 2)[1]))
    return found


@pytest.fixture(scope="module")
def commands():
    return shell_commands(DOC.read_text())


def test_documented_secrets_are_the_mounted_ones(commands):
    assert created_secrets(commands) == secret_files_used()
    assert secret_files_used() == {("swift-credentials", "swift-credentials.cfg"),
                                   ("pfioh-config", "pfioh_config.cfg"), ("pman-config", "pman_config.cfg")}


def test_documented_oc_process_calls_use_existing_templates_and_parameters(commands):
    calls = [argv for argv in commands if argv[:2] == ["oc", "process"] and "-f" in argv]
    assert {argv[argv.index("-f") + 1] for argv in calls} >= {
        "openshift/pfioh-template.yaml", "openshift/pman-template.yaml", "openshift/publisher-rbac-template.yaml"}
    for argv in calls:
        template = templates.load(ROOT / argv[argv.index("-f") + 1])
        declared = {p["name"] for p in template["parameters"]}
        given = {argv[i + 1].split("=", 1)[0] for i, a in enumerate(argv) if a == "-p"}
        assert "NAMESPACE" in given and given <= declared, (argv, given - declared)


def test_documented_files_exist(commands):
    for argv in commands:
        for arg in argv:
            if re.match(r"^(openshift|kubernetes|docker|docs)/", arg):
                pattern = re.sub(r"\$\w+", "*", arg)  # a loop variable: some file must match
                assert list(ROOT.glob(pattern)), arg


def test_every_template_parameter_in_the_doc_table_exists():
    declared = set()
    for path in OPENSHIFT.glob("*-template.yaml"):
        declared |= {p["name"] for p in templates.load(path)["parameters"]}
    listed = {name for row in re.findall(r"^\|([^|]+)\|", DOC.read_text(), re.M)
              for name in re.findall(r"`([A-Z][A-Z_]+)`", row)}
    assert len(listed) > 10 and listed <= declared, listed - declared


@pytest.mark.parametrize("example,kind", [("swift-credentials.appcred.cfg.example", "application_credential"),
                                          ("swift-credentials.password.cfg.example", "password")])
def test_swift_credentials_examples_parse_in_both_keystone_forms(example, kind):
    parsed = credentials.read_file(OPENSHIFT / example)
    assert parsed.kind == kind
    assert parsed.auth_url.startswith("https://") and parsed.auth_url.endswith("/v3")
    text = (OPENSHIFT / example).read_text()
    assert "oc create secret generic swift-credentials --from-file=swift-credentials.cfg=" in text


@pytest.mark.parametrize("service", ["pfioh", "pman"])
def test_token_examples_and_generated_secrets_are_valid_token_files(service, tmp_path):
    example = OPENSHIFT / f"{service}_config.cfg.example"
    assert len(auth.TokenStore.from_file(_as_cfg(example, tmp_path)).tokens) == 1
    secret = find(rendered("auth-secrets"), "Secret", f"{service}-config")
    generated = tmp_path / f"{service}_config.cfg"
    generated.write_text(secret["stringData"][f"{service}_config.cfg"])
    store = auth.TokenStore.from_file(generated)
    token = secret["stringData"][f"{service}_config.cfg"].split("= ", 1)[1].strip()
    assert store.check(f"bearer {token}") is auth.Verdict.ok


def _as_cfg(example, tmp_path):
    """TokenStore reads the [AUTH TOKENS] form only from a *.cfg name, as the secret key is."""
    target = tmp_path / example.name.removesuffix(".example")
    target.write_text(example.read_text())
    return target


def test_documented_pfurl_messages_are_valid_json_for_the_right_service(commands):
    import json
    actions = {}
    for argv in commands:
        if argv[0] == "pfurl":
            message = json.loads(argv[argv.index("--msg") + 1].replace("$JID", "chris-jid-1"))
            url = argv[argv.index("--http") + 1]
            service = "pman" if url.startswith("$PMAN") else "pfioh"
            assert ("--jsonwrapper" in argv) == (service == "pman"), "pman wants the payload wrapper"
            assert "--authToken" in argv
            actions[message["action"]] = (service, message["meta"])
    assert set(actions) == {"pushPath", "run", "status", "pullPath"}
    assert actions["pushPath"][1]["remote"]["key"] == actions["run"][1]["jid"] == actions["pullPath"][1]["remote"]["key"]
    assert actions["run"][1]["cmd"].split()[-2:] == ["/share/incoming", "/share/outgoing"]
