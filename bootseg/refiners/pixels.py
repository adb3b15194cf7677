"""Images and masks as the network sees them: channels adapted, resized to the set's scale, cut into tiles.

The geometry (which scale, which tiles, how they are blended) is :mod:`bootseg.refiners.tiles`; this module turns
uint8 images and bool masks into the uint8 arrays the network trains and predicts on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..images import luma
from .tiles import windows

__all__ = ["PERCENTILES", "adapt_channels", "channel_count", "resize", "stretch", "training_tiles"]

#: The percentiles of an image's values (all channels together) that ``normalize="percentile"`` maps to 0 and 255.
PERCENTILES = (1.0, 99.0)


def channel_count(image: np.ndarray) -> int:
    """1 for a grey ``(H, W)`` image, 3 for a colour one."""
    return 1 if image.ndim == 2 else 3


def adapt_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """uint8 ``(H, W)``/``(H, W, 3)`` → ``(H, W, channels)``: grey is repeated, colour is turned to Rec. 709 grey."""
    if image.ndim == 2:
        return np.repeat(image[:, :, None], channels, axis=2)
    if channels == 1:
        return np.rint(luma(image)).clip(0, 255).astype(np.uint8)[:, :, None]
    return image


def stretch(image: np.ndarray) -> np.ndarray:
    """A uint8 image stretched so that its :data:`PERCENTILES` (over all its values, channels together, so colours
    keep their balance) become 0 and 255, clipped beyond; an image whose two percentiles are equal is returned as
    it is. The network then sees every image at one contrast, whatever its exposure or stain strength.

    >>> image = np.repeat(np.arange(100, 200, dtype=np.uint8), 10).reshape(20, 50)
    >>> out = stretch(image)
    >>> int(out.min()), int(out.max()), int(np.percentile(image, 1)), int(np.percentile(image, 99))
    (0, 255, 100, 198)
    """
    counts = np.cumsum(np.bincount(image.ravel(), minlength=256))
    low, high = (int(np.searchsorted(counts, counts[-1] * q / 100)) for q in PERCENTILES)
    if high <= low:
        return image
    table = np.clip(np.rint((np.arange(256) - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)
    return table[image]


def resize(array: np.ndarray, size: tuple[int, int], *, nearest: bool = False) -> np.ndarray:
    """``array`` resized to ``size`` = ``(width, height)`` with OpenCV: area averaging when it shrinks both sides,
    bilinear otherwise, nearest neighbour for masks; a trailing channel axis is kept."""
    import cv2

    height, width = array.shape[:2]
    if (height, width) == (size[1], size[0]):
        return array
    if nearest:
        interpolation = cv2.INTER_NEAREST
    elif height > size[1] and width > size[0]:
        interpolation = cv2.INTER_AREA
    else:
        interpolation = cv2.INTER_LINEAR
    out = cv2.resize(array, size, interpolation=interpolation)
    return out[:, :, None] if array.ndim == 3 and out.ndim == 2 else out


def training_tiles(
    images: Sequence[np.ndarray], targets: Sequence[np.ndarray], side: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training samples of working-scale images ``(H, W, C)`` and targets ``(H, W)``: their ``side × side``
    tiles side by side (:func:`bootseg.refiners.tiles.windows` with no overlap beyond what covering needs).

    Returns
    -------
    (N, C, side, side) uint8, (N, 1, side, side) uint8, (N,) int
        The image tiles, the target tiles, and the index of the image each tile comes from.
    """
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    owners: list[int] = []
    for i, (image, target) in enumerate(zip(images, targets, strict=True)):
        image_tiles, _ = windows(image, side, 0)
        target_tiles, _ = windows(target, side, 0)
        xs += image_tiles
        ys += target_tiles
        owners += [i] * len(image_tiles)
    x = np.ascontiguousarray(np.stack(xs).transpose(0, 3, 1, 2))
    y = np.ascontiguousarray(np.stack(ys)[:, None])
    return x, y, np.asarray(owners, dtype=int)
