"""TIFF files: one 2D image per file (grey, RGB or RGBA, any bit depth), read with ``tifffile``.

A TIFF can hold much more than one image: several images (series), stacks, volumes, channels that are not
colours. Each of those is refused with the file named and what would be right, rather than read in part; channels
that are not colours (a nuclear and a membrane stain, ``(H, W, C)`` or ``(C, H, W)``) are read when one of them is
picked (``--channel N``, ``channel=`` in Python).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import ImageReadError, pixel_limit_reason

__all__ = ["MAX_CHANNELS", "encode_tiff", "read_tiff"]

#: The most channels a ``(C, H, W)`` TIFF without named axes may hold to be read as channels (``--channel``); a
#: longer first axis is a stack. An axis the file names as channels (``C``, or samples ``S``) may be longer.
MAX_CHANNELS = 8


def read_tiff(path: Path, max_pixels: int | None = None, *, channels: bool = False) -> np.ndarray:
    """The one 2D image of the TIFF at ``path``: ``(H, W)``, or ``(H, W, C)`` with channels last.

    Raises :class:`bootseg.io.ImageReadError` naming the file for a TIFF of several images (series), a stack or
    volume, no pixels, 2 or 4 channels none of which is alpha, or more than ``max_pixels`` pixels (read from the
    header, before decoding). With ``channels``, any number of channels is read, first or last (a first axis
    the file does not name as channels up to :data:`MAX_CHANNELS` long), and an alpha channel is dropped, so that
    one channel can be picked.

    >>> import tempfile, tifffile
    >>> path = Path(tempfile.mkdtemp()) / "a.tif"
    >>> tifffile.imwrite(path, np.zeros((4, 6), np.uint16))
    >>> read_tiff(path).shape
    (4, 6)
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            _check_one_series(path, tiff.series)
            series = tiff.series[0]
            if max_pixels is not None and "Y" in series.axes and "X" in series.axes:
                height, width = series.shape[series.axes.index("Y")], series.shape[series.axes.index("X")]
                reason = pixel_limit_reason(int(height), int(width), max_pixels)
                if reason is not None:
                    raise ImageReadError(f"cannot read '{path}': {reason}")
            array, axes = np.asarray(series.asarray()), series.axes
            alpha = any(int(extra) in (1, 2) for extra in getattr(tiff.pages[0], "extrasamples", ()) or ())
    except ImageReadError:
        raise
    except Exception as error:  # tifffile raises several types for corrupt files
        raise ImageReadError(f"cannot read '{path}' as TIFF: {error}") from error
    if array.size == 0:
        raise ImageReadError(f"cannot read '{path}': TIFF holds no pixels (shape {array.shape}, 0 rows or columns)")
    # Drop length-1 axes other than Y and X, then put samples (channels) last.
    keep = [i for i, axis in enumerate(axes) if axis in "YX" or array.shape[i] != 1]
    array = array.reshape([array.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    first_is_channels = len(axes) == 3 and axes[1:] == "YX" and _channel_axis(axes[0], array.shape[0])
    if axes == "SYX" or (channels and first_is_channels):
        array, axes = np.moveaxis(array, 0, -1), "YXS"
    if axes not in ("YX", "YXS"):
        hint = "; if its first axis holds channels, pick one with --channel N (channel= in Python)"
        raise ImageReadError(
            f"cannot read '{path}': TIFF holds shape {array.shape} (axes {axes}), not a single 2D image; "
            f"multi-page stacks and volumes are not supported{hint if first_is_channels else ''}"
        )
    if channels:
        return array[:, :, :-1] if axes == "YXS" and array.shape[2] in (2, 4) and alpha else array
    if axes == "YXS" and array.shape[2] in (2, 4) and not alpha:  # channels that are not grey/RGB + alpha
        raise ImageReadError(
            f"cannot read '{path}': TIFF holds {array.shape[2]} channels (shape {array.shape}) and none is marked as "
            "alpha, so it is neither grey, RGB nor RGBA; pick the channel to segment with --channel N (channel= in "
            "Python), or save it alone"
        )
    return array


def _channel_axis(axis: str, length: int) -> bool:
    """Whether a first axis ``axis`` of ``length`` is read as channels: one the file names so, or a short unnamed
    one (``Q``, ``I``: tifffile's name for the pages of a plain TIFF)."""
    return axis in "CS" or (axis in "QI" and length <= MAX_CHANNELS)


def _check_one_series(path: Path, series: Sequence[Any]) -> None:
    """Refuse a TIFF of several separate images (series): reading the first alone would drop the rest unseen."""
    if len(series) > 1:
        shapes = [tuple(int(n) for n in s.shape) for s in series]
        listed = ", ".join(map(str, shapes[:-1])) + f" and {shapes[-1]}"
        raise ImageReadError(
            f"cannot read '{path}': TIFF holds {len(series)} images (series) of shapes {listed}; bootseg reads one "
            "2D image per file and would see only the first: save each image to a file of its own"
        )


def encode_tiff(image: np.ndarray, path: Path) -> bytes:
    """The TIFF bytes of ``image`` (uint8, uint16, float32 or float64; grey, RGB or RGBA with its alpha marked).

    >>> encode_tiff(np.zeros((2, 2), np.uint8), Path("a.tif"))[:2] in (b"II", b"MM")
    True
    """
    import tifffile

    allowed = ("uint8", "uint16", "float32", "float64")
    if image.dtype.name not in allowed:
        raise ValueError(f"cannot write dtype {image.dtype} to '{path}': TIFF output holds {', '.join(allowed)}")
    buffer = io.BytesIO()
    photometric = "minisblack" if image.ndim == 2 else "rgb"
    extras = {"extrasamples": ["unassalpha"]} if image.ndim == 3 and image.shape[2] == 4 else {}
    tifffile.imwrite(buffer, image, photometric=photometric, **extras)
    return buffer.getvalue()
