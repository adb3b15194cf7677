"""Contour overlays: an image with the outline of its masks drawn on it, as in the paper's Figure 3.

The final mask's outline is drawn in one colour over the first stage's in another, so a person sees at a glance
where the network changed the first stage's mask and whether the final outline sits on the object's edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .images import check_image, check_mask, to_uint8

__all__ = ["FINAL_COLOUR", "FIRST_COLOUR", "display_rgb", "draw_contours", "enlargement", "overlay"]

#: RGB colour of the final stage's outline (red: seen on bright-field yellow, grey and dark backgrounds alike,
#: and told apart from the blue by colour-blind readers).
FINAL_COLOUR: tuple[int, int, int] = (255, 0, 0)
#: RGB colour of the first stage's outline (blue), drawn at :data:`FIRST_OPACITY` under the final one.
FIRST_COLOUR: tuple[int, int, int] = (0, 90, 255)
FIRST_OPACITY = 0.6
#: Overlays of smaller images are enlarged (by a whole factor, at most 4) to at least this short side.
MIN_SIDE = 256


def display_rgb(image: np.ndarray) -> np.ndarray:
    """An image as uint8 RGB for display: uint8 kept, other dtypes stretched min..max, grey repeated.

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
        Any numeric dtype; alpha is dropped.

    Returns
    -------
    (H, W, 3) uint8 ndarray

    >>> display_rgb(np.array([[0, 1000], [1000, 0]], np.uint16))[0].tolist()
    [[0, 0, 0], [255, 255, 255]]
    """
    pixels = to_uint8(check_image(image))
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(pixels[:, :, :3])


def line_width(shape: Sequence[int]) -> int:
    """Outline thickness in pixels for an image of ``shape``: 1 up to 384 px, then growing with the size."""
    return max(1, round(min(shape[:2]) / 384))


def enlargement(shape: Sequence[int]) -> int:
    """The whole factor (1 to 4) that brings an image's short side to at least :data:`MIN_SIDE` pixels.

    >>> enlargement((64, 80)), enlargement((128, 128)), enlargement((512, 512))
    (4, 2, 1)
    """
    return int(min(4, max(1, -(-MIN_SIDE // max(1, min(shape[:2]))))))


def _enlarge(array: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return array
    return np.repeat(np.repeat(array, factor, axis=0), factor, axis=1)


def draw_contours(
    canvas: np.ndarray,
    mask: np.ndarray,
    colour: tuple[int, int, int],
    *,
    thickness: int = 1,
    opacity: float = 1.0,
) -> np.ndarray:
    """Draw the outlines of ``mask`` (objects and their holes) on ``canvas`` (RGB uint8) in place; return it.

    >>> canvas = np.zeros((8, 8, 3), np.uint8)
    >>> square = np.zeros((8, 8), bool)
    >>> square[2:6, 2:6] = True
    >>> int((draw_contours(canvas, square, (255, 0, 0))[..., 0] == 255).sum())  # the 12 pixels of the outline
    12
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    if opacity >= 1.0:
        cv2.drawContours(canvas, contours, -1, tuple(int(c) for c in colour), thickness, lineType=cv2.LINE_8)
        return canvas
    layer = np.zeros(canvas.shape[:2], np.uint8)
    cv2.drawContours(layer, contours, -1, 255, thickness, lineType=cv2.LINE_8)
    on = layer > 0
    blended = opacity * np.asarray(colour, np.float32) + (1.0 - opacity) * canvas[on].astype(np.float32)
    canvas[on] = np.rint(blended).astype(np.uint8)
    return canvas


def overlay(
    image: np.ndarray,
    final: np.ndarray,
    first: np.ndarray | None = None,
    *,
    final_colour: tuple[int, int, int] = FINAL_COLOUR,
    first_colour: tuple[int, int, int] = FIRST_COLOUR,
    thickness: int | None = None,
    enlarge: int | None = None,
) -> np.ndarray:
    """The image with the final mask's outline, and the first stage's outline (translucent) under it.

    Parameters
    ----------
    image : (H, W) or (H, W, C) ndarray
        Any numeric dtype (see :func:`display_rgb`).
    final : (H, W) mask
        The final stage's mask; its outline is drawn last, on top.
    first : (H, W) mask, optional
        The first stage's mask, outlined in ``first_colour``; omitted when None.
    final_colour, first_colour : (r, g, b)
        Outline colours.
    thickness : int, optional
        Line width in pixels; by default 1 up to 384 px images, growing with larger ones.
    enlarge : int, optional
        Enlarge the picture by this whole factor (each pixel becomes a block, the outlines follow the pixel
        edges) so that a one-pixel outline stays thin beside small objects; by default
        :func:`enlargement` of the image's size (64 px: 4, 128 px: 2, 256 px and more: 1).

    Returns
    -------
    (H·f, W·f, 3) uint8 ndarray
        RGB, ready for :func:`bootseg.io.write_image`; ``f`` is the enlargement.

    Examples
    --------
    >>> image = np.zeros((16, 16), np.uint8)
    >>> mask = np.zeros((16, 16), bool); mask[4:12, 4:12] = True
    >>> picture = overlay(image, mask, enlarge=1)
    >>> picture.shape, picture[4, 4].tolist(), picture[8, 8].tolist()
    ((16, 16, 3), [255, 0, 0], [0, 0, 0])
    """
    rgb = display_rgb(image)
    shape = rgb.shape[:2]
    factor = enlargement(shape) if enlarge is None else int(enlarge)
    if factor < 1:
        raise ValueError(f"enlarge must be a whole number >= 1, got {enlarge!r}")
    canvas = _enlarge(rgb, factor).copy()
    width = thickness if thickness is not None else line_width(shape)
    if first is not None:
        first_mask = _enlarge(check_mask(first, shape, name="first"), factor)
        draw_contours(canvas, first_mask, first_colour, thickness=width, opacity=FIRST_OPACITY)
    draw_contours(canvas, _enlarge(check_mask(final, shape, name="final"), factor), final_colour, thickness=width)
    return canvas
