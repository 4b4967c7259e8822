"""Files uploaded while they are still being written (``TreeWriter.begin_file``), against the real
Swift: pfioh's unzip writes a large entry to its staging directory as the zip arrives, and each
SLO segment goes up as soon as the file holds it; the file is recorded (its last segment, its SLO
manifest) only once it is complete and checked.  Segments of 1 MiB make a few MiB enough."""
from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib

import pytest

from pfioh import streamzip, ziputil
from swiftstore import bundles, names
from tests.support.trees import image_like
from tests.support.waiting import wait_until

LIMITS = ziputil.Limits(max_bytes=100 << 20, max_ratio=100)
MiB = 1 << 20


def _segments(store, container: str, writer, rel: str) -> set[int]:
    """The indexes of ``rel``'s segments in Swift."""
    prefix = names.version_segments(writer.prefix, writer.version, rel)
    return {int(o.name[len(prefix):]) for o in store.list(container, prefix)} if store.exists(container) else set()


@pytest.mark.parametrize("kept", [False, True], ids=["as-is", "deflated"])
def test_segments_go_up_as_the_file_grows_and_the_file_is_recorded_only_by_finish(
        small_slo_store, unique_container, tmp_path, kept):
    store = small_slo_store
    data = image_like(5 * MiB + 12345)
    body = bundles.deflate(data) if kept else data  # what the local file holds
    assert len(body) > 2 * MiB
    writer = store.tree_writer(unique_container, "input/")
    path = tmp_path / "growing"
    growing = writer.begin_file("ct.dcm", str(path), len(data), deflated=len(body) if kept else None)
    assert growing is not None
    last = (len(body) - 1) // MiB
    with open(path, "wb") as out:
        out.write(body[:2 * MiB + 10])
        out.flush()
        growing.grown(out.tell())
        # Uploaded while the file is still being written: the two segments it holds whole.
        wait_until(lambda: _segments(store, unique_container, writer, "ct.dcm") == {0, 1}, "segments 0 and 1")
        out.write(body[2 * MiB + 10:])
        out.flush()
        growing.grown(out.tell())
    wait_until(lambda: _segments(store, unique_container, writer, "ct.dcm") == set(range(last)), "all but the last")
    # The last segment (and so the SLO) waits for finish, whatever the file holds by then.
    assert last not in _segments(store, unique_container, writer, "ct.dcm")
    assert store.read_manifest(unique_container, "input/") is None
    growing.finish(zlib.crc32(data))
    manifest = writer.commit()
    (entry,) = manifest.entries
    assert entry.segments == last + 1 and entry.size == len(data)
    assert entry.kept_deflated == kept and (entry.deflated == len(body) if kept else entry.deflated is None)
    assert b"".join(store.iter_entry(unique_container, manifest, entry)) == data
    assert entry.object_crc32 == zlib.crc32(body)  # combined from its segments', uploaded in any order
    store.get_tree(unique_container, "input/", tmp_path / "got")
    assert (tmp_path / "got" / "ct.dcm").read_bytes() == data


def test_a_file_under_two_segments_is_not_grown(small_slo_store, unique_container, tmp_path):
    writer = small_slo_store.tree_writer(unique_container, "input/")
    assert writer.begin_file("a.dcm", str(tmp_path / "a"), 3 * MiB, deflated=MiB) is None  # one segment of stream
    assert writer.begin_file("b.dcm", str(tmp_path / "b"), MiB) is None  # bundled
    writer.abort()


def test_abort_deletes_the_segments_already_up(small_slo_store, unique_container, tmp_path):
    store = small_slo_store
    writer = store.tree_writer(unique_container, "input/")
    path = tmp_path / "growing"
    path.write_bytes(os.urandom(3 * MiB))
    growing = writer.begin_file("ct.dcm", str(path), 5 * MiB)
    growing.grown(3 * MiB)
    wait_until(lambda: _segments(store, unique_container, writer, "ct.dcm") == {0, 1, 2}, "three segments")
    # A sender that stalls here (a slow or vanished client) holds no upload thread: every task
    # submitted so far ends although the file never grows again.
    wait_until(lambda: all(f.done() for f in writer._futures), "the submitted uploads to end")
    assert len(writer._futures) == 3
    writer.abort()  # the file never completed (a push cut short, a bad CRC)
    assert store.list(unique_container) == []


def _zip(files: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, (data, method) in files.items():
            zf.writestr(name, data, compress_type=method)
    return buf.getvalue()


def _unpack_early(store, container, tmp_path, data: bytes, step: int = 256 << 10):
    """pfioh's early path with a real writer: feed the zip as it would arrive, then adopt it."""
    path = tmp_path / "up.zip"
    path.write_bytes(data)
    (tmp_path / "staging").mkdir(exist_ok=True)
    ex = streamzip.Extractor(tmp_path / "staging", LIMITS, store.tree_writer(container, "input/"))
    for i in range(0, len(data), step):
        ex.write(data[i:i + step])
    return ex, streamzip.adopt(ex, path, LIMITS)


def test_pfiohs_unzip_grows_large_entries_into_slos_that_read_back_whole(small_slo_store, unique_container, tmp_path):
    """A large entry that came deflated is kept as its stream, a large one that did not as it is:
    both grow into SLOs while the zip arrives, and read back whole."""
    files = {"ct.dcm": (image_like(6 * MiB), zipfile.ZIP_DEFLATED), "noise.bin": (os.urandom(4 * MiB), zipfile.ZIP_STORED),
             "small.txt": (b"hello\n", zipfile.ZIP_DEFLATED)}
    ex, adopted = _unpack_early(small_slo_store, unique_container, tmp_path, _zip(files))
    try:
        assert adopted is not None, ex.failed
        manifest = ex.writer.commit()
        ex.committed = True
    finally:
        ex.close()
    got = {e.name: e for e in manifest.entries}
    assert got["ct.dcm"].kept_deflated and got["ct.dcm"].segments >= 3
    assert not got["noise.bin"].kept_deflated and got["noise.bin"].segments == 4
    small_slo_store.get_tree(unique_container, "input/", tmp_path / "got")
    for name, (data, _) in files.items():
        assert (tmp_path / "got" / name).read_bytes() == data


def test_a_large_entry_with_a_wrong_crc_leaves_nothing_in_swift(small_slo_store, unique_container, tmp_path):
    """Its segments went up as it arrived; the CRC-32 at its end stops the early path, and the
    aborted writer deletes them (the ordinary path then refuses the archive)."""
    data = bytearray(_zip({"ct.dcm": (image_like(6 * MiB), zipfile.ZIP_DEFLATED)}))
    crc_at = 14  # the local header's CRC-32 (the central directory keeps the right one)
    struct.pack_into("<L", data, crc_at, struct.unpack_from("<L", data, crc_at)[0] ^ 1)
    ex, adopted = _unpack_early(small_slo_store, unique_container, tmp_path, bytes(data))
    try:
        assert adopted is None and "CRC" in ex.failed
        # They did go up: all but the last of a stream of over 3 MiB in 1 MiB segments.
        wait_until(lambda: len(_segments(small_slo_store, unique_container, ex.writer, "ct.dcm")) >= 3, "segments")
    finally:
        ex.close()  # aborts the writer nobody committed
    assert small_slo_store.list(unique_container) == []
