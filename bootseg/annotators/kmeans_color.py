"""k-means on colour vectors, fast: cluster a quantised colour histogram, then assign every pixel.

Each channel is cut into 32 equal steps between its minimum and maximum, so the image falls into at most
32 ** 3 colour cells; each non-empty cell is represented by the mean colour of its pixels and weighted by their
number (all in units of the largest channel range, shifted to start at 0, so that no square overflows).
Weighted Lloyd's algorithm then runs coarse to fine:

1. the cells are merged into 8 steps per channel (at most 512 cells, about a hundred on real images) and Lloyd's
   algorithm runs there from three weighted k-means++ starts, all three at once (drawn with
   ``numpy.random.default_rng(seed)``, so the result is deterministic for a seed); the start with the lowest
   inertia wins;
2. its centres start Lloyd's algorithm on the 32-step cells, which settles in a few iterations;
3. every pixel gets the cluster of the nearest centre (Euclidean distance on its own colour; ties go to the lower
   index). With ``k = 2`` that is one linear test per pixel.

Only three passes read the pixels (quantisation, the cells' sums, the final test), chunk by chunk and without a
float copy of the image: 8-bit channels through a 256-entry table each, other dtypes converted chunk by chunk with
the same float64 arithmetic, so an 8-bit image and its float64 copy give the same result. The rest works on the
cells, whose number does not grow with the image.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

__all__ = ["COARSE_LEVELS", "COLOUR_LEVELS", "kmeans_color"]

#: Quantisation steps per channel.
COLOUR_LEVELS = 32
#: Steps per channel of the coarse cells that the k-means++ starts run on (a divisor of ``COLOUR_LEVELS``).
COARSE_LEVELS = 8
_N_INIT = 3
_MAX_ITER = 300
_UINT8_VALUES = 256
#: Pixels per chunk: the buffers of a pass over the pixels stay small, whatever the image size.
_CHUNK = 16384
_CV2_MAX_CHANNELS = 4


class _Cells:
    """Non-empty quantisation cells: mean colours ``points`` (C, M) in unit space, pixel counts ``weights`` (M,) and
    each cell's step in every channel, ``steps`` (C, M)."""

    def __init__(self, points: np.ndarray, weights: np.ndarray, steps: np.ndarray) -> None:
        self.points = points
        self.weights = weights
        self.steps = steps
        self.moments = np.vstack([weights, weights * points])  # (1 + C, M): the sums one Lloyd step needs

    @property
    def size(self) -> int:
        return self.weights.size

    def merged(self, levels: int) -> _Cells:
        """The same pixels in cells of ``levels`` steps per channel (exact means and counts)."""
        channels = self.points.shape[0]
        index = _cell_index(self.steps // (COLOUR_LEVELS // levels), levels)
        used, inverse = _compact(index, levels**channels)
        sums = _bincount_rows(inverse, used.size, self.moments)
        return _Cells(sums[1:] / sums[0], sums[0], _digits(used, levels, channels))


def _cell_index(steps: np.ndarray, levels: int) -> np.ndarray:
    """The cell index of (C, M) steps: channel 0 is the most significant digit in base ``levels``."""
    index = steps[0].copy()
    for row in steps[1:]:
        index *= levels
        index += row
    return index


def _digits(index: np.ndarray, levels: int, channels: int) -> np.ndarray:
    """(C, M) steps of cell indices (the inverse of :func:`_cell_index`)."""
    steps = np.empty((channels, index.size), np.intp)
    for channel in range(channels - 1, -1, -1):
        index, steps[channel] = np.divmod(index, levels)
    return steps


def _compact(index: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``index`` (in ``0 .. size - 1``), ascending, and each entry's position among them."""
    used = np.flatnonzero(np.bincount(index, minlength=size) > 0)  # of bools: much faster than of counts
    position = np.zeros(size, np.intp)
    position[used] = np.arange(used.size)
    return used, position.take(index)


def _bincount_rows(index: np.ndarray, size: int, rows: np.ndarray) -> np.ndarray:
    """``np.stack([np.bincount(index, weights=row, minlength=size) for row in rows])``, in one bincount."""
    shifted = index + (size * np.arange(rows.shape[0]))[:, None]
    return np.bincount(shifted.ravel(), weights=rows.ravel(), minlength=size * rows.shape[0]).reshape(-1, size)


class _Pixels:
    """The pixels' colours in unit space, ``(value - low) / scale`` per channel, read in chunks."""

    def __init__(self, colour: np.ndarray) -> None:
        flat = colour.reshape(-1, colour.shape[-1])
        if flat.dtype == np.uint8 and flat.shape[1] <= _CV2_MAX_CHANNELS:
            import cv2

            # contiguous planes (a third of the image's bytes each) make every later pass faster
            self.planes = [plane.reshape(-1) for plane in cv2.split(np.ascontiguousarray(colour))]
        else:
            self.planes = [flat[:, channel] for channel in range(flat.shape[1])]  # strided views, no copy
        self.size = flat.shape[0]
        self.low = np.array([float(plane.min()) for plane in self.planes])
        span = np.array([float(plane.max()) for plane in self.planes]) - self.low
        # one shift per channel and one common scale: distances keep their geometry, squares cannot overflow
        self.scale = float(span.max()) or 1.0
        self.factors = [COLOUR_LEVELS / width if width > 0 else 0.0 for width in span / self.scale]
        self.tables: list[np.ndarray] | None = None
        if flat.dtype == np.uint8:
            values = np.arange(_UINT8_VALUES, dtype=np.float64)
            self.tables = [(values - low) / self.scale for low in self.low]

    def chunks(self) -> Iterator[slice]:
        return (slice(start, min(start + _CHUNK, self.size)) for start in range(0, self.size, _CHUNK))

    def unit(self, channel: int, part: slice, weight: float = 1.0) -> np.ndarray:
        """``weight`` times the unit-space values of one channel over ``part``."""
        plane = self.planes[channel][part]
        if self.tables is not None:
            return (self.tables[channel] * weight).take(plane)
        out = np.subtract(plane, self.low[channel], dtype=np.float64)
        out /= self.scale
        if weight != 1.0:
            out *= weight
        return out

    def linear(self, weights: np.ndarray, part: slice) -> np.ndarray:
        """``sum(weights[c] * unit(c))`` over ``part``, summed in channel order."""
        total = self.unit(0, part, float(weights[0]))
        for channel in range(1, len(self.planes)):
            total += self.unit(channel, part, float(weights[channel]))
        return total

    def cell(self, part: slice) -> np.ndarray:
        """The fine cell of every pixel of ``part`` (see :func:`_cell_index`)."""
        cell = step = None
        for channel, factor in enumerate(self.factors):
            radix = COLOUR_LEVELS ** (len(self.planes) - 1 - channel)
            if self.tables is not None:
                step = (_steps(self.tables[channel], factor) * radix).take(self.planes[channel][part], out=step)
            else:
                step = _steps(self.unit(channel, part), factor, out=step)
                step *= radix
            if cell is None:
                cell, step = step, None
            else:
                cell += step
        assert cell is not None
        return cell

    def cells(self) -> _Cells:
        """The non-empty fine cells: exact mean colours and pixel counts."""
        channels = len(self.planes)
        size = COLOUR_LEVELS**channels
        parts = list(self.chunks())
        if len(parts) == 1:
            cells = self.cell(parts[0])
            counts = np.bincount(cells, minlength=size)
        else:  # the cells of every pixel as uint16, the pixel-sized intp index only chunk by chunk
            counts = np.zeros(size, np.intp)
            cells = np.empty(self.size, np.uint16 if size <= 2**16 else np.intp)
            for part in parts:
                cells[part] = cell = self.cell(part)
                counts += np.bincount(cell, minlength=size)
        used = np.flatnonzero(counts > 0)  # of bools: much faster than of counts
        position = np.zeros(size, np.intp)
        position[used] = np.arange(used.size)
        weights = counts[used].astype(np.float64)
        sums = np.zeros((channels, used.size))
        for part in parts:
            index = position.take(cells[part] if len(parts) > 1 else cells)
            for channel in range(channels):
                sums[channel] += np.bincount(index, weights=self.unit(channel, part), minlength=used.size)
        return _Cells(sums / weights, weights, _digits(used, COLOUR_LEVELS, channels))

    def nearest(self, centres: np.ndarray) -> np.ndarray:
        """(N,) index of the nearest of (K, C) centres for every pixel; ties go to the lower index."""
        squares = np.sum(centres * centres, axis=1)
        labels = np.empty(self.size, np.intp)
        for part in self.chunks():
            if centres.shape[0] == 2:
                # centre 1 wins where 2 x.(c1 - c0) > |c1|^2 - |c0|^2
                labels[part] = self.linear(2.0 * (centres[1] - centres[0]), part) > squares[1] - squares[0]
            else:
                scores = np.stack([squares[i] - self.linear(2.0 * centres[i], part) for i in range(len(centres))])
                labels[part] = _argmin(scores)
        return labels


def _steps(unit: np.ndarray, factor: float, out: np.ndarray | None = None) -> np.ndarray:
    """The quantisation steps ``min(floor(unit * factor), COLOUR_LEVELS - 1)``, as intp."""
    step = np.multiply(unit, factor, out=np.empty(unit.shape, np.intp) if out is None else out, casting="unsafe")
    return np.minimum(step, COLOUR_LEVELS - 1, out=step)


def _argmin(scores: np.ndarray) -> np.ndarray:
    """``scores.argmin(axis=0)`` for a few rows (ties: the lower row), without NumPy's slow small-axis argmin."""
    labels = np.zeros(scores.shape[1:], np.intp)
    best = scores[0]
    for row in range(1, scores.shape[0]):
        np.copyto(labels, row, where=scores[row] < best)
        best = np.minimum(best, scores[row])
    return labels


def _labels(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(R, M) nearest of each run's centres for (C, M) points, with (C, R, K) centres; ties: the lower index.

    ``|x - c|^2 = |x|^2 - 2 x.c + |c|^2`` and ``|x|^2`` is the same for every centre (no BLAS).
    """
    scores = np.einsum("crk,crk->kr", centres, centres)[:, :, None] - 2.0 * np.einsum("crk,cm->krm", centres, points)
    return _argmin(scores)


def _kmeanspp(cells: _Cells, k: int, runs: int, rng: np.random.Generator) -> np.ndarray:
    """(C, runs, k) weighted k-means++ starts, drawn for all runs at once."""
    points, weights = cells.points, cells.weights
    chosen = [np.searchsorted(np.cumsum(weights), rng.random(runs) * weights.sum(), side="right")]
    nearest = None
    for _ in range(1, k):
        difference = points[:, None, :] - points[:, np.minimum(chosen[-1], cells.size - 1), None]
        distance = np.einsum("crm,crm->rm", difference, difference)
        nearest = distance if nearest is None else np.minimum(nearest, distance)
        mass = np.cumsum(weights * nearest, axis=1)
        draw = rng.random(runs) * mass[:, -1]
        index = np.array([np.searchsorted(mass[run], draw[run], side="right") for run in range(runs)])
        chosen.append(np.where(mass[:, -1] > 0, index, int(np.argmax(weights))))
    return points[:, np.minimum(np.stack(chosen, axis=1), cells.size - 1)]


def _lloyd(cells: _Cells, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Lloyd's algorithm for R sets of K centres, (C, R, K), at once, until no cell changes cluster in any.

    Returns the centres (C, R, K) and each run's inertia (R,). A cluster left empty keeps its centre.
    """
    k = centres.shape[2]
    centres = centres.copy()
    clusters = np.arange(k)[None, :, None]
    labels = None
    for _ in range(_MAX_ITER):
        new_labels = _labels(cells.points, centres)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        # each cluster's weight and weighted sums: one product with the one-hot labels, not a bincount (whose adds
        # into a few bins wait on each other)
        sums = np.einsum("jm,rkm->jrk", cells.moments, (labels[:, None, :] == clusters).astype(np.float64))
        np.divide(sums[1:], sums[0], out=centres, where=sums[0] > 0)
    # within-cluster sum of squares = sum of w |x|^2 - sum over clusters of mass |centre|^2 (centres are the means)
    square_total = float(np.einsum("m,cm,cm->", cells.weights, cells.points, cells.points))
    return centres, square_total - np.einsum("rk,crk,crk->r", sums[0], centres, centres)


def kmeans_color(colour: np.ndarray, k: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the colours of an image into ``k`` clusters and label every pixel.

    Parameters
    ----------
    colour : (H, W, C) ndarray
        The colour channels in native units, any real dtype (uint8 as it is, as :class:`~bootseg.annotators.KMeans`
        passes it, or the float64 of :func:`~bootseg.annotators.preprocess.to_colour`); finite values.
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
    pixels = _Pixels(colour)
    fine = pixels.cells()
    if fine.size <= k:
        centres = fine.points.T
    else:
        rng = np.random.default_rng(seed)
        coarse = fine.merged(COARSE_LEVELS)
        if coarse.size > k:
            starts, inertia = _lloyd(coarse, _kmeanspp(coarse, k, _N_INIT, rng))
            start = starts[:, int(np.argmin(inertia)), None]
        else:
            start = _kmeanspp(fine, k, 1, rng)
        centres = _lloyd(fine, start)[0][:, 0].T
        counts = np.bincount(_labels(fine.points, centres.T[:, None])[0], weights=fine.weights, minlength=k)
        centres = centres[counts > 0]
    return pixels.nearest(centres).reshape(colour.shape[:2]), pixels.low + pixels.scale * centres
