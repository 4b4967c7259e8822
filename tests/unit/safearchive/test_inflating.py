"""safearchive.inflating: zlib-ng reads what the standard library's zlib (and so every zip
client) writes, gives the same CRC-32, and every bad stream is a ValueError, never a hang."""
from __future__ import annotations

import os
import zlib

import pytest

from safearchive import inflating

DATA = os.urandom(300_000) + bytes(2_000_000) + b"radiology" * 50_000


def deflated(data: bytes, level: int = 6) -> bytes:
    engine = zlib.compressobj(level, zlib.DEFLATED, -15)
    return engine.compress(data) + engine.flush()


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def inflate_in_pieces(stream: bytes, piece: int, cap: int) -> list[bytes]:
    inflater, out = inflating.engine(), []
    for chunk in pieces(stream, piece):
        out.extend(inflating.feed(inflater, chunk, cap))
    out.extend(inflating.finish(inflater, cap))
    return out


@pytest.mark.parametrize("level", [1, 6, 9])
@pytest.mark.parametrize("piece", [1, 4096, 1 << 20])
def test_fed_in_pieces_it_gives_back_zlibs_input_in_capped_pieces(level, piece):
    stream = deflated(DATA, level)
    if piece == 1:
        stream, data = deflated(DATA[:20_000], level), DATA[:20_000]
    else:
        data = DATA
    out = inflate_in_pieces(stream, piece, cap=65536)
    assert b"".join(out) == data
    assert max(map(len, out)) <= 65536


def test_crc32_is_zlibs_whole_and_running():
    assert inflating.crc32(DATA) == zlib.crc32(DATA)
    running = 0
    for chunk in pieces(DATA, 77_777):
        running = inflating.crc32(chunk, running)
    assert running == zlib.crc32(DATA)
    assert inflating.crc32(b"") == 0


@pytest.mark.parametrize("split", [0, 1, 100])
def test_output_held_back_after_the_last_input_is_asked_for(split):
    # 2 MB of zeros fit in a few hundred bytes: the engine may take in the whole input and
    # still hold output back; finish() gives the rest, in capped pieces.
    stream = deflated(bytes(2_000_000))
    inflater = inflating.engine()
    early = list(inflating.feed(inflater, stream[:len(stream) - split], cap=1000))
    early += inflating.feed(inflater, stream[len(stream) - split:], cap=1000)
    late = list(inflating.finish(inflater, 1000))
    assert b"".join(early + late) == bytes(2_000_000)
    assert max(map(len, early + late)) <= 1000


@pytest.mark.timeout(10)
def test_bytes_after_the_end_are_an_error_not_a_loop():
    inflater = inflating.engine()
    with pytest.raises(ValueError, match="after the end"):
        list(inflating.feed(inflater, deflated(b"x" * 100) + b"trailing", cap=10))


def test_trailing_bytes_seen_only_at_finish_are_an_error():
    inflater = inflating.engine()
    list(inflating.feed(inflater, deflated(b"abc") + b"!", cap=1 << 20))
    with pytest.raises(ValueError, match="bytes after its end"):
        list(inflating.finish(inflater))


def test_a_truncated_stream_is_an_error():
    inflater = inflating.engine()
    list(inflating.feed(inflater, deflated(DATA)[:-100]))
    with pytest.raises(ValueError, match="truncated"):
        list(inflating.finish(inflater))


def test_a_corrupt_stream_is_a_value_error_naming_it():
    stream = bytearray(deflated(b"hello" * 1000))
    stream[3] ^= 0xFF
    with pytest.raises(ValueError, match="corrupt compressed stream"):
        list(inflating.feed(inflating.engine(), bytes(stream)))
    with pytest.raises(ValueError, match="corrupt compressed stream"):
        inflating.inflate_whole(bytes(stream), 5000)


def test_inflate_whole_takes_exactly_one_stream_of_at_most_its_size():
    stream = deflated(DATA)
    assert inflating.inflate_whole(stream, len(DATA)) == DATA
    # Shorter than declared: returned, for the caller's size check.
    assert inflating.inflate_whole(stream, len(DATA) + 5) == DATA
    with pytest.raises(ValueError, match="more data than declared"):
        inflating.inflate_whole(stream, len(DATA) - 1)
    with pytest.raises(ValueError, match="bytes after its end"):
        inflating.inflate_whole(stream + b"x", len(DATA))
    with pytest.raises(ValueError, match="truncated"):
        inflating.inflate_whole(stream[:-10], len(DATA))


def test_a_bomb_is_stopped_one_byte_past_its_declared_size():
    bomb = deflated(bytes(1 << 30))  # 1 GiB of zeros in about a megabyte
    with pytest.raises(ValueError, match="more data than declared"):
        inflating.inflate_whole(bomb, 1000)
