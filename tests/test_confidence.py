"""The per-image confidence: its formula, and the CSV a run writes, least confident first."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from bootseg.cli import main
from bootseg.confidence import confidence, sureness
from bootseg.datasets import synthetic_spheroids
from bootseg.io import write_image


@pytest.mark.parametrize("seed", range(5))
def test_confidence_matches_the_numpy_formula(seed):
    proba = np.random.default_rng(seed).random((16, 20)).astype(np.float32)
    unsure = np.sum((proba > 0.25) & (proba < 0.75))
    union = np.sum((proba > 0.5) | ((proba > 0.25) & (proba < 0.75)))
    assert sureness(proba) == pytest.approx(1 - unsure / union)
    assert confidence(np.zeros((4, 4))) == 1.0 and confidence(np.full((4, 4), 0.5)) == 0.0
    assert sureness(np.full((4, 4), 0.5)) == 0.0


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


def test_confidence_is_sureness_times_solidity():
    from bootseg.confidence import solidity, sureness

    # a crisp square and a crisp ring: sure everywhere, the ring's hull holds 9 pixels it does not
    proba = np.zeros((20, 30), np.float32)
    proba[2:7, 2:7] = 0.9  # 25 pixels, convex
    proba[10:17, 10:17] = 0.9
    proba[12:15, 12:15] = 0.1  # 40 pixels in a 7 x 7 hull
    expected_solidity = (25 * 1.0 + 40 * (40 / 49)) / 65  # area-weighted, by hand
    assert solidity(proba > 0.5) == pytest.approx(expected_solidity)
    assert sureness(proba) == 1.0 and confidence(proba) == pytest.approx(expected_solidity)
    # an unsure band makes both factors count
    proba[2:7, 6] = 0.5
    assert confidence(proba) == pytest.approx(sureness(proba) * solidity(proba > 0.5))
    assert sureness(proba) == pytest.approx(1 - 5 / 65)
    assert solidity(np.zeros((3, 3), bool)) == 1.0 and solidity(np.ones((3, 3), bool)) == 1.0
