"""TIFF files read with ``tifffile``: one 2D image (grey, RGB or RGBA, any bit depth), or a stack of them.

A TIFF can hold much more than one image. A stack or time series (``Z``, ``T``, or unnamed pages: ImageJ and
OME-TIFF files name their axes, and ``tifffile`` reads those names) is read as planes, each a 2D image that the
stages segment one by one (:func:`read_tiff_planes`). Channels that are not colours (a nuclear and a membrane
stain, a ``C`` axis, ``(H, W, C)`` or a short unnamed first axis) are read when one of them is picked
(``--channel N``, ``channel=`` in Python). Several separate images (series) are refused with the file named and
what would be right, rather than read in part.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import ImageReadError, pixel_limit_reason

__all__ = ["MAX_CHANNELS", "channel_hint", "encode_tiff", "read_tiff", "read_tiff_planes"]

#: The most channels a ``(C, H, W)`` TIFF without named axes may hold to be read as channels (``--channel``); a
#: longer first axis is a stack. An axis the file names as channels (``C``, or samples ``S``) may be longer.
MAX_CHANNELS = 8


def read_tiff(path: Path, max_pixels: int | None = None, *, channels: bool = False) -> np.ndarray:
    """The one 2D image of the TIFF at ``path``: ``(H, W)``, or ``(H, W, C)`` with channels last.

    Raises :class:`bootseg.io.ImageReadError` naming the file for a stack (read it with
    :func:`read_tiff_planes`), and for everything :func:`read_tiff_planes` refuses.

    >>> import tempfile, tifffile
    >>> path = Path(tempfile.mkdtemp()) / "a.tif"
    >>> tifffile.imwrite(path, np.zeros((4, 6), np.uint16))
    >>> read_tiff(path).shape
    (4, 6)
    """
    planes, axes, _ = read_tiff_planes(path, max_pixels, channels=channels)
    if axes:
        raise ImageReadError(
            f"cannot read '{path}': TIFF holds a stack of {len(planes)} planes of {planes.shape[1:]} (axes "
            f"{axes}YX{'S' if planes.ndim == 4 else ''}), not a single 2D image; a folder or file list given to "
            f"bootseg is read plane by plane (bootseg.io.read_planes){channel_hint(axes, len(planes))}"
        )
    return planes[0]


def channel_hint(axes: str, count: int) -> str:
    """A hint that unnamed pages may be channels (``--channel N``), where they are few enough to be, else ``""``.

    >>> channel_hint("Q", 2)
    '; if its 2 pages are channels, pick one with --channel N (channel= in Python)'
    >>> channel_hint("Z", 2)
    ''
    """
    if len(axes) == 1 and _channel_axis(axes, count):
        return f"; if its {count} pages are channels, pick one with --channel N (channel= in Python)"
    return ""


def read_tiff_planes(
    path: Path, max_pixels: int | None = None, *, channels: bool = False
) -> tuple[np.ndarray, str, tuple[int, ...]]:
    """The planes of the TIFF at ``path``, its plane axes and their lengths.

    Returns ``(planes, axes, shape)``: ``planes`` is ``(N, H, W)`` or ``(N, H, W, C)`` with channels last,
    ``axes`` the plane axes in the file's order (``""`` for a single 2D image, ``"Z"``, ``"TZ"``, ``"Q"`` for
    unnamed pages) and ``shape`` their lengths (``N`` is their product). Axes of length 1 are dropped.

    Raises :class:`bootseg.io.ImageReadError` naming the file for a TIFF of several images (series), no pixels,
    channels that are not colours when ``channels`` is false (a ``C`` axis, or 2 or 4 samples none of which is
    alpha), or planes of more than ``max_pixels`` pixels (read from the header, before decoding). With
    ``channels``, any number of channels is read, a ``C`` axis or samples, or a first axis the file does not name
    up to :data:`MAX_CHANNELS` long in a file of one plane, and an alpha channel is dropped, so that one channel
    can be picked.

    >>> import tempfile, tifffile
    >>> path = Path(tempfile.mkdtemp()) / "z.tif"
    >>> tifffile.imwrite(path, np.zeros((3, 5, 4, 6), np.uint8), imagej=True, metadata={"axes": "TZYX"})
    >>> planes, axes, shape = read_tiff_planes(path)
    >>> planes.shape, axes, shape
    ((15, 4, 6), 'TZ', (3, 5))
    """
    array, axes, alpha = _decode(path, max_pixels)
    array, axes = _channels_last(array, axes, channels, path)
    samples = axes.endswith("S")
    image_axes = "YXS" if samples else "YX"
    if not axes.endswith(image_axes) or any(axis in "YXCS" for axis in axes[: -len(image_axes)]):
        raise ImageReadError(
            f"cannot read '{path}': TIFF holds shape {array.shape} (axes {axes}); bootseg reads 2D images (YX, with "
            "colours or channels last) and stacks of them"
        )
    plane_axes = axes[: -len(image_axes)]
    plane_shape = tuple(int(n) for n in array.shape[: len(plane_axes)])
    planes = array.reshape((math.prod(plane_shape), *array.shape[len(plane_axes) :]))
    if samples and planes.shape[3] in (2, 4):
        if alpha:
            planes = planes[..., :-1]
        elif not channels:
            raise ImageReadError(
                f"cannot read '{path}': TIFF holds {planes.shape[3]} channels (shape {array.shape}) and none is "
                "marked as alpha, so it is neither grey, RGB nor RGBA; pick the channel to segment with --channel N "
                "(channel= in Python), or save it alone"
            )
    if samples and planes.shape[3] == 1:
        planes = planes[..., 0]
    return planes, plane_axes, plane_shape


def _decode(path: Path, max_pixels: int | None) -> tuple[np.ndarray, str, bool]:
    """The pixels of the file's one series, its axes without those of length 1, and whether it has alpha."""
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
    keep = [i for i, axis in enumerate(axes) if axis in "YX" or array.shape[i] != 1]
    return array.reshape([array.shape[i] for i in keep]), "".join(axes[i] for i in keep), alpha


def _channels_last(array: np.ndarray, axes: str, channels: bool, path: Path) -> tuple[np.ndarray, str]:
    """The array with its channel axis (``S``, ``C``, or a short unnamed first one when ``channels``) last,
    named ``S``; a ``C`` axis without ``channels`` is refused with the way out."""
    named = [axis for axis in "CS" if axis in axes]
    if len(named) == 2:
        raise ImageReadError(
            f"cannot read '{path}': TIFF holds shape {array.shape} (axes {axes}) with both channels (C) and colour "
            "samples (S); save one channel per file"
        )
    if named == ["C"] and not channels:
        count = array.shape[axes.index("C")]
        raise ImageReadError(
            f"cannot read '{path}': TIFF holds {count} channels (axis C of {axes}, shape {array.shape}); pick the "
            "channel to segment with --channel N (channel= in Python)"
        )
    if not named and channels and len(axes) == 3 and axes[1:] == "YX" and _channel_axis(axes[0], array.shape[0]):
        named = [axes[0]]
    if not named:
        return array, axes
    where = axes.index(named[0])
    rest = axes[:where] + axes[where + 1 :]
    return np.moveaxis(array, where, -1), rest + "S"


def _channel_axis(axis: str, length: int) -> bool:
    """Whether a first axis ``axis`` of ``length`` is read as channels when one is picked: a short unnamed one
    (``Q``, ``I``: tifffile's name for the pages of a plain TIFF)."""
    return axis in "QI" and length <= MAX_CHANNELS


def _check_one_series(path: Path, series: Sequence[Any]) -> None:
    """Refuse a TIFF of several separate images (series): reading the first alone would drop the rest unseen."""
    if len(series) > 1:
        shapes = [tuple(int(n) for n in s.shape) for s in series]
        listed = ", ".join(map(str, shapes[:-1])) + f" and {shapes[-1]}"
        raise ImageReadError(
            f"cannot read '{path}': TIFF holds {len(series)} images (series) of shapes {listed}; bootseg reads one "
            "image or stack per file and would see only the first: save each image to a file of its own"
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
