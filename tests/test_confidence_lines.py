"""The confidence's ``lines`` form, for objects packed edge to edge with thin lines of background between them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage as ndi

from bootseg.cli import main
from bootseg.confidence import confidence, edge_fit, factors, judges_lines, solidity, sureness
from bootseg.datasets import synthetic_spheroids
from bootseg.io import read_image, read_mask, write_image


def _grid(size: int = 48, step: int = 12, width: int = 2) -> np.ndarray:
    """Square cells packed edge to edge, with ``width``-pixel lines of background between them."""
    mask = np.ones((size, size), bool)
    for start in range(0, size, step):
        mask[start : start + width] = False
        mask[:, start : start + width] = False
    return mask


def _disc(size: int = 48, radius: float = 8.0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return np.hypot(yy - size / 2, xx - size / 2) < radius


def _ratio(mask: np.ndarray) -> float:
    """Background-to-objects ratio of the 95th-percentile distances to the other class, by hand."""
    inside = np.percentile(ndi.distance_transform_edt(mask)[mask], 95)
    outside = np.percentile(ndi.distance_transform_edt(~mask)[~mask], 95)
    return float(outside / inside)


@pytest.mark.parametrize("seed", range(4))
def test_lines_form_is_the_background_sureness_times_the_edge_fit(seed):
    rng = np.random.default_rng(seed)
    proba = rng.random((24, 30)).astype(np.float32)
    image = rng.random((24, 30))
    unsure = (proba > 0.25) & (proba < 0.75)
    background_sureness = 1 - unsure.sum() / np.sum((proba < 0.5) | unsure)  # by hand: the lines' sureness
    assert confidence(proba, lines=True) == pytest.approx(background_sureness, abs=1e-6)
    expected = background_sureness * edge_fit(image, proba > 0.5)
    assert confidence(proba, image, lines=True) == pytest.approx(expected, abs=1e-6)


def test_factors_hold_both_forms_by_hand():
    from skimage.measure import label, regionprops

    rng = np.random.default_rng(7)
    proba = ndi.gaussian_filter(rng.random((30, 30)), 2).astype(np.float32)
    proba = (proba - proba.min()) / np.ptp(proba)
    unsure = (proba > 0.25) & (proba < 0.75)
    regions = regionprops(label(proba > 0.5, connectivity=1))
    hand_solidity = sum(r.area * r.solidity for r in regions) / sum(r.area for r in regions)
    f = factors(proba)
    assert f.sureness == pytest.approx(1 - unsure.sum() / np.sum((proba > 0.5) | unsure))
    assert f.background_sureness == pytest.approx(1 - unsure.sum() / np.sum((proba < 0.5) | unsure))
    assert (f.solidity, f.edge_fit) == (pytest.approx(hand_solidity), 1.0)
    assert f.score() == pytest.approx(f.sureness * hand_solidity**3)
    assert f.score(lines=True) == pytest.approx(f.background_sureness)


def test_lines_form_leaves_the_solidity_out_and_judges_the_lines():
    proba = np.where(_grid(), 0.95, 0.05).astype(np.float32)
    assert solidity(proba > 0.5) == 1.0  # square cells: solid either way
    ring = proba.copy()
    ring[4:10, 4:10] = 0.05  # a hole in one cell: not convex any more
    assert solidity(ring > 0.5) < 1.0
    assert confidence(ring, lines=True) == 1.0  # no unsure pixel, and no solidity
    assert confidence(ring) == pytest.approx(solidity(ring > 0.5) ** 3) and confidence(ring) < 1.0
    # an unsure line weighs against the thin background, not the large cells
    blurred = proba.copy()
    blurred[24:26] = 0.5
    unsure = (blurred > 0.25) & (blurred < 0.75)
    lines_share = np.sum(unsure) / np.sum((blurred < 0.5) | unsure)
    assert confidence(blurred, lines=True) == pytest.approx(1 - lines_share)
    assert confidence(blurred, lines=True) < confidence(blurred) == pytest.approx(sureness(blurred))


def test_judges_lines_by_the_median_ratio_of_the_set():
    grid, disc = _grid(), _disc()
    assert _ratio(grid) < 0.5 < _ratio(disc)  # the hand-made reference
    assert judges_lines([grid]) and not judges_lines([disc])
    # one mask that leaked into the background does not turn a set of objects into lines
    assert not judges_lines([disc] * 5 + [grid])
    assert judges_lines([grid] * 5 + [disc])
    assert not judges_lines([np.zeros((8, 8), bool), np.ones((8, 8), bool)])  # no mask with both classes


def _spheroid_folder(tmp_path, count: int = 4, size: int = 48):
    images, _ = synthetic_spheroids(count, size=size, seed=3)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(images):
        write_image(folder / f"{i}.png", image)
    return folder


def test_run_records_the_form_it_judged_from_the_final_masks(tmp_path, monkeypatch):
    from bootseg.cli import execute as run_module
    from bootseg.cli.outputs import proba_path, read_proba

    folder = _spheroid_folder(tmp_path)
    chain = "otsu,unet(size=32,epochs=1,base_channels=4)"
    seen = []

    def spy(masks):
        seen.append([np.asarray(m, bool) for m in masks])
        return True  # judge these blobs as lines, to follow the form through the run

    monkeypatch.setattr(run_module, "judges_lines", spy)
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--chain", chain, "--save-proba", "-q"]) == 0
    record = json.loads((out / "run.json").read_text())
    assert record["confidence"]["judged"] == "lines" and "thin lines" in record["confidence"]["definition"]
    final = record["stages"][-1]["key"]
    assert len(seen) == 1 and [m.shape for m in seen[0]] == [(48, 48)] * 4
    for entry, mask in zip(record["inputs"], seen[0], strict=True):
        assert np.array_equal(read_mask(out / "masks" / f"{entry['name']}.png"), mask)  # the final masks
        proba = read_proba(proba_path(out / "proba", entry["name"], "png16"))
        image = read_image(folder / f"{entry['name']}.png")
        assert entry["confidence"] == pytest.approx(confidence(proba, image, lines=True), abs=1e-4)
    assert final.endswith("unet")


@pytest.mark.parametrize("forced", [None, True])
def test_predict_judges_from_its_own_masks_as_run_does(tmp_path, monkeypatch, forced):
    from bootseg.cli import predict as predict_module
    from bootseg.cli.outputs import proba_path, read_proba

    folder = _spheroid_folder(tmp_path)
    out = tmp_path / "out"
    chain = "otsu,unet(size=32,epochs=1,base_channels=4)"
    assert main(["run", str(folder), "--out", str(out), "--chain", chain, "-q"]) == 0
    if forced:  # follow the lines form through predict
        monkeypatch.setattr(predict_module, "judges_lines_from_radii", lambda radii: True)
    again = tmp_path / "again"
    assert main(["predict", str(out), str(folder), "--out", str(again), "--save-proba", "-q"]) == 0
    record = json.loads((again / "run.json").read_text())
    masks = [read_mask(again / "masks" / f"{entry['name']}.png") for entry in record["inputs"]]
    lines = True if forced else judges_lines(masks)
    assert record["confidence"]["judged"] == ("lines" if lines else "objects")
    for entry in record["inputs"]:
        proba = read_proba(proba_path(again / "proba", entry["name"], "png16"))
        image = read_image(folder / f"{entry['name']}.png")
        assert entry["confidence"] == pytest.approx(confidence(proba, image, lines=lines), abs=1e-4)
        assert entry["confidence"] == pytest.approx(factors(proba, image).score(lines), abs=1e-4)
