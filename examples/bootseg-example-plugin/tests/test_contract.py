"""The example plugin's stages pass bootseg's contract kit, and do what their docstrings say."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest
from bootseg.testing import AnnotatorContract, RefinerContract

from bootseg_example_plugin import ColourDistance, MorphCleanup, TinyFCN


class TestColourDistance(AnnotatorContract):
    factory = ColourDistance


class TestColourDistanceBorder(AnnotatorContract):
    factory = ColourDistance
    options: ClassVar[dict] = {"background": "border", "smooth": 0.0, "min_size": 3}


class TestMorphCleanup(RefinerContract):
    factory = MorphCleanup


class TestTinyFCN(RefinerContract):
    factory = TinyFCN

    def fast_options(self):
        return {"epochs": 2, "width": 4}


class TestMorphCleanupLargest(RefinerContract):
    factory = MorphCleanup
    options: ClassVar[dict] = {"opening": 0, "closing": 1, "largest_component": True, "min_size": 0}


def stained_slide():
    """A white slide with a pink object (differs in hue) and a faint blue one of the slide's brightness."""
    image = np.full((40, 48, 3), 235, np.uint8)
    image[5:20, 5:20] = (215, 120, 170)
    yy, xx = np.mgrid[:40, :48]
    blue = (yy - 28) ** 2 + (xx - 34) ** 2 < 36
    image[blue] = (150, 170, 255)
    return image, blue


def test_colour_distance_finds_objects_a_grey_threshold_cannot_separate():
    image, blue = stained_slide()
    mask = ColourDistance().annotate(image)
    assert mask[5:20, 5:20].mean() > 0.95 and mask[blue].mean() > 0.95
    outside = np.ones(mask.shape, bool)
    outside[5:20, 5:20] = False
    outside[blue] = False
    assert mask[outside].mean() < 0.05


@pytest.mark.parametrize("background", ["dominant", "border", "median"])
def test_background_estimates_agree_on_a_white_slide(background):
    lab = np.full((40, 48, 3), [95.0, 0.5, -0.5], np.float32)
    lab[10:30, 12:36] = [60.0, 40.0, -10.0]  # an object covering a quarter of the image, away from the border
    reference = ColourDistance(background=background).background_colour(lab)
    np.testing.assert_allclose(reference, [95.0, 0.5, -0.5])


def test_fixed_threshold_in_delta_e():
    image, _ = stained_slide()
    assert not ColourDistance(threshold=500.0).annotate(image).any()
    assert ColourDistance(threshold=0.0, smooth=0.0).annotate(image)[5:20, 5:20].all()


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"background": "corner"}, ValueError, r"background must be one of 'dominant', 'border', 'median'"),
        ({"border": 0.0}, ValueError, r"border must be a number > 0 and <= 0.5, got 0.0"),
        ({"threshold": -1}, ValueError, r"threshold must be a number >= 0, got -1.0"),
        ({"smooth": "1"}, TypeError, r"smooth must be a number >= 0, got '1'"),
        ({"min_size": 2.5}, TypeError, r"min_size must be an integer >= 0"),
        ({"fill_holes": 1}, TypeError, r"fill_holes must be True or False"),
    ],
)
def test_colour_distance_options_are_validated(options, error, message):
    with pytest.raises(error, match=message):
        ColourDistance(**options)


def test_morph_cleanup_removes_specks_and_fills_holes():
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    mask[2, 2] = mask[28, 5] = True
    mask[14:16, 14:16] = False
    [cleaned] = MorphCleanup().refine([np.zeros((32, 32), np.uint8)], [mask])
    expected = np.zeros((32, 32), bool)
    expected[8:24, 8:24] = True
    expected[[8, 8, 23, 23], [8, 23, 8, 23]] = False  # the radius-1 opening (a 3 × 3 cross) rounds the corners
    np.testing.assert_array_equal(cleaned, expected)


def test_morph_cleanup_keeps_objects_touching_the_border():
    mask = np.zeros((20, 20), bool)
    mask[:, :6] = True
    [cleaned] = MorphCleanup(opening=2, closing=2, min_size=0).refine([np.zeros((20, 20))], [mask])
    np.testing.assert_array_equal(cleaned, mask)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"opening": -1}, ValueError, r"opening must be an integer >= 0, got -1"),
        ({"closing": 1.5}, TypeError, r"closing must be an integer >= 0, got 1.5"),
        ({"largest_component": "yes"}, TypeError, r"largest_component must be True or False"),
    ],
)
def test_morph_cleanup_options_are_validated(options, error, message):
    with pytest.raises(error, match=message):
        MorphCleanup(**options)
