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
    assert confidence(np.zeros((4, 4))) == 0.0 and confidence(np.full((4, 4), 0.5)) == 0.0  # empty: nothing to trust
    assert sureness(np.full((4, 4), 0.5)) == 0.0


def _image_folder(tmp_path, count: int, size: int, seed: int):
    """A folder of ``count`` synthetic spheroid images named 0.png, 1.png, ..."""
    images, _ = synthetic_spheroids(count, size=size, seed=seed)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(images):
        write_image(folder / f"{i}.png", image)
    return folder


def test_run_writes_confidence_csv_least_confident_first(tmp_path):
    folder = _image_folder(tmp_path, 6, size=32, seed=8)
    out = tmp_path / "out"
    chain = "otsu,unet(size=32,epochs=1,base_channels=4)"
    assert main(["run", str(folder), "--out", str(out), "--chain", chain, "-q"]) == 0
    with open(out / "confidence.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    scores = [float(r["confidence"]) for r in rows]
    assert scores == sorted(scores) and sorted(r["name"] for r in rows) == [str(i) for i in range(6)]
    recorded = {i["name"]: i["confidence"] for i in json.loads((out / "run.json").read_text())["inputs"]}
    assert {r["name"]: float(r["confidence"]) for r in rows} == pytest.approx(recorded, abs=1e-4)


def test_run_confidence_is_recomputed_from_the_saved_probabilities_and_the_image(tmp_path):
    from bootseg.cli.outputs import proba_path, read_proba
    from bootseg.io import read_image

    folder = _image_folder(tmp_path, 4, size=48, seed=2)
    out = tmp_path / "out"
    chain = "otsu,unet(size=32,epochs=2,base_channels=4)"
    args = ["run", str(folder), "--out", str(out), "--chain", chain, "--save-proba", "--proba-format", "tiff", "-q"]
    assert main(args) == 0
    record = json.loads((out / "run.json").read_text())
    assert "edge fit" in record["confidence"]["definition"]
    for entry in record["inputs"]:
        proba = read_proba(proba_path(out / "proba", entry["name"], "tiff"))
        image = read_image(folder / f"{entry['name']}.png")
        assert entry["confidence"] == pytest.approx(confidence(proba, image), abs=1e-4)


def test_confidence_is_sureness_times_a_power_of_solidity():
    from bootseg.confidence import SOLIDITY_POWER, solidity, sureness

    # a crisp square and a crisp ring: sure everywhere, the ring's hull holds 9 pixels it does not
    proba = np.zeros((20, 30), np.float32)
    proba[2:7, 2:7] = 0.9  # 25 pixels, convex
    proba[10:17, 10:17] = 0.9
    proba[12:15, 12:15] = 0.1  # 40 pixels in a 7 x 7 hull
    expected_solidity = (25 * 1.0 + 40 * (40 / 49)) / 65  # area-weighted, by hand
    assert solidity(proba > 0.5) == pytest.approx(expected_solidity)
    assert sureness(proba) == 1.0 and confidence(proba) == pytest.approx(expected_solidity**SOLIDITY_POWER)
    # an unsure band makes both factors count
    proba[2:7, 6] = 0.5
    assert confidence(proba) == pytest.approx(sureness(proba) * solidity(proba > 0.5) ** SOLIDITY_POWER)
    assert sureness(proba) == pytest.approx(1 - 5 / 65)
    assert solidity(np.zeros((3, 3), bool)) == 1.0 and solidity(np.ones((3, 3), bool)) == 1.0


def _square(size=200, side=100, grow=0):
    """A bright square on a dark ground, and a mask of it grown by ``grow`` pixels on every side (< 0: shrunk)."""
    image = np.zeros((size, size))
    lo, hi = (size - side) // 2, (size + side) // 2
    image[lo:hi, lo:hi] = 1.0
    mask = np.zeros((size, size), bool)
    mask[lo - grow : hi + grow, lo - grow : hi + grow] = True
    return image, mask


def _straight_edge_fit(grow: int, sigma: float, reach: int = 3) -> float:
    """The edge fit of a straight outline ``grow`` pixels outside a step edge, in one dimension with NumPy alone.

    The derivative of a step by a sampled Gaussian-derivative kernel, read by linear interpolation at the outline
    (half a pixel outside the mask's first pixel) and at whole-pixel steps along the normal, up to ``reach``.
    """
    x = np.arange(-30, 31)
    weights = np.exp(-(x**2) / (2 * sigma**2))
    kernel = -x / sigma**2 * weights / weights.sum()
    step = (np.arange(200) >= 100).astype(float)
    derivative = np.abs(np.convolve(step, kernel[::-1], mode="same"))
    outline = 100 - grow - 0.5
    values = np.interp(outline + np.arange(-reach, reach + 1), np.arange(200), derivative)
    return float(values[reach] / values.max())


@pytest.mark.parametrize("grow", [-2, -1, 0, 1, 2])
@pytest.mark.parametrize("sigma", [1.0, 1.5])
def test_edge_fit_of_a_shifted_outline_matches_the_straight_edge(grow, sigma):
    from bootseg.confidence import edge_fit

    image, mask = _square(grow=grow)
    # The sides of a large square dominate its corners: the mean ratio is that of a straight edge. For a sharp
    # step it is close to exp(-d² / 2σ²) at a distance d, the continuous Gaussian derivative.
    expected = _straight_edge_fit(grow, sigma)
    assert edge_fit(image, mask, sigma=sigma, reach=3) == pytest.approx(expected, abs=0.015)
    assert expected == pytest.approx(np.exp(-(grow**2) / (2 * sigma**2)), abs=0.07)


def test_edge_fit_looks_only_within_reach():
    from bootseg.confidence import edge_fit

    image, mask = _square(grow=4)  # the outline 4 px outside the edge
    assert edge_fit(image, mask, reach=3) == pytest.approx(_straight_edge_fit(4, 1.0, reach=3), abs=0.015)
    assert edge_fit(image, mask, reach=5) == pytest.approx(_straight_edge_fit(4, 1.0, reach=5), abs=0.015)
    assert edge_fit(image, mask, reach=5) < edge_fit(image, mask, reach=3) < 0.1


def test_edge_fit_ignores_polarity_scale_and_constant_channels():
    from bootseg.confidence import edge_fit

    rng = np.random.default_rng(3)
    image, mask = _square(grow=1)
    image = image + rng.normal(0, 0.05, image.shape)
    base = edge_fit(image, mask)
    assert edge_fit(-image, mask) == pytest.approx(base)
    assert edge_fit(1000 * image + 7, mask) == pytest.approx(base)
    colour = np.stack([image, np.full_like(image, 0.3), np.zeros_like(image)], axis=-1)  # two constant channels
    assert edge_fit(colour, mask) == pytest.approx(base)
    assert edge_fit(image[..., None], mask) == pytest.approx(base)
    # two channels with the same edge: the root sum of squares of equal, standardised derivatives is the same ratio
    assert edge_fit(np.stack([image, 2 * image], axis=-1), mask) == pytest.approx(base)


def test_edge_fit_without_an_outline_or_an_edge_is_one_and_bad_input_is_named():
    from bootseg.confidence import edge_fit

    image, mask = _square(size=40, side=20)
    assert edge_fit(image, np.zeros_like(mask)) == 1.0 and edge_fit(image, np.ones_like(mask)) == 1.0
    assert edge_fit(np.full(image.shape, 5.0), mask) == 1.0
    with pytest.raises(ValueError, match=r"mask's size \(40, 40\).*shape \(40, 41\)"):
        edge_fit(np.zeros((40, 41)), mask)
    with pytest.raises(ValueError, match="sigma must be > 0 and reach >= 1; got sigma=0"):
        edge_fit(image, mask, sigma=0)
    with pytest.raises(ValueError, match="reach=0"):
        edge_fit(image, mask, reach=0)


def test_confidence_with_the_image_multiplies_in_the_edge_fit():
    from bootseg.confidence import SOLIDITY_POWER, combine, edge_fit, solidity, sureness

    image, mask = _square(size=60, side=30, grow=1)
    proba = np.where(mask, 0.9, 0.05).astype(np.float32)
    proba[mask & ~np.roll(mask, 1, axis=1)] = 0.6  # an unsure column
    expected = sureness(proba) * solidity(mask) ** SOLIDITY_POWER * edge_fit(image, mask)
    assert confidence(proba, image) == pytest.approx(expected)
    assert combine(sureness(proba), solidity(mask), edge_fit(image, mask)) == pytest.approx(expected)
    assert confidence(proba, image) < confidence(proba) < 1.0
