"""The ``polarity="auto"`` rule on synthetic scenes built like the benchmark data sets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from bootseg.annotators import Otsu
from bootseg.annotators.polarity import CENTRE_WEIGHT, choose_polarity, polarity_score, select_polarity

SIZE = 96
YY, XX = np.mgrid[:SIZE, :SIZE] / SIZE


def disc(cy: float, cx: float, r: float) -> np.ndarray:
    return (YY - cy) ** 2 + (XX - cx) ** 2 < r * r


def one_dark_cell() -> np.ndarray:
    """Bright-field: one dark cell in the middle, some medium red cells around (objects dark)."""
    fg = disc(0.5, 0.5, 0.2)
    fg |= disc(0.1, 0.1, 0.08) | disc(0.9, 0.15, 0.07)  # cells cut by the border
    return fg


def dermoscopy() -> np.ndarray:
    """A dark lesion in the middle plus dark vignetted sides that touch the border (objects dark)."""
    lesion = disc(0.5, 0.55, 0.22)
    vignette = ((YY - 0.5) ** 2 + ((XX - 0.5) * 1.25) ** 2) > 0.5**2
    return lesion | vignette


def nuclei() -> np.ndarray:
    """Many small bright nuclei, 5 % of the image (objects bright)."""
    rng = np.random.default_rng(0)
    fg = np.zeros((SIZE, SIZE), bool)
    for cy, cx in rng.uniform(0.05, 0.95, (14, 2)):
        fg |= disc(cy, cx, 0.035)
    return fg


def membranes() -> np.ndarray:
    """EM: bright cell interiors (about 80 %) separated by a connected dark membrane network (objects bright)."""
    rng = np.random.default_rng(1)
    seeds = np.zeros((SIZE, SIZE), int)
    for index, (y, x) in enumerate(rng.integers(0, SIZE, (25, 2)), start=1):
        seeds[y, x] = index
    _, (iy, ix) = ndi.distance_transform_edt(seeds == 0, return_indices=True)
    cells = seeds[iy, ix]
    edges = ndi.morphological_gradient(cells, size=3) > 0
    return ~edges


SCENES = {  # bright-class mask, the class that is the object
    "one dark cell": (~one_dark_cell(), "dark"),
    "dermoscopy": (~dermoscopy(), "dark"),
    "nuclei": (nuclei(), "bright"),
    "membranes": (membranes(), "bright"),
}


@pytest.mark.parametrize("name", sorted(SCENES))
def test_choose_polarity_on_scenes_like_the_benchmarks(name):
    bright_mask, expected = SCENES[name]
    grey = np.where(bright_mask, 200.0, 50.0)
    assert choose_polarity(grey, bright_mask) == expected


def test_the_scenes_defeat_the_simple_rules():
    # minority-is-foreground fails on membranes, border-contact fails on dermoscopy
    assert membranes().mean() > 0.6
    dark = dermoscopy()
    border = np.concatenate([dark[0], dark[-1], dark[:, 0], dark[:, -1]])
    assert border.mean() > 0.5


def test_score_is_antisymmetric_and_follows_the_formula():
    bright = ~dermoscopy()
    assert polarity_score(~bright) == pytest.approx(-polarity_score(bright))
    lesion_only = ~disc(0.5, 0.5, 0.3)  # a dark disc: dark sea 1, bright sea 1, centre all dark, ring all bright
    assert polarity_score(lesion_only) == pytest.approx(CENTRE_WEIGHT * (0.0 - 1.0))


def test_empty_or_full_bright_class_gives_an_empty_foreground():
    grey = np.zeros((8, 8))
    for bright in (np.zeros((8, 8), bool), np.ones((8, 8), bool)):
        assert not select_polarity("auto", grey, bright).any()


def test_tiny_images_work():
    assert choose_polarity(np.zeros((2, 2)), np.array([[True, False], [False, False]])) in ("bright", "dark")


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"bright_mask has shape \(3, 3\); expected \(4, 4\)"):
        choose_polarity(np.zeros((4, 4)), np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match=r"bright_mask must be \(H, W\), got shape \(4,\)"):
        polarity_score(np.zeros(4, bool))
    with pytest.raises(ValueError, match=r"polarity must be one of 'bright', 'dark', 'auto', got 'up'"):
        select_polarity("up", np.zeros((2, 2)), np.zeros((2, 2), bool))


def test_otsu_auto_follows_the_rule_on_an_image():
    rng = np.random.default_rng(2)
    grey = np.where(dermoscopy(), 60.0, 190.0) + rng.normal(0, 8, (SIZE, SIZE))
    image = np.clip(grey, 0, 255).astype(np.uint8)
    auto = Otsu(polarity="auto", fill_holes=False).annotate(image)
    np.testing.assert_array_equal(auto, Otsu(polarity="dark", fill_holes=False).annotate(image))
