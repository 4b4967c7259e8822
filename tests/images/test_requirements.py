"""The per-image requirement files are subsets of runtime.txt with the same pins (no podman needed)."""
from __future__ import annotations

import re

import pytest

from tests.support.podman import ROOT

REQUIREMENTS = ROOT / "requirements"


def pins(path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name = re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower()
            out[name] = line
    return out


@pytest.mark.parametrize("image", ["pfioh", "publisher"])
def test_image_requirements_are_runtime_pins(image):
    runtime, own = pins(REQUIREMENTS / "runtime.txt"), pins(REQUIREMENTS / f"image-{image}.txt")
    assert own and set(own) < set(runtime)
    assert {name: runtime[name] for name in own} == own


def test_pfioh_image_has_no_kubernetes_client():
    assert not {"kubernetes", "openshift"} & set(pins(REQUIREMENTS / "image-pfioh.txt"))
