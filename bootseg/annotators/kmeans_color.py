"""k-means on colour vectors, fast: cluster a quantised colour histogram, then assign every pixel.

Each channel is cut into 32 equal steps between its minimum and maximum, so the image falls into at most
32 ** 3 colour cells; each non-empty cell is represented by the mean colour of its pixels and weighted by their
number (all in units of the largest channel range, shifted to start at 0, so that no square overflows).
Weighted Lloyd's algorithm runs on these few thousand cells (from three weighted k-means++ starts drawn
with ``numpy.random.default_rng(seed)``, so the result is deterministic for a seed), keeps the start with the lowest
inertia, and finally gives every pixel the cluster of the nearest centre (Euclidean distance on its own colour).
"""

from __future__ import annotations

import numpy as np

__all__ = ["COLOUR_LEVELS", "kmeans_color"]

#: Quantisation steps per channel.
COLOUR_LEVELS = 32
_N_INIT = 3
_MAX_ITER = 300


def _cells(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Representative colours (M, C) and pixel counts (M,) of the non-empty quantisation cells of (C, N) planes."""
    channels = planes.shape[0]
    cell = np.zeros(planes.shape[1], np.intp)
    for plane in planes:
        low, high = plane.min(), plane.max()
        scale = COLOUR_LEVELS / (high - low) if high > low else 0.0
        step = ((plane - low) * scale).astype(np.intp)
        np.minimum(step, COLOUR_LEVELS - 1, out=step)
        cell *= COLOUR_LEVELS
        cell += step
    size = COLOUR_LEVELS**channels
    counts = np.bincount(cell, minlength=size)
    used = np.flatnonzero(counts)
    sums = np.stack([np.bincount(cell, weights=plane, minlength=size)[used] for plane in planes], 1)
    weights = counts[used].astype(np.float64)
    return sums / weights[:, None], weights


def _sq_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(M, K) squared distances, summed channel by channel (no BLAS, exact for small values)."""
    distances = np.zeros((points.shape[0], centres.shape[0]))
    for channel in range(points.shape[1]):
        difference = points[:, channel, None] - centres[None, :, channel]
        distances += difference * difference
    return distances


def _kmeanspp(points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    chosen = [int(rng.choice(points.shape[0], p=weights / weights.sum()))]
    nearest = _sq_distances(points, points[chosen])[:, 0]
    for _ in range(1, k):
        mass = weights * nearest
        total = mass.sum()
        index = int(rng.choice(points.shape[0], p=mass / total)) if total > 0 else int(np.argmax(weights))
        chosen.append(index)
        nearest = np.minimum(nearest, _sq_distances(points, points[index : index + 1])[:, 0])
    return points[chosen].copy()


def _lloyd(points: np.ndarray, weights: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    labels = np.full(points.shape[0], -1)
    for _ in range(_MAX_ITER):
        distances = _sq_distances(points, centres)
        new_labels = distances.argmin(1)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
        mass = np.bincount(labels, weights=weights, minlength=centres.shape[0])
        for channel in range(points.shape[1]):
            sums = np.bincount(labels, weights=weights * points[:, channel], minlength=centres.shape[0])
            centres[:, channel] = np.where(mass > 0, sums / np.where(mass > 0, mass, 1.0), centres[:, channel])
    inertia = float((weights * distances[np.arange(points.shape[0]), labels]).sum())
    return centres, labels, inertia


def kmeans_color(colour: np.ndarray, k: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the colours of an image into ``k`` clusters and label every pixel.

    Parameters
    ----------
    colour : (H, W, C) ndarray of float
        The colour channels in native units (:func:`~bootseg.annotators.preprocess.to_colour`).
    k : int
        Number of clusters, at least 2. With fewer distinct colour cells than ``k`` every cell is its own cluster.
    seed : int
        Seed of the k-means++ starts.

    Returns
    -------
    labels : (H, W) ndarray of intp
        Cluster of each pixel, in ``0 .. len(centres) - 1``.
    centres : (K, C) ndarray of float64
        The cluster centres (``K <= k``: clusters left empty are dropped).

    Examples
    --------
    >>> image = np.zeros((4, 4, 3)); image[:2] = [200.0, 10.0, 10.0]
    >>> labels, centres = kmeans_color(image, 2)
    >>> int(labels[0, 0] != labels[3, 3]), centres.shape
    (1, (2, 3))
    """
    planes = np.array(colour.reshape(-1, colour.shape[-1]).T, dtype=np.float64)
    # one shift per channel and one common scale: distances keep their geometry, squares cannot overflow
    low = np.array([plane.min() for plane in planes])  # per row: much faster than min(axis=1) in NumPy 2.x
    planes -= low[:, None]
    scale = float(planes.max()) or 1.0
    planes /= scale
    points, weights = _cells(planes)
    if points.shape[0] <= k:
        centres = points
    else:
        rng = np.random.default_rng(seed)
        runs = [_lloyd(points, weights, _kmeanspp(points, weights, k, rng)) for _ in range(_N_INIT)]
        centres, cell_labels, _ = min(runs, key=lambda run: run[2])
        centres = centres[np.bincount(cell_labels, minlength=k) > 0]
    return _nearest(planes, centres).reshape(colour.shape[:2]), low + scale * centres


def _nearest(planes: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for every pixel of (C, N) planes (ties: the lower index)."""
    # |x - c|^2 = |x|^2 - 2 x.c + |c|^2, and |x|^2 is the same for every centre; channel by channel, no BLAS.
    score = np.empty((centres.shape[0], planes.shape[1]))
    for index, centre in enumerate(centres):
        score[index] = float(np.sum(centre * centre))
        for value, plane in zip(centre, planes, strict=True):
            score[index] -= (2.0 * value) * plane
    if centres.shape[0] == 2:
        return (score[1] < score[0]).astype(np.intp)
    return score.argmin(0)
