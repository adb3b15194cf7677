"""Objects brighter and darker than their background at once: the sign of images a level threshold cannot split.

Almost every kind of image has objects on one side of the background's level: nuclei brighter than the dark
field of a fluorescence image, white cells darker than a bright-field smear, a lesion darker than skin. Unstained
cells in phase contrast are different: a bright halo rings a dark body, both on a flat mid-grey medium, so the
objects hold the brightest and the darkest pixels of the image and no threshold of the grey level (in either
polarity) keeps them whole. What sets them apart from the medium is their texture, the local spread of grey
(the ``"texture"`` channel, :func:`~bootseg.annotators.channels.local_std`).

:func:`two_sidedness` measures it on one image without labels: the background level is the mode of the grey
histogram and its noise the median absolute deviation around that mode; the pixels more than :data:`SIGMAS`
noise widths below and above the level are the two tails, and the balance of the smaller tail to the larger is
the score (0: all contrast on one side; 1: as much on both). A set is two-sided (:func:`is_two_sided`) when at
least :data:`SHARE` of its images are balanced to at least :data:`BALANCE`; the ``auto`` channel then thresholds
the texture (:func:`~bootseg.annotators.channels.candidates_for`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .preprocess import check_range, to_grey

__all__ = ["BALANCE", "SHARE", "SIGMAS", "is_two_sided", "two_sided_share", "two_sidedness"]

#: How many noise widths (median absolute deviation around the background level, as a standard deviation) a pixel
#: must lie from the background's level to count in a tail.
SIGMAS = 3.0
#: An image is two-sided when its smaller tail holds at least this share of the larger one.
BALANCE = 0.3
#: A set is two-sided when at least this share of its images are.
SHARE = 0.5
_BINS = 256
_SMOOTH = 5
_MAD_TO_SIGMA = 1.4826


def two_sidedness(image: np.ndarray) -> float:
    """How evenly an image's contrast lies on both sides of its background's level: the smaller tail over the
    larger (0 to 1; 0 for a constant image or one without tails).

    Raises :class:`ValueError` for float values whose span no 256-bin histogram can cover
    (:func:`~bootseg.annotators.preprocess.check_range`).

    The background's level is the mode of a 256-bin histogram of grey (smoothed over 5 bins), its noise the
    median absolute deviation of grey from that level; a tail is the pixels more than :data:`SIGMAS` noise widths
    below (or above) the level.

    >>> rng = np.random.default_rng(0)
    >>> medium = rng.normal(100, 2, (64, 64))
    >>> halo = medium.copy(); halo[16:34, 16:34] = 140; halo[20:30, 20:30] = 60   # dark body, bright rim
    >>> glow = medium.copy(); glow[20:30, 20:30] = 160                           # a bright object alone
    >>> round(two_sidedness(halo), 2), round(two_sidedness(glow), 2)
    (0.45, 0.05)
    """
    grey = to_grey(np.asarray(image))
    check_range(grey)  # a span no histogram can cover is refused here, as a threshold would refuse it
    grey = grey.astype(np.float64, copy=False)
    low, high = float(grey.min()), float(grey.max())
    if high <= low:
        return 0.0
    counts, edges = np.histogram(grey, bins=_BINS, range=(low, high))
    smooth = np.convolve(counts, np.ones(_SMOOTH) / _SMOOTH, mode="same")
    peak = int(np.argmax(smooth))
    level = (edges[peak] + edges[peak + 1]) / 2
    deviation = grey - level
    noise = float(np.median(np.abs(deviation))) * _MAD_TO_SIGMA
    if noise <= 0:
        return 0.0
    dark = float(np.count_nonzero(deviation < -SIGMAS * noise))
    bright = float(np.count_nonzero(deviation > SIGMAS * noise))
    larger = max(dark, bright)
    return min(dark, bright) / larger if larger else 0.0


def two_sided_share(images: Sequence[np.ndarray]) -> float:
    """The share of ``images`` whose :func:`two_sidedness` reaches :data:`BALANCE` (0 for no images)."""
    images = list(images)
    if not images:
        return 0.0
    return sum(two_sidedness(image) >= BALANCE for image in images) / len(images)


def is_two_sided(images: Sequence[np.ndarray]) -> bool:
    """Whether at least :data:`SHARE` of ``images`` are two-sided (:func:`two_sided_share`)."""
    return bool(images) and two_sided_share(images) >= SHARE
