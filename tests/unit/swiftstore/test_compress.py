"""Small local files stored compressed: put_tree and TreeWriter.add keep a bundled file as a raw
DEFLATE stream when that pays, compressing on the upload threads, and store incompressible
files as they are after a cheap probe.  Over the in-memory Connection."""
import math
import os
import random
import threading
import zlib

import pytest

import swiftstore
from swiftstore import bundles, errors, uploads
from tests.support.fake_swiftclient import FakeSwift
from tests.support.trees import image_like, make_tree, read_every_way, read_tree


IMAGES = {f"img/{i:03d}.dcm": image_like(20_000 + 37 * i) for i in range(40)}
NOISE = {f"noise/{i:03d}.bin": os.urandom(20_000 + 37 * i) for i in range(40)}
# A header-like head of noise, then zeros: only a sample spread over the file sees it shrink.
LATE_ZEROS = {"late.bin": os.urandom(256 << 10) + bytes(768 << 10)}
SMALL = {"tiny.txt": b"a" * 100, "empty": b""}


@pytest.fixture
def fake_swift():
    return FakeSwift()


@pytest.fixture
def store(fake_swift):
    with swiftstore.SwiftStore(fake_swift.connect, threads=4) as s:
        yield s


def _bundle_bytes(fake_swift, manifest) -> int:
    objects = fake_swift.objects("c")
    return sum(len(objects[o]) for o in {e.object for e in manifest.entries if e.offset is not None})


def _entries(manifest):
    return {e.name: e for e in manifest.entries}


def test_image_like_files_are_stored_compressed_and_read_back_as_they_were(store, fake_swift, tmp_path):
    files = IMAGES | LATE_ZEROS | SMALL
    manifest = store.put_tree("c", "input/", make_tree(tmp_path / "src", files))
    assert _bundle_bytes(fake_swift, manifest) < 0.6 * manifest.total_bytes
    entries = _entries(manifest)
    for name, data in IMAGES.items() | LATE_ZEROS.items():
        entry = entries[name]
        assert entry.deflated is not None and entry.deflated <= 0.9 * len(data)
        assert not entry.md5 and entry.crc32 == zlib.crc32(data)  # its CRC-32 checks it
    assert entries["tiny.txt"].deflated is None and entries["empty"].deflated is None  # too small to bother
    # Every way of reading inflates and checks them.
    assert read_every_way(store, "c", manifest, tmp_path / "out") == [files] * 3


def test_incompressible_files_are_stored_as_they_are_after_a_probe(store, fake_swift, tmp_path, monkeypatch):
    whole = []  # files compressed whole: the probe of a sample should spare every one of these
    real = bundles.deflate
    monkeypatch.setattr(bundles, "deflate", lambda data, *a: whole.append(len(data)) or real(data, *a))
    manifest = store.put_tree("c", "input/", make_tree(tmp_path / "src", NOISE))
    assert whole == []
    assert all(e.deflated is None and e.crc32 is None for e in manifest.entries)
    assert _bundle_bytes(fake_swift, manifest) == manifest.total_bytes
    assert '"deflated"' not in fake_swift.objects("c")["input.manifest.json"].decode()
    store.get_tree("c", "input/", tmp_path / "out")
    assert read_tree(tmp_path / "out") == NOISE


def _photo(size: int, seed: int) -> bytes:
    """An 8-bit picture: smooth, with some noise (every byte value in use, so only zlib on the
    sample can tell it apart from noise)."""
    rnd = random.Random(seed)
    return bytes(max(0, min(255, int(128 + 60 * math.sin(i / 50) + rnd.gauss(0, 5)))) for i in range(size))


def test_the_probe_tries_what_compresses_and_passes_over_noise_behind_a_header(store, tmp_path, monkeypatch):
    header = b"DICM" + b"(0010,0010) PN Doe^Jane " * 80  # a text-like header, then noise
    files = {"photo.raw": _photo(60_000, 1), "jpeg.dcm": header + os.urandom(200_000)}
    tried = []
    real = bundles.deflate
    monkeypatch.setattr(bundles, "deflate", lambda data, *a: tried.append(len(data)) or real(data, *a))
    manifest = store.put_tree("c", "input/", make_tree(tmp_path / "src", files))
    entries = _entries(manifest)
    assert entries["photo.raw"].deflated and entries["jpeg.dcm"].deflated is None
    assert tried == [60_000]  # the noise was never compressed whole
    store.get_tree("c", "input/", tmp_path / "out")
    assert read_tree(tmp_path / "out") == files


def test_a_mixed_tree_compresses_only_what_pays(store, fake_swift, tmp_path):
    files = IMAGES | NOISE | SMALL | {"big.bin": os.urandom((1 << 20) + 1)}  # one object of its own
    manifest = store.put_tree("c", "input/", make_tree(tmp_path / "src", files))
    entries = _entries(manifest)
    assert {n for n, e in entries.items() if e.deflated is not None} == set(IMAGES)
    assert entries["big.bin"].offset is None
    store.get_tree("c", "input/", tmp_path / "out")
    assert read_tree(tmp_path / "out") == files


def test_files_are_compressed_on_the_upload_threads(store, tmp_path, monkeypatch):
    threads = set()
    real = bundles.deflate
    monkeypatch.setattr(bundles, "deflate", lambda data, *a: threads.add(threading.current_thread().name)
                        or real(data, *a))
    store.put_tree("c", "input/", make_tree(tmp_path / "src", IMAGES))
    assert threads and all(t.startswith("swiftstore") for t in threads)


def test_progress_counts_the_files_bytes_and_reaches_the_totals(store, tmp_path):
    files = IMAGES | NOISE | SMALL
    seen = []
    manifest = store.put_tree("c", "input/", make_tree(tmp_path / "src", files), progress=lambda *a: seen.append(a))
    total = sum(len(d) for d in files.values())
    assert any(e.deflated for e in manifest.entries)
    assert seen[-1] == (len(files), len(files), total, total)
    assert all(done <= total for _, _, done, _ in seen)


def test_a_compressed_bundle_rewinds_for_a_retry_and_still_counts_file_bytes(tmp_path):
    make_tree(tmp_path, IMAGES)
    planned = bundles.Bundle("b", tuple(bundles.Member(n, str(tmp_path / n), len(d)) for n, d in IMAGES.items()))
    bundle = bundles.prepare(planned)
    assert all(m.deflated for m in bundle.members) and bundle.file_bytes == planned.size > bundle.size
    reported = []
    progress = uploads.Progress(lambda *a: reported.append(a[2]), len(IMAGES), bundle.file_bytes, interval=0)
    with bundles.BundleReader(bundle, progress.scaled(bundle.size, bundle.file_bytes)) as reader:
        first = reader.read(5000)
        reader.seek(0)  # swiftclient's retry: start over, take back the progress reported
        assert progress.bytes_done == 0
        body = b"".join(iter(lambda: reader.read(16384), b""))
        assert body[:len(first)] == first and len(body) == bundle.size
        assert reader.md5s == [""] * len(IMAGES)  # compressed: no MD5 (their CRC-32s check them)
    assert reported[-1] == bundle.file_bytes
    for data, member, at in zip(IMAGES.values(), bundle.members, bundle.offsets()):
        assert b"".join(bundles.inflate([body[at:at + member.stored]], len(data))) == data


def test_a_file_that_shrank_before_its_upload_fails_the_put_and_nothing_changes(store, tmp_path):
    src = make_tree(tmp_path / "src", IMAGES)
    writer = store.tree_writer("c", "input/")
    for name, data in IMAGES.items():
        writer.add(name, str(src / name), len(data))
    # Before the bundle is prepared (at commit), and still compressible: compress_file finds it short.
    (src / "img/003.dcm").write_bytes(bytes(5000))
    with pytest.raises(errors.TransferError, match="shrank"):
        writer.commit()
    assert store.read_manifest("c", "input/") is None


def test_a_file_rewritten_before_its_upload_is_recorded_as_stored(store, tmp_path):
    src = make_tree(tmp_path / "src", IMAGES)
    writer = store.tree_writer("c", "input/")
    for name, data in IMAGES.items():
        writer.add(name, str(src / name), len(data))
    now = image_like(len(IMAGES["img/003.dcm"]))  # same size, other bytes
    (src / "img/003.dcm").write_bytes(now)
    entry = _entries(writer.commit())["img/003.dcm"]
    assert entry.deflated and entry.crc32 == zlib.crc32(now)
    store.get_tree("c", "input/", tmp_path / "out")
    assert (tmp_path / "out/img/003.dcm").read_bytes() == now


def test_compression_can_be_turned_off(fake_swift, tmp_path):
    src = make_tree(tmp_path / "src", IMAGES)
    with swiftstore.SwiftStore(fake_swift.connect, compress_small=False) as store:
        manifest = store.put_tree("c", "input/", src)
        assert all(e.deflated is None for e in manifest.entries)
        assert any(e.deflated for e in store.put_tree("c", "input/", src, compress=True).entries)
    with swiftstore.SwiftStore(fake_swift.connect) as store:
        assert all(e.deflated is None for e in store.put_tree("c", "input/", src, compress=False).entries)
    with pytest.raises(ValueError, match="compress_small"):
        swiftstore.SwiftStore(fake_swift.connect, compress_small="no")


def test_compressing_caps_the_bundle_target_to_bound_each_threads_memory(store):
    big = 64 << 20
    assert store.tree_writer("c", "input/", bundle_target=big).bundle_target == bundles.MAX_PREPARED
    assert store.tree_writer("c", "input/", bundle_target=big, compress=False).bundle_target == big
