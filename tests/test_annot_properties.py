"""Property: every built-in annotator returns an (H, W) bool mask or a clear ValueError, for any valid array."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bootseg
from bootseg.annotators import BUILTIN_ANNOTATORS

DTYPES = [np.uint8, np.uint16, np.int32, np.float32, np.float64]
# the messages a ValueError may carry: each says what is wrong with the image
CLEAR = (
    "NaN or infinite",
    "more than float64 can hold",
    "distinct grey levels",
    "isodata found no threshold",
)


def elements(dtype) -> st.SearchStrategy:
    if np.dtype(dtype).kind == "f":
        width = 32 if dtype == np.float32 else 64
        return st.floats(allow_nan=True, allow_infinity=True, width=width) | st.sampled_from([0.0, 1.0, 2.0])
    info = np.iinfo(dtype)
    return st.integers(int(info.min), int(info.max)) | st.sampled_from([0, 1, 2])


@st.composite
def images(draw) -> np.ndarray:
    dtype = draw(st.sampled_from(DTYPES))
    height, width = draw(st.integers(2, 12)), draw(st.integers(2, 12))
    shape = draw(st.sampled_from([(height, width), (height, width, 3), (height, width, 4)]))
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


@pytest.mark.parametrize("name", sorted(BUILTIN_ANNOTATORS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=images(), options=OPTIONS, extra=st.booleans())
def test_any_image_gives_a_mask_or_a_clear_value_error(name, image, options, extra):
    if name == "kmeans":
        options = {**options, "color": extra, "k": 3 if extra else 2}
    annotator = bootseg.get_annotator(name, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in local statistics of extreme values
        try:
            mask = annotator.annotate(image)
        except ValueError as error:
            assert any(text in str(error) for text in CLEAR), str(error)
            return
    assert mask.dtype == bool
    assert mask.shape == image.shape[:2]
