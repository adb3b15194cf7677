"""The colour channel's evidence (``AGREEMENT_FLOOR``) and the texture channel."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from sklearn.metrics import f1_score

from bootseg.annotators import Auto, Otsu, Plan
from bootseg.annotators import candidates as thr
from bootseg.annotators.channels import TEXTURE_WINDOW, channel_image, local_std


def _fitted(masks: dict[tuple[int, str], list[np.ndarray]], objectness: dict[tuple[int, str], float]):
    return {
        key: thr.Fitted(objectness[key], Plan(polarity="bright"), [(np.packbits(m.ravel()), m.size) for m in value])
        for key, value in masks.items()
    }


def _random_masks(rng, n=3, shape=(12, 10)):
    return [rng.random(shape) > 0.5 for _ in range(n)]


def test_agreement_is_the_mean_f1_with_the_majority_of_the_other_channels():
    rng = np.random.default_rng(0)
    names = ["grey", "saturation", "lab_a", "lab_b"]
    masks = {(2, name): _random_masks(rng) for name in names}
    masks[(3, "grey")] = _random_masks(rng)  # alone in its count: nothing to agree with
    got = thr.agreements(_fitted(masks, dict.fromkeys(masks, 0.0)))
    for name in names:
        others = [masks[(2, other)] for other in names if other != name]
        expected = np.mean(
            [
                f1_score(
                    (np.sum([o[i] for o in others], axis=0) * 2 > len(others)).ravel(), masks[(2, name)][i].ravel()
                )
                for i in range(3)
            ]
        )
        assert got[f"{name}, 2 classes"] == pytest.approx(expected)
    assert "grey, 3 classes" not in got


def test_a_colour_channel_that_disagrees_with_the_others_is_passed_over_for_grey():
    base = np.zeros((16, 16), bool)
    base[4:12, 4:12] = True
    odd = np.zeros((16, 16), bool)
    odd[:3] = True  # a different object: agrees with nobody
    masks = {(2, "grey"): [base], (2, "saturation"): [base], (2, "lab_a"): [odd], (2, "lab_b"): [base]}
    objectness = {(2, "grey"): 0.2, (2, "saturation"): 0.1, (2, "lab_a"): 0.9, (2, "lab_b"): 0.3}
    fitted = _fitted(masks, objectness)
    assert thr.agreements(fitted)["lab_a, 2 classes"] == 0.0
    assert thr.best_candidate(fitted) == (2, "lab_b")  # the most object-like among those with evidence
    objectness[(2, "lab_b")] = 0.15
    assert thr.best_candidate(_fitted(masks, objectness)) == (2, "grey")


def test_the_floor_can_be_lowered_to_trust_every_channel(monkeypatch):
    base = np.zeros((16, 16), bool)
    base[4:12, 4:12] = True
    odd = np.zeros((16, 16), bool)
    odd[:3] = True
    masks = {(2, "grey"): [base], (2, "saturation"): [base], (2, "lab_a"): [odd]}
    objectness = {(2, "grey"): 0.2, (2, "saturation"): 0.1, (2, "lab_a"): 0.9}
    monkeypatch.setattr(thr, "AGREEMENT_FLOOR", 0.0)
    assert thr.best_candidate(_fitted(masks, objectness)) == (2, "lab_a")


def test_a_fallback_margin_keeps_otsu_on_grey_when_the_best_is_close(monkeypatch):
    base = np.zeros((16, 16), bool)
    base[4:12, 4:12] = True
    masks = {(2, "grey"): [base], (3, "grey"): [base], (2, "saturation"): [base], (2, "lab_b"): [base]}
    objectness = {(2, "grey"): 0.40, (3, "grey"): 0.30, (2, "saturation"): 0.46, (2, "lab_b"): 0.2}
    assert thr.FALLBACK_MARGIN == 0.0 and thr.best_candidate(_fitted(masks, objectness)) == (2, "saturation")
    monkeypatch.setattr(thr, "FALLBACK_MARGIN", 0.1)  # 0.46 - 0.40 < 0.1: too close to prefer
    assert thr.best_candidate(_fitted(masks, objectness)) == thr.PLAINEST == (2, "grey")
    scores = {f"{channel}, {count} classes": value for (count, channel), value in objectness.items()}
    assert "kept over saturation, 2 classes (0.46), which is within 0.1 of it" in thr.summary(
        (2, "grey"), scores, {}, None
    )
    objectness[(2, "saturation")] = 0.55  # 0.15 above: kept
    assert thr.best_candidate(_fitted(masks, objectness)) == (2, "saturation")


def test_auto_fit_reports_each_candidates_agreement():
    rng = np.random.default_rng(1)
    images = []
    for _ in range(3):
        image = np.full((40, 40, 3), (230, 200, 200), np.uint8)
        image[10:30, 12:28] = (90, 40, 140)
        images.append(np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8))
    auto = Auto().fit(images)
    made = auto.choices()
    assert set(made["channel_agreement"]) == set(made["objectness"])
    assert made["channel_agreement"][f"{made['channel']}, {made['classes']} classes"] >= thr.AGREEMENT_FLOOR or (
        made["channel"] == "grey"
    )
    assert int(auto.annotate(images[0])[12:28, 14:26].sum()) == 16 * 12


def test_local_std_matches_scipy():
    grey = np.random.default_rng(2).random((30, 23)) * 200
    mean = ndi.uniform_filter(grey, 7, mode="reflect")
    expected = np.sqrt(np.maximum(ndi.uniform_filter(grey * grey, 7, mode="reflect") - mean * mean, 0))
    np.testing.assert_allclose(local_std(grey, 7), expected, atol=1e-3)


def test_texture_channel_finds_a_textured_object_of_the_backgrounds_mean_level():
    rng = np.random.default_rng(3)
    image = np.full((64, 64), 128.0)
    yy, xx = np.mgrid[:64, :64]
    inside = np.hypot(yy - 32, xx - 32) < 16
    image[inside] += rng.choice([-60.0, 60.0], size=int(inside.sum()))  # same mean, high variance
    image = image.astype(np.uint8)
    np.testing.assert_allclose(channel_image(image, "texture"), local_std(image.astype(np.float32), TEXTURE_WINDOW))
    mask = Otsu(channel="texture", polarity="bright", fill_holes=False).annotate(image)
    dice = 2 * (mask & inside).sum() / (mask.sum() + inside.sum())
    assert dice > 0.85  # the window moves the outline out by up to half its side (3 px on a 16 px radius)
    grey_mask = Otsu(polarity="bright", fill_holes=False).annotate(image)  # half the object's pixels
    assert 2 * (grey_mask & inside).sum() / (grey_mask.sum() + inside.sum()) < 0.7
