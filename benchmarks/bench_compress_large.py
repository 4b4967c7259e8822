"""What storing larger files compressed costs and saves: ``put_tree``/``get_tree`` of one large
file with ``compress_large`` on (swiftstore's default, the publisher's put) against off, in the
same run, taking turns, on a private loopback Swift.

Two kinds of file: ``half`` (noise, then zeros: what ``bench_pfioh_swift`` uses, which the block
by block compression handles at almost no cost) and ``ct`` (12-bit pixels in 16 bits, smooth
plus noise: zlib level 1 has to work on every block).  Prints the put and get times, the bytes
Swift stores, and the ratios (off / on: above 1, compressing is faster)::

    .venv/bin/python -m benchmarks.bench_compress_large --kind ct --gib 1 --repeat 2
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import struct
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.common import MiB

BLOCK = 4 * MiB


def ct_blocks(count: int = 4) -> list[bytes]:
    """``count`` blocks of CT-like pixels: 12 bits in 16 (little-endian), a smooth curve (a scan's
    slow changes) plus noise of +-40.  Deterministic, so runs compare; a file cycles through
    them (farther apart than DEFLATE's 32 KiB window, so no block is cheaper for the repeat)."""
    rnd = random.Random(1)
    curve = [int(2000 + 1500 * ((i % 4096) / 2048 - 1) ** 2) for i in range(BLOCK // 2)]
    return [struct.pack(f"<{BLOCK // 2}H", *(min(4095, max(0, c + rnd.randrange(-40, 40))) for c in curve))
            for _ in range(count)]


def write_file(path: Path, size: int, kind: str) -> None:
    """``size`` bytes of ``kind`` data."""
    blocks = ct_blocks() if kind == "ct" else []
    with open(path, "wb") as f:
        written = i = 0
        while written < size:
            n = min(BLOCK, size - written)
            if kind == "half":
                f.write(os.urandom(n) if written < size // 2 else bytes(n))
            else:
                f.write(blocks[i % len(blocks)][:n])
            written, i = written + n, i + 1


def one_round(store, src: Path, work: Path, compress: bool) -> dict:
    key = f"bench-cl-{uuid.uuid4().hex[:8]}"
    try:
        t = time.perf_counter()
        manifest = store.put_tree(key, "input/", src, compress=compress)
        put = time.perf_counter() - t
        dest = work / f"got-{key}"
        t = time.perf_counter()
        store.get_tree(key, "input/", dest)
        got = time.perf_counter() - t
        same = (dest / "big.dcm").stat().st_size == (src / "big.dcm").stat().st_size
        shutil.rmtree(dest)
        if not same:
            raise RuntimeError("the file read back is not the file put")
        return {"put": put, "get": got, "stored": sum(e.stored_size for e in manifest.entries)}
    finally:
        store.delete(key)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", choices=("ct", "half"), default="ct", help="the file's data (default ct)")
    p.add_argument("--gib", type=float, default=1.0, help="the file's size in GiB (default 1)")
    p.add_argument("--repeat", type=int, default=2, help="rounds of each side (medians)")
    args = p.parse_args(argv)
    import swiftstore
    from tools import saio
    work = Path(tempfile.mkdtemp(prefix="bench-compress-large-"))
    try:
        (work / "src").mkdir()
        size = int(args.gib * (1 << 30))
        print(f"writing {size / 1e9:.2f} GB of {args.kind} data ...", flush=True)
        write_file(work / "src" / "big.dcm", size, args.kind)
        settings = saio.start(work / "saio", 0)
        creds = swiftstore.load_credentials(settings.credentials_file)
        runs: dict[bool, list[dict]] = {True: [], False: []}
        with swiftstore.SwiftStore.from_credentials(creds) as store:
            for _ in range(args.repeat):
                for compress in (True, False):
                    r = one_round(store, work / "src", work, compress)
                    runs[compress].append(r)
                    print(f"  compress={'on ' if compress else 'off'}  put {r['put']:6.2f} s  get {r['get']:6.2f} s"
                          f"  stored {r['stored'] / 1e9:.3f} GB", flush=True)
        med = {c: {k: statistics.median(r[k] for r in rs) for k in ("put", "get", "stored")} for c, rs in runs.items()}
        print(f"{args.kind}, {size / 1e9:.2f} GB, medians of {args.repeat}; ratio = off / on (above 1: compressing "
              f"is faster or smaller)")
        for k, unit in (("put", "s"), ("get", "s"), ("stored", "GB")):
            on, off = med[True][k], med[False][k]
            scale = 1e9 if k == "stored" else 1
            print(f"  {k:6}  on {on / scale:7.3f} {unit}   off {off / scale:7.3f} {unit}   ratio {off / on:.2f}x")
    finally:
        saio.stop(work / "saio")
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
