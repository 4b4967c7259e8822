"""Listing the regular files of a directory and zipping them (DEFLATE, zip64 where needed)."""
from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from safearchive.unzip import CHUNK, Extracted, Progress


@dataclass(frozen=True)
class Member:
    """A file to zip: where it is, its name in the zip (``/``-terminated for a directory), its
    size and modification time when listed."""

    path: Path
    arcname: str
    size: int
    mtime: float = 0.0


def list_members(source: str | os.PathLike, *, empty_dirs: bool = False,
                 on_skip: Callable[[Path], None] | None = None) -> list[Member]:
    """The regular files under ``source``, sorted; a single file is listed under its own name.

    Symbolic links and special files are left out (``on_skip`` is told): following a link could
    send files from outside the directory, and a link itself is not portable.

    :param empty_dirs: list empty directories too (as ``name/``).
    """
    source = Path(source)
    if source.is_file():
        st = source.stat()
        return [Member(source, source.name, st.st_size, st.st_mtime)]
    members = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames.sort()
        rel_root = Path(dirpath).relative_to(source)
        if empty_dirs and not filenames and not dirnames and rel_root != Path("."):
            members.append(Member(Path(dirpath), rel_root.as_posix() + "/", 0, os.lstat(dirpath).st_mtime))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                if on_skip:
                    on_skip(path)
                continue
            members.append(Member(path, (rel_root / name).as_posix(), st.st_size, st.st_mtime))
    return members


def write_zip(members: list[Member], target: str | os.PathLike, progress: Progress | None = None) -> Extracted:
    """Write ``members`` into the zip ``target`` (deflated), reporting every chunk read.

    :returns: the files written and their bytes (as read, not as listed).
    """
    files = nbytes = 0
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for member in members:
            if member.arcname.endswith("/"):
                zf.write(member.path, member.arcname)
                continue
            info = zipfile.ZipInfo.from_file(member.path, member.arcname)
            info.compress_type = zipfile.ZIP_DEFLATED
            # Chunk by chunk rather than ZipFile.write, so a large file shows progress too.
            with open(member.path, "rb") as src, zf.open(info, "w") as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                    nbytes += len(chunk)
                    if progress:
                        progress(len(chunk), 0)
            files += 1
            if progress:
                progress(0, 1)
    return Extracted(files, nbytes)
