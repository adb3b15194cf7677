"""Each object's own threshold (``bootseg.annotators.per_object``) and the ``auto`` stage's use of it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import filters

from bootseg.annotators import Auto
from bootseg.annotators.per_object import MIN_REGION, rethreshold_objects
from bootseg.metrics import dice
from bootseg.thickness import median_radii


def _haloed_nuclei(seed=0, side=128, dim=110.0):
    """Discs of radius 7 at well-spaced places, one in four bright (240) and the rest dim (``dim``), each in a halo
    2 px wide at a third of its brightness, on a dark background (10) with noise. One grey level for all, set
    between the background and the many dim discs, takes in the bright discs' halos. Returns the image and the
    true discs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    truth = np.zeros((side, side), bool)
    grey = np.full((side, side), 10.0)
    centres = [(cy, cx) for cy in range(20, side - 10, 30) for cx in range(20, side - 10, 30)]
    levels = np.where(np.arange(len(centres)) % 4 == 0, 240.0, dim)
    for (cy, cx), level in zip(centres, levels, strict=True):
        radius = np.hypot(yy - cy - rng.uniform(-3, 3), xx - cx - rng.uniform(-3, 3))
        grey[(radius > 7) & (radius <= 9)] = level / 3
        grey[radius <= 7] = level
        truth |= radius <= 7
    grey += rng.normal(0, 2, grey.shape)
    return np.clip(grey, 0, 255).astype(np.uint8), truth


def _reference(data, mask, grow):
    """Per-object Otsu written out: each pixel goes to the object at the smallest distance (one distance map per
    object), if within ``grow``; each object's pixels are split by Otsu's threshold of their own values."""
    labels, count = ndi.label(mask)
    distances = np.stack([ndi.distance_transform_edt(labels != k) for k in range(1, count + 1)])
    owner = np.where(distances.min(axis=0) <= grow, distances.argmin(axis=0) + 1, 0)
    out = np.zeros(mask.shape, bool)
    for k in range(1, count + 1):
        region = owner == k
        out[region] = data[region] > filters.threshold_otsu(data[region])
    return out


def test_rethreshold_objects_is_otsu_in_each_objects_neighbourhood():
    image, _ = _haloed_nuclei(seed=1)
    found = image > filters.threshold_otsu(image)
    # objects 30 px apart and at most 4 px grown: no pixel is equally near two objects
    local = rethreshold_objects(image, found, 4.0, lambda v: v > filters.threshold_otsu(v))
    np.testing.assert_array_equal(local, _reference(image, found, 4.0))


def test_per_object_thresholds_fix_the_size_of_bright_and_dim_objects():
    pairs = [_haloed_nuclei(seed=s) for s in range(3)]
    images = [im for im, _ in pairs]
    once = Auto(per_object=False).fit(images)
    each = Auto(per_object="auto").fit(images)
    assert each.use_per_object and not once.use_per_object
    one_level = np.mean([dice(once.annotate(im), t) for im, t in pairs])
    own_level = np.mean([dice(each.annotate(im), t) for im, t in pairs])
    assert one_level < 0.93 and own_level > 0.99  # the bright discs' halos are gone


def test_auto_reports_the_neighbourhood_it_chose():
    images = [_haloed_nuclei(seed=s)[0] for s in range(3)]
    auto = Auto(per_object="auto").fit(images)
    objects = median_radii([Auto(per_object=False).fit(images).annotate(im) for im in images])[0]
    made = auto.choices()
    assert made["per_object"] is True
    assert made["grow"] == pytest.approx(0.5 * objects, abs=0.01)
    assert auto.options()["per_object"] == "auto"


def test_objects_whose_neighbourhood_cannot_be_split_are_kept():
    data = np.zeros((20, 20))
    data[2:4, 2:4] = 5.0  # 4 px: grown by 1 px its neighbourhood holds 12 < MIN_REGION pixels
    data[10:16, 10:16] = 9.0  # large enough to be split, but its split refuses (as for too few levels)
    mask = data > 0
    assert MIN_REGION > 4 + 8

    def split(values):
        if values.size < MIN_REGION:
            pytest.fail("a neighbourhood under MIN_REGION pixels was split")
        raise ValueError("too few levels")

    np.testing.assert_array_equal(rethreshold_objects(data, mask, 1.0, split), mask)
    np.testing.assert_array_equal(rethreshold_objects(data, mask, 0.0, split), mask)  # grow 0: unchanged


def test_auto_per_object_is_off_with_three_classes():
    # with dim discs at 70 the halos make a third class: the objects have two levels, per_object="auto" stays off
    images = [_haloed_nuclei(seed=s, dim=70.0)[0] for s in range(3)]
    auto = Auto(per_object="auto").fit(images)
    assert auto.classes == 3 and not auto.use_per_object and auto.choices()["per_object"] is False


def test_auto_per_object_is_off_for_one_centred_object_and_checked():
    yy, xx = np.mgrid[:64, :64]
    big = [np.where(np.hypot(yy - 32, xx - 32) <= 12 + s, 200, 20).astype(np.uint8) for s in range(3)]
    one = Auto(per_object="auto").fit(big)
    assert one.keeps_largest() and not one.use_per_object and one.choices()["per_object"] is False
    forced = Auto(per_object=True).fit(big)
    assert forced.use_per_object
    np.testing.assert_array_equal(forced.annotate(big[0]), one.annotate(big[0]))  # two clean levels: the same
    assert "per_object" not in Auto(per_object=False).fit(big).choices()
    with pytest.raises(TypeError, match="per_object must be True or False, got 'always'"):
        Auto(per_object="always")
