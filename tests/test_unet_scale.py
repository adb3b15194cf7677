"""The ``unet`` stage's working size, chosen so that the masks' finest structures keep ``min_radius`` pixels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from bootseg.refiners import UNetRefiner
from bootseg.refiners.config import UNetConfig
from bootseg.refiners.scale import MAX_SCALE_MASKS, finest_radius, working_size

TINY = {"size": 32, "base_channels": 4, "depth": 2, "batch_size": 4, "epochs": 1, "progress": False, "device": "cpu"}


def _dots(n=6, side=64, radius=3, seed=0):
    """Images of ``side``² with small dark discs of ``radius`` px on a bright background, and their masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    images, masks = [], []
    for _ in range(n):
        mask = np.zeros((side, side), bool)
        for cy, cx in rng.uniform(6, side - 6, (8, 2)):
            mask |= np.hypot(yy - cy, xx - cx) <= radius
        images.append(np.clip(np.where(mask, 50, 200) + rng.normal(0, 8, mask.shape), 0, 255).astype(np.uint8))
        masks.append(mask)
    return images, masks


def test_finest_radius_of_a_disc_follows_the_area_formula():
    # inside a disc of radius r, the share of pixels at least x from the edge is ((r - x) / r)²: its 95th
    # percentile is r (1 - sqrt(0.05)); the background around it is far thicker, so the disc is the finer class
    r = 30
    yy, xx = np.mgrid[:200, :200]
    disc = np.hypot(yy - 100, xx - 100) <= r
    expected = r * (1 - np.sqrt(0.05))
    assert finest_radius([disc]) == pytest.approx(expected, abs=0.8)
    # the same measured by scipy's distance transform directly
    assert finest_radius([disc]) == pytest.approx(np.percentile(ndi.distance_transform_edt(disc)[disc], 95))


def test_finest_radius_sees_a_thin_background_network():
    # wide foreground bands split by background lines 3 px wide: the lines' distances are 1, 2, 1
    mask = np.ones((90, 90), bool)
    for start in range(20, 90, 30):
        mask[:, start : start + 3] = False
        mask[start : start + 3, :] = False
    assert finest_radius([mask]) == pytest.approx(2.0)
    assert finest_radius([~mask]) == pytest.approx(2.0)  # which class is thin does not matter


def test_finest_radius_skips_one_class_masks_and_takes_the_median():
    yy, xx = np.mgrid[:120, :120]
    discs = [np.hypot(yy - 60, xx - 60) <= r for r in (10, 20, 40)]
    single = [np.zeros((120, 120), bool), np.ones((120, 120), bool)]
    assert finest_radius(single) is None
    assert finest_radius([*single, *discs]) == pytest.approx(finest_radius([discs[1]]))


def test_finest_radius_measures_at_most_max_scale_masks(monkeypatch):
    import cv2

    import bootseg.refiners.scale as scale

    seen = []
    original = cv2.distanceTransform
    monkeypatch.setattr(cv2, "distanceTransform", lambda a, *rest: seen.append(a.shape) or original(a, *rest))
    masks = [np.eye(8, dtype=bool)] * (3 * MAX_SCALE_MASKS)
    scale.finest_radius(masks)
    assert len(seen) == 2 * MAX_SCALE_MASKS  # inside and outside of each measured mask


@pytest.mark.parametrize(
    ("sides", "radius", "min_radius", "expected"),
    [
        ([256, 256, 256], 9.2, 8, 224),  # 256 · 8 / 9.2 = 222.6, up to a multiple of 16
        ([256, 256, 256], 4.7, 8, 256),  # thinner than 8 px even at the images' own size: native
        ([250, 250], 2.0, 8, 256),  # never past the images' own size, rounded up to the multiple
        ([256, 256, 256], 43.0, 8, 128),  # large objects: the smallest size is enough
        ([1024, 1024], 10.0, 8, 832),  # 1024 · 0.8 = 819.2
        ([64, 1024, 1024], 10.0, 8, 832),  # the median side
        ([256], 4.7, 0, 128),  # min_radius 0 keeps the size
        ([256], None, 8, 128),  # no mask with both classes
        ([64], 2.0, 8, 128),  # images smaller than the size: the size
    ],
)
def test_working_size(sides, radius, min_radius, expected):
    assert working_size(sides, radius, size=128, min_radius=min_radius, multiple=16) == expected


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), True, "8"])
def test_min_radius_is_checked(bad):
    with pytest.raises(ValueError, match=r"min_radius must be a number >= 0 \(0 = keep size\), got"):
        UNetConfig(min_radius=bad)


def test_presets_min_radius():
    assert UNetConfig.from_options("fast").min_radius == 8 == UNetConfig().min_radius
    assert UNetConfig.from_options("paper").min_radius == 0  # the paper's fixed working size


def test_fit_enlarges_the_working_size_for_small_objects_and_trains_on_crops(monkeypatch):
    from bootseg.refiners import training

    crops = []
    original = training.random_crops
    monkeypatch.setattr(training, "random_crops", lambda x, y, c, g: crops.append(c) or original(x, y, c, g))
    images, masks = _dots()
    radius = finest_radius(masks)
    expected = working_size([64] * 6, radius, size=32, min_radius=8, multiple=4)
    assert expected == 64  # discs of radius 3 need the images' own size
    unet = UNetRefiner(**TINY).fit(images, masks)
    assert (unet.config.size, unet.config.crop) == (64, 32)
    scale = {key: unet.choices()[key] for key in ("finest_radius", "size", "crop")}
    assert scale == {"finest_radius": round(radius, 2), "size": 64, "crop": 32}
    assert crops and set(crops) == {32}
    proba = unet.predict_proba(images[:2])
    assert [p.shape for p in proba] == [(64, 64), (64, 64)]


def test_fit_keeps_the_size_for_large_objects_or_min_radius_zero(monkeypatch):
    from bootseg.refiners import training

    monkeypatch.setattr(training, "random_crops", lambda *a: pytest.fail("no crops without an enlarged size"))
    images, masks = _dots()
    pinned = UNetRefiner(min_radius=0, **TINY).fit(images, masks)
    assert (pinned.config.size, pinned.config.crop) == (32, 0)
    assert not {"finest_radius", "size", "crop"} & set(pinned.choices())  # nothing chosen for the scale
    yy, xx = np.mgrid[:64, :64]
    large = [np.hypot(yy - 32, xx - 32) <= 24] * 6
    unet = UNetRefiner(**TINY).fit(images, large)
    assert (unet.config.size, unet.config.crop) == (32, 0)
    assert unet.choices()["size"] == 32


def test_a_given_crop_is_kept_and_refitting_chooses_again():
    images, masks = _dots()
    unet = UNetRefiner(crop=16, **TINY).fit(images, masks)
    assert (unet.config.size, unet.config.crop) == (64, 16)
    yy, xx = np.mgrid[:64, :64]
    unet.fit(images, [np.hypot(yy - 32, xx - 32) <= 24] * 6)  # the next set's masks decide afresh
    assert (unet.config.size, unet.config.crop) == (32, 16)


def test_the_chosen_size_is_saved_and_loaded(tmp_path):
    images, masks = _dots()
    unet = UNetRefiner(**TINY).fit(images, masks)
    loaded = UNetRefiner.load(unet.save(tmp_path / "m.pt"))
    assert (loaded.config.size, loaded.config.crop) == (64, 32)
    for p, q in zip(unet.predict_proba(images[:2]), loaded.predict_proba(images[:2]), strict=True):
        np.testing.assert_allclose(p, q, atol=1e-6)
