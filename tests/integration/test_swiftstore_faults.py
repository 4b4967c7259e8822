"""Fault injection between swiftstore and the real Swift, with requests-mock (swiftclient speaks
``requests``): a matched request gets a scripted answer, everything else goes to the real SAIO."""
from __future__ import annotations

import re
import threading

import pytest
import requests
import requests_mock

import swiftstore
from swiftstore import errors
from tests.support.trees import make_tree, read_tree


@pytest.fixture
def store(swift):
    creds = swiftstore.load_credentials(swift.credentials_file)
    # Short backoff: the retries are swiftclient's, we only make them quick to test.
    with swiftstore.SwiftStore.from_credentials(creds, threads=2, retries=3, starting_backoff=0.01,
                                                max_backoff=0.05) as s:
        yield s


class Once:
    """An ``additional_matcher`` that matches the first ``times`` requests whose URL ends with ``suffix``
    (and method), counting all of them; the rest pass through to the real Swift."""

    def __init__(self, method: str, suffix: str, times: int = 1):
        self.method, self.suffix, self.times = method, suffix, times
        self.seen = self.matched = 0
        self.lock = threading.Lock()

    def __call__(self, request) -> bool:
        if request.method != self.method or not request.path_url.split("?")[0].endswith(self.suffix):
            return False
        with self.lock:
            self.seen += 1
            if self.matched < self.times:
                self.matched += 1
                return True
        return False


def _consume(request):
    body = request.body
    if hasattr(body, "read"):
        while body.read(65536):
            pass


ANY = re.compile(r".*")


def test_a_503_is_retried_by_swiftclient(store, unique_container, tmp_path):
    src = make_tree(tmp_path / "src", {"a.txt": b"a" * 1000, "b.txt": b"b"})
    store.ensure_container(unique_container)
    flaky = Once("PUT", "/b/000000", times=2)
    with requests_mock.Mocker(real_http=True) as m:
        m.register_uri("PUT", ANY, additional_matcher=flaky, status_code=503, text="Service Unavailable")
        store.put_tree(unique_container, "input/", src)
    assert flaky.matched == 2 and flaky.seen == 3  # two 503s, then the real PUT
    store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert read_tree(tmp_path / "dst") == read_tree(src)


def test_503_beyond_the_retries_fails_without_manifest(store, unique_container, tmp_path):
    src = make_tree(tmp_path / "src", {"a.txt": b"a"})
    store.ensure_container(unique_container)
    down = Once("PUT", "/b/000000", times=100)
    with requests_mock.Mocker(real_http=True) as m:
        m.register_uri("PUT", ANY, additional_matcher=down, status_code=503, text="x" * 10000)
        with pytest.raises(errors.TransferError, match="HTTP 503") as info:
            store.put_tree(unique_container, "input/", src)
    assert down.seen == 4 and info.value.http_status == 503 and len(str(info.value)) < 400
    assert store.read_manifest(unique_container, "input/") is None


def test_an_expired_token_re_authenticates(store, unique_container, tmp_path):
    store.ensure_container(unique_container)  # authenticated once already
    expired = Once("PUT", "/b/000000")
    auth = Once("GET", "/auth/v1.0", times=0)  # counts, never matches
    with requests_mock.Mocker(real_http=True) as m:
        m.register_uri("GET", ANY, additional_matcher=auth, status_code=500)
        m.register_uri("PUT", ANY, additional_matcher=expired, status_code=401, text="token expired")
        store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", {"a.txt": b"data"}))
    assert expired.matched == 1 and expired.seen == 2 and auth.seen >= 1
    assert store.read_manifest(unique_container, "input/") is not None


def test_an_etag_mismatch_is_detected(store, unique_container, swift_connection, tmp_path):
    store.ensure_container(unique_container)
    liar = Once("PUT", "/b/000000", times=10)

    def lie(request, context):
        _consume(request)
        context.headers["Etag"] = "0123456789abcdef0123456789abcdef"
        context.status_code = 201
        return ""

    with requests_mock.Mocker(real_http=True) as m:
        m.register_uri("PUT", ANY, additional_matcher=liar, text=lie)
        with pytest.raises(errors.IntegrityError, match="upload not verified") as info:
            store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", {"a.txt": b"a", "b.txt": b"b"}))
    assert info.value.obj.startswith("input.v/") and info.value.obj.endswith("/b/000000")
    assert store.read_manifest(unique_container, "input/") is None


def test_a_corrupted_download_is_detected(store, unique_container, tmp_path):
    store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", {"a.txt": b"good bytes"}))
    corrupt = Once("GET", "/b/000000")
    with requests_mock.Mocker(real_http=True) as m:
        m.register_uri("GET", ANY, additional_matcher=corrupt, content=b"evil bytes",
                       headers={"Etag": "5b2e5ef2d1a7ab7e1dec33d1b1e1b7a0", "Content-Length": "10"})
        with pytest.raises(errors.IntegrityError, match="expected"):
            store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


class Killed(BaseException):
    """Stands for the process dying mid-upload (not an error anyone retries)."""


def test_an_interrupted_re_put_leaves_the_previous_version_current(store, unique_container, tmp_path):
    src = make_tree(tmp_path / "src", {f"f{i}": b"%d" % i for i in range(10)})
    first = store.put_tree(unique_container, "input/", src)  # a complete earlier put of the same prefix
    (src / "f1").write_bytes(b"second version")
    crash = Once("PUT", "/b/000000")

    def die(request, context):
        raise Killed()

    with requests_mock.Mocker(real_http=True) as m:
        m.register_uri("PUT", ANY, additional_matcher=crash, text=die)
        with pytest.raises(Killed):
            store.put_tree(unique_container, "input/", src)
    assert store.read_manifest(unique_container, "input/") == first
    store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert read_tree(tmp_path / "dst") == {f"f{i}": b"%d" % i for i in range(10)}


def test_an_interrupted_first_put_leaves_nothing_readable(store, unique_container, tmp_path):
    crash = Once("PUT", "/b/000000")

    def die(request, context):
        raise Killed()

    with requests_mock.Mocker(real_http=True) as m:
        m.register_uri("PUT", ANY, additional_matcher=crash, text=die)
        with pytest.raises(Killed):
            store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", {f"f{i}": b"x" for i in range(10)}))
    with pytest.raises(errors.IncompleteError):
        store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_connection_refused_is_a_transfer_error(store, unique_container, tmp_path):
    store.ensure_container(unique_container)
    refuse = Once("PUT", "/b/000000", times=100)
    with requests_mock.Mocker(real_http=True) as m:
        m.register_uri("PUT", ANY, additional_matcher=refuse, exc=requests.exceptions.ConnectionError("refused"))
        with pytest.raises(errors.TransferError, match="refused"):
            store.put_tree(unique_container, "input/", make_tree(tmp_path / "src", {"a.txt": b"a"}))
    assert refuse.seen == 4
