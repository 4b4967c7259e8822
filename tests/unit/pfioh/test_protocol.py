"""Parsing of pfioh messages: the meta query value, control JSON, keys."""
import pytest

from pfioh import errors, protocol


def test_meta_python_literal_as_pfurl_sends_it():
    meta = {"remote": {"key": "k"}, "transport": {"checkRemote": True, "compress": {"unpack": False}}}
    assert protocol.parse_meta_text(str(meta)) == meta


def test_meta_json_is_accepted_too():
    assert protocol.parse_meta_text('{"remote": {"key": "k"}, "x": true}') == {"remote": {"key": "k"}, "x": True}


@pytest.mark.parametrize("text", [None, "", "   ", "[1, 2]", "{'a': ", "__import__('os')", "{" * 5000 + "}" * 5000,
                                  "[" * 60000 + "]" * 4000,
                                  "x" * (protocol.MAX_META_CHARS + 1)])
def test_bad_meta_is_a_named_bad_request(text):
    with pytest.raises(errors.BadRequest, match="meta"):
        protocol.parse_meta_text(text)


def test_control_message_payload_wrapper_is_unwrapped():
    action, meta = protocol.parse_message(b'{"payload": {"action": "hello", "meta": {"askAbout": "timestamp"}}}')
    assert (action, meta) == ("hello", {"askAbout": "timestamp"})


@pytest.mark.parametrize("body, word", [(b"not json", "JSON"), (b"[]", "object"), (b'{"meta": {}}', "action"),
                                        (b'{"action": "x", "meta": []}', "meta")])
def test_bad_control_message(body, word):
    with pytest.raises(errors.BadRequest, match=word):
        protocol.parse_message(body)


@pytest.mark.parametrize("key", [None, "", "a/b", "..", ".", "a\x00b", "a\r\nb", "\ud800", "k" * 257, ["k"], {"k": 1}])
def test_invalid_keys_are_rejected(key):
    with pytest.raises(errors.BadRequest, match="key"):
        protocol.validate_key(key)


def test_valid_keys():
    assert protocol.validate_key("chris-jid-1") == "chris-jid-1"
    assert protocol.validate_key(42) == "42"
    assert protocol.validate_key("é" * 128) == "é" * 128


def test_path_request_reads_transport_and_special_handling():
    meta = {"remote": {"key": "j1"}, "local": {"path": "/a/b"}, "serviceMan": "docker",
            "specialHandling": {"op": "plugin", "cleanup": True},
            "transport": {"compress": {"archive": "zip", "unpack": True}, "checkRemote": True}}
    req = protocol.parse_path_request("pushPath", meta)
    assert req.key == "j1" and req.plugin and req.special_cleanup and req.transport.check_remote
    assert req.transport.is_zip and req.local_path == "/a/b"


def test_openshift_service_manager_skips_plugin_ops():
    meta = {"remote": {"key": "j1"}, "serviceMan": "openshift", "specialHandling": {"op": "plugin"}}
    assert not protocol.parse_path_request("pullPath", meta).plugin


def test_unknown_path_action():
    with pytest.raises(errors.BadRequest, match="unknown action"):
        protocol.parse_path_request("deletePath", {"remote": {"key": "k"}})


def test_upload_name_uses_local_path_basename_then_filename():
    req = protocol.parse_path_request("pushPath", {"remote": {"key": "k"}, "local": {"path": "/x/y/data.bin"}})
    assert protocol.upload_name(req, "u.zip") == "data.bin"
    req = protocol.parse_path_request("pushPath", {"remote": {"key": "k"}, "local": {"path": "/"}})
    assert protocol.upload_name(req, "../u.bin") == "u.bin"
    with pytest.raises(errors.BadRequest, match="file name"):
        protocol.upload_name(req, "..")
