"""Small files packed into bundle objects: packing, the one-pass reader, cutting a bundle back
into files, and the store's reads of bundled trees over the in-memory Connection."""
import hashlib
import os
import random
import zlib
from pathlib import Path

import pytest

import swiftstore
from swiftstore import bundles, errors, reading
from tests.support.fake_swiftclient import FakeSwift, md5
from tests.support.trees import read_every_way


def _members(tmp_path, sizes):
    out = []
    for i, size in enumerate(sizes):
        path = tmp_path / f"m{i}"
        path.write_bytes(os.urandom(size))
        out.append(bundles.Member(f"m{i}", str(path), size))
    return out


def test_pack_groups_files_in_order_up_to_the_target():
    files = [bundles.Member(f"f{i}", "", s) for i, s in enumerate([4, 4, 4, 10, 1, 0])]
    packed = bundles.pack(files, 8, lambda i: f"b{i}")
    assert [[m.rel for m in b.members] for b in packed] == [["f0", "f1"], ["f2"], ["f3"], ["f4", "f5"]]
    assert packed[0].offsets() == [0, 4] and packed[0].size == 8
    assert bundles.pack([], 8, str) == []


@pytest.mark.parametrize("total,threads,expect", [(10 << 20, 10, 8 << 20), (0, 10, 8 << 20),
                                                  (100 << 20, 10, 10 << 20), (10 << 30, 10, 64 << 20)])
def test_bundle_target_keeps_every_thread_busy_within_bounds(total, threads, expect):
    assert bundles.target_size(total, threads) == expect


def test_bundle_reader_hashes_every_member_and_the_whole_in_one_pass(tmp_path):
    members = _members(tmp_path, [0, 3000, 0, 2 << 20, 5, 0])
    bundle = bundles.Bundle("b", tuple(members))
    seen = []
    with bundles.BundleReader(bundle, seen.append) as reader:
        first = reader.read(100)
        reader.seek(0)  # swiftclient's retry: start over, take back the progress reported
        data = b"".join(iter(lambda: reader.read(16384), b""))
        whole = b"".join(Path(m.path).read_bytes() for m in members)
        assert data == whole and first == whole[:len(first)] and sum(seen) == len(whole)
        assert reader.hexdigest() == md5(whole) and reader.bytes_read == len(whole)
        assert reader.md5s == [md5(Path(m.path).read_bytes()) for m in members]


def test_bundle_reader_knows_trailing_empty_members_without_a_read_past_the_end(tmp_path):
    members = _members(tmp_path, [7, 0, 0])
    with bundles.BundleReader(bundles.Bundle("b", tuple(members))) as reader:
        assert len(reader.read(7)) == 7  # exactly the length: nobody reads again
        assert len(reader.md5s) == 3


def test_bundle_reader_refuses_a_file_that_shrank(tmp_path):
    members = _members(tmp_path, [10, 10])
    (tmp_path / "m1").write_bytes(b"short")
    with bundles.BundleReader(bundles.Bundle("b", tuple(members))) as reader, pytest.raises(OSError, match="shrank"):
        reader.read(100)


@pytest.mark.parametrize("chunks", [[b"abcdefgh"], [b"a", b"bc", b"defgh"], [b"abcd", b"", b"efgh"]])
def test_split_cuts_a_stream_at_the_offsets(chunks):
    got = [(i, b"".join(part)) for i, part in bundles.split(chunks, [3, 0, 4, 1])]
    assert got == [(0, b"abc"), (1, b""), (2, b"defg"), (3, b"h")]


def test_split_hands_out_views_that_stay_true_once_kept():
    """The pieces are views of the stream's chunks, not copies; one kept past the next member
    still holds its bytes, and a chunk that could change (a reused bytearray) is copied first."""
    reused = bytearray(b"defgh")
    kept = []
    for _, part in bundles.split([b"abc", reused], [2, 3, 3]):
        kept.extend(part)
    reused[:] = b"XXXXX"
    assert all(isinstance(piece, memoryview) for piece in kept)
    assert [bytes(piece) for piece in kept] == [b"ab", b"c", b"de", b"fgh"]
    assert kept[0].obj is kept[1].obj  # one chunk, two views: nothing was copied


@pytest.mark.parametrize("chunks,error", [([b"abc"], "early"), ([b"abcdefghij"], "longer")])
def test_split_refuses_a_bundle_of_the_wrong_length(chunks, error):
    with pytest.raises(ValueError, match=error):
        for _, part in bundles.split(chunks, [3, 5]):
            b"".join(part)


@pytest.fixture
def fake_swift():
    return FakeSwift()


@pytest.fixture
def store(fake_swift):
    with swiftstore.SwiftStore(fake_swift.connect, threads=4, slo_threshold=2 << 20, segment_size=1 << 20) as s:
        yield s


FILES = {f"dicom/{i:03d}.dcm": os.urandom(1000 + i) for i in range(60)} | {
    "empty": b"", "big.bin": os.urandom(3 << 20), "mid.bin": os.urandom((1 << 20) + 1)}


def _tree(root, files=FILES):
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def test_a_tree_of_small_files_costs_a_few_requests(store, fake_swift, tmp_path):
    manifest = store.put_tree("c", "input/", _tree(tmp_path / "src"))
    puts = [c for c in fake_swift.calls if c[0] == "PUT" and c[2]]
    bundled = [e for e in manifest.entries if e.offset is not None]
    assert len(bundled) == 61 and {e.object for e in bundled} == {f"input.v/{manifest.version}/b/000000"}
    assert len(puts) == 1 + 1 + 3 + 1 + 1  # the bundle, mid.bin, big.bin's 3 segments, its SLO, the manifest
    fake_swift.calls.clear()
    store.get_tree("c", "input/", tmp_path / "out")
    assert {p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
            for p in (tmp_path / "out").rglob("*") if p.is_file()} == FILES
    assert len([c for c in fake_swift.calls if c[0] == "GET"]) == 1 + 3  # manifest, bundle, mid.bin, big.bin


def test_one_bundled_file_reads_alone_by_range(store, fake_swift, tmp_path):
    manifest = store.put_tree("c", "input/", _tree(tmp_path / "src"))
    entry = next(e for e in manifest.entries if e.name == "dicom/042.dcm")
    assert b"".join(store.iter_entry("c", manifest, entry)) == FILES["dicom/042.dcm"]
    empty = next(e for e in manifest.entries if e.name == "empty")
    assert b"".join(store.iter_entry("c", manifest, empty)) == b""


def test_a_corrupt_bundle_member_fails_the_get_and_leaves_nothing(store, fake_swift, tmp_path):
    manifest = store.put_tree("c", "input/", _tree(tmp_path / "src"))
    record = fake_swift.containers["c"][f"input.v/{manifest.version}/b/000000"]
    data = bytearray(record["data"])
    data[5000] ^= 0xFF  # rotten on disk: the ETag Swift answers is still the one recorded
    record["data"] = bytes(data)
    with pytest.raises(errors.IntegrityError, match="expected"):
        store.get_tree("c", "input/", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    readers = reading.Readers(store, streams=1, window=2)
    with pytest.raises(errors.IntegrityError, match="expected"):
        for _, chunks in readers.iter_version("c", manifest):
            b"".join(chunks)
    readers.shutdown()


def test_readers_stream_every_file_of_one_version_in_order(store, tmp_path):
    manifest = store.put_tree("c", "input/", _tree(tmp_path / "src"))
    readers = reading.Readers(store, streams=2, window=3)
    try:
        got = {e.name: b"".join(chunks) for e, chunks in readers.iter_version("c", manifest)}
        assert got == FILES
        # Stopping half way leaves no reader behind.
        stream = readers.iter_version("c", manifest)
        entry, chunks = next(stream)
        next(iter(chunks), None)
        stream.close()
    finally:
        readers.shutdown(wait=True)


def test_bundling_can_be_turned_off(fake_swift, tmp_path):
    with swiftstore.SwiftStore(fake_swift.connect, bundle_max_file=-1) as store:
        manifest = store.put_tree("c", "input/", _tree(tmp_path / "src", {"a": b"1", "b": b"2"}))
    assert all(e.offset is None and e.object.endswith("/f/" + e.name) for e in manifest.entries)
    assert hashlib.md5(b"1").hexdigest() == manifest.entries[0].md5


def test_a_retention_makes_every_object_of_a_version_expire_the_manifest_first(fake_swift, tmp_path):
    import time
    with swiftstore.SwiftStore(fake_swift.connect, slo_threshold=2 << 20, segment_size=1 << 20, retention=86400) as store:
        before = time.time()
        manifest = store.put_tree("c", "input/", _tree(tmp_path / "src"))
        store.put_json("c", "result.json", {"ok": True})
    at = {name: int(rec["headers"]["x-delete-at"]) for name, rec in fake_swift.containers["c"].items()}
    assert set(at) == {"input.manifest.json", "result.json", *manifest.owned()}
    assert int(before) + 86400 <= at["input.manifest.json"] <= time.time() + 86400
    assert all(at[o] >= at["input.manifest.json"] + 3600 for o in manifest.owned())
    with pytest.raises(ValueError):
        swiftstore.SwiftStore(fake_swift.connect, retention=0)


def test_a_writer_bundles_files_handed_over_in_memory_and_holds_back_when_uploads_lag(fake_swift, monkeypatch, tmp_path):
    import threading
    from swiftstore import writer as writer_mod
    monkeypatch.setattr(writer_mod, "MAX_PENDING_BYTES", 3000)
    gate = threading.Event()
    from tests.support.fake_swiftclient import FakeConnection
    orig = FakeConnection.put_object

    def slow_put(self, *a, **kw):  # uploads wait until the test lets them go
        gate.wait(10)
        return orig(self, *a, **kw)
    monkeypatch.setattr(FakeConnection, "put_object", slow_put)
    with swiftstore.SwiftStore(fake_swift.connect, threads=2) as store:
        w = store.tree_writer("c", "input/", bundle_target=2000)
        files = {f"f{i}": os.urandom(1000) for i in range(8)}
        held = []
        adder = threading.Thread(target=lambda: [w.add_bytes(k, v) or held.append(k) for k, v in files.items()])
        adder.start()
        adder.join(1.0)
        assert adder.is_alive() and len(held) < len(files)  # held back: uploads are not keeping up
        gate.set()
        adder.join(10)
        manifest = w.commit()
        assert held == list(files)
    assert {e.name for e in manifest.entries} == set(files)
    assert all(e.offset is not None for e in manifest.entries)
    with pytest.raises(ValueError, match="too large"):
        store.tree_writer("c", "input/").add_bytes("big", bytes(store.bundle_max_file + 1))


def _deflate(data: bytes) -> bytes:
    return bundles.deflate(data, level=6)  # zip's default level, as a client's zip would have it


# Compressible like images: half noise, half zeros.
DEFLATABLE = {f"img/{i:03d}.dcm": os.urandom(500 + i) + bytes(1500) for i in range(20)} | {"tiny": b"x"}


def _write_deflated(store, files=DEFLATABLE):
    w = store.tree_writer("c", "input/")
    for rel, data in files.items():
        w.add_bytes(rel, data, deflated=_deflate(data))
    return w.commit()


def test_deflated_members_are_stored_compressed_and_read_back_as_the_files(store, fake_swift, tmp_path):
    manifest = _write_deflated(store)
    by_name = {e.name: e for e in manifest.entries}
    assert all(by_name[n].deflated == len(_deflate(d)) for n, d in DEFLATABLE.items() if n != "tiny")
    assert by_name["tiny"].deflated is None  # compressing made it bigger: kept as it is
    # The file's CRC-32 travels with its stream (a pulled zip can pass the stream on as it is).
    assert all(by_name[n].crc32 == zlib.crc32(d) for n, d in DEFLATABLE.items() if n != "tiny")
    assert by_name["tiny"].crc32 is None
    # A compressed file is checked by its CRC-32, not an MD5 (format 4); one stored as it is by its MD5.
    assert all(not by_name[n].md5 for n in DEFLATABLE if n != "tiny")
    assert by_name["tiny"].md5 == hashlib.md5(b"x").hexdigest()
    assert manifest.to_json().startswith('{"format":"swiftstore-manifest/4"')
    bundle = fake_swift.containers["c"][f"input.v/{manifest.version}/b/000000"]["data"]
    assert len(bundle) == sum(e.stored_size for e in manifest.entries) < manifest.total_bytes // 2
    # Every way of reading gives the files, each checked.
    assert store.read_manifest("c", "input/") == manifest
    assert read_every_way(store, "c", manifest, tmp_path / "out") == [DEFLATABLE] * 3


def _without_object_crc32s(manifest):
    """``manifest`` as written before objects' CRC-32s were recorded (read by their MD5s)."""
    import dataclasses
    return dataclasses.replace(manifest, entries=tuple(dataclasses.replace(e, object_crc32=None)
                                                       for e in manifest.entries))


def _as_format_3(manifest, md5_of=lambda data: hashlib.md5(data).hexdigest()):
    """``manifest`` as format 3 wrote it: every compressed file with its own MD5."""
    import dataclasses
    return dataclasses.replace(manifest, entries=tuple(dataclasses.replace(e, md5=e.md5 or md5_of(DEFLATABLE[e.name]))
                                                       for e in manifest.entries))


@pytest.mark.parametrize("wrong", [False, True])
def test_a_format_3_manifest_is_still_read_and_its_md5s_checked(store, fake_swift, tmp_path, wrong):
    manifest = _write_deflated(store)
    older = _as_format_3(manifest, (lambda data: hashlib.md5(b"other").hexdigest()) if wrong else
                         (lambda data: hashlib.md5(data).hexdigest()))
    assert older.to_json().startswith('{"format":"swiftstore-manifest/3"')
    store.put_bytes("c", "input.manifest.json", older.to_json().encode())
    if wrong:  # the MD5 decides, where there is one
        with pytest.raises(errors.IntegrityError, match="MD5 .* expected"):
            store.get_tree("c", "input/", tmp_path / "out")
    else:
        assert read_every_way(store, "c", older, tmp_path / "out") == [DEFLATABLE] * 3


def test_a_deflated_member_that_inflates_to_other_bytes_fails_every_read(store, fake_swift, tmp_path):
    manifest = _write_deflated(store)
    entry = next(e for e in manifest.entries if e.name == "img/003.dcm")
    record = fake_swift.containers["c"][entry.object]
    import random
    rnd = random.Random(3)  # another file whose stream has the same length: only its CRC-32 can tell
    other = next(o for o in (_deflate(rnd.randbytes(503) + bytes(1500)) for _ in range(2000))
                 if len(o) == entry.deflated)
    record["data"] = record["data"][:entry.offset] + other + record["data"][entry.offset + entry.deflated:]
    with pytest.raises(errors.IntegrityError, match="expected"):
        store.get_tree("c", "input/", tmp_path / "out")
    with pytest.raises(errors.IntegrityError, match="expected"):
        b"".join(store.iter_entry("c", manifest, entry))


def test_a_passthrough_read_gives_compressed_members_as_their_streams(store, fake_swift):
    manifest = _write_deflated(store)
    readers = reading.Readers(store, streams=1, window=2)
    try:
        got = {e.name: (reading.passed_through(e), b"".join(c))
               for e, c in readers.iter_version("c", manifest, passthrough=True)}
    finally:
        readers.shutdown()
    for name, data in DEFLATABLE.items():
        if name == "tiny":  # stored as it is: comes as the file
            assert got[name] == (None, data)
        else:
            stream = _deflate(data)
            assert got[name] == ((zlib.crc32(data), len(stream)), stream)


@pytest.mark.parametrize("check", ["CRC-32", "MD5"])
def test_a_passthrough_read_checks_the_bundle_whole_and_fails_at_its_end(store, fake_swift, check):
    """By the bundle's CRC-32 its upload recorded (a third of a pull's CPU went to the MD5), or by
    its ETag where the manifest has none (written before it recorded them)."""
    manifest = _write_deflated(store)
    assert all(e.object_crc32 is not None for e in manifest.entries)
    if check == "MD5":
        manifest = _without_object_crc32s(manifest)
    entry = next(e for e in manifest.entries if e.name == "img/003.dcm")
    record = fake_swift.containers["c"][entry.object]
    at = entry.offset + entry.deflated // 2  # the ETag Swift reports stays the recorded one
    record["data"] = record["data"][:at] + bytes([record["data"][at] ^ 1]) + record["data"][at + 1:]
    readers = reading.Readers(store, streams=1, window=2)
    seen = []
    try:
        with pytest.raises(errors.IntegrityError, match=f"not verified: {check} [0-9a-f]+, expected"):
            for e, chunks in readers.iter_version("c", manifest, passthrough=True):
                seen.append(e.name)
                b"".join(chunks)
    finally:
        readers.shutdown()
    assert seen == sorted(DEFLATABLE)  # every member of the one bundle came, then the failure


def test_a_passthrough_read_inflates_a_member_recorded_without_its_crc(store, fake_swift):
    import dataclasses
    manifest = _write_deflated(store)
    older = dataclasses.replace(manifest, entries=tuple(dataclasses.replace(e, crc32=None)
                                                        for e in _as_format_3(manifest).entries))
    readers = reading.Readers(store, streams=1, window=2)
    try:
        got = {e.name: b"".join(c) for e, c in readers.iter_version("c", older, passthrough=True)}
    finally:
        readers.shutdown()
    assert got == DEFLATABLE


@pytest.mark.parametrize("stream,size,why", [
    (_deflate(b"a" * 100)[:-2], 100, "truncated"),
    (_deflate(b"a" * 100) + b"junk", 100, "after"),
    (_deflate(b"a" * 100_000), 1000, "more than"),
    (_deflate(b"a" * 100), 101, "not 101"),
    (b"\xff" * 20, 5, "corrupt"),
])
def test_inflate_refuses_a_stream_that_is_not_exactly_the_file(stream, size, why):
    with pytest.raises(ValueError, match=why):
        b"".join(bundles.inflate([stream[:7], stream[7:]], size))


def _capped_at_the_end() -> tuple[bytes, bytes]:
    """A file of ``CHUNK + 1`` bytes whose stream zlib takes in whole while its output is still
    capped at ``CHUNK``: the last byte is held back until asked for."""
    n = bundles.CHUNK + 1
    data = random.Random(5).randbytes(n - n // 2) + bytes(n // 2)
    return data, _deflate(data)


@pytest.mark.parametrize("step", [None, 65536])
def test_inflate_asks_zlib_for_what_it_holds_back_at_the_end(step):
    data, stream = _capped_at_the_end()
    engine = zlib.decompressobj(-15)
    assert len(engine.decompress(stream, bundles.CHUNK)) == bundles.CHUNK and not engine.unconsumed_tail
    assert not engine.eof  # the case: all input taken, one byte still inside zlib
    chunks = [stream] if step is None else [stream[i:i + step] for i in range(0, len(stream), step)]
    assert b"".join(bundles.inflate(chunks, len(data))) == data


def test_inflate_refuses_bytes_after_the_end_in_the_last_chunk():
    """zlib leaves them in unconsumed_tail as well as unused_data: fed again, they would loop for ever."""
    data, stream = _capped_at_the_end()
    with pytest.raises(ValueError, match="after"):
        b"".join(bundles.inflate([stream + b"junk"], len(data)))
    data = bytes(3 * bundles.CHUNK)
    with pytest.raises(ValueError, match="after"):
        b"".join(bundles.inflate([_deflate(data) + b"junk"], len(data)))


def test_a_manifest_refuses_a_deflated_entry_outside_a_bundle_without_its_crc32():
    from swiftstore.manifest import Manifest
    doc = ('{"format":"swiftstore-manifest/3","prefix":"input/","version":"","created":"x","total_bytes":1,'
           '"files":1,"entries":[{"name":"a","size":1,"md5":"%s","deflated":3}]}' % md5(b"a"))
    with pytest.raises(errors.IntegrityError, match="bad entry"):
        Manifest.from_json(doc)


@pytest.mark.parametrize("extra", [',"crc32":5', ',"offset":0,"etag":"%s","deflated":3,"crc32":-1' % md5(b"a"),
                                   ',"offset":0,"etag":"%s","deflated":3,"crc32":4294967296' % md5(b"a")])
def test_a_manifest_refuses_a_crc32_without_a_stream_or_out_of_range(extra):
    from swiftstore.manifest import Manifest
    doc = ('{"format":"swiftstore-manifest/3","prefix":"input/","version":"","created":"x","total_bytes":1,'
           '"files":1,"entries":[{"name":"a","size":1,"md5":"%s","object":"input/b"%s}]}' % (md5(b"a"), extra))
    with pytest.raises(errors.IntegrityError, match="bad entry"):
        Manifest.from_json(doc)


@pytest.mark.parametrize("entry", ['"object_crc32":5',  # no object of its own to be the CRC-32 of
                                   '"object":"input/b","object_crc32":-1',
                                   '"object":"input/b","object_crc32":4294967296'])
def test_a_manifest_refuses_an_object_crc32_without_an_object_or_out_of_range(entry):
    from swiftstore.manifest import Manifest
    doc = ('{"format":"swiftstore-manifest/2","prefix":"input/","version":"","created":"x","total_bytes":1,'
           '"files":1,"entries":[{"name":"a","size":1,"md5":"%s",%s}]}' % (md5(b"a"), entry))
    with pytest.raises(errors.IntegrityError, match="bad entry"):
        Manifest.from_json(doc)


def test_every_object_records_the_crc32_of_its_bytes_as_stored_and_it_reads_back(store, fake_swift, tmp_path):
    """Bundles, plain objects and SLOs (the CRC-32 of the whole, from its segments' uploaded in
    parallel) alike."""
    from swiftstore.manifest import Manifest
    manifest = store.put_tree("c", "input/", str(_tree(tmp_path / "t")))
    assert {e.segments > 0 for e in manifest.entries} == {True, False}  # an SLO among them
    objects = {e.object: e.object_crc32 for e in manifest.entries}
    stored = {e.object: b"".join(store.iter_entry("c", manifest, e)) for e in manifest.entries if e.offset is None}
    stored |= {e.object: fake_swift.containers["c"][e.object]["data"] for e in manifest.entries if e.offset is not None}
    assert objects == {obj: zlib.crc32(data) for obj, data in stored.items()}
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.format == "swiftstore-manifest/2"  # a reader that knows nothing of it still reads it


@pytest.mark.parametrize("check", ["CRC-32", "MD5"])
@pytest.mark.parametrize("name", ["mid.bin", "big.bin"])  # a plain object, an SLO
def test_a_file_of_its_own_read_whole_is_checked_by_its_objects_crc32(store, fake_swift, tmp_path, name, check):
    """Readers check a file's own object whole by the CRC-32 its upload recorded, or, in a manifest
    written before those were recorded, by its MD5 (for an SLO: its segments')."""
    manifest = store.put_tree("c", "input/", str(_tree(tmp_path / "t")))
    if check == "MD5":
        manifest = _without_object_crc32s(manifest)
    entry = next(e for e in manifest.entries if e.name == name)
    record = fake_swift.containers["c"][entry.object]
    record["data"] = record["data"][:-10] + bytes([record["data"][-10] ^ 1]) + record["data"][-9:]
    readers = reading.Readers(store, streams=1, window=2)
    try:
        with pytest.raises(errors.IntegrityError, match=f"not verified: {check} [0-9a-f]+, expected"):
            for _, chunks in readers.iter_version("c", manifest):
                b"".join(chunks)
    finally:
        readers.shutdown()


def test_add_deflated_takes_the_callers_crc_and_the_stream_reads_back(store, tmp_path):
    """pfioh's unzip hands over streams it inflated and checked on its own threads."""
    w = store.tree_writer("c", "input/")
    files = {n: d for n, d in DEFLATABLE.items() if n != "tiny"}
    for rel, data in files.items():
        w.add_deflated(rel, len(data), _deflate(data), zlib.crc32(data))
    manifest = w.commit()
    by_name = {e.name: e for e in manifest.entries}
    assert {n: (e.size, e.md5, e.crc32, e.deflated) for n, e in by_name.items()} == {
        n: (len(d), "", zlib.crc32(d), len(_deflate(d))) for n, d in files.items()}
    assert read_every_way(store, "c", manifest, tmp_path / "out") == [files] * 3
    with pytest.raises(ValueError, match="too large"):
        store.tree_writer("c", "input/").add_deflated("big", store.bundle_max_file + 1, b"x", 0)


def test_a_wrong_crc_handed_to_add_deflated_is_caught_on_reading(store, tmp_path):
    data = DEFLATABLE["img/000.dcm"]
    w = store.tree_writer("c", "input/")
    w.add_deflated("a", len(data), _deflate(data), zlib.crc32(data) ^ 1)
    w.commit()
    with pytest.raises(swiftstore.errors.IntegrityError):
        store.get_tree("c", "input/", str(tmp_path / "out"))
