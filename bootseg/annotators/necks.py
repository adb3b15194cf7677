"""Objects that touch: split a mask where two blobs meet through a narrow neck.

A threshold joins a cell to the neighbours that touch it (a white cell and the red cells around it) into one
object. :func:`split_at_necks` cuts such an object where it narrows. The watershed of the distance map gives one
basin per local maximum (:func:`skimage.segmentation.watershed`, markers from
:func:`skimage.feature.peak_local_max`), and two touching basins are merged again unless the neck between them
is narrow. Each 4-connected object is split on its own, in its bounding box, so the distance map is the distance
to that object's own boundary (the image border does not count as one).

The neck's half-width is the saddle of the distance map on the two basins' shared border (the largest value of
``min(d(p), d(q))`` over neighbouring pixels ``p``, ``q`` of the two basins); each part's size is its peak (the
radius of the largest disc inside it). Basin pairs are merged from the widest neck down, so a lumpy object with
several maxima stays one object unless one of its parts hangs on a neck narrower than ``neck`` times that
part's radius.

With ``neck=0.5``, two discs of equal radius ``r`` stay one object while their overlap is wider than ``r``
(centres closer than ``1.73 r``) and are split once it is narrower.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

__all__ = ["largest_piece", "split_at_necks"]


def split_at_necks(mask: np.ndarray, neck: float) -> np.ndarray:
    """Label the objects of ``mask``, cutting each where it narrows to a neck.

    Parameters
    ----------
    mask : (H, W) ndarray of bool
    neck : float
        In [0, 1). Two parts are separate objects when the half-width of the neck between them is less than
        ``neck`` times the radius of the smaller part; 0 gives the 4-connected components.

    Returns
    -------
    (H, W) ndarray of int32
        0 for background, 1..N for the objects (in no particular order).

    Examples
    --------
    >>> yy, xx = np.mgrid[:40, :80]
    >>> two = (np.hypot(yy - 20, xx - 22) < 15) | (np.hypot(yy - 20, xx - 50) < 15)   # neck 11 px wide
    >>> int(split_at_necks(two, 0.5).max()), int(split_at_necks(two, 0.0).max())
    (2, 1)
    """
    mask = _check(mask, neck)
    components, count = ndi.label(mask)
    if neck == 0.0 or count == 0:
        return components.astype(np.int32)
    out = np.zeros(mask.shape, np.int32)
    used = 0  # labels given so far
    for index, box in enumerate(ndi.find_objects(components)):
        pieces = _split_object(components, index + 1, box, neck)
        inside = pieces > 0
        out[box][inside] = pieces[inside] + used
        used += int(pieces.max())
    return out


def largest_piece(mask: np.ndarray, neck: float) -> np.ndarray:
    """The largest object of ``mask`` once objects are cut at necks.

    The same as the most frequent label of :func:`split_at_necks` (ties to the piece met first in raster order),
    but only the objects that can hold it are split: no piece is larger than its object.

    Parameters
    ----------
    mask : (H, W) ndarray of bool
    neck : float
        As in :func:`split_at_necks`.

    Returns
    -------
    (H, W) ndarray of bool

    Examples
    --------
    >>> yy, xx = np.mgrid[:40, :80]
    >>> two = (np.hypot(yy - 20, xx - 22) < 15) | (np.hypot(yy - 20, xx - 50) < 12)
    >>> piece = largest_piece(two, 0.5)
    >>> bool(piece[20, 22]), bool(piece[20, 50])
    (True, False)
    """
    mask = _check(mask, neck)
    components, count = ndi.label(mask)
    best = np.zeros(mask.shape, bool)
    if count == 0:
        return best
    sizes = np.bincount(components.ravel())[1:]
    boxes = ndi.find_objects(components)
    best_size, best_start = 0, -1
    for index in np.argsort(-sizes, kind="stable"):
        if sizes[index] < best_size:
            break
        box = boxes[index]
        pieces = _split_object(components, int(index) + 1, box, neck)
        piece_sizes = np.bincount(pieces.ravel())
        piece_sizes[0] = 0
        for label in np.flatnonzero(piece_sizes == piece_sizes.max()):
            piece = pieces == label
            row, col = np.unravel_index(int(np.argmax(piece)), piece.shape)
            start = (row + box[0].start) * mask.shape[1] + col + box[1].start
            size = int(piece_sizes[label])
            if size > best_size or (size == best_size and start < best_start):
                best_size, best_start = size, start
                best[:] = False
                best[box] = piece
    return best


def _check(mask: np.ndarray, neck: float) -> np.ndarray:
    if not 0.0 <= neck < 1.0:
        raise ValueError(f"neck must be in [0, 1), got {neck!r}")
    return np.asarray(mask, dtype=bool)


def _split_object(components: np.ndarray, label: int, box: tuple[slice, slice], neck: float) -> np.ndarray:
    """Labels 1..n of the pieces of object ``label`` within its bounding box ``box`` (0 outside the object)."""
    height, width = components.shape
    rows, cols = box
    # one pixel of background around the box, except at the image border (which is not the object's boundary)
    pad = ((int(rows.start > 0), int(rows.stop < height)), (int(cols.start > 0), int(cols.stop < width)))
    obj = np.pad(components[box] == label, pad)
    distance = ndi.distance_transform_edt(obj)
    peaks = peak_local_max(distance, min_distance=1, exclude_border=False)
    if len(peaks) <= 1:  # one basin: nothing to cut
        return (components[box] == label).astype(np.int32)
    markers = np.zeros(obj.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    basins = watershed(-distance, markers, mask=obj, connectivity=1).astype(np.int32)
    total = int(basins.max())
    top = np.zeros(total + 1)  # each basin's peak (0 for the background)
    np.maximum.at(top, basins.ravel(), distance.ravel())
    parent = np.arange(total + 1)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for saddle, a, b in _saddles(basins, distance, total):
        ra, rb = root(a), root(b)
        if ra != rb and saddle >= neck * min(top[ra], top[rb]):
            parent[rb] = ra
            top[ra] = max(top[ra], top[rb])
    roots = np.array([root(i) for i in range(total + 1)])
    _, relabel = np.unique(roots, return_inverse=True)  # root 0 (background) is the smallest: it stays 0
    pieces = relabel.reshape(roots.shape)[basins].astype(np.int32)
    return pieces[pad[0][0] : pieces.shape[0] - pad[0][1], pad[1][0] : pieces.shape[1] - pad[1][1]]


def _saddles(basins: np.ndarray, distance: np.ndarray, total: int) -> list[tuple[float, int, int]]:
    """``(saddle, a, b)`` for every pair of touching basins, widest neck first."""
    keys, values = [], []
    for first, second, d_first, d_second in (
        (basins[:, :-1], basins[:, 1:], distance[:, :-1], distance[:, 1:]),
        (basins[:-1], basins[1:], distance[:-1], distance[1:]),
    ):
        border = (first != second) & (first > 0) & (second > 0)
        low = np.minimum(first[border], second[border]).astype(np.int64)
        high = np.maximum(first[border], second[border]).astype(np.int64)
        keys.append(low * (total + 1) + high)
        values.append(np.minimum(d_first[border], d_second[border]))
    key, value = np.concatenate(keys), np.concatenate(values)
    if key.size == 0:
        return []
    order = np.argsort(key, kind="stable")
    key, value = key[order], value[order]
    unique, start = np.unique(key, return_index=True)
    saddle = np.maximum.reduceat(value, start)
    pairs = [(float(s), int(k // (total + 1)), int(k % (total + 1))) for k, s in zip(unique, saddle, strict=True)]
    return sorted(pairs, reverse=True)
