"""How thick the two classes of a mask are: the radius of each class's thicker parts.

The radius of a class is the 95th percentile, over its pixels, of the Euclidean distance to the nearest pixel of
the other class (OpenCV's exact Euclidean distance transform, in float32: a fraction of the memory of
:func:`scipy.ndimage.distance_transform_edt` on large masks, and the same distances to 1e-7): for a disc of radius
``r`` it is close to ``r (1 - sqrt(0.05))``, for a line ``w`` pixels wide close to ``w / 2``. The 95th percentile
rather than the maximum keeps one stray thick blob from deciding.

Three choices are made from it: the working size of the ``unet`` stage (:mod:`bootseg.refiners.scale`, from the
thinner class); from the ratio of the two (:func:`thin_background`), whether the ``auto`` first stage looks for
the background as thin lines (:mod:`bootseg.annotators.ridges`) and which class the confidence score judges
(:mod:`bootseg.confidence`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import numpy as np

__all__ = [
    "MAX_MEASURED_MASKS",
    "THIN_RATIO",
    "class_radii",
    "evenly_spaced",
    "median_of_radii",
    "median_radii",
    "thin_background",
]


T = TypeVar("T")


def class_radii(mask: np.ndarray) -> tuple[float, float] | None:
    """The radius of the objects and the radius of the background of one mask, in pixels.

    Parameters
    ----------
    mask : (H, W) array_like of bool

    Returns
    -------
    (objects, background) : tuple of float, or None when the mask holds one class only

    Examples
    --------
    >>> mask = np.zeros((40, 40), bool); mask[:, :30] = True          # a 30-px band, then 10 px of background
    >>> class_radii(mask)
    (29.0, 10.0)
    """
    import cv2

    mask = np.asarray(mask, dtype=bool)
    if mask.all() or not mask.any():
        return None
    pixels = mask.view(np.uint8)
    inside = cv2.distanceTransform(pixels, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[mask]
    outside = cv2.distanceTransform(1 - pixels, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[~mask]
    return float(np.percentile(inside, 95)), float(np.percentile(outside, 95))


def evenly_spaced(items: Sequence[T], limit: int) -> list[T]:
    """``items`` as a list, or ``limit`` of them evenly spaced (first and last included) when there are more.

    >>> tuple(int(a[0]) for a in evenly_spaced([np.array([i]) for i in range(10)], 4))
    (0, 3, 6, 9)
    """
    items = list(items)
    if len(items) <= limit:
        return items
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, limit).round()]


#: At most this many masks, evenly spaced, are measured by :func:`median_radii`.
MAX_MEASURED_MASKS = 50


def median_radii(masks: Sequence[np.ndarray]) -> tuple[float, float, float] | None:
    """The medians over masks of the objects' radius, the background's radius and their ratio (background over
    objects), from :func:`class_radii`.

    At most :data:`MAX_MEASURED_MASKS` masks, evenly spaced, are measured; masks with one class only are skipped;
    None when none holds both.

    Examples
    --------
    >>> mask = np.zeros((40, 40), bool); mask[:, :30] = True
    >>> median_radii([mask, np.ones((4, 4), bool)])
    (29.0, 10.0, 0.3448275862068966)
    """
    return median_of_radii(map(class_radii, evenly_spaced(masks, MAX_MEASURED_MASKS)))


def median_of_radii(radii: Iterable[tuple[float, float] | None]) -> tuple[float, float, float] | None:
    """:func:`median_radii` from radii already measured (:func:`class_radii` of each mask; None entries skipped).

    >>> median_of_radii([(20.0, 10.0), None, (10.0, 30.0)])   # ratios 0.5 and 3
    (15.0, 20.0, 1.75)
    """
    pairs = [pair for pair in radii if pair is not None]
    if not pairs:
        return None
    objects, background = np.median(pairs, axis=0)
    ratio = np.median([b / o for o, b in pairs])
    return float(objects), float(background), float(ratio)


#: :func:`thin_background` holds when the background's radius is below this share of the objects' radius.
THIN_RATIO = 0.5


def thin_background(ratio: float | None) -> bool:
    """Whether masks whose median background-to-objects radius ratio (:func:`median_radii`) is ``ratio`` show
    objects packed edge to edge, separated by thin lines of background.

    True when the background's radius is below :data:`THIN_RATIO` (0.5) of the objects'. The value was set
    between the benchmark data sets: EM cells 0.25; nuclei, lesions and white cells 1.4 or more.

    >>> thin_background(0.25), thin_background(1.4), thin_background(None)
    (True, False, False)
    """
    return ratio is not None and ratio < THIN_RATIO
