"""Inflating a raw DEFLATE stream fed piece by piece, with output in bounded pieces.

zlib's ``decompressobj`` has two traps when its output is capped (``decompress(data, cap)``), which
pfioh's early unpacker and swiftstore's readers both fell into:

* it can take in all the input and still hold output back: ask for it (:func:`finish`) instead of
  calling the stream truncated;
* once the stream has ended, the bytes after it stay in ``unconsumed_tail`` as well as in
  ``unused_data``: fed again they would loop for ever, so they are an error at once (:func:`feed`).
"""
from __future__ import annotations

import zlib
from typing import Iterator

CHUNK = 1 << 20


def engine() -> "zlib._Decompress":
    """A decompressor of raw DEFLATE (a zip entry's data)."""
    return zlib.decompressobj(-15)


def feed(inflater, data: bytes, cap: int = CHUNK) -> Iterator[bytes]:
    """The output of ``data`` fed to ``inflater``, in pieces of at most ``cap`` bytes.

    :raises ValueError: bytes after the end of the stream.
    :raises zlib.error: the stream is corrupt.
    """
    while data:
        if inflater.eof:
            raise ValueError("bytes after the end of the compressed stream")
        out = inflater.decompress(data, cap)
        data = inflater.unconsumed_tail
        if out:
            yield out


def finish(inflater, cap: int = CHUNK) -> Iterator[bytes]:
    """What ``inflater`` still holds once all the input was fed, in pieces of at most ``cap``.

    :raises ValueError: the stream is truncated, or has bytes after its end.
    """
    while not inflater.eof and (out := inflater.decompress(b"", cap)):
        yield out
    if not inflater.eof or inflater.unused_data:
        raise ValueError("the compressed stream is truncated or has bytes after its end")
