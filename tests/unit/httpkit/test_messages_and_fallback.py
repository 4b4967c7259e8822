"""The message bodies both services read, and the fallback error handlers both install."""
import io
import logging

import flask
import pytest

from httpkit import errors, fallback, messages


@pytest.mark.parametrize("body, expected", [
    ('{"action": "hello", "meta": {"askAbout": "sysinfo"}}', ("hello", {"askAbout": "sysinfo"})),
    ('{"payload": {"action": "run", "meta": {"jid": "1"}}}', ("run", {"jid": "1"})),
    (b'{"action": "quit"}', ("quit", {})),
    ('{"action": "quit", "meta": null}', ("quit", {})),
])
def test_parse_accepts_both_envelopes(body, expected):
    assert messages.parse(body) == expected


@pytest.mark.parametrize("body, field, words", [
    ("not json", "body", "not JSON"), ("[" * 100000, "body", "not JSON|nested deeper"), ("[" * 33 + "]" * 33, "body", "nested deeper than 32"),
        ('{"action": "x", "meta": ' + '{"a": ' * 40 + '1' + '}' * 41, "body", "nested deeper than 32"), ("[1, 2]", "body", "JSON object"),
    ('{"payload": {"meta": {}}}', "action", "missing action"), ('{"action": 3}', "action", "missing action"),
    ('{"action": "run", "meta": []}', "meta", "meta must be"),
])
def test_parse_names_the_bad_part(body, field, words):
    with pytest.raises(messages.MessageError, match=words) as info:
        messages.parse(body)
    assert info.value.field == field and info.value.status == 400


def test_a_missing_action_names_the_supported_ones():
    with pytest.raises(messages.MessageError, match=r"\(hello, run\)"):
        messages.parse("{}", actions="hello, run")


class _Trickle(io.RawIOBase):
    """A stream whose reads come back short, as a socket's do."""

    def __init__(self, data: bytes):
        self._data = data

    def read(self, n=-1):
        chunk, self._data = self._data[:min(n, 7)], self._data[min(n, 7):]
        return chunk


def test_read_body_reads_short_reads_to_the_end_and_enforces_the_limit():
    assert messages.read_body(_Trickle(b"x" * 100), None, limit=100) == b"x" * 100
    with pytest.raises(messages.MessageError, match="larger than 100 bytes") as info:
        messages.read_body(_Trickle(b"x" * 101), None, limit=100)
    assert info.value.status == 413
    with pytest.raises(messages.MessageError):
        messages.read_body(_Trickle(b""), 101, limit=100)  # the declared length alone is enough


def _app(max_content_length=None):
    app = flask.Flask("t")
    app.config["MAX_CONTENT_LENGTH"] = max_content_length

    @app.post("/boom")
    def boom():
        raise KeyError("secret detail")

    @app.post("/upload")
    def upload():
        return str(len(flask.request.get_data()))

    fallback.register(app, errors.json_error, logging.getLogger("test"))
    return app.test_client()


def test_unexpected_errors_are_a_500_naming_only_the_kind(caplog):
    r = _app().post("/boom")
    assert r.status_code == 500 and r.get_json() == {"status": False, "error": "internal error (KeyError)"}
    assert "secret detail" in caplog.text  # the details go to the log


def test_http_errors_are_json_and_a_too_large_body_names_the_limit():
    r = _app().get("/nowhere")
    assert r.status_code == 404 and r.get_json()["status"] is False
    r = _app(max_content_length=10).post("/upload", data=b"x" * 11)
    assert r.status_code == 413 and r.get_json()["error"] == "upload too large: the limit is 10 bytes"
