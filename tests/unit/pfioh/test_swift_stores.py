"""Swift mode (tree and archive layouts) through the HTTP layer, with an in-memory fake SwiftStore."""
import dataclasses
import hashlib
import io
import json
import os
import zipfile
import zlib

import pytest
import swiftstore
from swiftstore import bundles
from swiftstore import errors as swift_errors

from pfioh.stores import swift as swift_stores

from pfioh import instance
from tests.support.fake_swiftclient import FakeSwift as FakeSwiftClient
from tests.support.fake_swiftstore import FakeSwift, random_files, tree
from tests.support.pfioh_app import URL, control, make_zip, pull_query, push, with_


@pytest.fixture
def fake():
    return FakeSwift()


@pytest.fixture
def swift_client(make_client, config, fake):
    cfg = with_(config, swift_storage=True)
    return make_client(cfg, store=swift_stores.SwiftTreeStore(cfg, fake))


@pytest.fixture
def archive_client(make_client, config, fake):
    cfg = with_(config, swift_storage=True, swift_layout="archive")
    return make_client(cfg, store=swift_stores.SwiftArchiveStore(cfg, fake))


def test_tree_push_stores_each_file_under_input_with_manifest(swift_client, fake, config):
    files = random_files()
    resp = push(swift_client, "jid-1", make_zip(files))
    body = json.loads(resp.data)
    assert resp.status_code == 200 and body["msg"] == "File/Directory stored in Swift" and body["write"] == {}
    objects = fake.containers["jid-1"]
    assert {k[len("input/"):]: v for k, v in objects.items() if k.startswith("input/")} == files
    assert "input.manifest.json" in objects
    assert instance.leftovers(config.staging_root) == []


def test_tree_repush_leaves_no_mix(swift_client, fake):
    push(swift_client, "k", make_zip({"old.txt": b"1", "both.txt": b"1"}))
    push(swift_client, "k", make_zip({"both.txt": b"2"}))
    assert fake.containers["k"] == {"input/both.txt": b"2", "input.manifest.json": b"{}"}


def test_tree_pull_streams_zip_of_output(swift_client, fake, tmp_path):
    files = random_files(40)
    fake.put_tree("k", "output/", tree(tmp_path / "out", files))
    resp = swift_client.get(URL, query_string=pull_query("k"))
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == files


def test_tree_pull_without_manifest_is_404(swift_client, fake):
    fake.containers["k"] = {"output/x": b"partial"}
    resp = swift_client.get(URL, query_string=pull_query("k"))
    assert resp.status_code == 404 and "manifest" in json.loads(resp.data)["error"]


def test_tree_pull_detects_size_mismatch_mid_stream(swift_client, fake, tmp_path):
    size = 3 << 20  # streamed: the zip's first bytes are sent before the object ends
    fake.put_tree("k", "output/", tree(tmp_path / "out", {"a": b"1" * size, "b": b"x"}))
    fake.containers["k"]["output/a"] = b"9" * (size - 1)
    with pytest.raises(swift_errors.IntegrityError, match="expected"):
        swift_client.get(URL, query_string=pull_query("k")).data


def test_tree_pull_failing_before_its_first_byte_is_an_error_reply_that_names_it(swift_client, fake, tmp_path):
    fake.put_tree("k", "output/", tree(tmp_path / "out", {"a": b"1" * 100, "b": b"x"}))
    fake.containers["k"]["output/a"] = b"9" * 99  # the whole zip would have been one chunk
    resp = swift_client.get(URL, query_string=pull_query("k"))
    assert resp.status_code == 502 and "expected" in json.loads(resp.data)["error"]
    fake.fail_with = swift_errors.IntegrityError("download not verified")
    resp = swift_client.get(URL, query_string=pull_query("k"))
    assert resp.status_code == 502 and "not verified" in json.loads(resp.data)["error"]


def test_backend_failure_is_502_and_named(swift_client, fake):
    fake.fail_with = swift_errors.TransferError("upload failed", container="k")
    resp = push(swift_client, "k", make_zip({"a": b"1"}))
    assert resp.status_code == 502 and "upload failed" in json.loads(resp.data)["error"]


def test_check_remote_in_swift_mode(swift_client):
    q = pull_query("k", check=True) | {"action": "pushPath"}
    body = json.loads(swift_client.get(URL, query_string=q).data)
    assert body == {"status": True, "isfile": False, "isswiftstore": True, "isdir": False, "createdNewDir": False}


def test_ls_lists_objects(swift_client):
    push(swift_client, "k", make_zip({"a": b"123"}))
    body = json.loads(control(swift_client, "ls", {"key": "k"}).data)
    assert body["d_ls"]["input/a"]["size"] == 3


def test_bad_zip_writes_nothing_to_swift(swift_client, fake):
    assert push(swift_client, "k", make_zip({"../x": b"1"})).status_code == 400
    assert "k" not in fake.containers and "put_tree" not in fake.calls


def test_archive_push_stores_the_zip_as_input_data(archive_client, fake):
    payload = make_zip({"a": b"1", "d/b": b"22"})
    assert push(archive_client, "k", payload).status_code == 200
    assert fake.containers["k"] == {"input/data": payload}


def test_archive_non_zip_upload_is_wrapped(archive_client, fake):
    assert push(archive_client, "k", b"raw", unpack=False, local="/x/scan.dcm").status_code == 200
    assert zipfile.ZipFile(io.BytesIO(fake.containers["k"]["input/data"])).read("scan.dcm") == b"raw"


def test_archive_rejects_corrupt_zip(archive_client, fake):
    assert push(archive_client, "k", make_zip({"a": b"1" * 1000})[:-30]).status_code == 400
    assert "k" not in fake.containers


def test_archive_pull_streams_output_data_with_length(archive_client, fake):
    payload = make_zip({"r": b"result"})
    fake.containers["k"] = {"output/data": payload}
    resp = archive_client.get(URL, query_string=pull_query("k"))
    assert resp.status_code == 200 and resp.data == payload and resp.headers["Content-Length"] == str(len(payload))
    assert archive_client.get(URL, query_string=pull_query("nope")).status_code == 404


def test_client_going_away_stops_the_reader(make_client, config, fake, tmp_path):
    import threading
    cfg = with_(config, swift_storage=True)
    store = swift_stores.SwiftTreeStore(cfg, fake)
    client = make_client(cfg, store=store)
    fake.put_tree("k", "output/", tree(tmp_path / "out", {"big": b"1" * (40 << 20)}))
    resp = client.get(URL, query_string=pull_query("k"), buffered=False)
    first = next(iter(resp.response))
    assert first.startswith(b"PK")
    resp.close()
    done = threading.Event()
    threading.Thread(target=lambda: (store.readers.shutdown(wait=True), done.set()), daemon=True).start()
    assert done.wait(10), "the reader thread kept running after the client went away"


class _Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors, which early unpacking leaves."""

    def __init__(self):
        self.buf = io.BytesIO()

    def writable(self):
        return True

    def write(self, b):
        return self.buf.write(b)


def test_swift_push_uploads_while_the_zip_arrives_and_commits_once_adopted(swift_client, fake):
    files = random_files(5)
    resp = push(swift_client, "k", make_zip(files))
    assert resp.status_code == 200
    assert fake.calls.count("writer.add") == len(files)  # every file went to the writer as it came out
    assert {e.name for e in fake.read_manifest("k", "input/").entries} == set(files)


def test_swift_push_hands_over_the_compressed_bytes_of_small_compressible_files(swift_client, fake):
    """The zip's DEFLATE streams go to the writer as they came (checked: they inflate to the
    file); stored entries have none to give."""
    files = {"img.dcm": bytes(5000) + b"pixel data" * 100, "text.txt": b"hello " * 100}
    assert push(swift_client, "k", make_zip(files)).status_code == 200
    assert set(fake.writers[-1].deflated) == {"img.dcm", "text.txt"}
    assert len(fake.writers[-1].deflated["img.dcm"]) < 200
    assert push(swift_client, "k2", make_zip(files, compression=zipfile.ZIP_STORED)).status_code == 200
    assert fake.writers[-1].deflated == {}


def test_swift_push_the_early_path_cannot_vouch_for_falls_back_and_uploads_nothing_early(swift_client, fake):
    raw = _Unseekable()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", b"descriptor")
    assert push(swift_client, "k", raw.buf.getvalue()).status_code == 200
    assert "writer.add" not in fake.calls and fake.calls.count("put_tree") == 1
    assert fake.tree_of("k", "input/") == {"a.txt": b"descriptor"}


@pytest.mark.parametrize("name", ["/".join(["n" * 200] * 5), "d/" + "é" * 127 + "/" + "x" * 255 + "/" + "y" * 255 + "/" + "z" * 255])
def test_tree_push_refuses_names_too_long_for_swift_before_storing(swift_client, fake, config, name):
    """input.v/<version>/s/<name>/<n> must fit in Swift's 1024 bytes: a 400 naming the limit, and
    no object (nor container) stored, not even by the early unpacking."""
    assert len(name.encode()) < 4096
    resp = push(swift_client, "jid-long", make_zip({"ok": b"1", name: b"x"}))
    body = json.loads(resp.data)
    assert resp.status_code == 400 and "bytes long, more than the limit 975" in body["error"]
    assert fake.containers.get("jid-long", {}) == {}
    assert instance.leftovers(config.staging_root) == []


def test_archive_push_refuses_what_could_never_be_unpacked(archive_client, fake):
    resp = push(archive_client, "jid-a", make_zip({"a/" * 1000 + "f": b"x"}))
    assert resp.status_code == 400 and "levels deep" in json.loads(resp.data)["error"]
    assert fake.containers.get("jid-a", {}) == {}


ZIP_KINDS = {  # every kind of member a pulled zip carries, with the real swiftstore's layout
    **{f"img/{i:02d}.dcm": os.urandom(900 + i) + bytes(2000) for i in range(12)},  # bundled, compressed
    "noise.bin": os.urandom(700),  # bundled as it is
    "empty": b"",
    "ct.dcm": os.urandom(1 << 20) + bytes(2 << 20),  # an object of its own, compressed
    "raw.bin": os.urandom(3 << 20),  # a segmented object
}


@pytest.mark.parametrize("crcs_recorded", [True, False])
def test_tree_pull_announces_the_exact_length_of_the_zip_it_builds(make_client, config, tmp_path, crcs_recorded):
    """The Content-Length, computed from the manifest before a byte is read, is the zip's length:
    with compressed files passed through, and with bundled ones recorded without their CRC-32
    (older manifests), which go in inflated and stored."""
    with swiftstore.SwiftStore(FakeSwiftClient().connect, threads=2, slo_threshold=2 << 20,
                               segment_size=1 << 20) as real:
        writer = real.tree_writer("k", "output/")
        for name, data in ZIP_KINDS.items():
            small = len(data) < (2 << 20)
            if name.endswith(".dcm") and small:
                writer.add_bytes(name, data, deflated=bundles.deflate(data))
            elif name.endswith(".dcm"):
                (tmp_path / "ct.z").write_bytes(bundles.deflate(data))
                writer.add_deflated_file(name, str(tmp_path / "ct.z"), len(data), (tmp_path / "ct.z").stat().st_size,
                                         zlib.crc32(data))
            elif small:
                writer.add_bytes(name, data)
            else:
                writer.add(name, str(tree(tmp_path / "r", {name: data}) / name), len(data))
        manifest = writer.commit()
        if not crcs_recorded:  # as format 3 recorded compressed bundled files: by their MD5
            manifest = dataclasses.replace(manifest, entries=tuple(
                dataclasses.replace(e, crc32=None, md5=hashlib.md5(ZIP_KINDS[e.name]).hexdigest())
                if e.offset is not None and e.deflated is not None else e for e in manifest.entries))
            real.read_manifest = lambda container, prefix: manifest
        cfg = with_(config, swift_storage=True)
        client = make_client(cfg, store=swift_stores.SwiftTreeStore(cfg, real))
        resp = client.get(URL, query_string=pull_query("k"))
        assert resp.status_code == 200 and resp.headers["Content-Length"] == str(len(resp.data))
        with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
            assert zf.testzip() is None and {n: zf.read(n) for n in zf.namelist()} == ZIP_KINDS
            deflated = {i.filename for i in zf.infolist() if i.compress_type == zipfile.ZIP_DEFLATED}
        assert deflated == ({n for n in ZIP_KINDS if n.endswith(".dcm")} if crcs_recorded else {"ct.dcm"})
