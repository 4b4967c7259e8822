"""The streaming multipart reader: fields, the file part on disk, and malformed bodies."""
import io
import os

import pytest

from pfioh import errors, multipart

CT = "multipart/form-data; boundary=XyZ"


def _body(file_data: bytes, *, fields=(("d_msg", b'{"a": 1}'), ("filename", b"u.zip")), end=True) -> bytes:
    out = b""
    for name, value in fields:
        out += b'--XyZ\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + value + b"\r\n"
    out += b'--XyZ\r\nContent-Disposition: form-data; name="local"; filename="u.zip"\r\n' \
           b"Content-Type: application/octet-stream\r\n\r\n" + file_data
    return out + (b"\r\n--XyZ--\r\n" if end else b"")


class Trickle(io.RawIOBase):
    """Returns at most ``step`` bytes per read, so boundaries straddle reads."""

    def __init__(self, data, step):
        self.data, self.step = data, step

    def read(self, n=-1):
        chunk, self.data = self.data[:self.step], self.data[self.step:]
        return chunk


@pytest.mark.parametrize("step, size", [(1, 20), (7, 5000), (4096, 3 << 20), (1 << 20, 3 << 20)])
def test_fields_and_file(tmp_path, step, size):
    # Data that contains near-misses of the delimiter.  The byte after the last one is fixed: a
    # random one completed the delimiter ("\r\n--Xy" + "Z") in one run out of 256.
    data = os.urandom(size) + b"\r\n--XyY\r\n--Xy" + b"z" + os.urandom(10)
    form = multipart.parse(Trickle(_body(data), step), CT, tmp_path, limit=1 << 30)
    try:
        assert form.fields == {"d_msg": '{"a": 1}', "filename": "u.zip"}
        assert form.file_field == "local" and form.filename == "u.zip" and form.file_size == len(data)
        with open(form.file.name, "rb") as f:
            assert f.read() == data
        assert os.path.dirname(form.file.name) == str(tmp_path)
    finally:
        form.close()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("body, word", [
    (_body(b"abc", end=False), "truncated"),
    (b"no boundary at all", "truncated"),
    (b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--", "no name"),
    (b"--XyZ\r\n" + b"H" * 70000, "too long"),
    (b"--XyZ" + b"".join(b'\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n--XyZ' for _ in range(30)) + b"--",
     "parts"),
])
def test_malformed_bodies(tmp_path, body, word):
    with pytest.raises(errors.BadRequest, match=word):
        multipart.parse(io.BytesIO(body), CT, tmp_path, limit=1 << 30)
    assert os.listdir(tmp_path) == []


def test_not_multipart(tmp_path):
    with pytest.raises(errors.BadRequest, match="multipart"):
        multipart.parse(io.BytesIO(b"x"), "application/json", tmp_path, limit=10)


def test_limit(tmp_path):
    with pytest.raises(errors.TooLarge, match="too large"):
        multipart.parse(Trickle(_body(os.urandom(3 << 20)), 1 << 20), CT, tmp_path, limit=2 << 20)
    assert os.listdir(tmp_path) == []


def test_oversize_field(tmp_path):
    body = _body(b"x", fields=(("d_msg", b"a" * (multipart.MAX_FIELD_BYTES + 10)),))
    with pytest.raises(errors.TooLarge, match="d_msg"):
        multipart.parse(io.BytesIO(body), CT, tmp_path, limit=1 << 30)
