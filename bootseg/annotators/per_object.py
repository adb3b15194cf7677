"""Each object's own threshold: split the grey levels again in a narrow neighbourhood of every object.

One threshold for the whole image puts every outline at the same grey level. Blurred objects of different
brightness then come out the wrong size: the bright nuclei of a fluorescence image too large (their halo is above
the level), the dim ones too small. :func:`rethreshold_objects` keeps the objects the global threshold found and
moves each outline to the split of the grey levels around that object alone: the pixels within ``grow`` pixels of
the object and nearer to it than to any other object (a Voronoi cell of the objects, cut at ``grow``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import numpy as np
from scipy import ndimage as ndi

__all__ = ["MIN_REGION", "rethreshold_objects"]

#: Neighbourhoods with fewer pixels than this keep their object as it is.
MIN_REGION = 16


def rethreshold_objects(
    data: np.ndarray, mask: np.ndarray, grow: float, split: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Move each object's outline to the split of the grey levels in its own neighbourhood.

    Parameters
    ----------
    data : (H, W) ndarray
        The channel the objects were found in.
    mask : (H, W) ndarray of bool
        The objects (4-connected components).
    grow : float
        How far, in pixels, the neighbourhood reaches out from the object; 0 or less returns ``mask``.
    split : callable
        Takes the 1-D values of one neighbourhood and returns a bool array of the same length, True on the
        object's side (e.g. ``lambda v: v > threshold_otsu(v)``). It may raise ``ValueError`` for values it
        cannot split (too few levels); that object is then kept as it is, as is one whose neighbourhood has
        fewer than :data:`MIN_REGION` pixels or a single value.

    Returns
    -------
    (H, W) ndarray of bool
        The union over objects of the pixels on the object's side in its neighbourhood. Holes are not filled
        here.

    Examples
    --------
    >>> grey = np.zeros((20, 40))
    >>> grey[4:16, 4:16] = 40; grey[5:15, 5:15] = 100     # a bright square with a one-pixel halo at 40
    >>> grey[4:16, 24:36] = 8; grey[5:15, 25:35] = 20     # a dim square with its halo at 8
    >>> found = grey > 15                                   # one level for both: the bright halo is taken
    >>> local = rethreshold_objects(grey, found, 3, lambda v: v > (v.min() + v.max()) / 2)
    >>> int(found.sum()), int(local.sum())                  # each square alone: 2 x 100 pixels
    (244, 200)
    """
    mask = np.asarray(mask, dtype=bool)
    if grow <= 0 or not mask.any():
        return mask.copy()
    labels, _ = ndi.label(mask)
    distance, nearest = ndi.distance_transform_edt(~mask, return_indices=True)
    owner = np.where(distance <= grow, labels[tuple(nearest)], 0)
    out = np.zeros(mask.shape, bool)
    for index, box in enumerate(ndi.find_objects(owner), start=1):
        if box is None:
            continue
        region = owner[box] == index
        values = data[box][region]
        kept = labels[box][region] == index
        if values.size >= MIN_REGION and values.min() != values.max():
            with contextlib.suppress(ValueError):  # too few levels to split: the object as found (documented)
                kept = np.asarray(split(values), dtype=bool)
        out[box][region] |= kept
    return out
