"""``--labels``, ``--objects``, ``--rois`` on ``bootseg run`` and ``predict``: the files, the manifest, run.json,
the report, ``--overwrite`` and ``--resume``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import roifile
import tifffile
from skimage.measure import label, regionprops
from test_resume import _bootseg, _same_outputs

from bootseg.cli import main
from bootseg.io import read_mask, write_image
from bootseg.objects import label_objects
from bootseg.runfolder import read_proba

NET = "otsu,unet(size=48,epochs=6,base_channels=8,batch_size=2,lr=3e-3)"  # about 4 objects per image
FLAGS = ("--labels", "--objects", "--rois")


def _nuclei(seed: int, size: int = 48) -> np.ndarray:
    """Bright discs on a dark, noisy background: several objects, two of them touching."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    y, x = rng.integers(10, size - 22, 2)
    centres = [(y, x), (y, x + 11), (int(rng.integers(6, size - 6)), 6), (size - 7, size - 7)]
    discs = np.any([np.hypot(yy - cy, xx - cx) < 6 for cy, cx in centres], axis=0)
    return np.clip(discs * 170 + rng.normal(40, 12, (size, size)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("objects") / "images"
    folder.mkdir()
    for i in range(8):
        write_image(folder / f"cell {i}.png", _nuclei(i))
    return folder


def _check_objects(out: Path, names: list[str], *, split: str, proba: bool) -> None:
    """Every object file is there, listed in the manifest, and agrees with the final masks and run.json."""
    manifest = set(json.loads((out / "bootseg-manifest.json").read_text())["files"])
    record = json.loads((out / "run.json").read_text())
    rows = list(csv.DictReader((out / "objects.csv").open()))
    assert "objects.csv" in manifest and record["objects"]["split"] == split
    assert record["objects"]["count"] == len(rows) == sum(item["objects"] for item in record["inputs"])
    for item in record["inputs"]:
        name = item["name"]
        assert {f"labels/{name}.tif", f"rois/{name}.zip"} <= manifest
        labels = tifffile.imread(out / "labels" / f"{name}.tif")
        assert labels.dtype == np.uint16
        np.testing.assert_array_equal(labels, label_objects(read_mask(out / "masks" / f"{name}.png"), split=split))
        assert item["objects"] == labels.max() == len(roifile.roiread(out / "rois" / f"{name}.zip"))
        mine = [row for row in rows if row["image"] == name]
        props = regionprops(labels.astype(np.int32))
        assert [int(row["area"]) for row in mine] == [p.area for p in props]
        assert all((row["mean_proba"] != "") == proba for row in mine)
        if proba and (out / "proba" / f"{name}.png").exists():  # the mean of the saved map, to its 16 bits
            means = [
                p.intensity_mean
                for p in regionprops(labels.astype(np.int32), read_proba(out / "proba" / f"{name}.png"))
            ]
            assert [float(row["mean_proba"]) for row in mine] == pytest.approx(means, abs=1e-4)
    assert sorted(item["name"] for item in record["inputs"]) == sorted(names)
    report = (out / "report.html").read_text()
    assert "<h2>Objects</h2>" in report and f"{record['objects']['count']} objects in {len(names)} images" in report


def test_run_and_predict_write_labels_objects_and_rois(images, tmp_path, capsys):
    names = [f"cell {i}" for i in range(8)]
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                str(images),
                "--out",
                str(out),
                "--chain",
                NET,
                *FLAGS,
                "--split",
                "watershed",
                "--save-proba",
                "-q",
            ]
        )
        == 0
    )
    _check_objects(out, names, split="watershed", proba=True)
    assert json.loads((out / "run.json").read_text())["objects"]["count"] > 8  # the network found the discs
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert (settings["labels"], settings["objects"], settings["rois"], settings["split"]) == (
        True,
        True,
        True,
        "watershed",
    )
    predicted = tmp_path / "predicted"
    assert main(["predict", str(out), str(images), "--out", str(predicted), *FLAGS, "--save-proba", "-q"]) == 0
    _check_objects(predicted, names, split="none", proba=True)
    assert json.loads((predicted / "run.json").read_text())["objects"]["stage"] == "model"
    plain = tmp_path / "plain"
    assert main(["run", str(images), "--out", str(plain), "--chain", "otsu", "--objects", "-q"]) == 0
    rows = list(csv.DictReader((plain / "objects.csv").open()))
    assert rows and all(row["mean_proba"] == "" for row in rows)  # otsu gives no probabilities
    assert not (plain / "labels").exists() and not (plain / "rois").exists()
    masks = [read_mask(plain / "masks" / f"{name}.png") for name in names]
    assert len(rows) == sum(int(label(mask, connectivity=2).max()) for mask in masks)
    # --overwrite removes the object files a run listed, and the next run writes only what it asks for
    assert main(["run", str(images), "--out", str(out), "--chain", "otsu", "--overwrite", "-q"]) == 0
    assert not (out / "labels").exists() and not (out / "rois").exists() and not (out / "objects.csv").exists()
    assert "objects" not in json.loads((out / "run.json").read_text())
    capsys.readouterr()
    assert main(["run", str(images), "--out", str(tmp_path / "x"), "--chain", "otsu", "--split", "watershed"]) == 2
    assert "--split says how --labels, --objects and --rois part touching objects; give one of them" in (
        capsys.readouterr().err
    )


def test_a_killed_run_with_objects_resumes_to_the_same_files(images, tmp_path):
    reference = tmp_path / "reference"
    args = ("run", images, "--chain", "otsu", *FLAGS, "--split", "watershed", "-q")
    done = _bootseg(tmp_path, 0, *args[:2], "--out", reference, *args[2:])
    assert done.returncode == 0, done.stderr
    writes = int(done.stderr.split("writes")[-1])
    # the last writes are, per image, its mask, overlay, labels and ROIs; then objects.csv, confidence.csv, the
    # report, the manifest and run.json: killed among the images' objects, and right after objects.csv
    for kill_after in (writes - 12, writes - 4):
        out = tmp_path / f"killed-{kill_after}"
        killed = _bootseg(tmp_path, kill_after, *args[:2], "--out", out, *args[2:])
        assert killed.returncode == 9
        resumed = _bootseg(tmp_path, 0, "run", "--resume", out, "-q")
        assert resumed.returncode == 0, resumed.stderr
        _same_outputs(reference, out)  # labels/, rois/ and objects.csv byte for byte
        assert len(list((out / "rois").iterdir())) == 8


def test_resume_takes_the_object_settings_of_the_run(images, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(images), "--out", str(out), "--chain", "otsu", "--rois", "--split", "watershed", "-q"]) == 0
    reference = {path.name: path.read_bytes() for path in (out / "rois").iterdir()}
    record = json.loads((out / "run.json").read_text())
    record["status"] = "running"  # as if it had been stopped before its ROI sets were written
    (out / "run.json").write_text(json.dumps(record))
    for path in list((out / "rois").iterdir())[:3]:
        path.unlink()
    capsys.readouterr()
    assert main(["run", "--resume", str(out), "--labels"]) == 2
    assert "leave out --labels" in capsys.readouterr().err
    assert main(["run", "--resume", str(out), "-q"]) == 0
    assert {path.name: path.read_bytes() for path in (out / "rois").iterdir()} == reference
    # a run.json from before these settings existed resumes with their defaults
    for key in ("channel", "labels", "objects", "rois", "split"):
        del record["settings"][key]
    (out / "run.json").write_text(json.dumps(record))
    assert main(["run", "--resume", str(out), "-q"]) == 0
    assert "objects" not in json.loads((out / "run.json").read_text())
