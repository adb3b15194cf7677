"""Grey conversion and median smoothing: what every built-in annotator does to an image before segmenting it.

Grey conversion keeps the native values (no rescaling to [0, 1]), so a threshold found on the grey image is in the
image's own units and nothing is lost:

- a single-channel image of an integer dtype of at most 16 bits (uint8, uint16, int8, int16; bool counts as
  uint8) is returned as it is, so histogram methods see every grey level exactly;
- any other single-channel image (float16/32/64, 32- and 64-bit integers) becomes float64: lossless for floats and
  for integers up to 2**53;
- an RGB image becomes ``0.2125 R + 0.7154 G + 0.0721 B`` in float64 (the Rec. 709 luma weights of
  :func:`skimage.color.rgb2gray`, applied to the native values without rescaling); RGBA drops alpha first.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..images import REC709, luma

__all__ = ["REC709", "check_range", "is_constant", "luma", "median_blur", "to_colour", "to_grey"]

#: Luma weights of ITU-R BT.709, as in :func:`skimage.color.rgb2gray`.

_CV2_FLOAT_KSIZES = (3, 5)
_UINT8_LEVELS = 256
_FLOAT32_EXACT_INTS = 2**24


#: The bins of the grey-level histograms the thresholds are computed on.
_HISTOGRAM_BINS = 256


def to_grey(image: np.ndarray) -> np.ndarray:
    """Convert a checked image to one grey channel without losing precision.

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
        An image that passed :func:`bootseg.images.check_image` (``C`` is 3 or 4).

    Returns
    -------
    grey : (H, W) ndarray
        uint8/uint16/int8/int16 single-channel images unchanged; everything else float64 (see the module notes).

    Examples
    --------
    >>> to_grey(np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8))
    array([[54.1875, 18.3855]])
    >>> to_grey(np.zeros((2, 2), np.uint16)).dtype
    dtype('uint16')
    """
    if image.ndim == 3:
        return luma(image)
    if image.dtype.kind in "iu" and image.dtype.itemsize <= 2:
        return image
    return image.astype(np.float64, copy=False)


def to_colour(image: np.ndarray) -> np.ndarray:
    """The RGB channels of a checked colour image as float64 in native units (alpha dropped).

    Parameters
    ----------
    image : (H, W, 3) or (H, W, 4) ndarray

    Returns
    -------
    (H, W, 3) ndarray of float64

    Examples
    --------
    >>> to_colour(np.zeros((2, 2, 4), np.uint8)).shape
    (2, 2, 3)
    """
    return image[:, :, :3].astype(np.float64, copy=False)


def median_blur(grey: np.ndarray, size: int) -> np.ndarray:
    """Median filter with a ``size`` × ``size`` square window and replicated borders; exact for every dtype.

    The median is an order statistic, so it commutes with any increasing map of the values. uint8 images go to
    :func:`cv2.medianBlur` directly (fast for every size). Other images are replaced by the ranks of their values:
    with at most 256 distinct values the ranks are uint8 and go to :func:`cv2.medianBlur` as well; otherwise
    sizes 3 and 5 use :func:`cv2.medianBlur` on float32 ranks (exact: ranks below 2**24), and larger sizes fall
    back to :func:`scipy.ndimage.median_filter` (``mode="nearest"``), which is exact but slower (about 0.6 s for
    size 31 on a 256 × 256 image). The ranks are mapped back, so the result has the input's dtype and values.

    Parameters
    ----------
    grey : (H, W) ndarray
        A grey image (any real dtype).
    size : int
        Odd window side, at least 3.

    Returns
    -------
    (H, W) ndarray
        The filtered image, same dtype as ``grey``; equal to
        ``scipy.ndimage.median_filter(grey, size=size, mode="nearest")``.

    Examples
    --------
    >>> median_blur(np.array([[0, 0, 0], [0, 9, 0], [0, 0, 0]], np.uint8), 3)
    array([[0, 0, 0],
           [0, 0, 0],
           [0, 0, 0]], dtype=uint8)
    """
    import cv2

    if grey.dtype == np.uint8:
        return cv2.medianBlur(np.ascontiguousarray(grey), size)
    levels, ranks = np.unique(grey, return_inverse=True)
    ranks = ranks.reshape(grey.shape)
    if levels.size <= _UINT8_LEVELS:
        filtered = cv2.medianBlur(ranks.astype(np.uint8), size)
    elif size in _CV2_FLOAT_KSIZES and levels.size < _FLOAT32_EXACT_INTS:
        filtered = cv2.medianBlur(ranks.astype(np.float32), size).astype(np.intp)
    else:
        return ndi.median_filter(grey, size=size, mode="nearest")
    return levels[filtered]


def is_constant(data: np.ndarray) -> bool:
    """Whether every pixel of the prepared data has one value (then there is no object to find).

    >>> is_constant(np.full((2, 3), 7)), is_constant(np.eye(2))
    (True, False)
    """
    flat = data.reshape(-1)
    step = data.shape[2] if data.ndim == 3 else 1
    # every value equals the one a pixel before it: one contiguous comparison, also for colour
    return bool((flat[step:] == flat[:-step]).all())


def check_range(data: np.ndarray) -> None:
    """Refuse float data whose span overflows float64, or is too narrow for a histogram of 256 bins (a threshold
    between its extremes cannot be computed).

    >>> check_range(np.array([-1e308, 1e308]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: image values span [-1e+308, 1e+308], more than float64 can hold after grey conversion; ...
    """
    if data.dtype.kind != "f":
        return
    low, high = float(data.min()), float(data.max())
    if not np.isfinite(high - low):
        raise ValueError(
            f"image values span [{low:g}, {high:g}], more than float64 can hold after grey conversion; "
            "rescale the image (e.g. divide by its maximum absolute value) first"
        )
    if high > low and np.any(np.diff(np.linspace(low, high, _HISTOGRAM_BINS + 1)) <= 0):
        raise ValueError(
            f"image values span [{low:g}, {high:g}], too narrow a range for {_HISTOGRAM_BINS} grey levels in "
            "float64 (subnormal numbers); rescale the image (e.g. divide by its maximum absolute value) first"
        )
