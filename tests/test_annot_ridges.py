"""The ridge first stage (background as thin lines) and the ``auto`` stage's switch to it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage import filters

from bootseg import get_annotator
from bootseg.annotators import Auto, Otsu, Ridges
from bootseg.annotators.postprocess import fill_holes
from bootseg.annotators.ridges import ridge_foreground, sigmas_for
from bootseg.metrics import dice
from bootseg.thickness import THIN_RATIO, class_radii, median_radii, thin_background


def _tissue(seed=0, side=128, cells=14, width=1.5):
    """Cells packed edge to edge (a Voronoi tessellation), bright, split by dark membranes about 3 px wide, with
    patches of fine dark texture inside. Returns the image and the true mask (the cells)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    pixels = np.column_stack([yy.ravel(), xx.ravel()])
    distances, _ = cKDTree(rng.uniform(0, side, (cells, 2))).query(pixels, k=2)
    membrane = ((distances[:, 1] - distances[:, 0]) < 2 * width).reshape(side, side)
    grey = np.full((side, side), 170.0)
    # patches of fine dark texture (dense cytoplasm): half their pixels as dark as a membrane, touching the membranes
    for cy, cx in rng.uniform(0, side, (12, 2)):
        patch = (np.hypot(yy - cy, xx - cx) <= rng.uniform(10, 16)) & (rng.random((side, side)) < 0.5)
        grey[patch] = 40.0
    grey[membrane] = 35.0
    grey = ndi.gaussian_filter(grey, 0.7) + rng.normal(0, 10, grey.shape)
    return np.clip(grey, 0, 255).astype(np.uint8), ~membrane


def _nuclei(seed=0, side=128):
    """Bright round nuclei, well apart, on a dark background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    mask = np.zeros((side, side), bool)
    for cy, cx in rng.uniform(12, side - 12, (6, 2)):
        mask |= np.hypot(yy - cy, xx - cx) <= 7
    grey = np.where(mask, 180.0, 30.0) + rng.normal(0, 10, mask.shape)
    return np.clip(grey, 0, 255).astype(np.uint8), mask


# ------------------------------------------------------------------------------------------------ the parts


def test_class_radii_match_scipy_and_skip_one_class_masks():
    yy, xx = np.mgrid[:100, :100]
    disc = np.hypot(yy - 50, xx - 50) <= 20
    objects, background = class_radii(disc)
    assert objects == pytest.approx(np.percentile(ndi.distance_transform_edt(disc)[disc], 95))
    assert background == pytest.approx(np.percentile(ndi.distance_transform_edt(~disc)[~disc], 95))
    assert objects == pytest.approx(20 * (1 - np.sqrt(0.05)), abs=0.8)  # the share at distance >= x: ((r-x)/r)²
    assert class_radii(np.zeros((5, 5), bool)) is None
    assert class_radii(np.ones((5, 5), bool)) is None


@pytest.mark.parametrize(
    ("radius", "expected"), [(0.5, (1, 2)), (3.4, (1, 2)), (3.5, (1, 2, 3)), (10, (1, 2, 3, 4, 5, 6))]
)
def test_sigmas_for_reach_radius_over_sqrt3(radius, expected):
    assert sigmas_for(radius) == tuple(float(s) for s in expected)


@pytest.mark.parametrize("bad", [0, -2.0, float("nan"), float("inf")])
def test_sigmas_for_rejects_a_bad_radius(bad):
    with pytest.raises(ValueError, match="radius must be"):
        sigmas_for(bad)


@pytest.mark.parametrize("polarity", ["bright", "dark"])
def test_ridge_foreground_is_otsu_of_skimage_sato(polarity):
    image, _ = _tissue(seed=1)
    grey = image.astype(float) if polarity == "bright" else 255.0 - image
    response = filters.sato(grey, sigmas=(1.0, 2.0, 3.0), black_ridges=polarity == "bright")
    expected = response <= filters.threshold_otsu(response)
    np.testing.assert_array_equal(ridge_foreground(grey, (1.0, 2.0, 3.0), polarity), expected)


def test_ridge_foreground_of_a_line_free_image_is_all_objects_and_polarity_is_checked():
    flat = np.full((16, 16), 7.0)
    assert ridge_foreground(flat, (1.0, 2.0), "bright").all()
    with pytest.raises(ValueError, match="polarity must be 'bright' or 'dark', got 'auto'"):
        ridge_foreground(flat, (1.0,), "auto")


def test_median_radii_and_the_thin_background_rule():
    tissue = [_tissue(seed=s)[1] for s in range(3)]
    nuclei = [_nuclei(seed=s)[1] for s in range(3)]
    objects, background, ratio = median_radii(tissue)
    pairs = [class_radii(m) for m in tissue]
    assert ratio == pytest.approx(np.median([b / o for o, b in pairs]))
    assert (objects, background) == pytest.approx(tuple(np.median(pairs, axis=0)))
    assert thin_background(ratio) and ratio < THIN_RATIO
    assert not thin_background(median_radii(nuclei)[2])
    assert median_radii([np.zeros((8, 8), bool)]) is None and not thin_background(None)


def test_auto_makes_only_the_masks_it_measures(monkeypatch):
    from bootseg.thickness import MAX_MEASURED_MASKS

    images = [_nuclei(seed=s % 3, side=48)[0] for s in range(MAX_MEASURED_MASKS + 10)]
    made = []
    original = Auto._segment
    monkeypatch.setattr(
        Auto, "_segment", lambda self, image, channel, plan=None: made.append(1) or original(self, image, channel, plan)
    )
    fitted = Auto(ridges="auto", per_object=False).fit(images)
    assert len(made) == MAX_MEASURED_MASKS  # the radii are measured on 50 masks, and only those are made
    assert fitted.background_ratio is not None


# ------------------------------------------------------------------------------------------------ the stages


def test_ridges_find_the_membranes_where_a_threshold_takes_the_organelles():
    pairs = [_tissue(seed=s) for s in range(4)]
    ridges = [dice(Ridges(polarity="bright").annotate(im), t) for im, t in pairs]
    otsu = [dice(Otsu(polarity="bright").annotate(im), t) for im, t in pairs]
    assert np.mean(ridges) > 0.9
    assert np.mean(ridges) > np.mean(otsu) + 0.03


def test_ridges_auto_polarity_and_dark_objects_between_bright_lines():
    image, truth = _tissue(seed=2)
    bright = Ridges().annotate(image)  # per image: dark lines make a connected sea, the cells are islands
    np.testing.assert_array_equal(bright, Ridges(polarity="bright").annotate(image))
    inverted = Ridges(polarity="dark").annotate(255 - image)
    assert dice(inverted, truth) > 0.9


def test_ridges_is_registered_with_its_options_checked():
    stage = get_annotator("ridges", radius=8, polarity="bright")
    assert isinstance(stage, Ridges) and stage.sigmas == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert stage.options()["radius"] == 8.0
    with pytest.raises(ValueError, match="radius must be a number > 0"):
        Ridges(radius=-1)


def test_auto_switches_to_ridges_for_packed_cells_and_reports_it():
    pairs = [_tissue(seed=s) for s in range(4)]
    images = [im for im, _ in pairs]
    auto = Auto(per_object="auto").fit(images)
    made = auto.choices()
    assert auto.use_ridges and made["ridges"] is True
    assert Auto().fit(images).choices()["ridges"] is True  # the default finds them too
    threshold_masks = [Auto(ridges=False, per_object=False).fit(images).annotate(im) for im in images]
    assert made["background_ratio"] == pytest.approx(median_radii(threshold_masks)[2], abs=1e-4)
    assert made["per_object"] is False  # the ridges replace the threshold: no per-object thresholds
    assert made["ridge_sigmas"] == list(auto.ridge_sigmas)
    # the filter at the measured scales, then the stage's hole filling
    expected_mask = fill_holes(ridge_foreground(images[0], auto.ridge_sigmas, "bright"))
    np.testing.assert_array_equal(auto.annotate(images[0]), expected_mask)
    expected = np.mean([dice(Ridges(polarity="bright").annotate(im), t) for im, t in pairs])
    assert np.mean([dice(auto.annotate(im), t) for im, t in pairs]) == pytest.approx(expected, abs=0.03)


def test_auto_keeps_the_threshold_for_nuclei_and_for_one_centred_object():
    nuclei = [_nuclei(seed=s)[0] for s in range(3)]
    auto = Auto().fit(nuclei)
    assert not auto.use_ridges and auto.choices()["ridges"] is False
    np.testing.assert_array_equal(auto.annotate(nuclei[0]), Auto(ridges=False).fit(nuclei).annotate(nuclei[0]))
    # one large centred object with a thin margin: thin background, but one object per image keeps the threshold
    yy, xx = np.mgrid[:64, :64]
    big = [np.where(np.hypot(yy - 32, xx - 32) <= 29 + s, 200, 20).astype(np.uint8) for s in range(3)]
    one = Auto().fit(big)
    assert one.keeps_largest() and not one.use_ridges


def test_auto_ridges_option_forces_or_forbids_and_is_checked():
    nuclei = [_nuclei(seed=s)[0] for s in range(2)]
    assert Auto(ridges=True).fit(nuclei).use_ridges
    tissue = [_tissue(seed=s)[0] for s in range(2)]
    never = Auto(ridges=False, per_object=False).fit(tissue)
    assert not never.use_ridges and "ridges" not in never.choices()
    assert Auto(ridges=False).options()["ridges"] is False
    with pytest.raises(TypeError, match="ridges must be True or False, got 'yes'"):
        Auto(ridges="yes")
