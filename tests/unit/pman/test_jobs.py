"""Parsing both request forms into JobSpec, and rejecting bad input naming the fields."""
import pytest

from pman import jobs
from pman.engines import base

PFCON_META = {
    "cmd": "python3 /usr/local/bin/simplefsapp --dir /share/incoming /share/incoming /share/outgoing",
    "threaded": True, "auid": "chris", "jid": "chris-jid-7", "number_of_workers": "1",
    "cpu_limit": "1000m", "memory_limit": "200Mi", "gpu_limit": 0,
    "container": {"target": {"image": "fnndsc/pl-simplefsapp", "cmdParse": False, "selfexec": "simplefsapp",
                             "selfpath": "/usr/local/bin", "execshell": "python3"},
                  "manager": {"image": "fnndsc/swarm", "app": "swarm.py", "env": {"meta-store": "key"}}},
    "service": "host",
}


def test_pfcon_run_meta():
    spec = jobs.from_run_meta(PFCON_META)
    assert spec.jid == "chris-jid-7"
    assert spec.image == "fnndsc/pl-simplefsapp"
    assert spec.command == ("python3", "/usr/local/bin/simplefsapp", "--dir", "/share/incoming",
                            "/share/incoming", "/share/outgoing")
    assert spec.resources == base.Resources(number_of_workers=1, cpu_limit="1000m", memory_limit="200Mi", gpu_limit=0)
    assert (spec.incoming_dir, spec.outgoing_dir) == ("/share/incoming", "/share/outgoing")
    assert spec.auid == "chris"


def test_missing_fields_are_all_named():
    with pytest.raises(jobs.RequestError) as e:
        jobs.from_run_meta({"threaded": True})
    assert e.value.fields == ["meta.jid", "meta.cmd"]
    assert "meta.jid: missing" in str(e.value)


@pytest.mark.parametrize("field,value", [
    ("cpu_limit", "abc"), ("cpu_limit", "-1"), ("cpu_limit", "0"), ("memory_limit", "lots"),
    ("memory_limit", "200Xi"), ("gpu_limit", -1), ("gpu_limit", "x"), ("number_of_workers", 0),
    ("number_of_workers", True),
])
def test_bad_resources(field, value):
    with pytest.raises(jobs.RequestError) as e:
        jobs.from_run_meta({**PFCON_META, field: value})
    assert e.value.fields == [f"meta.{field}"]
    assert e.value.status == 400


@pytest.mark.parametrize("value", ["2", "0.5", "250m", 2])
def test_good_cpu(value):
    assert jobs.from_run_meta({**PFCON_META, "cpu_limit": value}).resources.cpu_limit == str(value)


@pytest.mark.parametrize("jid", ["../etc", "a/b", "", ".hidden", "x" * 201, 7, "a b"])
def test_bad_jid(jid):
    with pytest.raises(jobs.RequestError) as e:
        jobs.from_run_meta({**PFCON_META, "jid": jid})
    assert e.value.fields == ["meta.jid"]


def test_unbalanced_quotes_are_a_400():
    with pytest.raises(jobs.RequestError) as e:
        jobs.from_run_meta({**PFCON_META, "cmd": "echo 'oops /share/incoming /share/outgoing"})
    assert e.value.fields == ["meta.cmd"]


@pytest.mark.parametrize("cmd,expected", [
    ("echo 'a b' /share/incoming /share/outgoing", ("echo", "a b", "/share/incoming", "/share/outgoing")),
    ("sleep 1; echo hi", ("/bin/sh", "-c", "sleep 1; echo hi")),
    ("cat x | wc -l", ("/bin/sh", "-c", "cat x | wc -l")),
    ("echo $HOME", ("/bin/sh", "-c", "echo $HOME")),
    ("echo 'a;b'", ("echo", "a;b")),
])
def test_split_command_uses_a_shell_only_for_shell_syntax(cmd, expected):
    assert jobs.split_command(cmd) == expected


def test_io_dirs_from_the_last_two_tokens():
    spec = jobs.from_run_meta({**PFCON_META, "cmd": "app /data/in /data/out"})
    assert (spec.incoming_dir, spec.outgoing_dir) == ("/data/in", "/data/out")
    spec = jobs.from_run_meta({**PFCON_META, "cmd": "true"})
    assert (spec.incoming_dir, spec.outgoing_dir) == ("/share/incoming", "/share/outgoing")


@pytest.mark.parametrize("meta", [{"key": "jid", "value": "j1"}, {"remote": {"key": "j1"}}, {"jid": "j1"}])
def test_jid_from_status_meta(meta):
    assert jobs.jid_from(meta) == "j1"


def test_jid_from_missing_or_bad():
    with pytest.raises(jobs.RequestError):
        jobs.jid_from({"key": "jid"})
    with pytest.raises(jobs.RequestError):
        jobs.jid_from({"remote": {"key": "../x"}})


def test_rest_body_entrypoint_args_env_resources():
    spec = jobs.from_rest_body({"jid": "r1", "image": "busybox", "entrypoint": ["cp"],
                                "args": ["-r", "/share/incoming", "/share/outgoing"],
                                "resources": {"cpu_limit": "2", "memory_limit": "1Gi", "gpu_limit": 1},
                                "env": ["A=1", "B=x=y"]})
    assert spec.command == ("cp", "-r", "/share/incoming", "/share/outgoing")
    assert spec.resources.cpu_limit == "2" and spec.resources.gpu_limit == 1
    assert dict(spec.env) == {"A": "1", "B": "x=y"}


def test_rest_body_cmd_string_and_defaults():
    defaults = base.Resources(cpu_limit="500m", memory_limit="300Mi")
    spec = jobs.from_rest_body({"jid": "r2", "image": "i", "cmd": "echo hi"}, defaults)
    assert spec.command == ("echo", "hi")
    assert spec.resources == defaults


def test_rest_body_errors_name_every_field():
    with pytest.raises(jobs.RequestError) as e:
        jobs.from_rest_body({"jid": "a/b", "entrypoint": "not-a-list", "env": {"1BAD": "x"},
                             "resources": {"memory_limit": "abc"}, "output_dir": "relative"})
    assert set(e.value.fields) == {"jid", "image", "entrypoint", "resources.memory_limit", "env", "output_dir"}


def test_rest_body_needs_a_command():
    with pytest.raises(jobs.RequestError) as e:
        jobs.from_rest_body({"jid": "r3", "image": "i"})
    assert e.value.fields == ["entrypoint"]
    with pytest.raises(jobs.RequestError):
        jobs.from_rest_body(["not", "an", "object"])


def test_nul_characters_are_refused():
    with pytest.raises(jobs.RequestError) as e:
        jobs.from_run_meta({**PFCON_META, "cmd": "echo a\x00b"})
    assert e.value.fields == ["meta.cmd"]
    with pytest.raises(jobs.RequestError) as e:
        jobs.from_rest_body({"jid": "r", "image": "i", "entrypoint": ["echo", "a\x00"]})
    assert e.value.fields == ["cmd"]
