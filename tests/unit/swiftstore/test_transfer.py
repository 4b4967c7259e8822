"""Single-object transfers: hashing exactly what is sent, and how swiftclient's rewind is honoured."""
import hashlib
import zlib

import pytest

from swiftstore import errors, transfer
from tests.support.fake_swiftclient import FakeSwift


def test_hashing_reader_reads_its_window_and_rewinds(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(bytes(range(256)) * 40)
    progress = []
    reader = transfer.HashingReader(str(path), 100, 5000, progress.append)
    first = reader.read(3000)  # small reads are served in bigger blocks, never past the window
    assert first == path.read_bytes()[100:5100] and reader.tell() == 5000 and reader.read(10) == b""
    reader.seek(0)  # what swiftclient does before it retries a PUT
    data = b"".join(iter(lambda: reader.read(777), b""))
    assert data == path.read_bytes()[100:5100]
    assert reader.hexdigest() == hashlib.md5(data).hexdigest() and reader.bytes_read == 5000
    assert reader.crc32 == zlib.crc32(data)  # of the bytes sent since the rewind, as the MD5
    assert sum(progress) == 5000  # the first attempt's bytes were taken back
    with pytest.raises(OSError):
        reader.seek(10)
    reader.close()


def test_download_checks_the_etag_of_a_plain_object(tmp_path):
    swift = FakeSwift()
    conn = swift.connect()
    conn.put_container("c")
    conn.put_object("c", "o", b"payload")
    swift.containers["c"]["o"]["etag"] = "f" * 32  # Swift's ETag no longer matches the bytes
    with pytest.raises(errors.IntegrityError, match="Swift says"):
        transfer.download(conn, "c", "o", str(tmp_path / "o"))
    assert not (tmp_path / "o").exists()


def test_download_refuses_to_overwrite(tmp_path):
    swift = FakeSwift()
    conn = swift.connect()
    conn.put_container("c")
    conn.put_object("c", "o", b"payload")
    (tmp_path / "o").write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        transfer.download(conn, "c", "o", str(tmp_path / "o"))
    assert (tmp_path / "o").read_bytes() == b"mine"


def test_slo_manifest_etag_is_checked(tmp_path):
    swift = FakeSwift()
    conn = swift.connect()
    conn.put_container("c")
    conn.put_object("c", "s0", b"abc")
    conn.put_object("c", "s1", b"de")
    seg = [{"path": "/c/s0", "etag": hashlib.md5(b"abc").hexdigest(), "size_bytes": 3},
           {"path": "/c/s1", "etag": hashlib.md5(b"de").hexdigest(), "size_bytes": 2}]
    etag = transfer.put_slo_manifest(conn, "c", "big", seg, 3)
    assert etag == transfer.slo_etag([s["etag"] for s in seg])
    swift.bad_etag.add("big2")
    with pytest.raises(errors.IntegrityError, match="SLO manifest not verified"):
        transfer.put_slo_manifest(conn, "c", "big2", seg, 3)
    assert "big2" not in swift.objects("c")
    # Read back in one pass, checked segment by segment against the SLO's ETag.
    transfer.download(conn, "c", "big", str(tmp_path / "big"), size=5, md5=etag, segment_size=3)
    assert (tmp_path / "big").read_bytes() == b"abcde"
    transfer.download(conn, "c", "big", str(tmp_path / "big-meta"))  # the segment size from metadata
    swift.containers["c"]["big"]["data"] = b"abXde"
    with pytest.raises(errors.IntegrityError, match="Swift says"):
        transfer.download(conn, "c", "big", str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()
    swift.containers["c"]["big"]["data"] = b"abcde"


@pytest.mark.parametrize("chunks", [[b"abcdefgh"], [b"a", b"bcd", b"efg", b"h"], [b"abc", b"", b"defgh"]])
def test_content_digest_is_the_slo_etag_however_the_bytes_arrive(chunks):
    d = transfer.ContentDigest(3)
    for c in chunks:
        d.update(c)
    parts = [hashlib.md5(p).hexdigest() for p in (b"abc", b"def", b"gh")]
    assert d.hexdigest() == transfer.slo_etag(parts)
    plain = transfer.ContentDigest()
    plain.update(b"abcdefgh")
    assert plain.hexdigest() == hashlib.md5(b"abcdefgh").hexdigest()
