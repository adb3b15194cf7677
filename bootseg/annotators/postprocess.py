"""Clean-up of a boolean mask: small objects, holes, the largest object.

All three use 4-connectivity for the foreground (pixels sharing an edge), as :func:`scipy.ndimage.label` does by
default; a hole is a background region not connected to the image border through background (8-connected, the
complement of 4-connected foreground, as :func:`scipy.ndimage.binary_fill_holes`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .necks import largest_piece

__all__ = ["fill_holes", "largest_component", "postprocess", "remove_small"]


def _sizes(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, _ = ndi.label(mask)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels, sizes


def largest_component(mask: np.ndarray, neck: float = 0.0) -> np.ndarray:
    """Keep only the largest 4-connected object; ties go to the object met first in raster order.

    Parameters
    ----------
    mask : (H, W) ndarray of bool
    neck : float, default 0.0
        When above 0, objects are first cut where they narrow to a neck (:func:`~.necks.split_at_necks`), so a
        cell touching its neighbours is kept alone.

    Returns
    -------
    (H, W) ndarray of bool
        The largest object alone; an empty mask stays empty.

    Examples
    --------
    >>> largest_component(np.array([[1, 0, 1, 1]], bool)).astype(int).tolist()
    [[0, 0, 1, 1]]
    """
    if not mask.any():
        return np.zeros(mask.shape, bool)
    if neck:
        return largest_piece(mask, neck)
    labels, sizes = _sizes(mask)
    return labels == int(np.argmax(sizes))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions that do not reach the image border (same as ``scipy.ndimage.binary_fill_holes``).

    Parameters
    ----------
    mask : (H, W) ndarray of bool

    Returns
    -------
    (H, W) ndarray of bool

    Examples
    --------
    >>> ring = np.ones((3, 3), bool); ring[1, 1] = False
    >>> bool(fill_holes(ring)[1, 1])
    True
    """
    # binary_fill_holes grows the background in from the border one dilation at a time; labelling the background
    # once (4-connected, as its default structure) and keeping the regions that touch the border is the same mask
    background, count = ndi.label(~np.asarray(mask, dtype=bool))
    sea = np.zeros(count + 1, bool)
    for edge in (background[0], background[-1], background[:, 0], background[:, -1]):
        sea[edge] = True
    sea[0] = False
    return ~sea[background]


def remove_small(mask: np.ndarray, min_size: int) -> np.ndarray:
    """Remove 4-connected objects of fewer than ``min_size`` pixels.

    Objects of exactly ``min_size`` pixels are kept: the same result as
    ``skimage.morphology.remove_small_objects(mask, max_size=min_size - 1, connectivity=1)`` (scikit-image >= 0.26).

    Parameters
    ----------
    mask : (H, W) ndarray of bool
    min_size : int
        Smallest object kept, in pixels; 0 or 1 keeps everything.

    Returns
    -------
    (H, W) ndarray of bool

    Examples
    --------
    >>> remove_small(np.array([[1, 0, 1, 1]], bool), 2).astype(int).tolist()
    [[0, 0, 1, 1]]
    """
    if min_size <= 1 or not mask.any():
        return mask.copy()
    labels, sizes = _sizes(mask)
    keep = sizes >= min_size
    keep[0] = False
    return keep[labels]


# The options of postprocess() share these functions' names.
_fill_holes = fill_holes
_largest_component = largest_component


def postprocess(
    mask: np.ndarray,
    *,
    min_size: int = 0,
    fill_holes: bool = False,
    largest_component: bool = False,
    neck: float = 0.0,
) -> np.ndarray:
    """Apply the annotators' clean-up steps in a fixed order: remove small objects, fill holes, keep the largest.

    Small objects go first so that specks do not count as objects; holes are filled before the largest object
    is chosen so that its size includes its holes.

    Parameters
    ----------
    mask : (H, W) ndarray of bool
    min_size : int
        See :func:`remove_small`; 0 = off.
    fill_holes : bool
        See :func:`fill_holes`.
    largest_component : bool
        See :func:`largest_component`.
    neck : float
        With ``largest_component``: cut objects at necks first (see :func:`largest_component`); 0 = off.

    Returns
    -------
    (H, W) ndarray of bool

    Examples
    --------
    >>> m = np.array([[1, 0, 1, 1, 1], [0, 0, 1, 0, 1], [0, 0, 1, 1, 1]], bool)
    >>> postprocess(m, min_size=2, fill_holes=True).astype(int).tolist()
    [[0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 1, 1, 1]]
    """
    if min_size > 1:
        mask = remove_small(mask, min_size)
    if fill_holes:
        mask = _fill_holes(mask)
    if largest_component:
        mask = _largest_component(mask, neck)
    return mask
