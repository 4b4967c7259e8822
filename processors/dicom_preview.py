#!/usr/bin/env python3
"""dicom_preview: a small but real radiology image processor.

Usage::

    dicom_preview.py <incoming> <outgoing>
    python -m processors.dicom_preview <incoming> <outgoing>

Reads every DICOM file under ``incoming`` (recursively; symlinks are not followed), groups the images
by series and writes to ``outgoing``:

- ``previews/sNN-<modality>/NNNN.png``: one windowed 8-bit PNG per slice (every frame of a
  multi-frame image is a slice), in instance-number order;
- ``summary.json``: patient-free metadata only (modality, series description, dimensions, slice
  count, pixel spacing, slice thickness) and pixel statistics (min/max/mean/std of the modality
  values, e.g. Hounsfield units for CT), per series and overall.  ``summary.json`` is written last.

Exit status: 0 on success, 1 when ``incoming`` holds no readable DICOM image (or is missing),
2 on a usage error.  Progress goes to stdout, problems with single files to stderr.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy
from PIL import Image

import pydicom
from pydicom import errors as dicom_errors
from pydicom import multival

VERSION = "1.0.0"
SUMMARY_NAME = "summary.json"
PREVIEW_DIR = "previews"


class NoDicomInput(Exception):
    """``incoming`` holds no readable DICOM image."""


@dataclass
class RunningStats:
    """Min/max/mean/std accumulated slice by slice, so a series never has to fit in memory."""

    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    def add(self, values: numpy.ndarray) -> None:
        values = values.astype(numpy.float64, copy=False)
        self.count += values.size
        self.total += float(values.sum())
        self.total_sq += float(numpy.square(values).sum())
        self.minimum = min(self.minimum, float(values.min()))
        self.maximum = max(self.maximum, float(values.max()))

    def merge(self, other: RunningStats) -> None:
        self.count += other.count
        self.total += other.total
        self.total_sq += other.total_sq
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def as_dict(self) -> dict:
        mean = self.total / self.count
        variance = max(self.total_sq / self.count - mean * mean, 0.0)
        return {"min": _num(self.minimum), "max": _num(self.maximum), "mean": round(mean, 4),
                "std": round(math.sqrt(variance), 4), "pixels": self.count}


@dataclass
class Series:
    """The images of one series (SeriesInstanceUID), kept as paths until they are rendered."""

    uid: str
    files: list[tuple[int, str, Path]] = field(default_factory=list)
    """(instance number, relative path for sorting, path)."""
    failed: int = 0
    """Files whose pixel data could not be decoded."""


def _num(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 4)


def _first(value, default=None):
    """A DICOM value that may be multi-valued (e.g. several window centres): its first item."""
    if value is None or value == "":
        return default
    if isinstance(value, (list, tuple, multival.MultiValue)):
        return value[0] if len(value) else default
    return value


def find_images(incoming: Path) -> tuple[dict[str, Series], int]:
    """Scan ``incoming`` recursively for DICOM files that carry pixel data.

    :param incoming: the directory to scan; symlinks are skipped (they could point outside it).
    :returns: the series by SeriesInstanceUID, and the number of files skipped.
    """
    series: dict[str, Series] = {}
    skipped = 0
    for dirpath, dirnames, filenames in os.walk(incoming):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = str(path.relative_to(incoming))
            if path.is_symlink():
                skipped += 1
                continue
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except (dicom_errors.InvalidDicomError, OSError, ValueError, EOFError) as exc:
                print(f"skip {rel}: not DICOM ({type(exc).__name__})", file=sys.stderr)
                skipped += 1
                continue
            if "Rows" not in ds or "Columns" not in ds:
                print(f"skip {rel}: DICOM without an image ({ds.get('Modality', '?')})", file=sys.stderr)
                skipped += 1
                continue
            uid = str(ds.get("SeriesInstanceUID", "unknown"))
            number = int(_first(ds.get("InstanceNumber"), 0) or 0)
            series.setdefault(uid, Series(uid)).files.append((number, rel, path))
    return series, skipped


def modality_values(ds: pydicom.Dataset, frame: numpy.ndarray) -> numpy.ndarray:
    """Stored values to modality values (Rescale Slope/Intercept), e.g. CT numbers in HU."""
    slope = float(_first(ds.get("RescaleSlope"), 1) or 1)
    intercept = float(_first(ds.get("RescaleIntercept"), 0) or 0)
    return frame.astype(numpy.float64) * slope + intercept


def window_for(ds: pydicom.Dataset, values: numpy.ndarray) -> tuple[float, float, str]:
    """The display window (low, high): the file's own Window Center/Width if it has one, else
    the 0.5-99.5 percentile range of the slice, which ignores a few outlier pixels."""
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is not None and width is not None and float(width) > 0:
        return float(center) - float(width) / 2, float(center) + float(width) / 2, "dicom"
    low, high = numpy.percentile(values, [0.5, 99.5])
    return float(low), float(high), "auto"


def to_uint8(values: numpy.ndarray, low: float, high: float, invert: bool = False) -> numpy.ndarray:
    """Map ``[low, high]`` linearly onto 0..255, clipping outside; a flat image becomes black."""
    span = high - low
    if span <= 0:
        scaled = numpy.zeros(values.shape, dtype=numpy.float64)
    else:
        scaled = (numpy.clip(values, low, high) - low) * (255.0 / span)
    out = numpy.rint(scaled).astype(numpy.uint8)
    return 255 - out if invert else out


def _frames(ds: pydicom.Dataset) -> list[numpy.ndarray]:
    pixels = ds.pixel_array
    samples = int(ds.get("SamplesPerPixel", 1))
    frames = int(_first(ds.get("NumberOfFrames"), 1) or 1)
    if frames > 1 or (samples == 1 and pixels.ndim == 3):
        return list(pixels)
    return [pixels]


def _write_png(image: numpy.ndarray, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(image).save(tmp, format="PNG")
    os.replace(tmp, path)  # a reader never sees half a PNG


def _series_meta(ds: pydicom.Dataset) -> dict:
    """Patient-free description of a series.  A whitelist on purpose: nothing else is copied."""
    spacing = ds.get("PixelSpacing")
    thickness = _first(ds.get("SliceThickness"))
    return {
        "modality": str(ds.get("Modality", "")),
        "series_description": str(ds.get("SeriesDescription", "")).strip(),
        "rows": int(ds.Rows), "columns": int(ds.Columns),
        "pixel_spacing": [float(v) for v in spacing] if spacing else None,
        "slice_thickness": float(thickness) if thickness not in (None, "") else None,
        "photometric_interpretation": str(ds.get("PhotometricInterpretation", "")),
        "bits_stored": int(ds.get("BitsStored", 0)),
    }


def _render_file(ds: pydicom.Dataset, folder: Path, outgoing: Path, first: int,
                 stats: RunningStats) -> tuple[list[str], set[str]]:
    """Write the PNGs of every frame of one file, numbered from ``first``."""
    invert = str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1"
    written, windows = [], set()
    for frame in _frames(ds):
        values = modality_values(ds, frame)
        low, high, source = window_for(ds, values)
        target = folder / f"{first + len(written):04d}.png"
        _write_png(to_uint8(values, low, high, invert), target)
        stats.add(values)
        windows.add(source)
        written.append(str(target.relative_to(outgoing)))
    return written, windows


def render_series(index: int, series: Series, outgoing: Path) -> dict | None:
    """Write one PNG per slice of ``series`` and return its summary entry (None if no file of
    the series could be decoded; each failure is reported on stderr)."""
    meta: dict | None = None
    stats, previews, windows = RunningStats(), [], set()
    for _, rel, path in sorted(series.files, key=lambda item: (item[0], item[1])):
        try:
            ds = pydicom.dcmread(path)
            if meta is None:
                meta = _series_meta(ds)
                folder = outgoing / PREVIEW_DIR / f"s{index:02d}-{meta['modality'] or 'OT'}"
                folder.mkdir(parents=True, exist_ok=True)
            written, sources = _render_file(ds, folder, outgoing, len(previews) + 1, stats)
        except Exception as exc:  # noqa: BLE001 - one bad file must not sink the series
            reason = (str(exc).strip().splitlines() or [""])[0][:200]
            print(f"skip {rel}: cannot decode pixel data ({type(exc).__name__}: {reason})", file=sys.stderr)
            series.failed += 1
            continue
        previews += written
        windows |= sources
        print(f"  {rel}: {len(written)} slice(s)", flush=True)
    if not previews:
        if meta is not None and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # no empty preview folder for a series that could not be decoded
        return None
    return {"index": index, **meta, "slices": len(previews), "window": sorted(windows),
            "stats": stats.as_dict(), "previews": previews, "_stats": stats}


def process(incoming: Path, outgoing: Path) -> dict:
    """Render every series under ``incoming`` into ``outgoing`` and write ``summary.json``.

    :returns: the summary that was written.
    :raises NoDicomInput: when there is no readable DICOM image under ``incoming``.
    """
    if not incoming.is_dir():
        raise NoDicomInput(f"input directory {incoming} does not exist")
    found, skipped = find_images(incoming)
    if not found:
        raise NoDicomInput(f"no DICOM images found under {incoming} ({skipped} other file(s) skipped)")
    outgoing.mkdir(parents=True, exist_ok=True)
    total = RunningStats()
    entries = []
    ordered = sorted(found.values(), key=lambda s: min(rel for _, rel, _ in s.files))
    for number, series in enumerate(ordered, start=1):
        print(f"series {number}/{len(ordered)}: {len(series.files)} file(s)", flush=True)
        entry = render_series(len(entries) + 1, series, outgoing)
        skipped += series.failed
        if entry is not None:
            total.merge(entry.pop("_stats"))
            entries.append(entry)
    if not entries:
        raise NoDicomInput(f"none of the DICOM images under {incoming} could be decoded")
    summary = {"generator": "dicom_preview", "version": VERSION,
               "slices": sum(e["slices"] for e in entries), "series_count": len(entries),
               "skipped_files": skipped, "stats": total.as_dict(), "series": entries}
    tmp = outgoing / f".{SUMMARY_NAME}.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, outgoing / SUMMARY_NAME)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dicom_preview",
        description="Write a windowed 8-bit PNG per DICOM slice and a patient-free summary.json.")
    parser.add_argument("incoming", type=Path, help="directory holding the DICOM series (searched recursively)")
    parser.add_argument("outgoing", type=Path, help="directory for previews/ and summary.json (created)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    args = parser.parse_args(argv)
    try:
        summary = process(args.incoming, args.outgoing)
    except NoDicomInput as exc:
        print(f"dicom_preview: error: {exc}", file=sys.stderr)
        return 1
    print(f"done: {summary['slices']} slice(s) in {summary['series_count']} series -> {args.outgoing}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
