"""Checks and conversions every stage applies to an input image before it looks at the pixels.

An image is an ``(H, W)`` or ``(H, W, C)`` ndarray of any real numeric dtype, ``C`` in 1..4, at least 2 × 2
pixels, with finite values. Anything else is refused here, with the value named, before it can fail deep inside
a library.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "REC709",
    "check_channel",
    "check_image",
    "check_mask",
    "check_stage_mask",
    "describe",
    "luma",
    "photograph_reason",
    "read_only",
    "to_uint8",
]

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


def check_channel(channel: object) -> int:
    """``channel`` if it is a channel number (an integer from 0), else a ``ValueError`` that says what is.

    >>> check_channel(-1)
    Traceback (most recent call last):
    ...
    ValueError: channel must be an integer >= 0 (the first channel is 0), got -1
    """
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) or channel < 0:
        raise ValueError(f"channel must be an integer >= 0 (the first channel is 0), got {channel!r}")
    return int(channel)


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


def check_stage_mask(mask: Any, shape: tuple[int, ...], *, who: str, name: str) -> np.ndarray:
    """A stage's mask for image ``name`` of ``shape`` as bool ``(H, W)``, or a ``PluginError`` naming ``who``.

    A mask is bool, or numbers where any value above zero is foreground; text, objects, complex numbers and NaN or
    infinite values are refused (NaN would otherwise become background without a word).

    >>> check_stage_mask(np.array([[0, 255], [1, 0]]), (2, 2), who="annotator 'x'", name="a").tolist()
    [[False, True], [True, False]]
    >>> try:
    ...     check_stage_mask(np.array([[0.0, np.nan]]), (1, 2), who="annotator 'x'", name="a")
    ... except Exception as exc:
    ...     print(str(exc)[:55])
    annotator 'x' returned a mask with 1 NaN or infinite va
    """
    from .errors import PluginError

    array = np.asarray(mask)
    if array.shape != tuple(shape[:2]):
        raise PluginError(
            f"{who} returned a mask of shape {array.shape} for {name} of shape {tuple(shape[:2])}; masks must be "
            "(H, W) like their image"
        )
    if array.dtype == bool:
        return array
    rule = "masks must be bool (or numbers, foreground above 0)"
    if array.dtype.kind not in "uif":
        raise PluginError(f"{who} returned a mask of dtype {array.dtype} for {name}; {rule}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        count = int(np.count_nonzero(~np.isfinite(array)))
        raise PluginError(f"{who} returned a mask with {count} NaN or infinite values for {name}; {rule}")
    return array > 0


#: A colour file whose this many most frequent colours cover less than half its pixels is a photograph, not a
#: mask: a colour mask (a label map, or a mask saved as JPEG with blurred edges) is mostly a few flat colours.
MASK_COLOURS = 64


def photograph_reason(array: np.ndarray) -> str | None:
    """Why a colour ``(H, W, C)`` array read as a mask looks like a photograph, or ``None`` if it looks like a mask.

    >>> flat = np.zeros((8, 8, 3), np.uint8); flat[:4] = (200, 30, 90)
    >>> photograph_reason(flat) is None
    True
    >>> noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    >>> photograph_reason(noise)[:45]
    'looks like a photograph: its 64 most frequent'
    """
    if array.ndim != 3 or array.shape[2] < 3:
        return None
    pixels = array[..., :3].reshape(-1, 3)
    pixels = pixels[:: max(1, pixels.shape[0] // 65536)]  # a sample is enough to tell
    if (pixels == pixels[:, :1]).all():  # grey stored as colour
        return None
    _, counts = np.unique(pixels, axis=0, return_counts=True)
    top = float(np.sort(counts)[::-1][:MASK_COLOURS].sum()) / pixels.shape[0]
    if top >= 0.5:
        return None
    return (
        f"looks like a photograph: its {MASK_COLOURS} most frequent colours cover only {top:.0%} of its pixels "
        f"({counts.size} colours in all), so it is not a mask; give masks as one channel of 0/255 (or 0/1, or labels)"
    )


def read_only(array: np.ndarray) -> np.ndarray:
    """A view of ``array`` that cannot be written to, so that a stage cannot change what other stages see.

    >>> image = np.zeros((2, 2)); view = read_only(image)
    >>> view.flags.writeable, image.flags.writeable
    (False, True)
    """
    view = array.view()
    view.flags.writeable = False
    return view


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
