"""Exact, fast k-means on grey levels: Lloyd's algorithm on the histogram instead of on the pixels.

In one dimension every k-means cluster is an interval of grey levels, so a partition is given by ``k - 1``
cut points and the sums a Lloyd step needs (pixel count and sum of values of each cluster) are differences
of cumulative sums over the histogram. A step therefore costs O(k log B) for B histogram bins, however many pixels
there are, and the result is the one Lloyd's algorithm gives on the pixels from the same start:

- integer images up to 16 bits: one bin per grey level (256 for uint8, at most 65536 for uint16), exact;
- float images: 16384 equal bins between the minimum and the maximum (1/64 of a grey level for colour images
  converted from 8 bits), each represented by the mean of its pixels
  (its sum is kept too). Only a bin that straddles a cluster boundary is assigned as a whole
  while iterating; the final per-pixel labels compare every pixel's own value with the boundaries.

Two deterministic starts are run, centres at the weighted quantiles ``(j + 0.5) / k`` and centres evenly spaced
between the minimum and the maximum, each to convergence (the partition stops changing); the one with the lower
inertia (within-cluster sum of squares) wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

__all__ = ["FLOAT_BINS", "GreyHistogram", "KMeans1D", "grey_histogram", "kmeans_1d", "kmeans_grey"]

#: Number of bins for float grey images.
FLOAT_BINS = 16384
_MAX_ITER = 1000


@dataclass(frozen=True)
class GreyHistogram:
    """Non-empty histogram bins, ascending: representative value, pixel count and sum of the pixel values, and the
    sum of the squares of all pixel values (for the inertia).

    Values are in units of ``offset + scale * value``: native (0, 1) for integer images; for float images
    ``(grey - min) / (max - min)``, so that sums and squares never overflow whatever the magnitude of the values.
    """

    values: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    square_total: float
    offset: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True)
class KMeans1D:
    """A converged 1-D k-means: ascending ``centres`` of the non-empty clusters and the ``thresholds`` between.

    A value ``v`` belongs to cluster ``np.searchsorted(thresholds, v)`` (a value equal to a threshold goes to the
    darker cluster). ``counts`` is the weight of each cluster, ``inertia`` the within-cluster sum of squares.
    """

    centres: np.ndarray
    thresholds: np.ndarray
    counts: np.ndarray
    inertia: float
    iterations: int


def grey_histogram(grey: np.ndarray) -> GreyHistogram:
    """The histogram k-means works on (see the module notes for the bins).

    Parameters
    ----------
    grey : (H, W) ndarray
        Integer (at most 16 bits) or float grey image.

    Returns
    -------
    GreyHistogram

    Examples
    --------
    >>> h = grey_histogram(np.array([[0, 0], [3, 3]], np.uint8))
    >>> h.values.tolist(), h.counts.tolist()
    ([0.0, 3.0], [2.0, 2.0])
    """
    flat = grey.ravel()
    if grey.dtype.kind in "iu" and grey.dtype.itemsize <= 2:
        low = int(flat.min())
        index = flat if low == 0 and grey.dtype == np.uint8 else flat.astype(np.intp) - low
        counts = np.bincount(index).astype(np.float64)
        bins = np.flatnonzero(counts > 0)  # of bools: much faster than of counts
        values = (bins + low).astype(np.float64)
        counts = counts[bins]
        return GreyHistogram(values, counts, values * counts, float(np.sum(values * values * counts)))
    flat = flat.astype(np.float64, copy=False)
    low, high = float(flat.min()), float(flat.max())
    span = high - low if high > low else 1.0
    unit = flat - low
    unit /= span  # in [0, 1]
    index = (unit * FLOAT_BINS).astype(np.intp)
    np.minimum(index, FLOAT_BINS - 1, out=index)
    counts = np.bincount(index, minlength=FLOAT_BINS)
    sums = np.bincount(index, weights=unit, minlength=FLOAT_BINS)
    bins = np.flatnonzero(counts > 0)
    counts = counts[bins].astype(np.float64)
    values = np.clip(sums[bins] / counts, 0.0, 1.0)
    return GreyHistogram(values, counts, sums[bins], float(np.einsum("i,i->", unit, unit)), low, span)


def _cumsum0(values: np.ndarray) -> np.ndarray:
    """``[0, values[0], values[0] + values[1], ...]``."""
    out = np.empty(values.size + 1)
    out[0] = 0.0
    np.cumsum(values, out=out[1:])
    return out


class _Prefix:
    """Cumulative sums of a histogram, so that any interval's count and sum cost O(1)."""

    def __init__(self, hist: GreyHistogram) -> None:
        self.values = hist.values
        self.counts = _cumsum0(hist.counts)
        self.sums = _cumsum0(hist.sums)
        self.square_total = hist.square_total

    def stats(self, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = bounds[:-1], bounds[1:]
        return self.counts[hi] - self.counts[lo], self.sums[hi] - self.sums[lo]


def _lloyd(prefix: _Prefix, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    # bins [bounds[j], bounds[j + 1]) form cluster j; the arithmetic is NumPy's element-wise float64 arithmetic, done
    # on Python floats: with a handful of clusters a step costs a few microseconds instead of a dozen NumPy calls
    values, counts, sums = prefix.values, prefix.counts, prefix.sums
    centre = [float(c) for c in centres]
    last = [values.size]

    def cuts() -> list[int]:
        thresholds = [(a + b) / 2 for a, b in pairwise(centre)]
        return [0, *np.searchsorted(values, thresholds, side="right").tolist(), *last]

    bounds = cuts()
    for iteration in range(1, _MAX_ITER + 1):
        for j in range(len(centre)):
            lo, hi = bounds[j], bounds[j + 1]
            count = float(counts[hi] - counts[lo])
            if count > 0:
                centre[j] = float(sums[hi] - sums[lo]) / count
        new_bounds = cuts()
        if new_bounds == bounds:
            return np.array(centre), np.array(bounds), iteration
        bounds = new_bounds
    return np.array(centre), np.array(bounds), _MAX_ITER


def _starts(hist: GreyHistogram, k: int, prefix: _Prefix) -> list[np.ndarray]:
    quantiles = (np.arange(k) + 0.5) / k * hist.counts.sum()
    at = np.minimum(np.searchsorted(prefix.counts[1:], quantiles), hist.values.size - 1)
    low, high = hist.values[0], hist.values[-1]
    return [hist.values[at], low + (np.arange(k) + 0.5) / k * (high - low)]


def kmeans_1d(hist: GreyHistogram, k: int) -> KMeans1D:
    """Weighted Lloyd's algorithm on histogram bins, from the two deterministic starts; the lower inertia wins.

    Parameters
    ----------
    hist : GreyHistogram
        From :func:`grey_histogram` (values ascending, counts > 0). The result is in native grey units.
    k : int
        Number of clusters, at least 2. Clusters left empty (fewer distinct values than ``k``) are dropped.

    Returns
    -------
    KMeans1D

    Examples
    --------
    >>> h = grey_histogram(np.array([[0, 1], [9, 10]], np.uint8))
    >>> kmeans_1d(h, 2).centres.tolist()
    [0.5, 9.5]
    """
    prefix = _Prefix(hist)
    results = [_converge(prefix, start) for start in _starts(hist, k, prefix)]
    best = min(results, key=lambda result: result.inertia)
    if hist.offset == 0.0 and hist.scale == 1.0:
        return best
    centres = hist.offset + hist.scale * best.centres
    thresholds = hist.offset + hist.scale * best.thresholds
    inertia = best.inertia * hist.scale * hist.scale
    return KMeans1D(centres, thresholds, best.counts, inertia, best.iterations)


def _converge(prefix: _Prefix, start: np.ndarray) -> KMeans1D:
    centres, bounds, iterations = _lloyd(prefix, start)
    counts, sums = prefix.stats(bounds)
    keep = counts > 0
    counts, sums, centres = counts[keep], sums[keep], centres[keep]
    # within-cluster sum of squares = total sum of squares - sum over clusters of count * centre ** 2
    inertia = max(prefix.square_total - float(np.sum(sums * sums / counts)), 0.0)
    return KMeans1D(centres, (centres[:-1] + centres[1:]) / 2, counts, inertia, iterations)


def kmeans_grey(grey: np.ndarray, k: int) -> tuple[np.ndarray, KMeans1D]:
    """Cluster the grey levels of an image into ``k`` clusters and label every pixel.

    Parameters
    ----------
    grey : (H, W) ndarray
        Integer (at most 16 bits) or float grey image.
    k : int
        Number of clusters, at least 2.

    Returns
    -------
    labels : (H, W) ndarray of intp
        Cluster of each pixel, 0 the darkest.
    result : KMeans1D
        Centres and thresholds; ``counts`` are the exact pixel counts of the labels.

    Examples
    --------
    >>> labels, result = kmeans_grey(np.array([[0, 1], [9, 10]], np.uint8), 2)
    >>> labels.tolist(), result.thresholds.tolist()
    ([[0, 0], [1, 1]], [5.0])
    """
    result = kmeans_1d(grey_histogram(grey), k)
    if result.thresholds.size == 1:
        labels = (grey > result.thresholds[0]).astype(np.intp)
    else:
        labels = np.searchsorted(result.thresholds, grey, side="left")
    counts = np.bincount(labels.ravel(), minlength=result.centres.size).astype(np.float64)
    return labels, KMeans1D(result.centres, result.thresholds, counts, result.inertia, result.iterations)
