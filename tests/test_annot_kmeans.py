"""k-means annotator: exact histogram Lloyd, agreement with cv2.kmeans as the paper called it, options."""

from __future__ import annotations

import importlib
import itertools

import cv2
import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans

from bootseg.annotators import KMeans
from bootseg.annotators.kmeans1d import FLOAT_BINS, grey_histogram, kmeans_1d, kmeans_grey
from bootseg.annotators.kmeans_color import kmeans_color
from bootseg.annotators.preprocess import to_colour, to_grey

kmeans_color_module = importlib.import_module("bootseg.annotators.kmeans_color")

CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 0.2)


def scene(seed: int, size: int = 64, colour: bool = False) -> np.ndarray:
    """One noisy object on an unevenly lit background (uint8; RGB when ``colour``)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    cy, cx, r = rng.uniform(0.35, 0.65), rng.uniform(0.35, 0.65), rng.uniform(0.12, 0.3)
    inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    if colour:
        fg, bg = np.array([120.0, 60, 150]), np.array([220.0, 190, 170])
        image = np.where(inside[..., None], fg, bg) + 25 * xx[..., None] + rng.normal(0, 18, (size, size, 3))
    else:
        image = np.where(inside, 170.0, 80.0) + 30 * xx + rng.normal(0, 22, (size, size))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def paper_kmeans(data: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """cv2.kmeans as the paper called it; the largest cluster is background."""
    cv2.setRNGSeed(0)
    _, labels, _ = cv2.kmeans(np.float32(data), 2, None, CRITERIA, 10, cv2.KMEANS_RANDOM_CENTERS)
    labels = labels.ravel()
    return (labels != np.argmax(np.bincount(labels, minlength=2))).reshape(shape)


# ---------------------------------------------------------------- the histogram algorithm


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float64])
@pytest.mark.parametrize("k", [2, 3, 4])
def test_histogram_lloyd_result_is_a_fixed_point_of_pixel_lloyd(dtype, k):
    rng = np.random.default_rng(k)
    grey = scene(k).astype(np.float64) * (200 if dtype == np.uint16 else 1) + (-300 if dtype == np.int16 else 0)
    grey = grey.astype(dtype)
    if dtype == np.float64:
        grey = grey + rng.random(grey.shape)  # distinct float values
    labels, result = kmeans_grey(grey, k)
    # independent reference: scikit-learn's per-pixel Lloyd, started from our centres, moves nowhere and labels alike
    reference = SkKMeans(k, init=result.centres[:, None], n_init=1, algorithm="lloyd", tol=0).fit(
        grey.reshape(-1, 1).astype(np.float64)
    )
    np.testing.assert_allclose(np.sort(reference.cluster_centers_.ravel()), result.centres, rtol=1e-9)
    np.testing.assert_array_equal(labels.ravel(), reference.labels_)
    np.testing.assert_allclose(result.inertia, reference.inertia_, rtol=1e-6)
    np.testing.assert_array_equal(result.counts, np.bincount(labels.ravel()))


def test_histogram_lloyd_reaches_the_pixel_optimum():
    grey = scene(3)
    result = kmeans_1d(grey_histogram(grey), 2)
    best = SkKMeans(2, n_init=10, random_state=0).fit(grey.reshape(-1, 1).astype(np.float64))
    np.testing.assert_allclose(result.centres, np.sort(best.cluster_centers_.ravel()), rtol=1e-9)


def test_grey_histogram_bins():
    hist = grey_histogram(np.array([[0, 0], [3, 255]], np.uint8))
    assert hist.values.tolist() == [0.0, 3.0, 255.0] and hist.counts.tolist() == [2.0, 1.0, 1.0]
    hist = grey_histogram(np.array([[-5, 7], [7, 7]], np.int16))
    assert hist.values.tolist() == [-5.0, 7.0] and hist.counts.tolist() == [1.0, 3.0]
    values = np.linspace(0, 1, 1000).reshape(20, 50)
    hist = grey_histogram(values)
    assert hist.counts.sum() == 1000 and hist.values.size <= FLOAT_BINS
    np.testing.assert_allclose(hist.sums.sum(), values.sum())


def test_fewer_levels_than_clusters_drops_empty_clusters():
    grey = np.array([[0, 0, 9], [9, 9, 9]], np.uint8)
    labels, result = kmeans_grey(grey, 4)
    assert result.centres.tolist() == [0.0, 9.0] and labels.tolist() == [[0, 0, 1], [1, 1, 1]]
    assert KMeans(k=4, fill_holes=False).annotate(grey).tolist() == [[True, True, False], [False, False, False]]


# ---------------------------------------------------------------- agreement with the paper's cv2.kmeans


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grey_agrees_with_cv2_kmeans(seed):
    image = scene(seed, size=96)
    ours = KMeans(fill_holes=False).annotate(image)
    assert np.mean(ours == paper_kmeans(image.reshape(-1, 1), image.shape)) >= 0.99


@pytest.mark.parametrize("seed", [3, 4])
def test_grey_from_rgb_agrees_with_cv2_kmeans(seed):
    image = scene(seed, size=96, colour=True)
    ours = KMeans(fill_holes=False).annotate(image)
    reference = paper_kmeans(to_grey(image).reshape(-1, 1), image.shape[:2])
    assert np.mean(ours == reference) >= 0.99


@pytest.mark.parametrize("seed", [5, 6])
def test_colour_agrees_with_cv2_kmeans(seed):
    image = scene(seed, size=96, colour=True)
    ours = KMeans(color=True, fill_holes=False).annotate(image)
    reference = paper_kmeans(image.reshape(-1, 3), image.shape[:2])
    assert np.mean(ours == reference) >= 0.99


# ---------------------------------------------------------------- colour clustering


def test_colour_kmeans_finds_colours_of_equal_brightness():
    image = np.zeros((20, 20, 3))
    image[:, :10] = [100.0, 50.0, 50.0]
    image[:, 10:] = [50.0, 50.0, 100.0]
    assert np.ptp(to_grey(image)) < 10  # nearly the same grey: grey k-means would not see it cleanly
    labels, centres = kmeans_color(image, 2)
    assert labels[:, :10].min() == labels[:, :10].max() != labels[:, 10:].min() == labels[:, 10:].max()
    np.testing.assert_allclose(np.sort(centres[:, 0]), [50.0, 100.0])


def test_colour_kmeans_is_deterministic_for_a_seed():
    image = scene(7, colour=True)
    first = KMeans(color=True, k=3, seed=4).annotate(image)
    np.testing.assert_array_equal(first, KMeans(color=True, k=3, seed=4).annotate(image))


def test_colour_on_a_grey_image_is_grey_kmeans():
    image = scene(8)
    np.testing.assert_array_equal(KMeans(color=True).annotate(image), KMeans().annotate(image))


def test_colour_median_filters_each_channel():
    image = scene(9, colour=True)
    blurred = np.stack([cv2.medianBlur(np.ascontiguousarray(image[..., c]), 5) for c in range(3)], axis=2)
    np.testing.assert_array_equal(KMeans(color=True, median=5).annotate(image), KMeans(color=True).annotate(blurred))
    labels, _ = kmeans_color(to_colour(blurred), 2)
    assert labels.shape == image.shape[:2]


@pytest.mark.parametrize(("seed", "k"), [(13, 2), (14, 2), (15, 3)])
def test_colour_kmeans_agrees_with_sklearn_on_the_pixels(seed, k):
    image = scene(seed, size=96, colour=True)
    labels, centres = kmeans_color(image, k)
    # independent reference: scikit-learn's Lloyd on every pixel's colour, best of 10 k-means++ starts
    reference = SkKMeans(k, n_init=10, random_state=0).fit(image.reshape(-1, 3).astype(np.float64))
    best = max(
        np.mean(np.asarray(order)[labels.ravel()] == reference.labels_) for order in itertools.permutations(range(k))
    )
    assert best >= 0.99
    ours = centres[np.argsort(centres[:, 1])]
    theirs = reference.cluster_centers_[np.argsort(reference.cluster_centers_[:, 1])]
    np.testing.assert_allclose(ours, theirs, atol=2.0)


@pytest.mark.parametrize("k", [2, 3])
def test_colour_kmeans_gives_uint8_and_its_float_copy_the_same_result(k):
    image = scene(16, size=150, colour=True)  # more pixels than one chunk
    labels, centres = kmeans_color(image, k)
    float_labels, float_centres = kmeans_color(image.astype(np.float64), k)
    np.testing.assert_array_equal(labels, float_labels)
    np.testing.assert_array_equal(centres, float_centres)
    np.testing.assert_array_equal(KMeans(color=True, k=k).annotate(image), KMeans(color=True, k=k).annotate(image / 1))


def test_colour_kmeans_does_not_depend_on_the_chunk_size(monkeypatch):
    image = scene(17, size=100, colour=True)
    labels, centres = kmeans_color(image, 3)
    monkeypatch.setattr(kmeans_color_module, "_CHUNK", 999)
    chunked_labels, chunked_centres = kmeans_color(image, 3)
    np.testing.assert_array_equal(chunked_labels, labels)
    np.testing.assert_allclose(chunked_centres, centres, rtol=1e-12)


def test_colour_kmeans_keeps_its_result_at_any_magnitude():
    image = scene(18, size=48, colour=True).astype(np.float64)
    labels, centres = kmeans_color(image, 2)
    for factor, offset in [(1e-300, 0.0), (1e300, 0.0), (1.0, -1e12)]:
        scaled_labels, scaled_centres = kmeans_color(image * factor + offset, 2)
        np.testing.assert_array_equal(scaled_labels, labels)
        np.testing.assert_allclose((scaled_centres - offset) / factor, centres, rtol=1e-6)


def test_colour_kmeans_with_few_colours_or_a_constant_channel():
    image = np.zeros((10, 12, 3), np.uint8)
    image[:, 6:] = [200, 0, 40]
    labels, centres = kmeans_color(image, 4)
    np.testing.assert_allclose(centres, [[0.0, 0.0, 0.0], [200.0, 0.0, 40.0]], atol=1e-9)
    np.testing.assert_array_equal(labels, np.broadcast_to(np.arange(12) >= 6, (10, 12)))
    image = scene(19, size=40, colour=True)
    image[..., 1] = 77  # one channel carries nothing
    labels, centres = kmeans_color(image, 2)
    np.testing.assert_allclose(centres[:, 1], 77.0)
    assert labels.min() == 0 and labels.max() == 1


# ---------------------------------------------------------------- polarity and k


def test_largest_cluster_is_background_whatever_its_brightness():
    image = scene(10)
    small_bright = KMeans(fill_holes=False).annotate(image)
    assert small_bright.mean() < 0.5 and image[small_bright].mean() > image[~small_bright].mean()
    small_dark = KMeans(fill_holes=False).annotate(255 - image)
    np.testing.assert_array_equal(small_dark, small_bright)


def test_polarity_bright_dark_auto():
    image = scene(11)
    labels, _ = kmeans_grey(image, 2)
    bright = KMeans(polarity="bright", fill_holes=False).annotate(image)
    dark = KMeans(polarity="dark", fill_holes=False).annotate(image)
    np.testing.assert_array_equal(bright, labels == 1)
    np.testing.assert_array_equal(dark, labels == 0)
    np.testing.assert_array_equal(KMeans(polarity="auto", fill_holes=False).annotate(image), bright)
    np.testing.assert_array_equal(KMeans(polarity="auto", fill_holes=False).annotate(255 - image), bright)


def test_k3_background_is_one_cluster_of_three():
    image = np.zeros((30, 30), np.uint8)
    image[:, 10:20] = 100
    image[:, 20:] = 200
    image[:2, :] = 100  # the middle cluster is the largest
    _, result = kmeans_grey(image, 3)
    assert result.centres.tolist() == [0.0, 100.0, 200.0]
    largest = KMeans(k=3, fill_holes=False).annotate(image)
    np.testing.assert_array_equal(largest, image != 100)
    np.testing.assert_array_equal(KMeans(k=3, polarity="bright", fill_holes=False).annotate(image), image > 0)
    np.testing.assert_array_equal(KMeans(k=3, polarity="dark", fill_holes=False).annotate(image), image < 200)


def test_kmeans_on_float_and_uint16_agrees_with_uint8():
    image = scene(12)
    expected = KMeans().annotate(image)
    np.testing.assert_array_equal(KMeans().annotate(image.astype(np.uint16) * 257), expected)
    np.testing.assert_array_equal(KMeans().annotate(image / 255.0), expected)
