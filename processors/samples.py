"""A small sample radiology dataset, assembled offline from the test files inside the pydicom wheel.

Three series, nine slices: one CT slice (``CT_small.dcm``, 128x128), one MR slice (``MR_small.dcm``,
64x64) and a seven-slice MR angiography series (``dicomdirtests/98892003/MR700``, 16x16).  Nothing
is downloaded: ``get_testdata_file(..., download=False)`` only looks inside the installed package.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from pydicom import data as dicom_data

SINGLE_FILES = ("CT_small.dcm", "MR_small.dcm")
SERIES_DIR = Path("dicomdirtests") / "98892003" / "MR700"


class SampleDataMissing(Exception):
    """The installed pydicom does not bundle the expected test files."""


def bundled_file(name: str) -> Path:
    """The path of a test file shipped inside the pydicom wheel.

    :raises SampleDataMissing: if this pydicom does not bundle ``name``.
    """
    found = dicom_data.get_testdata_file(name, download=False)
    if not found:
        raise SampleDataMissing(f"pydicom does not bundle the test file {name!r}")
    return Path(found)


def build_sample_dataset(dest: Path) -> list[Path]:
    """Copy the sample series into ``dest`` (created): ``ct/``, ``mr/`` and ``mr-angio/``.

    :returns: the files written, relative to ``dest``.
    :raises SampleDataMissing: if a bundled file is missing.
    """
    dest = Path(dest)
    written = []
    for name, sub in zip(SINGLE_FILES, ("ct", "mr")):
        target = dest / sub / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundled_file(name), target)
        written.append(target.relative_to(dest))
    series = bundled_file(SINGLE_FILES[0]).parent / SERIES_DIR
    if not series.is_dir():
        raise SampleDataMissing(f"pydicom does not bundle {SERIES_DIR}")
    for source in sorted(series.iterdir()):
        target = dest / "mr-angio" / f"{source.name}.dcm"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target.relative_to(dest))
    return written
