"""Small files stored compressed, against the real Swift: put_tree (and the publisher's put, which
is put_tree) keeps image-like files as raw DEFLATE streams in their bundles, incompressible ones
as they are, and every read gives the files back."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import requests_mock

import swiftstore
from swiftstore import bundles, reading
from tests.support.trees import image_like, make_tree, read_tree


PUBLISHER = str(Path(sys.executable).parent / "pman-swift-publisher")
IMAGES = {f"series/{i:03d}.dcm": image_like(50_000 + 101 * i) for i in range(60)}
NOISE = {f"noise/{i:03d}.bin": os.urandom(30_000 + 7 * i) for i in range(30)}


@pytest.fixture
def store(swift):
    creds = swiftstore.load_credentials(swift.credentials_file)
    # Short backoff: a retry below is swiftclient's, only made quick to test.
    with swiftstore.SwiftStore.from_credentials(creds, threads=4, starting_backoff=0.01, max_backoff=0.05) as s:
        yield s


def _bundled(manifest) -> list:
    return [e for e in manifest.entries if e.offset is not None]


def _stored_bundles(conn, container: str, manifest) -> dict[str, bytes]:
    """The bundle objects of ``manifest``, as Swift serves them."""
    return {name: conn.get_object(container, name)[1] for name in {e.object for e in _bundled(manifest)}}


def _check_members(entries, stored: dict[str, bytes], files: dict[str, bytes]) -> None:
    """Each bundled file is at its offset, as a stream that inflates to it (with its CRC-32, and no
    MD5) or as it is (with its MD5); each bundle's CRC-32 is that of the bundle Swift keeps."""
    for e in entries:
        assert e.object_crc32 == zlib.crc32(stored[e.object])
        raw = stored[e.object][e.offset:e.offset + e.stored_size]
        data = raw if e.deflated is None else b"".join(bundles.inflate([raw], e.size))
        assert data == files[e.name] and e.md5 == ("" if e.deflated else hashlib.md5(data).hexdigest())
        assert e.crc32 == (None if e.deflated is None else zlib.crc32(data))


def test_an_image_like_tree_is_stored_in_little_more_than_half_its_bytes(store, unique_container, swift_connection,
                                                                        tmp_path):
    manifest = store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", IMAGES))
    stored = _stored_bundles(swift_connection, unique_container, manifest)
    assert sum(len(b) for b in stored.values()) < 0.6 * manifest.total_bytes
    assert all(e.deflated is not None for e in manifest.entries)
    _check_members(manifest.entries, stored, IMAGES)
    store.get_tree(unique_container, "input/", tmp_path / "out")
    assert read_tree(tmp_path / "out") == IMAGES


def test_an_incompressible_tree_is_stored_as_it_is(store, unique_container, swift_connection, tmp_path):
    manifest = store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", NOISE))
    stored = _stored_bundles(swift_connection, unique_container, manifest)
    assert sum(len(b) for b in stored.values()) == manifest.total_bytes
    _, doc = swift_connection.get_object(unique_container, "input.manifest.json")
    assert b'"deflated"' not in doc and b'"crc32"' not in doc
    store.get_tree(unique_container, "input/", tmp_path / "out")
    assert read_tree(tmp_path / "out") == NOISE


def test_a_mixed_tree_round_trips_with_only_the_compressible_files_compressed(store, unique_container,
                                                                              swift_connection, tmp_path):
    files = IMAGES | NOISE | {"a.txt": b"hello\n", "empty": b"", "big.bin": image_like((1 << 20) + 1)}
    manifest = store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", files))
    assert {e.name for e in manifest.entries if e.deflated is not None} == set(IMAGES) | {"big.bin"}
    assert next(e for e in manifest.entries if e.name == "big.bin").kept_deflated  # its own object, compressed
    _check_members(_bundled(manifest), _stored_bundles(swift_connection, unique_container, manifest), files)
    store.get_tree(unique_container, "input/", tmp_path / "out")
    assert read_tree(tmp_path / "out") == files


def test_a_retried_put_of_a_compressed_bundle_sends_it_again_whole(store, unique_container, swift_connection,
                                                                  tmp_path):
    src = make_tree(tmp_path / "src", IMAGES)
    store.ensure_container(unique_container)
    failed = []  # the first bundle's first PUT (one thread sends it, and then its retry)

    def first_try(request) -> bool:
        return not failed and request.path_url.split("?")[0].endswith("/b/000000")

    def fail_after_reading(request, context):  # the body is read to its end: the retry must rewind it
        sent = 0
        while chunk := request.body.read(65536):  # swiftclient's wrapper ends with "", not b""
            sent += len(chunk)
        failed.append(sent)
        context.status_code = 503
        return "Service Unavailable"

    seen = []
    with requests_mock.Mocker(real_http=True) as m:
        m.register_uri("PUT", re.compile(".*"), additional_matcher=first_try, text=fail_after_reading)
        manifest = store.put_tree(unique_container, "input/", src, progress=lambda *a: seen.append(a))
    first = next(e for e in manifest.entries if e.object.endswith("/b/000000"))
    assert failed == [len(_stored_bundles(swift_connection, unique_container, manifest)[first.object])]
    assert all(e.deflated for e in manifest.entries)
    total = sum(len(d) for d in IMAGES.values())
    assert seen[-1] == (len(IMAGES), len(IMAGES), total, total)  # the retry took back what it had counted
    _check_members(manifest.entries, _stored_bundles(swift_connection, unique_container, manifest), IMAGES)
    store.get_tree(unique_container, "input/", tmp_path / "out")
    assert read_tree(tmp_path / "out") == IMAGES


def test_the_publishers_put_stores_a_jobs_images_compressed(swift, store, unique_container, swift_connection,
                                                           tmp_path):
    outgoing = make_tree(tmp_path / "share" / "outgoing", IMAGES | {"result.json": b"{}"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ST_", "OS_", "SWIFT_"))}
    put = subprocess.run([PUBLISHER, "put", "--key", unique_container, "--outgoing", str(outgoing)],
                         env={**env, "SWIFT_CREDENTIALS": swift.credentials_file}, capture_output=True, text=True,
                         timeout=120)
    assert put.returncode == 0, put.stderr
    manifest = store.read_manifest(unique_container, "output/")
    assert sum(len(b) for b in _stored_bundles(swift_connection, unique_container, manifest).values()) \
        < 0.6 * manifest.total_bytes
    store.get_tree(unique_container, "output/", tmp_path / "pulled")
    assert read_tree(tmp_path / "pulled") == read_tree(outgoing)


# Larger files kept compressed in objects of their own (what pfioh does with a pushed zip's
# compressed entries): a plain object and an SLO of 1 MiB segments.
KEPT = {"ct/plain.dcm": image_like(3 << 20), "ct/slo.dcm": image_like(5 << 20)}


@pytest.fixture
def slo_store(swift):
    creds = swiftstore.load_credentials(swift.credentials_file)
    with swiftstore.SwiftStore.from_credentials(creds, threads=4, slo_threshold=2 << 20, segment_size=1 << 20) as s:
        yield s


def _keep(writer, tmp_path: Path, files: dict[str, bytes], crc_of=zlib.crc32) -> None:
    for i, (rel, data) in enumerate(files.items()):
        spool = tmp_path / f"spool{i}"
        spool.write_bytes(bundles.deflate(data))
        writer.add_deflated_file(rel, str(spool), len(data), spool.stat().st_size, crc_of(data))


def test_larger_files_kept_deflated_are_stored_as_their_streams_and_read_back_whole(
        slo_store, unique_container, swift_connection, tmp_path):
    writer = slo_store.tree_writer(unique_container, "input/")
    _keep(writer, tmp_path, KEPT)
    writer.add_bytes("small.txt", b"hello\n")
    manifest = writer.commit()
    _, doc = swift_connection.get_object(unique_container, "input.manifest.json")
    assert b'"format":"swiftstore-manifest/4"' in doc  # an older reader refuses it by its format
    kept = {e.name: e for e in manifest.entries if e.kept_deflated}
    assert set(kept) == set(KEPT) and kept["ct/slo.dcm"].segments > 1 and kept["ct/plain.dcm"].segments == 0
    for name, e in kept.items():  # Swift holds the stream: about half the file's bytes
        head = swift_connection.head_object(unique_container, e.object)
        assert int(head["content-length"]) == e.deflated < 0.6 * e.size and e.crc32 == zlib.crc32(KEPT[name])
        assert b"".join(slo_store.iter_entry(unique_container, manifest, e)) == KEPT[name]
    slo_store.get_tree(unique_container, "input/", tmp_path / "out")  # what a job's get does
    assert read_tree(tmp_path / "out") == KEPT | {"small.txt": b"hello\n"}
    readers = reading.Readers(slo_store, streams=1)
    try:  # pfioh's pull: the stream as it is stored (for its zip), or the file
        raw = {e.name: b"".join(c) for e, c in readers.iter_version(unique_container, manifest, passthrough=True)}
        plain = {e.name: b"".join(c) for e, c in readers.iter_version(unique_container, manifest)}
    finally:
        readers.shutdown()
    assert {n: b"".join(bundles.inflate([raw[n]], len(d))) for n, d in KEPT.items()} == KEPT
    assert plain == KEPT | {"small.txt": b"hello\n"}
    # Each object's CRC-32 is that of what Swift serves (an SLO's, from its segments' combined).
    assert all(e.object_crc32 == zlib.crc32(raw[name]) for name, e in kept.items())


@pytest.mark.parametrize("name", sorted(KEPT))
def test_a_kept_file_that_does_not_inflate_to_its_crc_fails_every_read(slo_store, unique_container, tmp_path, name):
    writer = slo_store.tree_writer(unique_container, "input/")
    _keep(writer, tmp_path, {name: KEPT[name]}, crc_of=lambda data: zlib.crc32(data) ^ 1)
    manifest = writer.commit()
    with pytest.raises(swiftstore.errors.IntegrityError, match="CRC-32"):
        slo_store.get_tree(unique_container, "input/", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(swiftstore.errors.IntegrityError, match="CRC-32"):
        b"".join(slo_store.iter_entry(unique_container, manifest, manifest.entries[0]))


def test_a_kept_file_must_be_too_large_to_bundle(store, unique_container, tmp_path):
    writer = store.tree_writer(unique_container, "input/")
    with pytest.raises(ValueError, match="bundled"):
        _keep(writer, tmp_path, {"a.dcm": image_like(1000)})
    writer.abort()


def test_put_tree_compresses_larger_image_like_files_and_leaves_noise_alone(slo_store, unique_container,
                                                                           swift_connection, tmp_path):
    """What the publisher's put does with a job's larger outputs: an image-like file (plain object
    or SLO) is stored as its DEFLATE stream, a noise file as it is, and so is one whose sample
    fooled the probe (compressed for nothing, then stored as it is); the spools are gone after."""
    fooled = bytearray(os.urandom(3 << 20))
    for i in range(4):  # zeros exactly where the probe's 1 KiB sample comes from: noise elsewhere
        at = (2 * i + 1) * len(fooled) // 8 - 128
        fooled[at:at + 256] = bytes(256)
    files = KEPT | {"noise.bin": os.urandom(3 << 20), "small.dcm": image_like(50_000), "fooled.bin": bytes(fooled)}
    spools = tmp_path / "spools"
    spools.mkdir()
    writer = slo_store.tree_writer(unique_container, "output/", spool_dir=str(spools))
    for rel, data in files.items():
        (tmp_path / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / rel).write_bytes(data)
        writer.add(rel, str(tmp_path / "src" / rel), len(data))
    manifest = writer.commit()
    assert not list(spools.iterdir())
    kept = {e.name: e for e in manifest.entries if e.kept_deflated}
    assert set(kept) == set(KEPT) and kept["ct/slo.dcm"].segments > 1
    for e in kept.values():
        assert int(swift_connection.head_object(unique_container, e.object)["content-length"]) == e.deflated \
            < 0.6 * e.size
    slo_store.get_tree(unique_container, "output/", tmp_path / "out")
    assert read_tree(tmp_path / "out") == files
    # put_tree does the same (the publisher's put); and a store told not to compresses nothing.
    seen = []
    again = slo_store.put_tree(unique_container, "output/", tmp_path / "src", progress=lambda *a: seen.append(a))
    assert {e.name for e in again.entries if e.kept_deflated} == set(KEPT)
    total = sum(map(len, files.values()))  # progress counts the files' bytes, not the streams'
    assert seen[-1] == (len(files), len(files), total, total)
    plain = slo_store.put_tree(unique_container, "output/", tmp_path / "src", compress=False)
    assert not any(e.deflated for e in plain.entries)


def test_a_spool_that_cannot_be_written_stores_the_file_as_it_is(slo_store, unique_container, tmp_path, caplog):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ct.dcm").write_bytes(KEPT["ct/plain.dcm"])
    writer = slo_store.tree_writer(unique_container, "output/", spool_dir=str(tmp_path / "missing"))
    writer.add("ct.dcm", str(tmp_path / "src" / "ct.dcm"), len(KEPT["ct/plain.dcm"]))
    manifest = writer.commit()
    assert manifest.entries[0].deflated is None and "could not compress ct.dcm" in caplog.text
    assert b"".join(slo_store.iter_entry(unique_container, manifest, manifest.entries[0])) == KEPT["ct/plain.dcm"]


def test_an_aborted_writer_removes_its_spools(slo_store, unique_container, tmp_path):
    spools = tmp_path / "spools"
    spools.mkdir()
    (tmp_path / "ct.dcm").write_bytes(KEPT["ct/slo.dcm"])
    writer = slo_store.tree_writer(unique_container, "output/", spool_dir=str(spools))
    writer.add("ct.dcm", str(tmp_path / "ct.dcm"), len(KEPT["ct/slo.dcm"]))
    writer.abort()
    assert not list(spools.iterdir())
    assert slo_store.read_manifest(unique_container, "output/") is None
