"""Issue 12.5's last race: a mount-mode pull lists ``outgoing`` first (to announce the total), then
reads.  Whoever writes ``outgoing`` (a plugin) may swap a listed subdirectory for a symbolic link
in between; the reads must not follow it.  The swap is injected at that boundary: when the zip
stream starts, after the listing and before the first read (fault injection, deterministic)."""
import io
import json
import os
import zipfile

import pytest

from pfioh import errors, ziputil
from safearchive import zipwrite

from tests.support.pfioh_app import URL, make_zip, pull_query, push, with_


@pytest.fixture
def secret(tmp_path):
    """Outside the store: a directory laid out like the one swapped away, with private content of
    the listed size (so a read through the link would not even show as a size mismatch)."""
    path = tmp_path / "secret"
    path.mkdir(mode=0o700)
    (path / "id_rsa").write_bytes(b"SECRET")
    return path


@pytest.mark.parametrize("first", [b"first", b"f" * (300 << 10)])  # all in the first chunk, or not
def test_a_subdirectory_swapped_for_a_link_after_the_listing_is_not_followed(client, make_client, config, secret,
                                                                            monkeypatch, first):
    assert push(client, "k", make_zip({"a": b"1"}), plugin=True).status_code == 200
    outgoing = os.path.join(config.store_base, "key-k", "outgoing")
    os.makedirs(os.path.join(outgoing, "sub"))
    with open(os.path.join(outgoing, "sub", "id_rsa"), "wb") as f:
        f.write(b"public")
    with open(os.path.join(outgoing, "first.txt"), "wb") as f:
        f.write(first)
    swapped = []
    stream_zip = ziputil.stream_zip

    def swap_then_stream(files, **kwargs):
        # the listing is done (files holds it); now the plugin swaps sub for a link to the secret
        os.rename(os.path.join(outgoing, "sub"), os.path.join(outgoing, "sub-away"))
        os.symlink(secret, os.path.join(outgoing, "sub"))
        swapped.append(True)
        yield from stream_zip(files, **kwargs)
    monkeypatch.setattr(ziputil, "stream_zip", swap_then_stream)

    body = io.BytesIO()
    if len(first) < zipwrite.SEND_BYTES:  # failed before the first byte: an error reply naming it
        resp = client.get(URL, query_string=pull_query("k", plugin=True))
        assert resp.status_code == 502 and "sub/id_rsa" in json.loads(resp.data)["error"]
        body.write(resp.data)
        # and the pull let go of the key's lock: a push (which needs it alone) is not kept waiting
        impatient = make_client(with_(config, lock_timeout=1.0))
        assert push(impatient, "k", make_zip({"a": b"1"}), plugin=True).status_code == 200
    else:
        with pytest.raises(errors.StorageError, match="sub/id_rsa"):  # the transfer breaks off
            resp = client.get(URL, query_string=pull_query("k", plugin=True))
            for chunk in resp.response:
                body.write(chunk)
        assert body.getvalue().startswith(b"PK\x03\x04")
    assert swapped and b"SECRET" not in body.getvalue()


def test_an_unchanged_tree_streams_whole(client, config):
    assert push(client, "k", make_zip({"a": b"1"}), plugin=True).status_code == 200
    outgoing = os.path.join(config.store_base, "key-k", "outgoing")
    os.makedirs(os.path.join(outgoing, "d", "e"))
    for name, data in (("z.txt", b"z"), ("d/a.txt", b"a"), ("d/e/b.txt", b"b")):
        with open(os.path.join(outgoing, name), "wb") as f:
            f.write(data)
    os.symlink("/etc/passwd", os.path.join(outgoing, "d", "link"))
    resp = client.get(URL, query_string=pull_query("k", plugin=True))
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        assert zf.namelist() == ["z.txt", "d/a.txt", "d/e/b.txt"]
        assert [zf.read(n) for n in zf.namelist()] == [b"z", b"a", b"b"]
