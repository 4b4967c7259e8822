"""The entry checks: everything in a zip's central directory is checked before anything is written."""
from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass

from safearchive.errors import LimitExceeded, UnsafeEntry, UnsafeName

RATIO_MIN_BYTES = 1 << 20
"""Compression ratios are checked only above this size: small files of zeros honestly compress
100:1 and more, and a bomb needs volume to hurt."""
NAME_MAX = 255
"""Longest path component, in bytes (UTF-8): Linux's NAME_MAX, and most file systems' limit."""
PATH_MAX = 4096
"""Longest relative path, in bytes (UTF-8): Linux's PATH_MAX."""
MAX_DEPTH = 256
"""Most directory levels in one name: deeper trees only serve to exhaust recursion and inodes."""


@dataclass(frozen=True)
class Limits:
    """What an archive may expand to.  The defaults are pfioh's (the server's limits on what
    clients send); swiftstore and the pfioh client use the same class."""

    max_bytes: int = 50 << 30
    """Total uncompressed bytes (50 GiB)."""
    max_files: int = 1_000_000
    """Number of entries, directories included."""
    max_ratio: float = 200.0
    """Uncompressed/compressed size, of one entry and of the whole archive (above 1 MiB)."""
    max_dirs: int = 100_000
    """Number of distinct directories, the ones implied by file names included: each costs a
    disk block (4 KiB) while declaring no data, so this bounds what empty directories fill."""
    max_path_bytes: int = PATH_MAX
    """Longest relative name, in bytes (UTF-8).  A store with longer fixed prefixes (Swift's
    object names) passes less."""
    max_depth: int = MAX_DEPTH
    """Most components in one name."""


@dataclass(frozen=True)
class Entry:
    """A checked entry: its header and its safe relative name (no trailing ``/``)."""

    info: zipfile.ZipInfo
    name: str

    @property
    def is_dir(self) -> bool:
        return self.info.is_dir()


def relative_name(name: str, limits: Limits | None = None) -> str:
    """The safe relative POSIX path of an entry name; ``""`` for the root (``./``).

    :param limits: the path length and depth limits (default: :class:`Limits`'s).
    :raises UnsafeName: empty, NUL or backslash in the name, absolute (or a drive letter), ``..``,
        not encodable as UTF-8, a component over :data:`NAME_MAX` bytes, a path over
        ``limits.max_path_bytes`` bytes or deeper than ``limits.max_depth``.
    """
    if not name or "\x00" in name or "\\" in name:
        raise UnsafeName(f"unsafe entry name {name[:120]!r}: empty, NUL or backslash in name", name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeName(f"unsafe entry name {name[:120]!r}: absolute path", name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeName(f"unsafe entry name {name[:120]!r}: '..' in path", name)
    rel = "/".join(parts)
    _check_lengths(rel, parts, limits or _DEFAULT_LIMITS)
    return rel


def _check_lengths(rel: str, parts: list[str], limits: Limits) -> None:
    """Refuse names no file system (or store) could hold, before anything is written: they would
    otherwise fail half-way (ENAMETOOLONG) or, very deep, exhaust recursion."""
    try:
        size = len(rel.encode("utf-8"))
    except UnicodeEncodeError:
        raise UnsafeName(f"unsafe entry name {rel[:120]!r}: not valid UTF-8", rel) from None
    if len(parts) > limits.max_depth:
        raise UnsafeName(f"unsafe entry name {rel[:120]!r}...: {len(parts)} levels deep, more than the "
                         f"limit {limits.max_depth}", rel[:120])
    if size > limits.max_path_bytes:
        raise UnsafeName(f"unsafe entry name {rel[:120]!r}...: {size} bytes long, more than the limit "
                         f"{limits.max_path_bytes}", rel[:120])
    for part in parts:
        if len(part.encode("utf-8")) > NAME_MAX:
            raise UnsafeName(f"unsafe entry name {rel[:120]!r}: a component is longer than {NAME_MAX} "
                             f"bytes ({part[:40]!r}...)", rel[:120])


def check_type(info: zipfile.ZipInfo) -> None:
    """:raises UnsafeEntry: the entry's Unix mode says it is neither a file nor a directory.

    Many writers set only permission bits (or nothing): a file *type* of 0 counts as a file.
    """
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind in (0, stat.S_IFREG, stat.S_IFDIR):
        return
    what = "a symbolic link" if kind == stat.S_IFLNK else "a device or special file"
    raise UnsafeEntry(f"entry {info.filename[:120]!r} is {what}, not a regular file "
                      "(symlinks and devices are refused)", info.filename)


def check(zf: zipfile.ZipFile, limits: Limits) -> list[Entry]:
    """Every entry of ``zf`` checked against the policy and ``limits`` (root entries left out).

    :raises UnsafeName, UnsafeEntry: an unsafe name or type, a duplicate, a file/directory clash.
    :raises LimitExceeded: too many entries or bytes, or a ratio above the limit.
    """
    infos = zf.infolist()
    if len(infos) > limits.max_files:
        raise LimitExceeded(f"archive has {len(infos)} entries, more than the limit {limits.max_files}")
    checked, seen, total = [], set(), 0
    dirs: set[str] = set()
    for info in infos:
        name = relative_name(info.filename, limits)
        check_type(info)
        if not name:
            continue
        if name in seen:
            raise UnsafeEntry(f"entry {name[:120]!r} appears twice", name)
        seen.add(name)
        total += info.file_size
        _count_dirs(name, info.is_dir(), dirs, limits)
        if _over_ratio(info.file_size, info.compress_size, limits):
            raise LimitExceeded(f"entry {name[:120]!r} is compressed more than {limits.max_ratio:g}:1 "
                                "(the compression ratio limit)", name)
        checked.append(Entry(info, name))
    if total > limits.max_bytes:
        raise LimitExceeded(f"archive expands to more than {limits.max_bytes} bytes "
                            f"({total} declared, more than the limit)")
    if _over_ratio(total, _archive_size(zf), limits):
        raise LimitExceeded(f"archive is compressed more than {limits.max_ratio:g}:1 (the compression ratio limit)")
    _check_clashes(checked)
    return checked


def _count_dirs(name: str, is_dir: bool, dirs: set[str], limits: Limits) -> None:
    """Add the directories ``name`` makes (itself if a directory, its parents) to ``dirs``.

    :raises LimitExceeded: more than ``limits.max_dirs``.
    """
    path = name if is_dir else name.rpartition("/")[0]
    while path and path not in dirs:
        dirs.add(path)
        path = path.rpartition("/")[0]
    if len(dirs) > limits.max_dirs:
        raise LimitExceeded(f"archive makes more than {limits.max_dirs} directories (the directory limit)", name)


def _over_ratio(unpacked: int, packed: int, limits: Limits) -> bool:
    return unpacked > RATIO_MIN_BYTES and unpacked > limits.max_ratio * max(packed, 1)


def _archive_size(zf: zipfile.ZipFile) -> int:
    # zipfile seeks before every read, so moving the position between reads is harmless.
    pos = zf.fp.tell()
    try:
        return zf.fp.seek(0, os.SEEK_END)
    finally:
        zf.fp.seek(pos)


def _check_clashes(checked: list[Entry]) -> None:
    """:raises UnsafeEntry: a name is a file and also a directory ("a" and "a/b")."""
    files = {e.name for e in checked if not e.is_dir}
    for entry in checked:
        parent = entry.name.rpartition("/")[0]
        while parent:
            if parent in files:
                raise UnsafeEntry(f"entry {parent[:120]!r} conflicts with another entry "
                                  f"(it is a file and a directory of {entry.name[:120]!r})", parent)
            parent = parent.rpartition("/")[0]


_DEFAULT_LIMITS = Limits()
