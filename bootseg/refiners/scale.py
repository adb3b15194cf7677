"""The working size of the ``unet`` stage, chosen from the masks it learns from so that fine structures survive.

Squashing every image to a small working size (128² for the ``fast`` preset) is cheap and loses little when the
objects are large against the image (a white cell, a lesion). It loses the objects when they are small: nuclei of
a 1024² fluorescence field become one or two pixels, and the thin background between EM cells vanishes.

:func:`finest_radius` measures, on the masks themselves (no truth), how thick the thinner of the two classes is:
per mask, the 95th percentile of the distance to the other class over each class's pixels (the radius of its
thicker parts), the smaller of the two classes; then the median over the masks. :func:`working_size` enlarges
the working size until that radius is at least ``min_radius`` working pixels, up to the images' own size. The
network then trains on windows of the preset's size (``crop``), so a training step costs what it costs at the
small size; prediction runs on the whole image at the working size.

The default ``min_radius`` of 8 enlarges where squashing would leave a structure under 16 px across, so that a
network of depth 4 (four halvings) still sees each object at its coarsest level. It was set by measurement
(``docs/benchmarks.md``): the benchmark's nuclei (radius 9 px in 256² images, 4.5 px at 128) go to 240 px, where
the network kept what the per-object first stage found (chain 0.893 at 128 px, 0.909 at 240 px; U-Net trained on
the true masks 0.919). A first measurement with the older first stage had shown no gain at 240 px, and the
default was 4 until then. EM's background (3 px in the first stage's masks) takes the images' own size either way;
large objects (the white cells, the lesions) keep 128 px.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..thickness import class_radii, evenly_spaced

__all__ = ["MAX_SCALE_MASKS", "finest_radius", "working_size"]

#: At most this many masks, evenly spaced, are measured by :func:`finest_radius`.
MAX_SCALE_MASKS = 50


def finest_radius(masks: Sequence[np.ndarray]) -> float | None:
    """The radius, in the masks' own pixels, of the thinner class: see the module's description.

    Masks holding one class only are skipped; None when no mask holds both.

    Examples
    --------
    >>> mask = np.zeros((64, 64), bool); mask[20:44, 20:44] = True        # a 24-px square
    >>> finest_radius([mask])
    10.0
    """
    radii = [min(pair) for pair in map(class_radii, evenly_spaced(masks, MAX_SCALE_MASKS)) if pair is not None]
    return float(np.median(radii)) if radii else None


def working_size(sides: Sequence[int], radius: float | None, *, size: int, min_radius: float, multiple: int) -> int:
    """The working size: ``size``, or larger so that ``radius`` (native pixels) keeps ``min_radius`` pixels.

    Parameters
    ----------
    sides : sequence of int
        The longer side of each image; their median is the images' own size.
    radius : float or None
        :func:`finest_radius` of the masks (None: nothing to keep, the size stays ``size``).
    size : int
        The smallest working size (the preset's).
    min_radius : float
        Working pixels the finest radius must keep; 0 keeps ``size``.
    multiple : int
        The working size is rounded up to a multiple of this (``2**depth``).

    Returns
    -------
    int
        At least ``size``, at most the images' own size rounded up to ``multiple``.

    Examples
    --------
    >>> working_size([256] * 4, 9.0, size=128, min_radius=8, multiple=16)     # nuclei of radius 9, 256² images
    240
    >>> working_size([256] * 4, 3.0, size=128, min_radius=8, multiple=16)     # EM's thin background: native
    256
    >>> working_size([256] * 4, 40.0, size=128, min_radius=8, multiple=16)    # large objects: 128 is enough
    128
    """
    if min_radius <= 0 or radius is None or radius <= 0 or not sides:
        return size
    native = float(np.median(sides))
    wanted = native * min(1.0, min_radius / radius)
    return max(size, multiple * math.ceil(wanted / multiple))
