"""Zips made to order, with the Unix modes (links, devices, FIFOs) a hostile archive may carry."""
from __future__ import annotations

import io
import stat
import zipfile

LINK = stat.S_IFLNK | 0o777
CHAR_DEVICE = stat.S_IFCHR | 0o644
FIFO = stat.S_IFIFO | 0o644


def build_zip(path, entries, compression=zipfile.ZIP_DEFLATED):
    """Write ``entries`` (``(name or ZipInfo, data)``, or ``(name, data, unix mode)``) into ``path``."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for entry in entries:
            name, data, *mode = entry
            if mode:
                info = zipfile.ZipInfo(name)
                info.create_system = 3
                info.external_attr = mode[0] << 16
                info.compress_type = compression
                name = info
            zf.writestr(name, data)
    return path


def streamed_zip(entries: dict[str, bytes]) -> bytes:
    """A zip as written to a stream that cannot seek (a pipe): zipfile then puts each entry's sizes
    and CRC in a data descriptor after its data (flag bit 3), not in its local header."""
    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.data = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.data += b
            return len(b)

    out = Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            with zf.open(name, "w") as f:
                f.write(data)
    return bytes(out.data)
