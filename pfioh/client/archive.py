"""Zip a directory for a push, and unpack a pulled zip safely.

The wire format is the originals': ZIP_DEFLATED, entry names relative to the pushed directory, POSIX
separators, files only.  Unpacking trusts nothing in the archive: absolute names, ``..``, symlinks,
device files, oversized or over-compressed entries are refused before anything becomes visible.
"""
from __future__ import annotations

import os
import posixpath
import shutil
import stat
import sys
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CHUNK = 1 << 16


class ArchiveError(Exception):
    """A zip could not be built, or a pulled zip is unsafe or damaged."""


@dataclass(frozen=True)
class Limits:
    """What a pulled archive may expand to."""

    max_total_bytes: int = 50 * 1024 ** 3
    max_entries: int = 200_000
    max_ratio: float = 200.0
    """Largest uncompressed/compressed ratio of one entry (a zip bomb is far beyond this)."""


Progress = Callable[[int, int], None]
"""Called with ``(bytes, files)`` done since the last call."""


@dataclass(frozen=True)
class Member:
    """A file to push: where it is, its name in the zip, its size when listed."""

    path: Path
    arcname: str
    size: int


def list_members(source: Path) -> list[Member]:
    """The files a push of ``source`` (a directory, or a single file stored under its basename)
    sends, listed first so that zipping can show totals.

    Symlinks are left out (reported on stderr): following them could send files from outside the
    directory, and a link itself is not portable to the server.

    :raises ArchiveError: if ``source`` does not exist.
    """
    source = Path(source)
    if not source.exists():
        raise ArchiveError(f"nothing to push: {source} does not exist")
    if source.is_file():
        return [Member(source, source.name, source.stat().st_size)]
    members = []
    for dirpath, dirnames, filenames in os.walk(source):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                print(f"pfioh-client: skipping {path} (not a regular file)", file=sys.stderr)
                continue
            members.append(Member(path, path.relative_to(source).as_posix(), path.stat().st_size))
    return members


def zip_members(members: list[Member], target: Path, progress: Progress | None = None) -> None:
    """Write ``members`` into the zip ``target`` (deflated), reporting every chunk read."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for member in members:
            info = zipfile.ZipInfo.from_file(member.path, member.arcname)
            info.compress_type = zipfile.ZIP_DEFLATED
            # Chunk by chunk rather than ZipFile.write, so a large file shows progress too.
            with open(member.path, "rb") as src, archive.open(info, "w") as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                    if progress:
                        progress(len(chunk), 0)
            if progress:
                progress(0, 1)


def _safe_name(name: str) -> str:
    """The entry name as a safe relative POSIX path, or :class:`ArchiveError`."""
    if "\\" in name or "\x00" in name:
        raise ArchiveError(f"unsafe entry name {name[:200]!r}")
    norm = posixpath.normpath(name)
    parts = norm.split("/")
    if name.startswith("/") or norm in (".", "") or ".." in parts or (parts[0].endswith(":")):
        raise ArchiveError(f"unsafe entry name {name[:200]!r} (absolute or escaping the destination)")
    return norm


def check_entries(archive: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    """Validate every entry up front (names, types, sizes, ratios).

    :returns: the file entries to extract.
    :raises ArchiveError: naming the first offending entry.
    """
    infos = archive.infolist()
    if len(infos) > limits.max_entries:
        raise ArchiveError(f"archive has {len(infos)} entries, more than {limits.max_entries}")
    files, total = [], 0
    for info in infos:
        _safe_name(info.filename)
        mode = info.external_attr >> 16
        # Many writers set only permission bits; a file *type* other than file/dir is refused.
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise ArchiveError(f"entry {info.filename[:200]!r} is not a regular file (symlink or device)")
        if info.is_dir():
            continue
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ArchiveError(f"archive expands to more than {limits.max_total_bytes} bytes")
        if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ArchiveError(f"entry {info.filename[:200]!r} is compressed more than {limits.max_ratio:g}:1")
        files.append(info)
    return files


def _extract_one(archive: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path,
                 progress: Progress | None) -> None:
    target = root / _safe_name(info.filename)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with archive.open(info) as src, open(target, "wb") as dst:
        while chunk := src.read(CHUNK):
            written += len(chunk)
            if written > info.file_size:  # the header lied about the size
                raise ArchiveError(f"entry {info.filename[:200]!r} is larger than it declares")
            dst.write(chunk)
            if progress:
                progress(len(chunk), 0)
    if progress:
        progress(0, 1)


def safe_extract(zip_path: Path, dest: Path, *, limits: Limits = Limits(), clean: bool = False,
                 on_totals: Callable[[int, int], None] | None = None,
                 progress: Progress | None = None) -> list[str]:
    """Unpack ``zip_path`` into ``dest`` without ever showing a half-unpacked tree.

    Everything is unpacked into a hidden staging directory next to ``dest`` and moved into place
    only when the whole archive checked out.

    :param clean: empty an existing ``dest`` first (pfurl's ``local.createDir``); without it a
        non-empty ``dest`` is refused so results are never mixed.
    :param on_totals: called with ``(files, bytes)`` to unpack once the archive checked out.
    :param progress: called as the files are written.
    :returns: the relative names of the files written.
    :raises ArchiveError: for a damaged, unsafe or oversized archive, or a non-empty ``dest``.
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()) and not clean:
        raise ArchiveError(f"destination {dest} is not empty (use --clean to replace it)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    os.chmod(staging, 0o755)  # mkdtemp's 0700 would become the results directory's mode
    try:
        with zipfile.ZipFile(zip_path) as archive:
            files = check_entries(archive, limits)
            if on_totals:
                on_totals(len(files), sum(info.file_size for info in files))
            for info in files:
                _extract_one(archive, info, staging, progress)
        if dest.exists():
            shutil.rmtree(dest) if dest.is_dir() and not dest.is_symlink() else dest.unlink()
        os.replace(staging, dest)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"the pulled data is not a valid zip archive ({exc})") from exc
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return sorted(_safe_name(info.filename) for info in files)


def temp_zip_path() -> Path:
    """A fresh path for a transfer zip in the system temp dir (never the user's cwd)."""
    return Path(tempfile.gettempdir()) / f"pfioh-client-{uuid.uuid4().hex}.zip"
