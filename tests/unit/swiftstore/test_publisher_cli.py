"""pman-swift-publisher without a network: SwiftStore over the in-memory Connection."""

import pytest

import swiftstore
from pman.publisher import cli
from tests.support.fake_swiftclient import FakeSwift


@pytest.fixture
def fake_swift(monkeypatch):
    fake = FakeSwift()
    monkeypatch.setattr(cli, "open_store",
                        lambda args: swiftstore.SwiftStore(fake.connect, **{**cli.store_options(args), "threads": 2}))
    for var in ("SWIFT_KEY", "INCOMING_DIR", "OUTGOING_DIR", "SWIFT_LAYOUT", "OUTGOING_MODE", "SWIFT_COMPRESS"):
        monkeypatch.delenv(var, raising=False)
    return fake


def _dirs(tmp_path):
    return ["--incoming", str(tmp_path / "in"), "--outgoing", str(tmp_path / "out")]


def test_defaults_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("SWIFT_KEY", "jid-1")
    monkeypatch.setenv("INCOMING_DIR", "/x/in")
    monkeypatch.delenv("OUTGOING_DIR", raising=False)
    args = cli.build_parser().parse_args(["get"])
    assert (args.key, args.incoming, args.outgoing, args.layout) == ("jid-1", "/x/in", "/share/outgoing", "tree")
    args = cli.build_parser().parse_args(["put", "--key", "k2", "--outgoing", "/o"])
    assert (args.key, args.outgoing, args.wait) == ("k2", "/o", False)


def test_missing_key_is_a_usage_error(fake_swift, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["get"])
    assert info.value.code == 2 and "SWIFT_KEY" in capsys.readouterr().err


def test_put_then_get_round_trip_with_progress(fake_swift, tmp_path, capsys):
    (tmp_path / "out/sub").mkdir(parents=True)
    (tmp_path / "out/sub/r.txt").write_text("result")
    assert cli.main(["put", "--key", "k", *_dirs(tmp_path)]) == 0
    manifest = swiftstore.Manifest.from_json(fake_swift.objects("k")["output.manifest.json"])
    assert [e.name for e in manifest.entries] == ["sub/r.txt"]
    assert set(fake_swift.objects("k")) == {"output.manifest.json", manifest.object_of(manifest.entries[0])}
    err = capsys.readouterr().err
    assert "1/1 files" in err and "MB/s" in err and "put 1 files (6 bytes)" in err
    # The job's input is what pfioh stored under input/: simulate it with the library.
    store = swiftstore.SwiftStore(fake_swift.connect)
    store.put_tree("k", "input/", tmp_path / "out")
    assert cli.main(["get", "--key", "k", "--incoming", str(tmp_path / "job/in"),
                     "--outgoing", str(tmp_path / "job/out")]) == 0
    assert (tmp_path / "job/in/sub/r.txt").read_text() == "result" and (tmp_path / "job/out").is_dir()


def test_failure_is_one_line_and_non_zero(fake_swift, tmp_path, capsys):
    fake_swift.containers["k"] = {}
    assert cli.main(["get", "--key", "k", *_dirs(tmp_path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pman-swift-publisher: error: get failed: no manifest")
    assert not (tmp_path / "in").exists()


def test_invalid_key_fails_before_any_request(fake_swift, tmp_path, capsys):
    assert cli.main(["put", "--key", "a/b", *_dirs(tmp_path)]) == 1
    assert "contains '/'" in capsys.readouterr().err and fake_swift.calls == []


def test_put_of_a_missing_directory_fails(fake_swift, tmp_path, capsys):
    assert cli.main(["put", "--key", "k", *_dirs(tmp_path)]) == 1
    assert "outgoing directory" in capsys.readouterr().err.splitlines()[-1]


def test_archive_layout_uses_the_originals_objects(fake_swift, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/a.txt").write_text("a")
    assert cli.main(["put", "--key", "k", "--layout", "archive", *_dirs(tmp_path)]) == 0
    assert set(fake_swift.objects("k")) == {"output/data"}


def test_put_wait_calls_the_wait_module_before_uploading(fake_swift, tmp_path, monkeypatch):
    (tmp_path / "out").mkdir()
    order = []
    monkeypatch.setattr(cli.wait, "wait_for_processor",
                        lambda args: order.append(("wait", args.key, len(fake_swift.calls))))
    assert cli.main(["put", "--wait", "--key", "k", *_dirs(tmp_path)]) == 0
    assert order == [("wait", "k", 0)]  # before any request to Swift


def test_sigterm_unwinds_and_reports_one_line(fake_swift, tmp_path, monkeypatch, capsys):
    """A pod being stopped: the download unwinds (no partial incoming dir) and the exit status is 143."""
    fake_swift.containers["k"] = {}

    def killed(self, *a, **kw):
        cli._terminate(15, None)
    monkeypatch.setattr(swiftstore.SwiftStore, "get_tree", killed)
    assert cli.main(["get", "--key", "k", *_dirs(tmp_path)]) == 143
    assert capsys.readouterr().err.strip().splitlines() == ["pman-swift-publisher: error: get interrupted by signal 15"]


@pytest.mark.parametrize("mode", ["0777", "0750"])
def test_get_sets_the_outgoing_mode_from_the_environment(fake_swift, tmp_path, monkeypatch, mode):
    """In a Job the processor may run as another user: OUTGOING_MODE opens outgoing/ for it."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.dcm").write_bytes(b"x")
    swiftstore.SwiftStore(fake_swift.connect).put_tree("k", "input/", tmp_path / "src")
    monkeypatch.setenv("OUTGOING_MODE", mode)
    assert cli.main(["get", "--key", "k", *_dirs(tmp_path)]) == 0
    assert (tmp_path / "out").stat().st_mode & 0o777 == int(mode, 8)


def test_bad_outgoing_mode_is_a_usage_error(fake_swift, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["get", "--key", "k", "--outgoing-mode", "rwx", *_dirs(tmp_path)])
    assert info.value.code == 2 and "not an octal mode" in capsys.readouterr().err


def test_put_with_a_retention_stamps_every_object_and_bad_days_are_a_usage_error(fake_swift, tmp_path, capsys):
    import time
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "r.txt").write_text("result")
    assert cli.main(["put", "--key", "k", "--retention-days", "2", *_dirs(tmp_path)]) == 0
    stamps = {int(rec["headers"]["x-delete-at"]) for rec in fake_swift.containers["k"].values()}
    assert stamps and all(time.time() + 2 * 86400 - 60 < t <= time.time() + 2 * 86400 + 3600 for t in stamps)
    with pytest.raises(SystemExit) as info:
        cli.main(["put", "--key", "k", "--retention-days", "-1", *_dirs(tmp_path)])
    assert info.value.code == 2 and "days must be positive" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["default", "flag", "env"])
def test_put_stores_image_like_outputs_compressed_unless_told_not_to(fake_swift, tmp_path, monkeypatch, how):
    (tmp_path / "out").mkdir()
    image = bytes(range(256)) * 40 + bytes(30_000)  # compresses well: bundled, and larger than 1 MiB
    (tmp_path / "out/small.dcm").write_bytes(image)
    (tmp_path / "out/large.dcm").write_bytes(image * 40)
    argv = ["put", "--key", "k", *_dirs(tmp_path)]
    if how == "flag":
        argv += ["--compress", "off"]
    elif how == "env":
        monkeypatch.setenv("SWIFT_COMPRESS", "off")
    assert cli.main(argv) == 0
    manifest = swiftstore.Manifest.from_json(fake_swift.objects("k")["output.manifest.json"])
    assert {e.name: e.deflated is not None for e in manifest.entries} == \
        {"small.dcm": how == "default", "large.dcm": how == "default"}


def test_a_bad_compress_value_is_a_usage_error(fake_swift, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SWIFT_COMPRESS", "maybe")
    with pytest.raises(SystemExit) as info:
        cli.main(["put", "--key", "k", *_dirs(tmp_path)])
    assert info.value.code == 2 and "not on or off: 'maybe'" in capsys.readouterr().err
