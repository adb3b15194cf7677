"""Each object's outline as an ImageJ/Fiji ROI: a polygon along the pixel edges around it, in a ROI set (.zip).

The outline runs along the edges of the object's outer pixels, as ImageJ's wand and its particle analyser trace
them: its corners are pixel corners (ImageJ's coordinates, where pixel ``(x, y)`` covers ``[x, x + 1) × [y, y + 1)``),
so the polygon holds exactly the object's pixels and its area is their number. Only the outer outline is kept: a
hole inside an object is inside its ROI. Two pixels of one object that touch only at a corner are kept together
(the objects of :func:`bootseg.objects.label_objects` are 8-connected).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["outlines", "write_rois", "write_stack_rois"]

# pixel sides as directed edges, the object on the right of the way round (clockwise on the screen, y down):
# (neighbour's row offset, column offset), the edge's start corner (x, y) relative to the pixel, its direction
_SIDES = (
    ((-1, 0), (0, 0), 0),  # top: eastwards
    ((0, 1), (1, 0), 1),  # right: southwards
    ((1, 0), (1, 1), 2),  # bottom: westwards
    ((0, -1), (0, 1), 3),  # left: northwards
)
_STEP = np.array([(1, 0), (0, 1), (-1, 0), (0, -1)])  # (dx, dy) of each direction


def outlines(labels: Any) -> dict[int, np.ndarray]:
    """The outer outline of every object of a label image, by label.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        0 for the background, 1..N for the objects.

    Returns
    -------
    dict of int to (K, 2) ndarray of int
        The polygon's corners as ``(x, y)`` pixel-corner coordinates, clockwise on the screen, without repeating
        the first; only corners where the outline turns.

    Examples
    --------
    >>> outlines(np.array([[0, 0, 0], [0, 1, 1], [0, 1, 0]]))[1].tolist()
    [[1, 1], [3, 1], [3, 2], [2, 2], [2, 3], [1, 3]]
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "ui":
        raise ValueError(f"labels must be a 2D integer array, got shape {labels.shape} dtype {labels.dtype}")
    labels = labels.astype(np.int64, copy=False)
    height, width = labels.shape
    padded = np.pad(labels, 1)
    starts, owners, directions = [], [], []
    for (dr, dc), (sx, sy), direction in _SIDES:
        neighbour = padded[1 + dr : 1 + dr + height, 1 + dc : 1 + dc + width]
        rows, cols = np.nonzero((labels > 0) & (neighbour != labels))
        starts.append(np.stack([cols + sx, rows + sy], axis=1))
        owners.append(labels[rows, cols])
        directions.append(np.full(rows.size, direction))
    start = np.concatenate(starts)
    if start.size == 0:
        return {}
    owner, direction = np.concatenate(owners), np.concatenate(directions)
    end = start + _STEP[direction]
    following = _following(start, end, owner, direction, width)
    return _outer_loops(start, owner, direction, following)


def _following(start: np.ndarray, end: np.ndarray, owner: np.ndarray, direction: np.ndarray, width: int) -> np.ndarray:
    """For each edge, the edge of the same object that leaves its end corner. Where two do (two pixels of the
    object meet at a corner only), the left turn, which goes on around the other pixel: the pixels stay one."""
    corners = (width + 1) * (int(start[:, 1].max()) + 2)
    key_start = owner * corners + start[:, 1] * (width + 1) + start[:, 0]
    key_end = owner * corners + end[:, 1] * (width + 1) + end[:, 0]
    order = np.argsort(key_start, kind="stable")
    sorted_keys = key_start[order]
    first = np.searchsorted(sorted_keys, key_end, side="left")
    last = np.searchsorted(sorted_keys, key_end, side="right")
    following = order[first]
    pinched = np.flatnonzero(last - first == 2)
    if pinched.size:
        second = order[first[pinched] + 1]
        left = (direction[pinched] + 3) % 4
        following[pinched] = np.where(direction[second] == left, second, following[pinched])
    return following


def _outer_loops(start: np.ndarray, owner: np.ndarray, direction: np.ndarray, following: np.ndarray) -> dict:
    """Each object's loop of edges with the largest area (its outer outline; a hole's loop runs the other way)."""
    seen = bytearray(len(start))
    best: dict[int, tuple[float, np.ndarray]] = {}
    following_list = following.tolist()
    for edge in range(len(start)):
        if seen[edge]:
            continue
        loop = [edge]
        seen[edge] = 1
        nxt = following_list[edge]
        while nxt != edge:
            loop.append(nxt)
            seen[nxt] = 1
            nxt = following_list[nxt]
        index = np.asarray(loop)
        x, y = start[index, 0], start[index, 1]
        area = 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
        label = int(owner[edge])
        if area > 0 and area > best.get(label, (0.0, None))[0]:
            turns = direction[index] != np.roll(direction[index], 1)
            best[label] = (area, start[index[turns]])
    return {label: best[label][1] for label in sorted(best)}


def write_rois(path: str | os.PathLike, labels: Any) -> Path:
    """Write every object's outline (:func:`outlines`) as a polygon ROI in an ImageJ/Fiji ROI set, atomically.

    One ROI per object, in label order, named by its label with leading zeros (``0001.roi``, ...), of ImageJ's
    traced type (the type of the outlines its wand and particle analyser make). Open the file in Fiji with
    File > Open, or with the ROI Manager's More > Open. The same labels always give the same bytes.

    Examples
    --------
    >>> import tempfile, roifile
    >>> target = Path(tempfile.mkdtemp()) / "a.zip"
    >>> rois = roifile.roiread(write_rois(target, np.array([[1, 1, 0], [0, 0, 2]])))
    >>> [roi.name for roi in rois], rois[0].coordinates().tolist()
    (['0001', '0002'], [[0, 0], [2, 0], [2, 1], [0, 1]])
    """
    from roifile import ROI_TYPE, ImagejRoi

    from ..io import write_bytes_atomic

    path = Path(path)
    if path.suffix.lower() != ".zip":
        raise ValueError(f"cannot write a ROI set to '{path}': give a .zip file")
    polygons = outlines(labels)
    digits = max(4, len(str(max(polygons, default=0))))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for label, corners in polygons.items():
            name = f"{label:0{digits}d}"
            roi = ImagejRoi.frompoints(corners, name=name)
            roi.roitype = ROI_TYPE.TRACED
            entry = zipfile.ZipInfo(f"{name}.roi", date_time=(1980, 1, 1, 0, 0, 0))  # no clock: the same bytes
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, roi.tobytes())
    return write_bytes_atomic(path, buffer.getvalue())


def write_stack_rois(path: str | os.PathLike, planes: Sequence[tuple[str | os.PathLike, dict[str, int]]]) -> Path:
    """Merge the ROI sets of a stack's planes into one ROI set whose every ROI knows its plane, atomically.

    ``planes`` holds, in the stack's order, each plane's ROI set (:func:`write_rois`) and its place: ``{"z": 3}``,
    ``{"t": 1, "z": 4}``, or ``{}`` for pages without names. Each ROI is renamed ``z0003-0001`` (its plane's place,
    then its own name) and carries its position: the plane's number from 1 (``position``, what ImageJ reads on a
    plain stack) and, on a hyperstack, its ``z`` and ``t`` from 1. Fiji's ROI Manager then shows each outline on
    its own plane.

    Examples
    --------
    >>> import tempfile, roifile
    >>> folder = Path(tempfile.mkdtemp())
    >>> one = write_rois(folder / "a.zip", np.array([[1, 1, 0], [0, 0, 0]]))
    >>> merged = write_stack_rois(folder / "s.zip", [(one, {"z": 0}), (one, {"z": 1})])
    >>> [(roi.name, roi.position, roi.z_position) for roi in roifile.roiread(merged)]
    [('z0000-0001', 1, 1), ('z0001-0001', 2, 2)]
    """
    from roifile import roiread

    from ..io import write_bytes_atomic

    path = Path(path)
    if path.suffix.lower() != ".zip":
        raise ValueError(f"cannot write a ROI set to '{path}': give a .zip file")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, (source, place) in enumerate(planes, start=1):
            prefix = "-".join(f"{axis}{index:04d}" for axis, index in place.items()) or f"p{number - 1:04d}"
            rois = roiread(source) if Path(source).stat().st_size > 22 else []  # 22 bytes: an empty zip
            for roi in rois if isinstance(rois, list) else [rois]:
                roi.name = f"{prefix}-{roi.name}"
                roi.position = number
                roi.z_position = place.get("z", 0) + 1 if "z" in place else 0
                roi.t_position = place.get("t", 0) + 1 if "t" in place else 0
                entry = zipfile.ZipInfo(f"{roi.name}.roi", date_time=(1980, 1, 1, 0, 0, 0))
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, roi.tobytes())
    return write_bytes_atomic(path, buffer.getvalue())
