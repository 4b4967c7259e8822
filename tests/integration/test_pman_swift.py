"""pman's local engine with the real loopback Swift: the job's container is its jid; input under
``input/`` (tree + manifest, as pfioh stores it), output published under ``output/`` by
``pman-swift-publisher``.  Success, non-zero exit, missing input, restart mid-job, delete."""
import os
import uuid

import pytest

import swiftstore

from tests.support.pman_driver import gated, pfurl, pman_argv, rest, wait_message, wait_pfurl, wait_rest




@pytest.fixture
def store(swift):
    s = swiftstore.SwiftStore.from_credentials(swiftstore.load_credentials(swift.credentials_file))
    yield s
    s.close()


@pytest.fixture
def start_pman(server_factory, swift, tmp_path):
    def start(*extra, env=None):
        return server_factory(pman_argv(tmp_path / "work", "--swift-storage", "--swift-credentials",
                                        swift.credentials_file, *extra), env=env)
    return start


@pytest.fixture
def cwd(tmp_path):
    (tmp_path / "cwd").mkdir()
    return tmp_path / "cwd"


def push_input(store, container, tmp_path, files):
    src = tmp_path / "input"
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    store.ensure_container(container)
    store.put_tree(container, "input/", src)


def test_success_publishes_the_output(start_pman, store, unique_container, tmp_path, cwd):
    push_input(store, unique_container, tmp_path, {"a.txt": "hello", "sub/b.txt": "bee"})
    server = start_pman()
    jid = unique_container
    reply = pfurl(server.url, "run", {"jid": jid, "cmd": "cp -r /share/incoming /share/outgoing",
                                      "threaded": True, "container": {"target": {"image": "busybox"}}}, cwd)
    assert reply["status"] is True
    d_ret = wait_pfurl(server.url, jid, cwd)["d_ret"]
    assert d_ret["l_status"] == ["finishedSuccessfully"], d_ret
    store.get_tree(jid, "output/", tmp_path / "out")
    assert (tmp_path / "out" / "incoming" / "a.txt").read_text() == "hello"
    assert (tmp_path / "out" / "incoming" / "sub" / "b.txt").read_text() == "bee"


@pytest.mark.skipif(os.geteuid() != 0, reason="a job user needs pman to run as root")
def test_by_default_the_processor_cannot_read_the_swift_credentials_get_and_put_use(start_pman, swift, store,
                                                                                    unique_container, tmp_path):
    """A root pman's processor runs as nobody: the credentials file (0600, pman's) and the key are out
    of its reach, while get and put (pman's user) fetch and publish with them."""
    push_input(store, unique_container, tmp_path, {"a.txt": "x"})
    secret = f"s3cret-{uuid.uuid4().hex}"  # (the SAIO's key is a common word)
    server = start_pman(env={"ST_KEY": swift.key, "OS_PASSWORD": secret})
    creds = swift.credentials_file
    script = (f"id -un > /share/outgoing/user; cp /share/incoming/a.txt /share/outgoing/; "
              f"if cat {creds}; then echo ALLOWED; else echo denied; fi > /share/outgoing/credentials 2>/dev/null; "
              f"grep -l -e {secret} -e {swift.key} /proc/[0-9]*/environ > /share/outgoing/environs 2>/dev/null; true")
    status, _ = rest(server.url, "POST", "/api/v1/", {"jid": unique_container, "image": "i",
                                                      "entrypoint": ["sh", "-c"], "args": [script]})
    assert status == 201
    job = wait_rest(server.url, unique_container)
    assert job["status"] == "finishedSuccessfully", job
    store.get_tree(unique_container, "output/", tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "a.txt").read_text() == "x"  # get and put worked, with the credentials
    assert (out / "user").read_text() == "nobody\n"
    assert (out / "credentials").read_text() == "denied\n"
    assert (out / "environs").read_text() == ""  # no environment it can read holds the key


def test_nonzero_exit_still_publishes(start_pman, store, unique_container, tmp_path):
    push_input(store, unique_container, tmp_path, {"a.txt": "x"})
    server = start_pman()
    status, _ = rest(server.url, "POST", "/api/v1/", {
        "jid": unique_container, "image": "busybox",
        "cmd": "sh -c 'echo partial > /share/outgoing/partial.txt; exit 5'"})
    assert status == 201
    job = wait_rest(server.url, unique_container)
    assert (job["status"], job["exitcode"], job["reason"]) == ("finishedWithError", 5, "ProcessorError")
    store.get_tree(unique_container, "output/", tmp_path / "out")
    assert (tmp_path / "out" / "partial.txt").read_text() == "partial\n"


def test_missing_input_fails_at_get(start_pman, store, unique_container):
    store.ensure_container(unique_container)
    server = start_pman()
    rest(server.url, "POST", "/api/v1/", {"jid": unique_container, "image": "i", "cmd": "true"})
    job = wait_rest(server.url, unique_container)
    assert (job["status"], job["reason"]) == ("finishedWithError", "InputError")
    assert job["logs_by_step"]["get"]
    assert not store.exists(unique_container, "output/")


def test_restart_mid_job_and_delete(start_pman, store, unique_container, tmp_path, cwd, gates):
    push_input(store, unique_container, tmp_path, {"a.txt": "x"})
    server = start_pman()
    jid = unique_container
    gate = gates / "gate"
    pfurl(server.url, "run", {"jid": jid, "cmd": gated(gate, "cp /share/incoming/a.txt /share/outgoing/"),
                              "threaded": True}, cwd)
    assert wait_message(server.url, jid, "running: step run")["status"] == "started"
    server.stop()  # gunicorn exits; the job's runner (its own session) goes on
    server = start_pman()
    gate.touch()  # only now may the job finish: it was running through the restart
    d_ret = wait_pfurl(server.url, jid, cwd)["d_ret"]
    assert d_ret["l_status"] == ["finishedSuccessfully"], d_ret
    store.get_tree(jid, "output/", tmp_path / "out")
    assert (tmp_path / "out" / "a.txt").read_text() == "x"
    assert pfurl(server.url, "delete", {"key": "jid", "value": jid}, cwd)["d_ret"]["status"] == "deleted"
    assert rest(server.url, "GET", f"/api/v1/{jid}/")[0] == 404


@pytest.mark.parametrize("flags", [(), ("--compress-outputs", "false")])
def test_outputs_are_published_compressed_unless_pman_is_told_not_to(start_pman, store, unique_container, tmp_path,
                                                                     flags):
    """The publisher's put stores image-like outputs compressed (a bundled one and a larger one);
    ``--compress-outputs false`` reaches it as ``put --compress off``."""
    image = "".join(chr(65 + i % 7) * 3 for i in range(20_000))  # 60 kB that compress well
    push_input(store, unique_container, tmp_path, {"small.dcm": image, "large.dcm": image * 30})
    server = start_pman(*flags)
    rest(server.url, "POST", "/api/v1/", {"jid": unique_container, "image": "i",
                                          "cmd": "cp -r /share/incoming /share/outgoing/out"})
    job = wait_rest(server.url, unique_container)
    assert job["status"] == "finishedSuccessfully", job
    manifest = store.read_manifest(unique_container, "output/")
    assert {e.name: e.deflated is not None for e in manifest.entries} == \
        {"out/small.dcm": not flags, "out/large.dcm": not flags}
    store.get_tree(unique_container, "output/", tmp_path / "got")
    assert (tmp_path / "got" / "out" / "large.dcm").read_text() == image * 30


def test_archive_layout_of_the_originals(start_pman, store, unique_container, tmp_path):
    """``--swift-layout archive``: input/data and output/data zips, as pfioh 2.2 and its publisher."""
    src = tmp_path / "input"
    src.mkdir()
    (src / "a.txt").write_text("zipped")
    store.ensure_container(unique_container)
    store.put_archive(unique_container, "input/", src)
    server = start_pman("--swift-layout", "archive")
    rest(server.url, "POST", "/api/v1/", {"jid": unique_container, "image": "i",
                                          "cmd": "cp /share/incoming/a.txt /share/outgoing/b.txt"})
    job = wait_rest(server.url, unique_container)
    assert job["status"] == "finishedSuccessfully", job
    assert store.exists(unique_container, "output/data")
    store.get_archive(unique_container, "output/", tmp_path / "out")
    assert (tmp_path / "out" / "b.txt").read_text() == "zipped"
