"""An in-memory stand-in for :class:`swiftstore.SwiftStore` (our own seam), for unit tests."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import swiftstore
from swiftstore import errors


# The fake stands in for the store's behaviour, not its value types: it returns the real ones.
Entry, Manifest, Info = swiftstore.ManifestEntry, swiftstore.Manifest, swiftstore.ObjectInfo


class FakeSwift:
    def __init__(self):
        self.containers: dict[str, dict[str, bytes]] = {}
        self.manifests: dict[tuple[str, str], Manifest] = {}
        self.fail_with: Exception | None = None
        self.calls: list[str] = []
        self.writers: list[FakeTreeWriter] = []

    def _maybe_fail(self, what):
        self.calls.append(what)
        if self.fail_with:
            raise self.fail_with

    def ensure_container(self, container):
        self._maybe_fail("ensure_container")
        self.containers.setdefault(container, {})

    def exists(self, container, name=None):
        if container not in self.containers:
            return False
        return name is None or any(k.startswith(name) for k in self.containers[container])

    def put_tree(self, container, prefix, local_dir, *, progress=None):
        """As swiftstore: old manifest first, the files, the new manifest, then old leftovers."""
        self._maybe_fail("put_tree")
        self.manifests.pop((container, prefix), None)
        old = {k for k in self.containers.get(container, {}) if k.startswith(prefix)}
        entries = []
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_file():
                data = path.read_bytes()
                rel = path.relative_to(local_dir).as_posix()
                self.containers.setdefault(container, {})[prefix + rel] = data
                entries.append(Entry(rel, len(data), hashlib.md5(data).hexdigest()))
        manifest = Manifest.build(prefix, entries)
        self.manifests[(container, prefix)] = manifest
        self.containers[container][prefix.rstrip("/") + ".manifest.json"] = b"{}"
        for name in old - {prefix + e.name for e in entries}:
            del self.containers[container][name]
        return manifest

    def tree_writer(self, container, prefix, **options):
        self.writers.append(FakeTreeWriter(self, container, prefix))
        return self.writers[-1]

    def tree_of(self, container, prefix):
        manifest = self.manifests[(container, prefix)]
        return {e.name: self.containers[container][prefix + e.name] for e in manifest.entries}

    def read_manifest(self, container, prefix):
        return self.manifests.get((container, prefix))

    def list(self, container, prefix=""):
        if container not in self.containers:
            raise errors.NotFound("no container", container=container)
        return [Info(k, len(v), hashlib.md5(v).hexdigest()) for k, v in sorted(self.containers[container].items())
                if k.startswith(prefix)]

    def delete(self, container, prefix=None):
        self._maybe_fail("delete")
        objs = self.containers.get(container, {})
        for k in [k for k in objs if prefix is None or k.startswith(prefix) or k == prefix.rstrip("/") + ".manifest.json"]:
            del objs[k]
        self.manifests.pop((container, prefix), None)

    def put_file(self, container, name, path, *, content_type=None):
        self._maybe_fail("put_file")
        data = Path(path).read_bytes()
        self.containers.setdefault(container, {})[name] = data
        return Info(name, len(data), hashlib.md5(data).hexdigest())

    def iter_object(self, container, name, chunk_size=1 << 16):
        self._maybe_fail("iter_object")
        try:
            data = self.containers[container][name]
        except KeyError:
            raise errors.NotFound("no object", container=container, obj=name) from None
        for i in range(0, len(data), chunk_size):
            yield data[i:i + chunk_size]


    def open_object(self, container, name, chunk_size=1 << 16, *, if_match=None):
        """As swiftstore: headers and a closable chunk iterator (the ETag is the stored MD5)."""
        data = b"".join(self.iter_object(container, name, chunk_size))
        return {"etag": hashlib.md5(data).hexdigest()}, _Body(data, chunk_size)

    def iter_entry(self, container, manifest, entry, chunk_size=1 << 16):
        """As swiftstore: the entry's object, checked against the manifest after the last chunk."""
        data = b"".join(self.iter_object(container, manifest.object_of(entry), chunk_size))
        yield from (data[i:i + chunk_size] for i in range(0, len(data), chunk_size))
        if len(data) != entry.size or hashlib.md5(data).hexdigest() != entry.md5:
            raise errors.IntegrityError(f"download not verified: {len(data)} bytes, expected {entry.size} "
                                        "and the manifest's MD5", container=container, obj=entry.name)


class FakeTreeWriter:
    """As swiftstore's TreeWriter: files added are stored only by commit (here: all at once)."""

    def __init__(self, swift: FakeSwift, container: str, prefix: str):
        self.swift, self.container, self.prefix = swift, container, prefix
        self.added: dict[str, bytes] = {}
        self.deflated: dict[str, bytes] = {}  # rel -> the compressed stream handed over with it
        self.aborted = False

    bundle_max_file = 1 << 20

    def begin_file(self, rel, path, size, *, deflated=None):
        return None  # as the real writer for a file under two segments: added once written

    def add(self, rel, path, size):
        self.swift._maybe_fail("writer.add")
        self.added[rel] = Path(path).read_bytes()

    def add_bytes(self, rel, data, *, deflated=None, crc32=None):
        self.swift._maybe_fail("writer.add")
        import zlib
        # The real writer's contract: the stream inflates to exactly data, whose CRC-32 crc32 is.
        assert crc32 is None or crc32 == zlib.crc32(data)
        if deflated is not None:
            engine = zlib.decompressobj(-15)
            assert engine.decompress(deflated) == bytes(data) and engine.eof and not engine.unused_data
            self.deflated[rel] = bytes(deflated)
        self.added[rel] = bytes(data)

    def add_deflated(self, rel, size, deflated, crc32):
        import zlib
        data = zlib.decompressobj(-15).decompress(deflated)
        # The real writer's contract: the stream is the file's, whose size and CRC-32 these are.
        assert (len(data), zlib.crc32(data)) == (size, crc32)
        self.add_bytes(rel, data, deflated=deflated, crc32=crc32)

    def commit(self):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            return self.swift.put_tree(self.container, self.prefix, tree(Path(tmp), self.added))

    def abort(self):
        self.aborted = True


class _Body:
    def __init__(self, data: bytes, chunk: int):
        self.data, self.chunk = data, chunk

    def __iter__(self):
        return (self.data[i:i + self.chunk] for i in range(0, len(self.data), self.chunk))

    def close(self):
        pass


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def random_files(n=3) -> dict[str, bytes]:
    return {"a.txt": b"hello", "sub/b.bin": os.urandom(2 << 20), **{f"many/f{i}": os.urandom(100) for i in range(n)}}
