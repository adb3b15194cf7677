"""One scale for the whole set, and windows of bounded size: how the ``unet`` stage sees images of any size.

The network works at one scale for its set: the working size over the images' own median longer side (the
``native`` side), so that a pixel of every image covers the same area and an object keeps the size it had in
training whatever the size of the image it is in. Each image is resized by that factor, keeping its aspect, and
cut into square tiles of at most ``tile`` working pixels:

* **training**: tiles side by side (overlapping only as far as they must to cover the image), each a sample,
  from which the random ``crop`` windows are then drawn; an image smaller than a tile is padded by reflection;
* **prediction**: tiles that overlap by a quarter of their side, each predicted alone, blended with weights
  that fall linearly to the tile's edges (:func:`blend_weights`), so that the centre of a tile, where the
  network sees the most context, decides, and no seam shows.

Memory is then bounded by the tile, not the image. An image that fits one tile (the usual case: a set of equal
squares at the working size) is one sample and one forward pass, exactly as if it had been resized to the
working size whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "OVERLAP_SHARE",
    "blend_weights",
    "count",
    "overlap_of",
    "pad_to",
    "scaled_shape",
    "starts",
    "stitch",
    "tile_side",
    "windows",
]

#: The share of a prediction tile's side that overlaps its neighbour.
OVERLAP_SHARE = 0.25


def tile_side(size: int, tile: int) -> int:
    """The side of the square tiles: the working size, or ``tile`` when that is smaller.

    >>> tile_side(128, 256), tile_side(7056, 256)
    (128, 256)
    """
    return min(size, tile)


def scaled_shape(shape: Sequence[int], scale: float) -> tuple[int, int]:
    """``(height, width)`` of an image of ``shape`` at ``scale``, its aspect kept (at least 1 px each).

    >>> scaled_shape((218, 256), 0.5)
    (109, 128)
    """
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def starts(length: int, tile: int, overlap: int) -> list[int]:
    """Evenly spaced starts of windows of ``tile`` that cover ``range(length)``, neighbours overlapping by at least
    ``overlap``; the first is 0 and the last ``length - tile`` (one window, at 0, when it fits).

    >>> starts(256, 256, 64), starts(500, 256, 64), starts(512, 256, 0)
    ([0], [0, 122, 244], [0, 256])
    """
    if length <= tile:
        return [0]
    stride = tile - overlap
    count = math.ceil((length - tile) / stride) + 1
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def pad_to(array: np.ndarray, side: int) -> np.ndarray:
    """``array`` padded at its bottom and right by reflection until both sides are at least ``side``.

    >>> pad_to(np.arange(6).reshape(2, 3), 4).shape
    (4, 4)
    """
    extra = (max(0, side - array.shape[0]), max(0, side - array.shape[1]))
    if extra == (0, 0):
        return array
    widths = [(0, extra[0]), (0, extra[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, widths, mode="symmetric")


def windows(array: np.ndarray, side: int, overlap: int) -> tuple[list[np.ndarray], list[tuple[int, int]]]:
    """The ``side × side`` tiles of ``array`` (padded by :func:`pad_to` first) and their top-left corners.

    >>> tiles, corners = windows(np.zeros((300, 200)), 256, 64)
    >>> len(tiles), corners, tiles[0].shape
    (2, [(0, 0), (44, 0)], (256, 256))
    """
    padded = pad_to(array, side)
    corners = [(r, c) for r in starts(padded.shape[0], side, overlap) for c in starts(padded.shape[1], side, overlap)]
    return [padded[r : r + side, c : c + side] for r, c in corners], corners


def blend_weights(side: int, overlap: int) -> np.ndarray:
    """``(side, side)`` float32 weights: 1 inside, falling linearly over the ``overlap`` pixels nearest each edge
    to ``0.5 / overlap`` at the edge (never 0, so a pixel that one tile alone covers keeps that tile's value).

    >>> w = blend_weights(16, 4)
    >>> float(w[8, 8]), float(w[0, 8]) == 0.125
    (1.0, True)
    """
    ramp = np.ones(side, np.float32)
    if overlap > 0:
        edge = np.minimum(np.arange(side) + 0.5, side - np.arange(side) - 0.5) / overlap
        ramp = np.minimum(ramp, edge.astype(np.float32))
    return np.outer(ramp, ramp)


def stitch(
    tiles: Sequence[np.ndarray], corners: Sequence[tuple[int, int]], shape: tuple[int, int], overlap: int
) -> np.ndarray:
    """One float32 map of ``shape`` from the tiles' maps, blended where they overlap (:func:`blend_weights`).

    A single tile is returned as it is (cut to ``shape``), so an image that fits one tile gets the network's map
    unchanged.

    >>> tiles, corners = windows(np.arange(300 * 200, dtype=np.float32).reshape(300, 200), 256, 64)
    >>> bool(np.allclose(stitch(tiles, corners, (300, 200), 64), np.arange(300 * 200).reshape(300, 200)))
    True
    """
    if len(tiles) == 1:
        return np.ascontiguousarray(tiles[0][: shape[0], : shape[1]], dtype=np.float32)
    side = tiles[0].shape[0]
    weight = blend_weights(side, overlap)
    height = max(shape[0], side)
    width = max(shape[1], side)
    total = np.zeros((height, width), np.float32)
    weights = np.zeros((height, width), np.float32)
    for tile, (r, c) in zip(tiles, corners, strict=True):
        total[r : r + side, c : c + side] += tile * weight
        weights[r : r + side, c : c + side] += weight
    total /= weights
    return np.ascontiguousarray(total[: shape[0], : shape[1]])


def overlap_of(side: int) -> int:
    """The overlap of prediction tiles of ``side``: :data:`OVERLAP_SHARE` of it.

    >>> overlap_of(256)
    64
    """
    return int(side * OVERLAP_SHARE)


def count(shape: Sequence[int], side: int, overlap: int) -> int:
    """How many tiles :func:`windows` cuts an array of ``shape`` into.

    >>> count((300, 200), 256, 64), count((100, 100), 256, 64)
    (2, 1)
    """
    return len(starts(max(shape[0], side), side, overlap)) * len(starts(max(shape[1], side), side, overlap))
