"""Cutting touching objects at necks (``bootseg.annotators.necks``) and the ``neck`` option of the first stages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import measure

from bootseg.annotators import Otsu
from bootseg.annotators.necks import largest_piece, split_at_necks
from bootseg.annotators.postprocess import largest_component


def two_discs(r1: float, r2: float, gap: float, size: int = 128) -> np.ndarray:
    """Two discs on one row, centres ``gap`` apart."""
    yy, xx = np.mgrid[:size, : 2 * size]
    c1 = size * 0.6
    return (np.hypot(yy - size / 2, xx - c1) <= r1) | (np.hypot(yy - size / 2, xx - c1 - gap) <= r2)


def neck_half_width(r1: float, r2: float, gap: float) -> float:
    """Half the chord where two circles cross (NumPy-free geometry): the half-width of the neck."""
    x = (gap**2 + r1**2 - r2**2) / (2 * gap)
    return math.sqrt(r1**2 - x**2)


DISCS = [(30, 30, 58), (30, 30, 56), (30, 30, 40), (30, 30, 30), (30, 18, 45), (30, 18, 36), (30, 18, 28), (25, 12, 35)]
#: every pair and neck ratio whose neck is not within 15 % of the bound (a pixel grid cannot decide those)
CASES = [
    (r1, r2, gap, neck)
    for r1, r2, gap in DISCS
    for neck in (0.3, 0.5, 0.7)
    if abs(neck_half_width(r1, r2, gap) - neck * min(r1, r2)) >= 0.15 * neck * min(r1, r2)
]


@pytest.mark.parametrize(("r1", "r2", "gap", "neck"), CASES)
def test_two_discs_split_exactly_when_the_neck_is_narrower_than_neck_times_the_smaller_radius(r1, r2, gap, neck):
    half = neck_half_width(r1, r2, gap)
    bound = neck * min(r1, r2)
    labels = split_at_necks(two_discs(r1, r2, gap), neck)
    assert labels.max() == (2 if half < bound else 1), (half, bound)


def test_pieces_cover_the_mask_and_never_join_separate_objects():
    rng = np.random.default_rng(0)
    for seed in range(5):
        mask = np.zeros((96, 96), bool)
        yy, xx = np.mgrid[:96, :96]
        for cy, cx, r in zip(*rng.uniform(10, 86, (2, 8)), rng.uniform(4, 14, 8), strict=True):
            mask |= np.hypot(yy - cy, xx - cx) <= r
        components = measure.label(mask, connectivity=1)  # scikit-image reference
        pieces = split_at_necks(mask, 0.5)
        np.testing.assert_array_equal(pieces > 0, mask)
        for piece in np.unique(pieces[pieces > 0]):
            assert len(np.unique(components[pieces == piece])) == 1, seed  # inside one object
        assert pieces.max() >= components.max()
        # neck 0: the 4-connected components themselves
        np.testing.assert_array_equal(split_at_necks(mask, 0.0), components)


def test_largest_piece_is_the_most_frequent_label_of_the_split():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:80, :80]
    for _ in range(8):
        mask = np.zeros((80, 80), bool)
        for cy, cx, r in zip(*rng.uniform(8, 72, (2, 6)), rng.uniform(5, 16, 6), strict=True):
            mask |= np.hypot(yy - cy, xx - cx) <= r
        labels = split_at_necks(mask, 0.5)
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        reference = labels == np.argmax(sizes)
        assert largest_piece(mask, 0.5).sum() == reference.sum()
        np.testing.assert_array_equal(largest_component(mask, 0.5), largest_piece(mask, 0.5))
    assert not largest_piece(np.zeros((5, 5), bool), 0.5).any()


def test_bad_neck_is_refused():
    with pytest.raises(ValueError, match=r"neck must be in \[0, 1\), got 1.5"):
        split_at_necks(np.ones((4, 4), bool), 1.5)
    with pytest.raises(ValueError, match=r"neck must be in \[0, 1\) \(0 = off\), got -0.1"):
        Otsu(neck=-0.1)
    with pytest.raises(TypeError, match="neck"):
        Otsu(neck="wide")


def test_neck_option_keeps_a_cell_free_of_the_cells_touching_it():
    # a large dark disc at the centre with two smaller discs touching it through narrow necks
    size = 96
    yy, xx = np.mgrid[:size, :size]
    cell = np.hypot(yy - 48, xx - 48) <= 20
    neighbours = (np.hypot(yy - 48, xx - 80) <= 13) | (np.hypot(yy - 18, xx - 40) <= 12)
    image = np.where(cell | neighbours, 60, 210).astype(np.uint8)
    fused = Otsu(polarity="dark", largest_component=True, fill_holes=False).annotate(image)
    np.testing.assert_array_equal(fused, cell | neighbours)  # one 4-connected object
    alone = Otsu(polarity="dark", largest_component=True, neck=0.5).annotate(image)
    assert (alone & cell).sum() > 0.97 * cell.sum() and (alone & neighbours & ~cell).sum() < 0.05 * neighbours.sum()
    assert Otsu(neck=0.5).options()["neck"] == 0.5 and "neck=0.5" in repr(Otsu(neck=0.5))
    # without largest_component the neck changes nothing
    every = Otsu(polarity="dark", neck=0.5, fill_holes=False).annotate(image)
    np.testing.assert_array_equal(every, cell | neighbours)
