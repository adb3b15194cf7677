"""Properties of every built-in annotator on random arrays of every supported dtype and shape.

A valid image gives an (H, W) bool mask (or a ValueError whose message says what is wrong with the image); an
invalid one (2 or 5 channels, 1-D or 4-D, a side under 2 pixels, NaN or inf, a non-numeric dtype) gives a
ValueError or TypeError naming the problem; never another exception.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bootseg
from bootseg.annotators import BUILTIN_ANNOTATORS

NAMES = sorted(BUILTIN_ANNOTATORS)
DTYPES = [np.bool_, np.uint8, np.uint16, np.int16, np.int32, np.float32, np.float64]
# the messages a ValueError on a valid (finite, well-shaped) image may carry: each says what is wrong with it
CLEAR = (
    "more than float64 can hold",
    "too narrow a range for 256 grey levels",
    "distinct grey levels",
    "isodata found no threshold",
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def elements(dtype, *, finite: bool = True) -> st.SearchStrategy:
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind == "f":
        width = 32 if dtype == np.float32 else 64
        special = st.sampled_from([0.0, 1.0, 2.0, -1.0])
        return st.floats(allow_nan=not finite, allow_infinity=not finite, width=width) | special
    info = np.iinfo(dtype)
    return st.integers(int(info.min), int(info.max)) | st.sampled_from([0, 1, 2])


def valid_shape(height: int, width: int) -> st.SearchStrategy:
    return st.sampled_from([(height, width), (height, width, 1), (height, width, 3), (height, width, 4)])


@st.composite
def valid_images(draw) -> np.ndarray:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(valid_shape(draw(st.integers(2, 12)), draw(st.integers(2, 12))))
    return draw(hnp.arrays(dtype, shape, elements=elements(dtype)))


OPTIONS = st.fixed_dictionaries(
    {
        "polarity": st.sampled_from(["bright", "dark", "auto"]),
        "median": st.sampled_from([0, 3, 5]),
        "largest_component": st.booleans(),
        "fill_holes": st.booleans(),
        "min_size": st.sampled_from([0, 3]),
    }
)


# each annotator's own options, over their whole valid range
OWN = {
    "kmeans": st.fixed_dictionaries(
        {"k": st.integers(2, 16), "color": st.booleans(), "seed": st.integers(0, 3)},
    ),
    "multiotsu": st.fixed_dictionaries({"classes": st.integers(2, 5)}),
    "sauvola": st.fixed_dictionaries({"window_size": st.sampled_from([3, 5, 15, 31]), "k": st.floats(-1, 1)}),
    "niblack": st.fixed_dictionaries({"window_size": st.sampled_from([3, 5, 15, 31]), "k": st.floats(-1, 1)}),
    "ridges": st.fixed_dictionaries({"radius": st.floats(0.5, 12)}),
    "auto": st.fixed_dictionaries({"ridges": st.sampled_from([True, False, "auto"])}),
}


def make(name: str, options: dict, data: st.DataObject):
    own = data.draw(OWN.get(name, st.just({})), label="own options")
    return bootseg.get_annotator(name, **options, **own)


def annotate(annotator, image):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in local statistics of extreme values
        return annotator.annotate(image)


# ------------------------------------------------------------------------------------------------ valid images


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(image=valid_images(), options=OPTIONS, data=st.data())
def test_any_valid_image_gives_a_mask_or_a_clear_value_error(name, image, options, data):
    annotator = make(name, options, data)
    try:
        mask = annotate(annotator, image)
    except ValueError as error:
        assert any(text in str(error) for text in CLEAR), str(error)
        return
    assert isinstance(mask, np.ndarray) and mask.dtype == bool
    assert mask.shape == image.shape[:2]
    again = annotate(annotator, image.copy())  # a pure function of the pixels
    np.testing.assert_array_equal(again, mask)


@st.composite
def constant_images(draw) -> np.ndarray:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(valid_shape(draw(st.integers(2, 12)), draw(st.integers(2, 12))))
    pixel = draw(hnp.arrays(dtype, shape[2:], elements=elements(dtype)))  # one colour, repeated everywhere
    return np.broadcast_to(pixel, shape).copy()


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(image=constant_images(), options=OPTIONS, data=st.data())
def test_a_constant_image_gives_an_all_false_mask(name, image, options, data):
    # documented in ThresholdAnnotator: a constant image holds no object, so its mask is all False, whatever
    # the polarity and the clean-up options
    mask = annotate(make(name, options, data), image)
    assert mask.dtype == bool and mask.shape == image.shape[:2]
    assert not mask.any()


# ------------------------------------------------------------------------------------------------ invalid images


@st.composite
def bad_shapes(draw) -> tuple[np.ndarray, str]:
    """An image wrong in exactly one way, and a pattern its error message must match."""
    dtype = draw(st.sampled_from(DTYPES))
    height, width = draw(st.integers(2, 8)), draw(st.integers(2, 8))
    kind = draw(st.sampled_from(["2 channels", "5 channels", "1-D", "4-D", "thin", "nonfinite"]))
    if kind == "2 channels":
        shape, pattern = (height, width, 2), r"has 2 channels \(shape \(\d+, \d+, 2\) .*\); expected 1 \(grey\)"
    elif kind == "5 channels":
        shape, pattern = (height, width, 5), r"has 5 channels \(shape \(\d+, \d+, 5\) .*\); expected 1 \(grey\)"
    elif kind == "1-D":
        shape = (draw(st.integers(0, 16)),)
        pattern = r"must be \(H, W\) or \(H, W, C\), got shape \(\d+,\)"
    elif kind == "4-D":
        shape = (height, width, draw(st.sampled_from([1, 3])), draw(st.integers(1, 3)))
        pattern = r"must be \(H, W\) or \(H, W, C\), got shape \(\d+, \d+, \d, \d\)"
    elif kind == "thin":
        side = draw(st.sampled_from([0, 1]))
        thin = draw(st.sampled_from([(side, width), (height, side)]))
        shape = draw(st.sampled_from([thin, (*thin, 1), (*thin, 3), (*thin, 4)]))
        pattern = (
            r"must be at least 2×2 pixels, got shape \((0|1), \d+[,)]|at least 2×2 pixels, got shape \(\d+, (0|1)[,)]"
        )
    else:
        dtype = draw(st.sampled_from([np.float32, np.float64]))
        shape = draw(valid_shape(height, width))
        image = draw(hnp.arrays(dtype, shape, elements=elements(dtype)))
        flat = image.reshape(-1)
        flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return image, r"has \d+ NaN or infinite values \(shape .*\); replace them first"
    return draw(hnp.arrays(dtype, shape, elements=elements(dtype))), pattern


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(case=bad_shapes(), options=OPTIONS, data=st.data())
def test_an_invalid_image_gives_a_value_error_that_names_the_problem(name, case, options, data):
    image, pattern = case
    with pytest.raises(ValueError, match=pattern):
        annotate(make(name, options, data), image)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("image", "pattern"),
    [
        (
            np.zeros((4, 4), np.complex128),
            r"must have a real numeric dtype \(uint8, uint16, float32, \.\.\.\), got complex128",
        ),
        (np.full((4, 4), "a"), r"must have a real numeric dtype .*, got <U1"),
        (np.empty((4, 4), object), r"must have a real numeric dtype .*, got object"),
        (np.zeros((4, 4), "datetime64[s]"), r"must have a real numeric dtype .*, got datetime64\[s\]"),
        ("image.png", r"image must be a NumPy array, got str"),
        (None, r"image must be a NumPy array, got NoneType"),
        (42, r"image must be a NumPy array, got int"),
    ],
    ids=["complex", "str-array", "object", "datetime", "path", "None", "int"],
)
def test_a_non_numeric_input_gives_a_type_error_naming_it(name, image, pattern):
    with pytest.raises(TypeError, match=pattern):
        bootseg.get_annotator(name).annotate(image)


def test_a_nested_list_is_read_as_an_array():
    mask = bootseg.get_annotator("otsu", polarity="bright").annotate([[0, 0, 0], [0, 9, 0], [0, 0, 0]])
    assert mask.tolist() == [[False, False, False], [False, True, False], [False, False, False]]


def test_the_messages_match_what_is_wrong():
    otsu = bootseg.get_annotator("otsu")
    for image, message in [
        (np.zeros((3, 4, 2)), "image has 2 channels (shape (3, 4, 2) dtype float64)"),
        (np.zeros((1, 5), np.uint8), "image must be at least 2×2 pixels, got shape (1, 5) dtype uint8"),
        (np.zeros((5, 1), bool), "image must be at least 2×2 pixels, got shape (5, 1) dtype bool"),
        (np.array([[0.0, np.nan], [1.0, np.inf]]), "image has 2 NaN or infinite values (shape (2, 2) dtype float64)"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            otsu.annotate(image)
