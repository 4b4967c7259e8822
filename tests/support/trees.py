"""Local trees and Swift listings, as the swiftstore, publisher and integrity tests use them."""
from __future__ import annotations

import os
from pathlib import Path


def image_like(size: int) -> bytes:
    """``size`` bytes that compress like an image: half noise, half zeros."""
    return os.urandom(size - size // 2) + bytes(size // 2)


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Write ``{relative path: bytes}`` under ``root``."""
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def make_shared_tree(root: Path, files: dict[str, bytes]) -> Path:
    """:func:`make_tree`, readable by any UID (files 0644, directories 0755): mounted into a container
    that runs as an arbitrary UID."""
    make_tree(root, files)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


def read_tree(root: Path) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file under ``root``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def listed(conn, container: str) -> list[str]:
    """Every object name in ``container``, as a swiftclient ``Connection`` lists it."""
    return [o["name"] for o in conn.get_container(container, full_listing=True)[1]]


def read_every_way(store, container: str, manifest, dest: Path) -> list[dict[str, bytes]]:
    """The stored version ``manifest`` as each reader gives it, ``{relative path: bytes}`` each:
    ``get_tree`` into ``dest``, ``iter_entry`` file by file, and a streamed ``Readers`` read (each
    checks what it reads, so a bad object raises instead)."""
    from swiftstore import reading
    store.get_tree(container, manifest.prefix, dest)
    one_by_one = {e.name: b"".join(store.iter_entry(container, manifest, e)) for e in manifest.entries}
    readers = reading.Readers(store, streams=1, window=2)
    try:
        streamed = {e.name: b"".join(c) for e, c in readers.iter_version(container, manifest)}
    finally:
        readers.shutdown()
    return [read_tree(dest), one_by_one, streamed]
