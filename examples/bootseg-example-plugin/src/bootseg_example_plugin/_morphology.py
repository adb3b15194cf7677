"""Mask clean-up steps shared by both stages."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi


def disk(radius: int) -> np.ndarray:
    """A ``(2r+1, 2r+1)`` uint8 disc-shaped structuring element."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def open_close(mask: np.ndarray, *, opening: int, closing: int) -> np.ndarray:
    """Opening (removes specks and thin spurs), then closing (bridges gaps), with discs of the given radii.

    OpenCV treats pixels beyond the border as neutral, so objects touching the border do not shrink.
    """
    data = mask.view(np.uint8)
    if opening:
        data = cv2.morphologyEx(data, cv2.MORPH_OPEN, disk(opening))
    if closing:
        data = cv2.morphologyEx(data, cv2.MORPH_CLOSE, disk(closing))
    return data.astype(bool)


def clean(mask: np.ndarray, *, fill_holes: bool, min_size: int, largest: bool = False) -> np.ndarray:
    """Fill holes, drop 4-connected objects under ``min_size`` pixels, and optionally keep the largest."""
    if fill_holes:
        mask = ndi.binary_fill_holes(mask)
    if (min_size > 1 or largest) and mask.any():
        labels, _ = ndi.label(mask)
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        keep = sizes >= max(min_size, 1)
        if largest:
            keep = np.zeros_like(keep)
            keep[int(np.argmax(sizes))] = sizes.max() >= max(min_size, 1)
        mask = keep[labels]
    return np.asarray(mask, bool)
