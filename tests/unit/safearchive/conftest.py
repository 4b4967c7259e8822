"""Zips made to order for safearchive's tests."""
from __future__ import annotations

import stat
import zipfile

import pytest


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


@pytest.fixture
def make_zip(tmp_path):
    def make(entries, compression=zipfile.ZIP_DEFLATED, name="a.zip"):
        return build_zip(tmp_path / name, entries, compression)
    return make


LINK = stat.S_IFLNK | 0o777
CHAR_DEVICE = stat.S_IFCHR | 0o644
FIFO = stat.S_IFIFO | 0o644
