"""pfioh gives freed memory back after each transfer (httpkit.memory), not after other requests."""
import io
import zipfile

from httpkit import memory
from tests.support.calls import Calls
from tests.support.pfioh_app import URL, make_zip, pull_query, push


def test_pfioh_trims_after_a_push_and_after_a_pull(monkeypatch, make_client, config):
    trims = Calls()
    monkeypatch.setattr(memory, "_glibc_trim", lambda: trims)
    client = make_client(config)
    assert push(client, "k1", make_zip({"a.txt": b"hello"})).status_code == 200
    assert trims.calls == 1
    resp = client.get(URL, query_string=pull_query("k1"))
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        assert zf.read("a.txt") == b"hello"
    resp.close()  # what the server does once the zip is sent
    assert trims.calls == 2
    assert client.get("/api/v1/health").status_code == 200
    assert trims.calls == 2  # not a transfer
