"""get_tree reads a large SLO as parallel ranged GETs (swiftstore.ranged), against the real Swift:
the file comes back whole, and nothing is left behind when any window is wrong."""
from __future__ import annotations

import os

import pytest

from swiftstore import errors, ranged, transfer
from tests.support import trees

MIB = 1 << 20
BIG = os.urandom(9 * MIB + 4321)  # 10 segments of 1 MiB: windows of 3, 3, 3 and 1 segments


@pytest.fixture
def store(small_slo_store):
    return small_slo_store


@pytest.fixture
def windows_read(monkeypatch):
    """The windows each get reads (a spy: the real GETs still happen)."""
    seen: list[tuple[int, int]] = []
    real = ranged.Window.read

    def spy(self, *args):
        seen.append((self.first, self.last))
        return real(self, *args)
    monkeypatch.setattr(ranged.Window, "read", spy)
    return seen


def test_a_large_slo_is_read_in_windows_and_comes_back_whole(store, unique_container, tmp_path, windows_read):
    src = trees.make_tree(tmp_path / "src", {"big.bin": BIG, "small": b"s"})
    manifest = store.put_tree(unique_container, "input/", src)
    assert next(e for e in manifest.entries if e.name == "big.bin").segments == 10
    progress = []
    store.get_tree(unique_container, "input/", tmp_path / "dst", progress=lambda *a: progress.append(a))
    assert (tmp_path / "dst" / "big.bin").read_bytes() == BIG
    assert sorted(windows_read) == [(0, 3 * MIB - 1), (3 * MIB, 6 * MIB - 1), (6 * MIB, 9 * MIB - 1),
                                    (9 * MIB, len(BIG) - 1)]
    assert progress[-1] == (2, 2, len(BIG) + 1, len(BIG) + 1)


def test_an_slo_of_few_segments_is_one_get(store, unique_container, tmp_path, windows_read):
    src = trees.make_tree(tmp_path / "src", {"three.bin": BIG[:3 * MIB]})
    store.put_tree(unique_container, "input/", src)
    store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert (tmp_path / "dst" / "three.bin").read_bytes() == BIG[:3 * MIB] and windows_read == []


def test_a_window_with_other_bytes_fails_the_get_and_leaves_nothing(store, unique_container, tmp_path,
                                                                   monkeypatch):
    store.put_tree(unique_container, "input/", trees.make_tree(tmp_path / "src", {"big.bin": BIG}))
    _change_window(monkeypatch, 6 * MIB, lambda body: (bytes([chunk[0] ^ 1]) + chunk[1:] if i == 0 else chunk
                                                      for i, chunk in enumerate(body)))
    dst = tmp_path / "job" / "incoming"
    with pytest.raises(errors.IntegrityError, match="MD5"):
        store.get_tree(unique_container, "input/", dst)
    assert list((tmp_path / "job").iterdir()) == []


def test_a_window_cut_short_fails_the_get(store, unique_container, tmp_path, monkeypatch):
    store.put_tree(unique_container, "input/", trees.make_tree(tmp_path / "src", {"big.bin": BIG}))
    _change_window(monkeypatch, 3 * MIB, lambda body: list(body)[:-1])
    with pytest.raises(errors.IntegrityError, match=r"bytes 3145728-6291455 \(3145728\) came as"):
        store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_a_window_that_breaks_off_is_asked_for_again_from_where_it_stopped(store, unique_container, tmp_path,
                                                                           monkeypatch):
    store.put_tree(unique_container, "input/", trees.make_tree(tmp_path / "src", {"big.bin": BIG}))
    # Only the second window's first request: the one resuming it starts further on.
    asked = _change_window(monkeypatch, 3 * MIB, _cut_after_one)
    store.get_tree(unique_container, "input/", tmp_path / "dst")
    assert (tmp_path / "dst" / "big.bin").read_bytes() == BIG
    resumed = [r for r in asked if r and 3 * MIB < r[0] < 6 * MIB]
    assert len(resumed) == 1 and resumed[0][1] == 6 * MIB - 1


def _change_window(monkeypatch, first: int, change) -> list:
    """Fault injection: the body of every ranged GET from byte ``first`` goes through
    ``change(chunks)``; the ranges asked for are listed in what is returned."""
    real, asked = transfer.open_object, []

    def open_object(conn, container, name, *args, byte_range=None, **kw):
        headers, body = real(conn, container, name, *args, byte_range=byte_range, **kw)
        asked.append(byte_range)
        if byte_range and byte_range[0] == first:
            return headers, _Closing(change(body))
        return headers, body
    monkeypatch.setattr(transfer, "open_object", open_object)
    return asked


def _cut_after_one(body):
    import urllib3
    yield next(iter(body))
    body.close()
    raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")


class _Closing:
    """A body (iterable, closeable) over other chunks, as swiftclient's is."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)

    def __iter__(self):
        return self._chunks

    def close(self):
        pass
