"""Zip a directory for a push, and unpack a pulled zip safely.

The wire format is the originals': ZIP_DEFLATED, entry names relative to the pushed directory, POSIX
separators, files only; files that would not compress (already compressed images, say) are stored,
and the others are compressed on several threads (:mod:`safearchive.packzip`).  Unpacking trusts
nothing in the archive: the checks are :mod:`safearchive`'s (absolute names, ``..``, symlinks,
device files, duplicates, oversized or over-compressed entries are refused before anything
becomes visible), and the result appears complete or not at all (:func:`safearchive.staging.staged`).
"""
from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Callable, Iterator

from safearchive import entries, packzip, staging, unzip, zipping
from safearchive import errors as archive_errors

CHUNK = 1 << 16
THREADS = min(4, os.cpu_count() or 1)
"""Threads that unpack a pulled zip (each inflates and writes whole files)."""

Limits = entries.Limits
"""What a pulled archive may expand to (the shared defaults: 50 GiB, a million entries, 200:1)."""
Member = zipping.Member
Progress = unzip.Progress


class ArchiveError(Exception):
    """A zip could not be built, or a pulled zip is unsafe or damaged."""


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
    return zipping.list_members(
        source, on_skip=lambda path: print(f"pfioh-client: skipping {path} (not a regular file)", file=sys.stderr))


def zip_members(members: list[Member], target: Path, progress: Progress | None = None) -> None:
    """Write ``members`` into the zip ``target``, reporting every block read.

    :raises OSError: a file cannot be read, or changed while it was being zipped.
    """
    packzip.pack(members, target, progress)


def zip_stream(members: list[Member], progress: Progress | None = None) -> Iterator[bytes]:
    """The zip of ``members`` chunk by chunk, made as it is taken (:func:`zip_members`' bytes).

    :raises OSError: a file cannot be read, or changed while it was being zipped.
    """
    return packzip.stream(members, progress)


def safe_extract(zip_path: Path, dest: Path, *, limits: Limits = Limits(), clean: bool = False,
                 on_totals: Callable[[int, int], None] | None = None,
                 progress: Progress | None = None) -> list[str]:
    """Unpack ``zip_path`` into ``dest`` without ever showing a half-unpacked tree.

    Everything is unpacked into a hidden staging directory next to ``dest`` and moved into place
    only when the whole archive checked out.

    :param clean: replace an existing non-empty ``dest`` (pfurl's ``local.createDir``); without it a
        non-empty ``dest`` is refused so results are never mixed.
    :param on_totals: called with ``(files, bytes)`` to unpack once the archive checked out.
    :param progress: called as the files are written.
    :returns: the relative names of the files written.
    :raises ArchiveError: for a damaged, unsafe or oversized archive, or a non-empty ``dest``.
    """
    try:
        with staging.staged(dest, replace=clean, tag="partial") as tmp, _open(zip_path) as zf:
            checked = entries.check(zf, limits)
            files = [e for e in checked if not e.is_dir]
            if on_totals:
                on_totals(len(files), sum(e.info.file_size for e in files))
            unzip.extract_entries(zf, checked, tmp, progress, threads=THREADS)
    except archive_errors.DestinationError as exc:
        not_empty = Path(dest).is_dir() and not Path(dest).is_symlink()
        raise ArchiveError(f"destination {dest} is not empty (use --clean to replace it)" if not_empty
                           else f"destination {exc}") from exc
    except archive_errors.ArchiveError as exc:
        raise ArchiveError(str(exc)) from exc
    return sorted(e.name for e in files)


def _open(zip_path: Path):
    try:
        return unzip.open_zip(zip_path)
    except archive_errors.CorruptArchive as exc:
        raise ArchiveError(f"the pulled data is {exc}") from exc


def temp_zip_path() -> Path:
    """A fresh path for a transfer zip in the system temp dir (never the user's cwd)."""
    return Path(tempfile.gettempdir()) / f"pfioh-client-{uuid.uuid4().hex}.zip"
