"""httpkit.readiness: cached checks, 200 or a 503 naming each failing dependency."""
import threading

import flask

from httpkit import readiness


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _client(ready):
    app = flask.Flask("t")
    readiness.register(app, "svc", ready)
    return app.test_client()


def test_ready_and_not_ready():
    state = {"db": None}
    ready = readiness.Readiness({"db": lambda: state["db"], "disk": lambda: None}, interval=0)
    client = _client(ready)
    resp = client.get("/api/v1/ready")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ready", "service": "svc",
                                                           "checks": ["db", "disk"]}
    state["db"] = "refused the credentials"
    resp = client.get("/api/v1/ready")
    body = resp.get_json()
    assert resp.status_code == 503 and body["failing"] == {"db": "refused the credentials"}
    assert body["error"] == "not ready: db failing"


def test_a_raising_check_is_a_failure_naming_it():
    def boom():
        raise ConnectionError("no route to host")
    resp = _client(readiness.Readiness({"swift": boom})).get("/api/v1/ready")
    assert resp.status_code == 503 and resp.get_json()["failing"] == {"swift": "ConnectionError: no route to host"}


def test_checks_run_at_most_once_per_interval():
    clock, calls = Clock(), []
    ready = readiness.Readiness({"x": lambda: calls.append(1)}, interval=10, clock=clock)
    for _ in range(5):
        assert ready.problems() == {}
    assert len(calls) == 1
    clock.now = 10
    ready.problems()
    assert len(calls) == 2


def test_others_get_the_previous_result_while_a_check_runs():
    clock, started, release = Clock(), threading.Event(), threading.Event()
    answers = iter([None, "down"])

    def check():
        answer = next(answers)
        if answer:
            started.set()
            release.wait(30)
        return answer

    ready = readiness.Readiness({"x": check}, interval=1, clock=clock)
    assert ready.problems() == {}
    clock.now = 5
    slow = threading.Thread(target=ready.problems)
    slow.start()
    assert started.wait(30)
    assert ready.problems() == {}  # not blocked behind the running check: the previous result
    release.set()
    slow.join()
    assert ready.problems() == {"x": "down"}
