"""The per-image confidence: its formula, and the CSV a run writes, least confident first."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from bootseg.cli import main
from bootseg.confidence import confidence
from bootseg.datasets import synthetic_spheroids
from bootseg.io import write_image


@pytest.mark.parametrize("seed", range(5))
def test_confidence_matches_the_numpy_formula(seed):
    proba = np.random.default_rng(seed).random((16, 20)).astype(np.float32)
    unsure = np.sum((proba > 0.25) & (proba < 0.75))
    union = np.sum((proba > 0.5) | ((proba > 0.25) & (proba < 0.75)))
    assert confidence(proba) == pytest.approx(1 - unsure / union)
    assert confidence(np.zeros((4, 4))) == 1.0 and confidence(np.full((4, 4), 0.5)) == 0.0


def test_run_writes_confidence_csv_least_confident_first(tmp_path):
    images, _ = synthetic_spheroids(6, size=32, seed=8)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(images):
        write_image(folder / f"{i}.png", image)
    out = tmp_path / "out"
    chain = "otsu,unet(size=32,epochs=1,base_channels=4)"
    assert main(["run", str(folder), "--out", str(out), "--chain", chain, "-q"]) == 0
    with open(out / "confidence.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    scores = [float(r["confidence"]) for r in rows]
    assert scores == sorted(scores) and sorted(r["name"] for r in rows) == [str(i) for i in range(6)]
    recorded = {i["name"]: i["confidence"] for i in json.loads((out / "run.json").read_text())["inputs"]}
    assert {r["name"]: float(r["confidence"]) for r in rows} == pytest.approx(recorded, abs=1e-4)
