"""Checks and conversions every stage applies to an input image before it looks at the pixels.

An image is an ``(H, W)`` or ``(H, W, C)`` ndarray of any real numeric dtype, ``C`` in 1..4, at least 2 × 2
pixels, with finite values. Anything else is refused here, with the value named, before it can fail deep inside
a library.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["REC709", "check_image", "check_mask", "describe", "luma", "to_uint8"]

#: Rec. 709 luma weights (those of ``skimage.color.rgb2gray``), applied to the native values.
REC709 = np.array([0.2125, 0.7154, 0.0721])

MIN_SIDE = 2


def describe(image: Any) -> str:
    """A short ``shape dtype`` description for error messages.

    >>> describe(np.zeros((3, 4), np.uint16))
    'shape (3, 4) dtype uint16'
    """
    shape = getattr(image, "shape", None)
    dtype = getattr(image, "dtype", None)
    if shape is None:
        return type(image).__name__
    return f"shape {tuple(shape)} dtype {dtype}"


def check_image(image: Any, *, name: str = "image") -> np.ndarray:
    """Validate one image and return it as an ndarray (no copy where none is needed).

    Parameters
    ----------
    image : (H, W) or (H, W, C) array_like
        Real numeric or bool values; ``C`` in 1..4; ``H`` and ``W`` at least 2.
    name : str
        What to call the image in error messages (a file name, ``"images[3]"``).

    Returns
    -------
    (H, W) or (H, W, C) ndarray
        A single-channel ``(H, W, 1)`` image comes back as ``(H, W)``.

    Raises
    ------
    TypeError
        For a non-array, or a non-numeric (complex, object, string) dtype.
    ValueError
        For a wrong number of dimensions or channels, a side under 2 pixels, or NaN/inf values.

    Examples
    --------
    >>> check_image(np.zeros((4, 5, 1), np.uint8)).shape
    (4, 5)
    >>> check_image(np.zeros((4,)))
    Traceback (most recent call last):
    ...
    ValueError: image must be (H, W) or (H, W, C), got shape (4,) dtype float64
    """
    if isinstance(image, (str, bytes)) or (not hasattr(image, "__array__") and not isinstance(image, (list, tuple))):
        raise TypeError(f"{name} must be a NumPy array, got {type(image).__name__}")
    array = np.asarray(image)
    if array.dtype.kind not in "buif":
        raise TypeError(f"{name} must have a real numeric dtype (uint8, uint16, float32, ...), got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3):
        raise ValueError(f"{name} must be (H, W) or (H, W, C), got {describe(array)}")
    if array.ndim == 3 and array.shape[2] not in (2, 3, 4):
        raise ValueError(
            f"{name} has {array.shape[2]} channels ({describe(array)}); expected 1 (grey), 3 (RGB) or 4 (RGBA). "
            "For a channels-first array, pass image.transpose(1, 2, 0)"
        )
    if array.ndim == 3 and array.shape[2] == 2:
        raise ValueError(
            f"{name} has 2 channels ({describe(array)}); expected 1 (grey), 3 (RGB) or 4 (RGBA). "
            "Pick the channel to segment, e.g. image[..., 0]"
        )
    if min(array.shape[:2]) < MIN_SIDE:
        raise ValueError(f"{name} must be at least {MIN_SIDE}×{MIN_SIDE} pixels, got {describe(array)}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise ValueError(f"{name} has {bad} NaN or infinite values ({describe(array)}); replace them first")
    return array.view(np.uint8) if array.dtype == bool else array


def check_mask(mask: Any, shape: tuple[int, ...], *, name: str = "mask") -> np.ndarray:
    """Validate a mask for an image of ``shape`` and return it as bool ``(H, W)``.

    Accepts bool, 0/1 and 0/255 masks (any value above zero is foreground).

    >>> check_mask(np.array([[0, 255], [1, 0]]), (2, 2)).tolist()
    [[False, True], [True, False]]
    """
    array = np.asarray(mask)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.shape != tuple(shape[:2]):
        raise ValueError(f"{name} has {describe(array)}; expected shape {tuple(shape[:2])} to match its image")
    if array.dtype == bool:
        return array
    if array.dtype.kind not in "uif":
        raise TypeError(f"{name} must be bool or numeric, got dtype {array.dtype}")
    return array > 0


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Scale a checked image to uint8 for a network.

    uint8 stays as it is; every other dtype (uint16, float, int) is stretched from its own minimum and maximum to
    0..255, so a 12-bit camera image in a 16-bit file uses the full range. RGBA drops alpha. A constant image maps
    to zeros.

    >>> to_uint8(np.array([[1000, 2000], [3000, 1000]], np.uint16)).tolist()
    [[0, 128], [255, 0]]
    """
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.dtype == np.uint8:
        return image
    values = image.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(image.shape, np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)


def luma(colour: np.ndarray) -> np.ndarray:
    """``0.2125 R + 0.7154 G + 0.0721 B`` in float64, on the native values; channels after the third are ignored.

    Written as three multiply-adds rather than a matrix product, so that it never waits for BLAS threads that
    compete with other work (a network training beside it).

    Parameters
    ----------
    colour : (..., C) ndarray, C >= 3
        Any real dtype.

    Returns
    -------
    (...) ndarray of float64

    Examples
    --------
    >>> float(luma(np.array([100, 100, 100], np.uint8)))
    100.0
    """
    grey = colour[..., 0] * REC709[0]
    grey += colour[..., 1] * REC709[1]
    grey += colour[..., 2] * REC709[2]
    return grey
