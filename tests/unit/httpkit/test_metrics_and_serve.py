"""Metrics hooks count requests per route, and the gunicorn launcher serves real HTTP."""
import multiprocessing
import socket
import time

import flask
import pytest

from httpkit import errors, metrics, serve, worker


def _app():
    app = flask.Flask("t")
    m = metrics.instrument(app, "svc")

    @app.get("/jobs/<jid>")
    def job(jid):
        if jid == "bad":
            return errors.json_error(404, f"no job {jid}", jid=jid)
        return {"jid": jid}

    @app.post("/upload")
    def upload():
        data = flask.request.get_data()
        m.observe_transfer("in", 0.5, len(data))
        return {"size": len(data)}

    return app


def test_metrics_count_by_rule_not_path():
    client = _app().test_client()
    for jid in ("a", "b", "bad"):
        client.get(f"/jobs/{jid}")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'svc_requests_total{endpoint="/jobs/<jid>",method="GET",status="200"} 2.0' in text
    assert 'svc_errors_total{endpoint="/jobs/<jid>",status="404"} 1.0' in text
    assert "/jobs/a" not in text


def test_json_error_shape():
    resp = _app().test_client().get("/jobs/bad")
    assert resp.status_code == 404
    assert resp.get_json() == {"status": False, "error": "no job bad", "jid": "bad"}


def test_transfer_bytes_counted():
    client = _app().test_client()
    client.post("/upload", data=b"x" * 1000)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'svc_transfer_bytes_total{direction="in"} 1000.0' in text
    assert 'svc_transfer_duration_seconds_count{direction="in"} 1.0' in text


def test_options_are_head_first_gthread_with_long_request_lines():
    opts = serve.options(host="127.0.0.1", port=1234, workers=2, threads=4, name="x")
    assert opts["bind"] == "127.0.0.1:1234" and issubclass(opts["worker_class"], worker.HeadFirstWorker)
    assert opts["workers"] == 2 and opts["threads"] == 4
    assert opts["limit_request_line"] > 4094
    assert serve.options(host="127.0.0.1", port=1234, listen_fd=7)["bind"] == "fd://7"


def test_socket_address_names_a_bad_descriptor(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        assert serve.socket_address(s.fileno()) == s.getsockname()
    with open(tmp_path / "f", "w") as f, pytest.raises(OSError, match="not a TCP socket|non-socket"):
        serve.socket_address(f.fileno())


def _serve(sock):
    serve.run(_app, host="127.0.0.1", port=1, listen_fd=sock.fileno(), name="test", loglevel="warning")


def test_gunicorn_serves_and_honours_expect_100_continue():
    """libcurl sends Expect: 100-continue on large POSTs; the server must answer 100 then 200."""
    # Bound here and handed over (multiprocessing passes the descriptor): the port is held
    # throughout, so no other process can take it before the server listens.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(s,), daemon=True)
        proc.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        body = b"y" * 2_000_000
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        first = sock.recv(64)
        assert first.startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        sock.settimeout(10)
        reply = b""
        while b'"size"' not in reply:
            chunk = sock.recv(65536)
            assert chunk
            reply += chunk
        assert b"200 OK" in reply and b'{"size":2000000}' in reply
        sock.close()
    finally:
        proc.terminate()
        proc.join(10)


@pytest.mark.parametrize("buf,complete", [
    (b"", False),
    (b"GET / HTTP/1.1\r\nHost: x\r\n", False),                       # head still arriving
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", False),     # small body still arriving
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", True),
    (b"POST / HTTP/1.1\r\ncontent-length:5\r\n\r\nabcdeGET", True),  # pipelined bytes behind it
    (b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\nab", True),  # large: the thread streams it
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", True),  # chunked: streamed too
    (b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", True),  # waits for our 100
    (b"GET / HTTP/1.1\r\nX: " + b"a" * (300 << 10), True),            # over-long head: gunicorn refuses it
])
def test_a_thread_gets_a_request_only_once_its_head_and_small_body_are_in(buf, complete):
    assert worker.request_is_complete(buf, 1 << 20) is complete


@pytest.mark.parametrize("buf,probe", [
    (b"GET /api/v1/health HTTP/1.1\r\n", True), (b"GET /api/v1/health/?x=1 HTTP/1.1\r\n", True),
    (b"GET /metrics HTTP/1.1\r\n", True), (b"GET /api/v1/ready HTTP/1.1\r\n", True),
    (b"POST /api/v1/health HTTP/1.1\r\n", False), (b"GET /api/v1/healthz HTTP/1.1\r\n", False),
    (b"GET /api/v1/cmd HTTP/1.1\r\n", False), (b"GET /api/v1/health", False),
])
def test_only_probe_gets_take_the_probe_threads(buf, probe):
    assert worker.is_probe(buf) is probe
