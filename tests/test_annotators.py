"""The built-in threshold annotators: registration, grey conversion, scikit-image equivalence, shared options."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import color, filters, measure, morphology

import bootseg
from bootseg.annotators import (
    BUILTIN_ANNOTATORS,
    Isodata,
    KMeans,
    Li,
    MultiOtsu,
    Niblack,
    Otsu,
    Sauvola,
    Triangle,
    Yen,
)
from bootseg.annotators.postprocess import fill_holes, largest_component, postprocess, remove_small
from bootseg.annotators.preprocess import median_blur, to_grey
from bootseg.protocols import Annotator

MEDIAN = r"median must be 0 \(off\) or an odd integer between 3 and 255 \(MAX_MEDIAN\)"

NAMES = sorted(BUILTIN_ANNOTATORS)
# the methods that split grey levels; ``ridges`` finds lines, not blobs (its polarity: tests/test_annot_ridges.py)
LEVEL_NAMES = [name for name in NAMES if name != "ridges"]
PLAIN = {"fill_holes": False}  # the raw method, no clean-up


def blobs(dtype=np.uint8, size: int = 64, seed: int = 0, channels: int = 0) -> np.ndarray:
    """Bright noisy blobs of several sizes on a darker, unevenly lit background, in ``dtype``'s range."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    image = 0.2 + 0.1 * xx + rng.normal(0, 0.05, (size, size))
    for cy, cx, r in ((0.3, 0.3, 0.15), (0.7, 0.6, 0.2), (0.2, 0.8, 0.06)):
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] += 0.5
    image = np.clip(image, 0, 1)
    if channels:
        image = np.stack([image * f for f in (0.9, 1.0, 0.7, 1.0)[:channels]], axis=2)
    if np.dtype(dtype).kind == "f":
        return image.astype(dtype)
    return np.rint(image * np.iinfo(dtype).max).astype(dtype)


IMAGES = {
    "uint8": blobs(np.uint8),
    "uint16": blobs(np.uint16, seed=1),
    "float32": blobs(np.float32, seed=2),
    "float64": blobs(np.float64, seed=3),
    "rgb_uint8": blobs(np.uint8, seed=4, channels=3),
    "rgba_uint16": blobs(np.uint16, seed=5, channels=4),
}


# ---------------------------------------------------------------- registration


def test_every_builtin_is_registered_and_satisfies_the_protocol():
    assert set(NAMES) <= set(bootseg.available_annotators())
    assert {"otsu", "kmeans", "li", "yen", "triangle", "multiotsu", "sauvola"} <= set(NAMES)
    for name in NAMES:
        annotator = bootseg.get_annotator(name)
        assert isinstance(annotator, Annotator)
        assert type(annotator) is BUILTIN_ANNOTATORS[name]
        mask = annotator.annotate(IMAGES["uint8"])
        assert mask.dtype == bool and mask.shape == IMAGES["uint8"].shape


@pytest.mark.parametrize("name", NAMES)
def test_shared_option_defaults(name):
    options = bootseg.get_annotator(name).options()
    expected_polarity = "largest" if name == "kmeans" else "auto"
    assert options["polarity"] == expected_polarity
    largest, channel = ("auto", "auto") if name == "auto" else (False, "grey")  # auto decides both over the set
    assert (options["median"], options["largest_component"], options["fill_holes"], options["min_size"]) == (
        0,
        largest,
        True,
        0,
    )
    assert options["channel"] == channel


def test_registry_passes_options_and_reports_unknown_ones():
    otsu = bootseg.get_annotator("otsu", polarity="dark", median=5, min_size=3)
    assert otsu.options()["polarity"] == "dark" and otsu.median == 5 and otsu.min_size == 3
    assert repr(otsu).startswith("Otsu(polarity='dark', median=5")
    with pytest.raises(TypeError, match=r"cannot build annotator 'otsu'.*window_size"):
        bootseg.get_annotator("otsu", window_size=3)


# ---------------------------------------------------------------- grey conversion and median


def test_to_grey_keeps_small_integers_and_widens_the_rest():
    assert to_grey(IMAGES["uint8"]) is IMAGES["uint8"]
    assert to_grey(IMAGES["uint16"]).dtype == np.uint16
    for key in ("float32", "float64"):
        grey = to_grey(IMAGES[key])
        assert grey.dtype == np.float64
        np.testing.assert_array_equal(grey, IMAGES[key].astype(np.float64))
    big = np.array([[2**31 - 1, -(2**31)], [5, 6]], np.int32)
    np.testing.assert_array_equal(to_grey(big), big.astype(np.float64))


def test_to_grey_colour_is_rec709_on_native_values_and_drops_alpha():
    rgb = IMAGES["rgb_uint8"]
    expected = color.rgb2gray(rgb.astype(np.float64))  # floats are not rescaled by skimage
    np.testing.assert_allclose(to_grey(rgb), expected, rtol=1e-12)
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    np.testing.assert_allclose(to_grey(rgb), 0.2125 * r + 0.7154 * g + 0.0721 * b, rtol=1e-12)
    rgba = IMAGES["rgba_uint16"]
    np.testing.assert_array_equal(to_grey(rgba), to_grey(rgba[..., :3]))
    assert to_grey(rgba).max() > 255  # 16-bit values kept, not squeezed to 8 bits


@pytest.mark.parametrize("size", [3, 5, 7])
@pytest.mark.parametrize("key", ["uint8", "uint16", "float64"])
def test_median_blur_matches_scipy(key, size):
    grey = to_grey(IMAGES[key])
    expected = ndi.median_filter(grey, size=size, mode="nearest")
    result = median_blur(grey, size)
    assert result.dtype == grey.dtype
    np.testing.assert_array_equal(result, expected)


def test_median_blur_few_levels_uses_ranks_exactly():
    grey = (np.random.default_rng(0).integers(0, 4, (20, 30)) * 1000.5).astype(np.float64)
    np.testing.assert_array_equal(median_blur(grey, 9), ndi.median_filter(grey, size=9, mode="nearest"))


# ---------------------------------------------------------------- post-processing


@pytest.fixture
def speckled() -> np.ndarray:
    rng = np.random.default_rng(7)
    mask = rng.random((48, 48)) > 0.7
    mask[10:30, 10:30] = True
    mask[15:20, 15:20] = False  # a hole
    return mask


def test_fill_holes_matches_scipy(speckled):
    np.testing.assert_array_equal(fill_holes(speckled), ndi.binary_fill_holes(speckled))


@pytest.mark.parametrize("min_size", [0, 1, 2, 5, 30])
def test_remove_small_matches_skimage(speckled, min_size):
    # scikit-image >= 0.26: max_size removes objects of at most that many pixels
    expected = morphology.remove_small_objects(speckled, max_size=max(min_size - 1, 0), connectivity=1)
    np.testing.assert_array_equal(remove_small(speckled, min_size), expected)


def test_largest_component_matches_skimage_label(speckled):
    labels = measure.label(speckled, connectivity=1)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    np.testing.assert_array_equal(largest_component(speckled), labels == np.argmax(sizes))
    assert not largest_component(np.zeros((3, 3), bool)).any()


def test_postprocess_order_small_then_holes_then_largest(speckled):
    result = postprocess(speckled, min_size=5, fill_holes=True, largest_component=True)
    step = morphology.remove_small_objects(speckled, max_size=4, connectivity=1)
    step = ndi.binary_fill_holes(step)
    labels = measure.label(step, connectivity=1)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    np.testing.assert_array_equal(result, labels == np.argmax(sizes))


# ---------------------------------------------------------------- equivalence with scikit-image

GLOBAL = [
    (Otsu, filters.threshold_otsu),
    (Li, filters.threshold_li),
    (Yen, filters.threshold_yen),
    (Triangle, filters.threshold_triangle),
    (Isodata, filters.threshold_isodata),
]


@pytest.mark.parametrize("key", sorted(IMAGES))
@pytest.mark.parametrize(("cls", "reference"), GLOBAL, ids=[c.name for c, _ in GLOBAL])
def test_global_thresholds_match_skimage(cls, reference, key):
    image = IMAGES[key]
    grey = to_grey(image)
    t = reference(grey)
    np.testing.assert_array_equal(cls(polarity="bright", **PLAIN).annotate(image), grey > t)
    np.testing.assert_array_equal(cls(polarity="dark", **PLAIN).annotate(image), grey <= t)


@pytest.mark.parametrize("key", ["uint8", "uint16", "float64", "rgb_uint8"])
@pytest.mark.parametrize("classes", [2, 3, 4])
def test_multiotsu_matches_skimage(key, classes):
    image = IMAGES[key]
    grey = to_grey(image)
    # 16-bit: 256 bins, as scikit-image does for floats (one bin per level would need a 65536² table)
    t = filters.threshold_multiotsu(grey.astype(np.float64) if key == "uint16" else grey, classes=classes)
    np.testing.assert_array_equal(MultiOtsu(classes=classes, polarity="bright", **PLAIN).annotate(image), grey > t[0])
    np.testing.assert_array_equal(MultiOtsu(classes=classes, polarity="dark", **PLAIN).annotate(image), grey <= t[-1])


def test_multiotsu_with_two_classes_is_otsu():
    image = IMAGES["uint8"]
    np.testing.assert_array_equal(MultiOtsu(classes=2).annotate(image), Otsu().annotate(image))


def test_multiotsu_with_too_few_levels_raises_clearly():
    image = np.zeros((8, 8), np.uint8)
    image[2:5, 2:5] = 9
    with pytest.raises(ValueError, match=r"classes=3 needs at least 3 distinct grey levels, but the image has 2"):
        MultiOtsu(classes=3).annotate(image)


LOCAL = [(Sauvola, filters.threshold_sauvola), (Niblack, filters.threshold_niblack)]


@pytest.mark.parametrize("key", ["uint8", "float32", "rgb_uint8"])
@pytest.mark.parametrize(("window_size", "k"), [(15, 0.2), (7, 0.5)])
@pytest.mark.parametrize(("cls", "reference"), LOCAL, ids=[c.name for c, _ in LOCAL])
def test_local_thresholds_match_skimage(cls, reference, key, window_size, k):
    image = IMAGES[key]
    grey = to_grey(image)
    t = reference(grey, window_size=window_size, k=k)
    annotator = cls(window_size=window_size, k=k, polarity="bright", **PLAIN)
    np.testing.assert_array_equal(annotator.annotate(image), grey > t)
    np.testing.assert_array_equal(
        cls(window_size=window_size, k=k, polarity="dark", **PLAIN).annotate(image), grey <= t
    )


# ---------------------------------------------------------------- each shared option has its effect


@pytest.mark.parametrize("name", LEVEL_NAMES)
def test_polarity_bright_and_dark(name):
    image = IMAGES["uint8"]
    bright = bootseg.get_annotator(name, polarity="bright", **PLAIN).annotate(image)
    dark = bootseg.get_annotator(name, polarity="dark", **PLAIN).annotate(image)
    assert bright[int(0.3 * 64), int(0.3 * 64)] and not dark[int(0.3 * 64), int(0.3 * 64)]
    if name not in ("multiotsu", "kmeans"):  # two-class methods: dark is the complement
        np.testing.assert_array_equal(dark, ~bright)


@pytest.mark.parametrize("name", LEVEL_NAMES)
def test_polarity_auto_finds_bright_and_dark_objects(name):
    image = IMAGES["uint8"]
    for polarity, picture in (("bright", image), ("dark", 255 - image)):
        auto = bootseg.get_annotator(name, polarity="auto").annotate(picture)
        fixed = bootseg.get_annotator(name, polarity=polarity).annotate(picture)
        np.testing.assert_array_equal(auto, fixed)


def test_median_option_filters_the_grey_image_first():
    image = IMAGES["rgb_uint8"]
    grey = median_blur(to_grey(image), 5)
    expected = grey > filters.threshold_otsu(grey)
    result = Otsu(polarity="bright", median=5, **PLAIN).annotate(image)
    np.testing.assert_array_equal(result, expected)
    assert not np.array_equal(result, Otsu(polarity="bright", **PLAIN).annotate(image))


def test_fill_holes_largest_component_and_min_size_options():
    image = np.zeros((40, 40), np.uint8)
    image[5:25, 5:25] = 200  # big square with a hole
    image[12:15, 12:15] = 0
    image[30:33, 30:33] = 200  # small square
    image[36, 2] = 200  # one pixel
    base = Otsu(polarity="bright", **PLAIN).annotate(image)
    assert not base[13, 13] and base[31, 31] and base[36, 2]
    assert Otsu(polarity="bright").annotate(image)[13, 13]  # fill_holes=True by default
    only_big = Otsu(polarity="bright", largest_component=True, **PLAIN).annotate(image)
    assert only_big[6, 6] and not only_big[31, 31] and not only_big[36, 2]
    no_specks = Otsu(polarity="bright", min_size=2, **PLAIN).annotate(image)
    assert no_specks[31, 31] and not no_specks[36, 2]
    no_small = Otsu(polarity="bright", min_size=10, **PLAIN).annotate(image)
    assert no_small[6, 6] and not no_small[31, 31]


# ---------------------------------------------------------------- option validation


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"polarity": "up"}, ValueError, r"polarity must be one of 'bright', 'dark', 'auto', got 'up'"),
        ({"polarity": 1}, TypeError, r"polarity must be one of .* got 1 \(int\)"),
        ({"median": 4}, ValueError, MEDIAN + r", got 4"),
        ({"median": 1}, ValueError, MEDIAN + r", got 1"),
        ({"median": -3}, ValueError, MEDIAN + r", got -3"),
        ({"median": 3.0}, TypeError, MEDIAN + r", got 3.0 \(float\)"),
        ({"largest_component": 1}, TypeError, r"largest_component must be True or False, got 1 \(int\)"),
        ({"fill_holes": "yes"}, TypeError, r"fill_holes must be True or False, got 'yes' \(str\)"),
        ({"min_size": -1}, ValueError, r"min_size must be an integer >= 0, got -1"),
        ({"min_size": 2.5}, TypeError, r"min_size must be an integer, got 2.5 \(float\)"),
        ({"min_size": True}, TypeError, r"min_size must be an integer, got True \(bool\)"),
    ],
)
@pytest.mark.parametrize("cls", [Otsu, MultiOtsu, Sauvola])
def test_shared_options_are_validated(cls, options, error, match):
    with pytest.raises(error, match=match):
        cls(**options)


@pytest.mark.parametrize(
    ("cls", "options", "error", "match"),
    [
        (MultiOtsu, {"classes": 1}, ValueError, r"classes must be an integer between 2 and 5, got 1"),
        (MultiOtsu, {"classes": 6}, ValueError, r"classes must be an integer between 2 and 5, got 6"),
        (Sauvola, {"window_size": 4}, ValueError, r"window_size must be an odd integer >= 3, got 4"),
        (Niblack, {"window_size": 1}, ValueError, r"window_size must be an odd integer >= 3, got 1"),
        (Sauvola, {"k": "0.2"}, TypeError, r"k must be a real number, got '0.2' \(str\)"),
        (Niblack, {"k": float("nan")}, ValueError, r"k must be a finite number, got nan"),
        (KMeans, {"k": 1}, ValueError, r"k must be an integer between 2 and 16, got 1"),
        (KMeans, {"k": 2.0}, TypeError, r"k must be an integer, got 2.0 \(float\)"),
        (KMeans, {"color": "rgb"}, TypeError, r"color must be True or False, got 'rgb' \(str\)"),
        (KMeans, {"seed": -1}, ValueError, r"seed must be an integer >= 0, got -1"),
        (KMeans, {"polarity": "smallest"}, ValueError, r"one of 'largest', 'bright', 'dark', 'auto'"),
        (Otsu, {"polarity": "largest"}, ValueError, r"polarity must be one of 'bright', 'dark', 'auto'"),
    ],
)
def test_own_options_are_validated(cls, options, error, match):
    with pytest.raises(error, match=match):
        cls(**options)


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        Otsu("bright")  # type: ignore[misc]


# ---------------------------------------------------------------- degenerate images


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("polarity", ["bright", "dark", "auto"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_constant_image_gives_an_empty_mask(name, polarity, dtype):
    for image in (np.full((9, 7), 3, dtype), np.full((9, 7, 3), 3, dtype)):
        mask = bootseg.get_annotator(name, polarity=polarity).annotate(image)
        assert mask.shape == (9, 7) and mask.dtype == bool and not mask.any()


def test_constant_after_median_gives_an_empty_mask():
    image = np.zeros((9, 9), np.uint8)
    image[4, 4] = 255
    assert not Otsu(median=3).annotate(image).any()


@pytest.mark.parametrize("name", NAMES)
def test_nan_empty_and_wrong_images_raise_clear_errors(name):
    annotator = bootseg.get_annotator(name)
    with pytest.raises(ValueError, match=r"image has 4 NaN or infinite values"):
        annotator.annotate(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match=r"image must be at least 2×2 pixels, got shape \(0, 0\)"):
        annotator.annotate(np.zeros((0, 0)))
    with pytest.raises(ValueError, match=r"image must be \(H, W\) or \(H, W, C\)"):
        annotator.annotate(np.zeros(10))
    with pytest.raises(TypeError, match=r"image must be a NumPy array, got str"):
        annotator.annotate("image.png")


def test_values_beyond_float64_range_raise_clearly():
    image = np.array([[-1e308, 1e308], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"more than float64 can hold.*rescale"):
        Otsu().annotate(image)


@pytest.mark.parametrize("name", ["otsu", "multiotsu", "auto", "kmeans"])
def test_a_range_of_subnormal_numbers_raises_clearly(name):
    image = np.array([[5e-324, 0.0], [0.0, 0.0]])  # no 256 histogram bins fit between 0 and 5e-324
    with pytest.raises(ValueError, match=r"span \[0, 4\.94066e-324\], too narrow a range for 256 grey levels.*rescale"):
        bootseg.get_annotator(name).annotate(image)
