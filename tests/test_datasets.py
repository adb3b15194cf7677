"""Tests of the synthetic spheroid generator: shapes, determinism, Otsu imperfect but the signal there."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.filters import gaussian, threshold_otsu
from skimage.measure import label

from bootseg.datasets import synthetic_spheroids


def _dice(pred: np.ndarray, target: np.ndarray) -> float:
    total = pred.sum() + target.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(pred, target).sum() / total


def _blurred_otsu(grey: np.ndarray) -> np.ndarray:
    """Reference denoised first stage: Gaussian blur, Otsu (dark = fg), largest component, holes filled."""
    smooth = gaussian(grey.astype(float), sigma=2, preserve_range=True)
    dark = smooth <= threshold_otsu(smooth)
    labels = label(dark)
    if labels.max() == 0:
        return dark
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    return ndi.binary_fill_holes(labels == counts.argmax())


@pytest.fixture(scope="module", params=[64, 128])
def data(request):
    return synthetic_spheroids(64, size=request.param, seed=0)


def test_shapes_and_dtypes():
    images, masks = synthetic_spheroids(3, size=48, seed=5)
    assert len(images) == len(masks) == 3
    for image, mask in zip(images, masks, strict=True):
        assert image.shape == mask.shape == (48, 48)
        assert image.dtype == np.uint8
        assert mask.dtype == bool


@pytest.mark.parametrize("size", [16, 32, 1024])
def test_size_range(size):
    images, masks = synthetic_spheroids(1, size=size)
    assert images[0].shape == (size, size)
    assert masks[0].any()


def test_deterministic_for_a_seed():
    first = synthetic_spheroids(4, size=64, seed=7)
    second = synthetic_spheroids(4, size=64, seed=7)
    for a, b in zip(first[0] + first[1], second[0] + second[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_seeds_differ():
    a, _ = synthetic_spheroids(1, size=64, seed=0)
    b, _ = synthetic_spheroids(1, size=64, seed=1)
    assert not np.array_equal(a[0], b[0])


def test_image_independent_of_n():
    few_images, few_masks = synthetic_spheroids(3, size=64, seed=2)
    many_images, many_masks = synthetic_spheroids(10, size=64, seed=2)
    for i in range(3):
        np.testing.assert_array_equal(few_images[i], many_images[i])
        np.testing.assert_array_equal(few_masks[i], many_masks[i])
    assert not np.array_equal(many_images[0], many_images[1])


def test_masks_non_empty_and_partial(data):
    _, masks = data
    for mask in masks:
        share = mask.mean()
        assert 0.05 < share < 0.5


def test_spheroid_darker_than_surround(data):
    images, masks = data
    for image, mask in zip(images, masks, strict=True):
        assert image[mask].mean() < image[~mask].mean()


def test_plain_otsu_is_clearly_imperfect(data):
    images, masks = data
    scores = [_dice(image <= threshold_otsu(image), mask) for image, mask in zip(images, masks, strict=True)]
    assert np.mean(scores) <= 0.75
    assert np.mean(scores) >= 0.4  # imperfect, not hopeless


def test_blurred_otsu_proxy_recovers_shape(data):
    images, masks = data
    scores = [_dice(_blurred_otsu(image), mask) for image, mask in zip(images, masks, strict=True)]
    assert np.mean(scores) >= 0.8


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be at least 1, got n=0"),
        ({"n": -3}, ValueError, "n=-3"),
        ({"n": 1, "size": 15}, ValueError, "size=15"),
        ({"n": 1, "size": 2048}, ValueError, "size=2048"),
        ({"n": 1, "seed": -1}, ValueError, "seed=-1"),
        ({"n": 2.0}, TypeError, "n must be an int, got float"),
        ({"n": 1, "size": "64"}, TypeError, "size must be an int, got str"),
        ({"n": True}, TypeError, "n must be an int, got bool"),
    ],
)
def test_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        synthetic_spheroids(**kwargs)


def test_numpy_integers_accepted():
    images, _ = synthetic_spheroids(np.int64(1), size=np.int32(32), seed=np.uint8(3))
    assert images[0].shape == (32, 32)
