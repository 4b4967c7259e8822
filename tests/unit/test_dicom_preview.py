"""The quickstart's image processor, on the DICOM test files bundled with pydicom (no network)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pydicom
import pytest
from PIL import Image

from processors import dicom_preview, samples

ROOT = Path(__file__).resolve().parents[2]
PATIENT_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge",
                    "InstitutionName", "ReferringPhysicianName", "OtherPatientIDs", "AccessionNumber")


@pytest.fixture
def dataset(tmp_path):
    src = tmp_path / "incoming"
    samples.build_sample_dataset(src)
    return src


def _expected_slices(src: Path) -> int:
    """Count frames independently of the processor: every frame of every image file."""
    total = 0
    for path in src.rglob("*"):
        if path.is_file():
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            total += int(ds.get("NumberOfFrames", 1) or 1)
    return total


def test_sample_dataset_is_three_series_of_real_images(dataset):
    uids = {pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID
            for p in dataset.rglob("*.dcm")}
    assert len(uids) == 3
    assert all(p.suffix == ".dcm" for p in dataset.rglob("*") if p.is_file())


def test_one_png_per_slice_and_summary_counts(dataset, tmp_path):
    out = tmp_path / "outgoing"
    assert dicom_preview.main([str(dataset), str(out)]) == 0
    pngs = sorted(out.rglob("*.png"))
    summary = json.loads((out / "summary.json").read_text())
    assert len(pngs) == _expected_slices(dataset) == summary["slices"]
    assert summary["series_count"] == 3
    assert sum(s["slices"] for s in summary["series"]) == summary["slices"]
    listed = sorted(p for s in summary["series"] for p in s["previews"])
    assert listed == sorted(str(p.relative_to(out)) for p in pngs)
    for png in pngs:
        with Image.open(png) as image:
            assert image.mode == "L"
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temp files left


def test_series_metadata_and_dimensions(dataset, tmp_path):
    summary = dicom_preview.process(dataset, tmp_path / "out")
    ct = next(s for s in summary["series"] if s["modality"] == "CT")
    source = pydicom.dcmread(dataset / "ct" / "CT_small.dcm")
    assert (ct["rows"], ct["columns"]) == (source.Rows, source.Columns)
    assert ct["pixel_spacing"] == [float(v) for v in source.PixelSpacing]
    with Image.open(tmp_path / "out" / ct["previews"][0]) as image:
        assert image.size == (source.Columns, source.Rows)
    angio = max(summary["series"], key=lambda s: s["slices"])
    assert angio["series_description"] == str(
        pydicom.dcmread(next((dataset / "mr-angio").iterdir())).SeriesDescription).strip()


def test_pixel_statistics_are_modality_values(dataset, tmp_path):
    """CT statistics are in Hounsfield units: stored values times slope plus intercept."""
    summary = dicom_preview.process(dataset, tmp_path / "out")
    ds = pydicom.dcmread(dataset / "ct" / "CT_small.dcm")
    hu = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    stats = next(s for s in summary["series"] if s["modality"] == "CT")["stats"]
    assert stats["min"] == hu.min() and stats["max"] == hu.max()
    assert stats["mean"] == pytest.approx(hu.mean(), abs=1e-3)
    assert stats["std"] == pytest.approx(hu.std(), abs=1e-3)
    assert summary["stats"]["pixels"] == sum(s["stats"]["pixels"] for s in summary["series"])


def test_summary_holds_no_patient_data(dataset, tmp_path):
    out = tmp_path / "out"
    dicom_preview.process(dataset, out)
    text = (out / "summary.json").read_text()
    for path in dataset.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for keyword in PATIENT_KEYWORDS:
            value = str(ds.get(keyword, "")).strip()
            if len(value) > 2:
                assert value not in text, f"{keyword} leaked from {path.name}"
    assert "patient" not in text.lower()


def test_multiframe_file_gives_one_png_per_frame(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rtdose = samples.bundled_file("rtdose.dcm")
    (src / "dose.dcm").write_bytes(rtdose.read_bytes())
    frames = int(pydicom.dcmread(rtdose).NumberOfFrames)
    summary = dicom_preview.process(src, tmp_path / "out")
    assert frames > 1
    assert summary["slices"] == frames == len(list((tmp_path / "out").rglob("*.png")))


def test_no_dicom_input_exits_non_zero_with_a_clear_message(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "notes.txt").write_text("not an image")
    assert dicom_preview.main([str(src), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "no DICOM images found" in err and str(src) in err
    assert not (tmp_path / "out" / "summary.json").exists()


def test_missing_input_dir_exits_non_zero(tmp_path, capsys):
    assert dicom_preview.main([str(tmp_path / "absent"), str(tmp_path / "out")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_non_dicom_broken_and_symlinked_files_are_skipped(dataset, tmp_path):
    outside = tmp_path / "outside.dcm"
    outside.write_bytes(samples.bundled_file("MR_small.dcm").read_bytes())
    os.symlink(outside, dataset / "link.dcm")  # must not be followed out of incoming
    (dataset / "readme.txt").write_text("hello")
    (dataset / "broken.dcm").write_bytes((dataset / "ct" / "CT_small.dcm").read_bytes()[:2000])
    summary = dicom_preview.process(dataset, tmp_path / "out")
    assert summary["slices"] == _expected_slices(dataset / "ct") + _expected_slices(
        dataset / "mr") + _expected_slices(dataset / "mr-angio")
    assert summary["skipped_files"] == 3


def test_to_uint8_windows_clips_and_inverts():
    values = numpy.array([[-100.0, 0.0, 60.0, 100.0, 300.0]])
    assert dicom_preview.to_uint8(values, 0, 100).tolist() == [[0, 0, 153, 255, 255]]
    assert dicom_preview.to_uint8(values, 0, 100, invert=True).tolist() == [[255, 255, 102, 0, 0]]
    assert dicom_preview.to_uint8(values, 5, 5).tolist() == [[0, 0, 0, 0, 0]]


def test_dicom_window_is_used_when_present(tmp_path):
    ds = pydicom.dcmread(samples.bundled_file("CT_small.dcm"))
    ds.WindowCenter, ds.WindowWidth = 40, 400
    values = dicom_preview.modality_values(ds, ds.pixel_array)
    assert dicom_preview.window_for(ds, values) == (-160.0, 240.0, "dicom")
    del ds.WindowCenter
    low, high, source = dicom_preview.window_for(ds, values)
    assert source == "auto" and values.min() <= low < high <= values.max()


def test_runs_as_a_script(dataset, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(ROOT / "processors" / "dicom_preview.py"),
                           str(dataset), str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "done:" in proc.stdout
    assert (out / "summary.json").is_file()


def test_undecodable_series_is_skipped_without_leftovers(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "truncated.dcm").write_bytes(samples.bundled_file("MR_truncated.dcm").read_bytes())
    (src / "ct.dcm").write_bytes(samples.bundled_file("CT_small.dcm").read_bytes())
    summary = dicom_preview.process(src, tmp_path / "out")
    assert summary["slices"] == 1 and summary["skipped_files"] == 1
    assert "skip truncated.dcm: cannot decode pixel data" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out" / "previews").iterdir()) == ["s01-CT"]
