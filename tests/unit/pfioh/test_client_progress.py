"""pfioh-client's progress: each phase of a push (zipping, sending, the server storing) and of a
pull (receiving, unpacking) with its totals, the terminal and log forms, and the summary line.

Time is a fake clock where the output depends on it; nothing asserts how long anything took.
"""
import io
import json

import pytest
import requests

import pfioh.client
from pfioh.client import api, archive, progress, wire
from tests.support.pfioh_app import make_zip
from tests.support.pfioh_stub import WSGIAdapter, make_pfioh_stub


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"a" * 1000)
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 12)  # 3072 bytes
    return src


def test_a_phase_without_terminal_prints_a_line_at_the_start_every_few_seconds_and_at_the_end():
    out, clock = io.StringIO(), Clock()
    display = progress.Display(out, live=False, clock=clock)
    phase = progress.Phase(display, "push k", "zipping", total_bytes=4096, total_files=2)
    clock.now = 1
    phase.add(1024)  # too soon after the last line
    clock.now = progress.LINE_SECONDS + 1
    phase.add(1024, 1)
    clock.now += 1
    phase.add(2048, 1)  # too soon again
    clock.now = 8
    phase.finish("zipped 2 files")
    assert out.getvalue().splitlines() == ["push k: zipping 0/2 files, 0 B/4.0 KiB (0%)",
                                           "push k: zipping 1/2 files, 2.0 KiB/4.0 KiB (50%)",
                                           "push k: zipped 2 files in 8.0s"]


def test_a_phase_on_a_terminal_redraws_one_line_then_ends_it():
    out, clock = io.StringIO(), Clock()
    display = progress.Display(out, live=True, clock=clock)
    phase = progress.Phase(display, "pull k", "receiving", total_bytes=None, rate=True)
    for _ in range(3):
        clock.now += 1
        phase.add(1024)
    phase.finish("received 3.0 KiB")
    text = out.getvalue()
    assert text.startswith("\rpull k: receiving 0 B (unknown total)")
    assert text.count("\n") == 1 and text.endswith("\n") and text.count("\r") == 5
    assert "\rpull k: receiving 2.0 KiB (unknown total), 1.0 KiB/s" in text
    assert text.rstrip("\n").split("\r")[-1].rstrip() == "pull k: received 3.0 KiB in 3.0s (1.0 KiB/s)"


def test_a_disabled_display_prints_nothing():
    out = io.StringIO()
    display = progress.Display(out, enabled=False, live=True)
    phase = progress.Phase(display, "push k", "sending", total_bytes=10)
    phase.add(10)
    phase.finish("sent")
    progress.Wait(display, "push k", "store it").finish("stored")
    assert out.getvalue() == ""


@pytest.mark.parametrize("total, shown", [
    (4096, "1.0 KiB/4.0 KiB (25%)"),
    (None, "1.0 KiB (unknown total)"),
])
def test_totals_are_exact_or_honestly_unknown(total, shown):
    display = progress.Display(io.StringIO(), live=False, clock=Clock())
    phase = progress.Phase(display, "pull k", "receiving", total_bytes=total)
    phase.add(1024)
    assert phase.line() == f"pull k: receiving {shown}"


def test_waiting_for_the_server_shows_what_it_stores_and_no_percentage():
    out = io.StringIO()
    display = progress.Display(out, live=False)
    wait = progress.Wait(display, "push k", "store 2 files, 4.0 KiB")
    wait.finish("stored by the server")
    first, last = out.getvalue().splitlines()
    assert first == "push k: waiting for the server to store 2 files, 4.0 KiB... 0s"
    assert last.startswith("push k: stored by the server in ") and "%" not in out.getvalue()


def test_a_failed_wait_prints_no_success_line():
    out = io.StringIO()
    progress.Wait(progress.Display(out, live=False), "push k", "store it").finish(None)
    assert out.getvalue().splitlines() == ["push k: waiting for the server to store it... 0s"]


def test_human_bytes():
    assert [progress.human_bytes(n) for n in (0, 1023, 1024, 5 << 20, 3 << 30, 2 << 40)] == \
        ["0 B", "1023 B", "1.0 KiB", "5.0 MiB", "3.0 GiB", "2.0 TiB"]

# ----------------------------------------------------------------------------- the pieces report


def test_zipping_and_unpacking_report_every_byte_and_file(tree, tmp_path):
    members = archive.list_members(tree)
    assert [(m.arcname, m.size) for m in members] == [("a.txt", 1000), ("sub/b.bin", 3072)]
    seen = []
    archive.zip_members(members, tmp_path / "t.zip", lambda n, files: seen.append((n, files)))
    assert sum(n for n, _ in seen) == 4072 and sum(f for _, f in seen) == 2
    totals, unpacked = [], []
    names = archive.safe_extract(tmp_path / "t.zip", tmp_path / "out", on_totals=lambda *t: totals.append(t),
                                 progress=lambda n, files: unpacked.append((n, files)))
    assert names == ["a.txt", "sub/b.bin"] and totals == [(2, 4072)]
    assert sum(n for n, _ in unpacked) == 4072 and sum(f for _, f in unpacked) == 2


def test_the_upload_body_reports_its_chunks_and_when_it_is_sent(tmp_path):
    zip_path = tmp_path / "z.zip"
    zip_path.write_bytes(b"PK" + b"x" * 200_000)
    chunks, sent = [], []
    body = wire.MultipartUpload({"action": "pushPath"}, zip_path, "z.zip", progress=chunks.append,
                                on_sent=lambda: sent.append(sum(chunks)))
    while body.read(8192):
        assert not sent  # not before the whole body was read
    body.read(8192)
    body.close()
    assert sent == [200_002] and sum(chunks) == 200_002


@pytest.mark.parametrize("headers, expected", [
    ({"Content-Length": "10"}, 10),
    ({}, None),
    ({"Content-Length": "junk"}, None),
])
def test_the_expected_download_size(headers, expected):
    assert api._expected_size(requests.structures.CaseInsensitiveDict(headers)) == expected

# ----------------------------------------------------------------------------- the client


def _progress_client(app, out):
    session = requests.Session()
    session.mount("http://", WSGIAdapter(app))
    return pfioh.client.PfiohClient("http://pfioh.test:5055", session=session, progress_stream=out)


def _lines(out: io.StringIO) -> list[str]:
    """The lines without their timings (``in 0.0s``, rates, the seconds waited)."""
    return [line.split(" in ")[0].split("...")[0].split(", 0 B/s")[0] for line in out.getvalue().splitlines()]


def test_a_push_shows_zipping_sending_and_storing_with_totals(tree):
    out = io.StringIO()
    client = _progress_client(make_pfioh_stub(), out)
    client.push("k", tree)
    zipped = progress.human_bytes(client.last_transfer.zip_bytes)
    assert _lines(out) == [
        "push k: zipping 0/2 files, 0 B/4.0 KiB (0%)",
        f"push k: zipped 2 files, 4.0 KiB into a {zipped} zip",
        f"push k: sending 0 B/{zipped} (0%)",
        f"push k: sent {zipped}",
        "push k: waiting for the server to store 2 files, 4.0 KiB",
        "push k: stored by the server"]
    stats = client.last_transfer
    assert (stats.files, stats.bytes, list(stats.phases)) == (2, 4072, ["zip", "send", "server"])
    assert stats.summary().startswith("pushed 2 files, 4.0 KiB as k in ")


def test_a_pull_shows_receiving_and_unpacking_with_totals(tmp_path):
    app = make_pfioh_stub()
    app.outputs["k"] = make_zip({"a.txt": "x" * 2048, "b/c.txt": "y" * 2048})
    out = io.StringIO()
    client = _progress_client(app, out)
    client.pull("k", tmp_path / "out")
    received = progress.human_bytes(len(app.outputs["k"]))
    assert _lines(out) == [f"pull k: receiving 0 B/{received} (0%)",  # the stub sends a Content-Length
                           f"pull k: received {received}",
                           "pull k: unpacking 0/2 files, 0 B/4.0 KiB (0%)",
                           "pull k: unpacked 2 files, 4.0 KiB"]
    assert client.last_transfer.summary(f"into {tmp_path / 'out'}").startswith(
        f"pulled 2 files, 4.0 KiB of k into {tmp_path / 'out'} in ")


def test_a_pull_from_our_pfioh_announces_the_exact_size_of_a_zip_built_on_the_fly(tmp_path):
    """Our mount-mode pull streams a zip it builds as it sends, with its Content-Length computed
    first: the exact total the client shows while receiving."""
    from pfioh import app as pfioh_app
    from pfioh.config import PfiohConfig
    store = tmp_path / "store"
    (store / "key-k").mkdir(parents=True)
    (store / "key-k" / "data.bin").write_bytes(b"z" * 300_000)
    app = pfioh_app.create_app(PfiohConfig(host="127.0.0.1", port=5055, store_base=str(store)),
                               shutdown=lambda: None)
    reply = app.test_client().get("/api/v1/cmd", query_string=wire.query(
        "pullPath", wire.path_meta("k", "/x", check_remote=False)))
    assert reply.headers["Content-Length"] == str(len(reply.data)) and len(reply.data) > 300_000
    out = io.StringIO()
    _progress_client(app, out).pull("k", tmp_path / "out")
    assert _lines(out)[:2] == [f"pull k: receiving 0 B/{progress.human_bytes(len(reply.data))} (0%)",
                               f"pull k: received {progress.human_bytes(len(reply.data))}"]
    assert (tmp_path / "out" / "data.bin").stat().st_size == 300_000


def _cli(app, monkeypatch, argv):
    real_session = requests.Session

    def session():
        s = real_session()
        s.mount("http://", WSGIAdapter(app))
        return s

    monkeypatch.setattr(api.requests, "Session", session)
    return pfioh.client.main(["--pfioh", "http://x:1", *argv])


@pytest.mark.parametrize("flags, phases", [([], False), (["--progress"], True), (["--progress", "--quiet"], None),
                                           (["--quiet"], False)])
def test_cli_progress_flags_and_the_summary_line(tree, tmp_path, monkeypatch, capsys, flags, phases):
    """Not a terminal here: progress only with --progress; the summary line always."""
    app = make_pfioh_stub()
    if phases is None:  # --progress and --quiet contradict each other: a usage error
        with pytest.raises(SystemExit) as exc:
            _cli(app, monkeypatch, [*flags, "push", "k", str(tree)])
        assert exc.value.code == 2
        return
    assert _cli(app, monkeypatch, [*flags, "push", "k", str(tree)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("pfioh-client: pushed 2 files, 4.0 KiB as k in ")
    assert any("push k: zipped 2 files" in line for line in err) is phases
    app.outputs["k"] = app.pushed["k"]
    assert _cli(app, monkeypatch, [*flags, "pull", "k", str(tmp_path / "back")]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[-1].startswith(
        f"pfioh-client: pulled 2 files, 4.0 KiB of k into {tmp_path / 'back'} in ")
    assert ("pull k: unpacked 2 files, 4.0 KiB" in captured.err) is phases
    assert json.loads(captured.out)["bytes"] == 4072


def test_a_refused_push_shows_no_success_line_but_the_error(tree, monkeypatch, capsys):
    app = make_pfioh_stub()
    app.push_status = False
    assert _cli(app, monkeypatch, ["--progress", "push", "k", str(tree)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-2].startswith("push k: waiting for the server to store 2 files, 4.0 KiB... ")
    assert err[-1] == "pfioh-client: error: pushPath: pfioh did not store k: not stored"


def test_pull_of_a_broken_zip_names_the_step(tmp_path, monkeypatch, capsys):
    app = make_pfioh_stub()
    app.outputs["k"] = b"PK\x03\x04 this is not a zip"
    assert _cli(app, monkeypatch, ["pull", "k", str(tmp_path / "out")]) == 1
    assert "pfioh-client: error: pullPath: the pulled data is not a valid zip archive" in capsys.readouterr().err


def test_a_local_write_error_is_a_failure_exit_1(tmp_path, monkeypatch, capsys):
    app = make_pfioh_stub()
    app.outputs["k"] = make_zip({"a": "b"})
    (tmp_path / "file.txt").write_text("not a directory")
    assert _cli(app, monkeypatch, ["pull", "k", str(tmp_path / "file.txt" / "out")]) == 1
    assert f"pfioh-client: error: pullPath: cannot unpack into {tmp_path / 'file.txt' / 'out'}: " \
        in capsys.readouterr().err
