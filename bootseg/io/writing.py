"""Writing masks (8-bit PNG of 0 and 255) and images (PNG, TIFF, JPEG, BMP, keeping the dtype), atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import BootsegError
from .atomic import write_bytes_atomic
from .formats import OPENCV_WRITE_SUFFIXES, TIFF_SUFFIXES, PathLike, _as_path, _check_suffix

__all__ = ["write_image", "write_mask"]


def _mask_uint8(mask: Any) -> np.ndarray:
    if isinstance(mask, (str, bytes)) or mask is None or not hasattr(mask, "__array__"):
        raise TypeError(f"mask must be a NumPy array, got {type(mask).__name__}")
    array = np.asarray(mask)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2 or min(array.shape) < 1:
        raise ValueError(f"mask must be a non-empty (H, W) array, got shape {array.shape}")
    if array.dtype == bool:
        binary = array
    elif array.dtype.kind in "ui":
        binary = array > 0
    elif array.dtype.kind == "f":
        if np.isnan(array).any():
            raise ValueError(f"mask has NaN values (shape {array.shape}); a mask must be finite")
        binary = array >= 0.5
    else:
        raise TypeError(f"mask must be bool, integer or float, got dtype {array.dtype}")
    return binary.astype(np.uint8) * np.uint8(255)


def write_mask(path: PathLike, mask: Any) -> Path:
    """Write a mask as a single-channel 8-bit PNG of 0 (background) and 255 (foreground), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target ``.png`` file; its folder must exist. An existing file is replaced.
    mask : (H, W) or (H, W, 1) array_like
        Bool, integer (foreground > 0) or float (foreground >= 0.5) mask.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the extension is not ``.png``, or the mask is not a non-empty 2D array or contains NaN.
    TypeError
        If ``mask`` is not an array of bool, integer or float values.
    FileNotFoundError
        If the target's folder does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bootseg.io import read_image
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "mask.png"
    >>> read_image(write_mask(target, np.array([[0, 1], [1, 0]]))).tolist()
    [[0, 255], [255, 0]]
    """
    path = _as_path(path)
    _check_suffix(path, (".png",), "write a mask to")
    pixels = _mask_uint8(mask)
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 2D array
        raise BootsegError(f"OpenCV could not encode the mask for '{path}'")
    return write_bytes_atomic(path, encoded.tobytes())


def _image_array(array: Any) -> np.ndarray:
    if isinstance(array, (str, bytes)) or array is None or not hasattr(array, "__array__"):
        raise TypeError(f"array must be a NumPy array, got {type(array).__name__}")
    image = np.asarray(array)
    if image.dtype == bool:
        image = image.astype(np.uint8) * np.uint8(255)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)) or min(image.shape[:2]) < 1:
        raise ValueError(f"array must be (H, W), (H, W, 3) or (H, W, 4) and non-empty, got shape {image.shape}")
    return image


def write_image(path: PathLike, array: Any) -> Path:
    """Write an image (probability map, overlay, grey or colour picture) atomically, keeping its dtype.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its folder must exist. The extension picks the format:

        * ``.png``: uint8 or uint16, grey / RGB / RGBA;
        * ``.tif``, ``.tiff``: uint8, uint16, float32 or float64 (e.g. probabilities), grey / RGB / RGBA;
        * ``.jpg``, ``.jpeg``, ``.bmp``: uint8, grey / RGB (lossy for JPEG).
    array : (H, W), (H, W, 3) or (H, W, 4) ndarray
        Colour in RGB(A) order. A bool array is written as uint8 0/255.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        For an unsupported extension, or a dtype or channel count that the format cannot hold (the message
        says which dtypes it can).
    TypeError
        If ``array`` is not an array.
    FileNotFoundError
        If the target's folder does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bootseg.io import read_image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> probs = np.array([[0.25, 1.0]], np.float32)
    >>> read_image(write_image(folder / "p.tif", probs)).tolist()
    [[0.25, 1.0]]
    >>> read_image(write_image(folder / "d.png", np.array([[0, 4095]], np.uint16))).dtype
    dtype('uint16')
    """
    path = _as_path(path)
    suffix = _check_suffix(path, OPENCV_WRITE_SUFFIXES + TIFF_SUFFIXES, "write an image to")
    image = _image_array(array)
    if suffix in TIFF_SUFFIXES:
        from ..tiff import encode_tiff

        return write_bytes_atomic(path, encode_tiff(image, path))
    allowed = ("uint8", "uint16") if suffix == ".png" else ("uint8",)
    if image.dtype.name not in allowed:
        raise ValueError(
            f"cannot write dtype {image.dtype} to '{path}': {suffix} holds {' or '.join(allowed)}; "
            "scale it (e.g. np.round(probs * 255).astype(np.uint8)) or write a .tif to keep floats"
        )
    if image.ndim == 3 and image.shape[2] == 4 and suffix != ".png":
        raise ValueError(f"cannot write 4 channels (RGBA) to '{path}': {suffix} holds grey or RGB; use .png")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(suffix, image)
    if not ok:  # pragma: no cover - the checks above leave only encodable arrays
        raise BootsegError(f"OpenCV could not encode a {image.dtype} {image.shape} image for '{path}'")
    return write_bytes_atomic(path, encoded.tobytes())
