"""How thick the two classes of a mask are: the radius of each class's thicker parts.

The radius of a class is the 95th percentile, over its pixels, of the Euclidean distance to the nearest pixel of
the other class (:func:`scipy.ndimage.distance_transform_edt`): for a disc of radius ``r`` it is close to
``r (1 - sqrt(0.05))``, for a line ``w`` pixels wide close to ``w / 2``. The 95th percentile rather than the
maximum keeps one stray thick blob from deciding.

Two choices are made from it: the working size of the ``unet`` stage (:mod:`bootseg.refiners.scale`, from the
thinner class) and whether the ``auto`` first stage looks for the background as thin lines
(:mod:`bootseg.annotators.ridges`, from the ratio of the two).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

__all__ = ["class_radii"]


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
    mask = np.asarray(mask, dtype=bool)
    if mask.all() or not mask.any():
        return None
    inside = ndi.distance_transform_edt(mask)[mask]
    outside = ndi.distance_transform_edt(~mask)[~mask]
    return float(np.percentile(inside, 95)), float(np.percentile(outside, 95))
