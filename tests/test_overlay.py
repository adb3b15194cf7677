from __future__ import annotations

import numpy as np
import pytest

from bootseg.overlay import FINAL_COLOUR, FIRST_COLOUR, display_rgb, enlargement, overlay


def _square(size: int, low: int, high: int) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[low:high, low:high] = True
    return mask


def test_final_outline_on_top_and_first_stage_translucent_beside_it():
    image = np.full((32, 32), 128, np.uint8)
    picture = overlay(image, _square(32, 8, 24), _square(32, 4, 28), enlarge=1)
    assert picture.shape == (32, 32, 3) and picture.dtype == np.uint8
    assert picture[8, 8].tolist() == list(FINAL_COLOUR)
    first = picture[4, 4].astype(int)
    assert first.tolist() != list(FIRST_COLOUR) and first[2] > first[0]  # blended blue, image still shows
    assert picture[16, 16].tolist() == [128, 128, 128]  # inside: untouched


def test_small_images_are_enlarged_by_whole_factors():
    assert [enlargement((s, s)) for s in (16, 64, 100, 128, 256, 1000)] == [4, 4, 3, 2, 1, 1]
    picture = overlay(np.zeros((64, 48), np.uint8), _square(64, 10, 20)[:, :48])
    assert picture.shape == (64 * 4, 48 * 4, 3)
    with pytest.raises(ValueError, match="enlarge"):
        overlay(np.zeros((8, 8), np.uint8), np.zeros((8, 8), bool), enlarge=0)


def test_display_handles_16_bit_float_and_colour():
    grey16 = np.array([[0, 1000], [2000, 4000]], np.uint16)
    assert display_rgb(grey16)[1, 1].tolist() == [255, 255, 255]
    assert display_rgb(np.random.default_rng(0).random((5, 5))).dtype == np.uint8
    rgba = np.zeros((3, 3, 4), np.uint8)
    assert display_rgb(rgba).shape == (3, 3, 3)


def test_mask_of_another_size_is_refused():
    with pytest.raises(ValueError, match="final"):
        overlay(np.zeros((8, 8), np.uint8), np.zeros((8, 9), bool))
