"""What the benchmarks share: the data sets, tree generation, ports and the reference venv.

The originals (pfioh 2.2.0.8, pman 2.2.0.4) are measured in the same run as ours; they live in
their own venv, ``.venv-reference``, created on first use so their pins never touch ``.venv``.
"""
from __future__ import annotations

import compileall
import filecmp
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools import ports

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REFERENCE_VENV = ROOT / ".venv-reference"
KiB, MiB = 1 << 10, 1 << 20
# The three trees every transfer benchmark uses: many small files, a few medium, one large.
SETS = (("1000x10KiB", 1000, 10 * KiB), ("10x10MiB", 10, 10 * MiB), ("1x500MiB", 1, 500 * MiB))


def popen_server(argv, deadline: float, **popen_kw) -> tuple[subprocess.Popen, int]:
    """Start a server without a probe-then-bind port race.  :returns: the process and its port.

    ``argv`` is a list for ours (pfioh, pman): ``--listen-fd N`` is added and the server serves a
    socket bound here.  For the originals, which only take ``--port``, it is a function of the
    port: they get a random port outside the kernel's ephemeral range, and another one if that
    is taken (tools/ports.py).
    """
    if not callable(argv):
        return ports.popen_with_socket(lambda fd: [*argv, "--listen-fd", str(fd)], **popen_kw)
    launched: list[subprocess.Popen] = []

    def launch(port: int) -> int:
        launched.append(subprocess.Popen(argv(port), **popen_kw))
        return launched[-1].pid
    alive = lambda pid: any(p.pid == pid and p.poll() is None for p in launched)  # noqa: E731
    port = ports.listen_on_unreserved_port(launch, alive, "server", deadline)
    return launched[-1], port  # the last one started is the one that bound its port


# What our short-lived processes (swiftstore's put/get, pfioh-client) import from this checkout.
OUR_PACKAGES = ("swiftstore", "safearchive", "pfioh", "httpkit")


def compile_like_pip(*roots: Path) -> None:
    """Write the bytecode of the packages under ``roots`` (default: ours in this checkout), as pip
    does when it installs a package.  The references (swiftclient, the originals) were compiled at
    their install; ours, run from the source tree, would otherwise be compiled again by every
    process when PYTHONDONTWRITEBYTECODE is set (it is on the development machine): 30-50 ms a
    process, 5% of a 10 x 10 MiB get, charged to us alone."""
    for root in roots or tuple(ROOT / name for name in OUR_PACKAGES):
        compileall.compile_dir(str(root), quiet=1)


@dataclass
class Result:
    """One timed transfer: ``system`` moved ``mbytes`` MB of ``tree`` (``op``) in ``seconds``."""

    tree: str
    op: str
    system: str
    seconds: float
    mbytes: float
    peak_rss_mb: float | None = None
    cpu_seconds: float | None = None

    @property
    def mbps(self) -> float:
        return self.mbytes / self.seconds if self.seconds else float("inf")


def make_tree(root: Path, count: int, size: int) -> Path:
    """``count`` files of ``size`` random bytes in 10 subdirectories; reused if ``root`` exists.

    Written to a sibling and renamed, so an interrupted run never leaves a short tree behind.
    """
    if root.is_dir():
        return root
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for i in range(count):
        path = tmp / f"d{i % 10}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, 8 * MiB)
                f.write(os.urandom(n))
                left -= n
    tmp.rename(root)
    return root


def same_tree(a: Path, b: Path) -> bool:
    """Whether two directory trees hold the same names and bytes (compared outside the timing)."""
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, bad, errs = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not bad and not errs and all(same_tree(a / d, b / d) for d in cmp.common_dirs)


def tree_bytes(tree: Path) -> int:
    return sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())


def ensure_reference(command: str, requirement: str) -> Path:
    """``.venv-reference/bin/<command>``, installing ``requirement`` from PyPI on first use."""
    exe = REFERENCE_VENV / "bin" / command
    if not exe.exists():
        print(f"installing {requirement} into {REFERENCE_VENV} ...", file=sys.stderr, flush=True)
        if not (REFERENCE_VENV / "bin" / "pip").exists():
            subprocess.run(["python3", "-m", "venv", str(REFERENCE_VENV)], check=True)
        subprocess.run([str(REFERENCE_VENV / "bin" / "pip"), "install", "-q", requirement], check=True)
    return exe
