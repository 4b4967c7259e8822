"""The fixed parts of the zip format (PKWARE's APPNOTE.TXT) that the readers and the writer share:
one place for the local file header's layout and the flag bits, which each had written out."""
from __future__ import annotations

import struct

LOCAL_SIGNATURE = b"PK\x03\x04"
# signature, version needed, flags, method, DOS time and date, CRC-32, compressed and
# uncompressed size, name and extra lengths (APPNOTE 4.3.7); the name and extra field follow.
LOCAL_HEADER = struct.Struct("<4s5H3L2H")
STORED, DEFLATED = 0, 8  # compression methods
ENCRYPTED, DESCRIPTOR, PATCH, UTF8 = 0x1, 0x8, 0x20, 0x800  # general purpose flag bits


def name_encoding(flags: int) -> str:
    """How a name is encoded: UTF-8 where the flag says so, else IBM code page 437 (APPNOTE D)."""
    return "utf-8" if flags & UTF8 else "cp437"
