"""One row per object: its area, centroid, bounding box and the network's mean probability inside it."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

__all__ = ["COLUMNS", "object_table", "table_rows", "write_object_table"]

#: The columns of ``objects.csv``, in order. The bounding box is scikit-image's: ``max_row`` and ``max_col`` are one
#: past the last row and column of the object. ``mean_proba`` is empty where no probability map was given.
COLUMNS = (
    "image", "label", "area", "centroid_y", "centroid_x", "min_row", "min_col", "max_row", "max_col", "mean_proba",
)  # fmt: skip


def object_table(labels: Any, proba: Any = None) -> list[dict[str, Any]]:
    """One record per object of a label image, in label order: what :data:`COLUMNS` lists but the image name.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        0 for the background, 1..N for the objects (:func:`bootseg.objects.label_objects`).
    proba : (H, W) ndarray of float, optional
        The foreground probability; gives each object's mean probability, a confidence per object.

    Returns
    -------
    list of dict
        ``label``, ``area`` (pixels), ``centroid_y``, ``centroid_x`` (the mean row and column, in pixels),
        ``min_row``, ``min_col``, ``max_row``, ``max_col``, and ``mean_proba`` (``None`` without ``proba``); the
        values of :func:`skimage.measure.regionprops` (``area``, ``centroid``, ``bbox``, ``intensity_mean``).

    Examples
    --------
    >>> rows = object_table(np.array([[1, 1, 0], [0, 0, 2]]))
    >>> rows[0]["area"], rows[0]["centroid_x"], rows[1]["min_col"], rows[1]["max_col"]
    (2, 0.5, 2, 3)
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "ui":
        raise ValueError(f"labels must be a 2D integer array, got shape {labels.shape} dtype {labels.dtype}")
    if proba is not None:
        proba = np.asarray(proba, dtype=np.float64)
        if proba.shape != labels.shape:
            raise ValueError(f"proba has shape {proba.shape}; expected {labels.shape}, the shape of its labels")
    boxes = ndi.find_objects(labels.astype(np.intp, copy=False)) if labels.size else []
    if not boxes:
        return []
    flat = labels.ravel().astype(np.intp, copy=False)
    count = len(boxes) + 1
    area = np.bincount(flat, minlength=count)
    height, width = labels.shape
    rows = np.bincount(flat, weights=np.repeat(np.arange(height, dtype=np.float64), width), minlength=count)
    cols = np.bincount(flat, weights=np.tile(np.arange(width, dtype=np.float64), height), minlength=count)
    sums = None if proba is None else np.bincount(flat, weights=proba.ravel(), minlength=count)
    records = []
    for label, box in enumerate(boxes, start=1):
        if box is None:
            continue
        n = int(area[label])
        records.append(
            {
                "label": label,
                "area": n,
                "centroid_y": float(rows[label] / n),
                "centroid_x": float(cols[label] / n),
                "min_row": box[0].start,
                "min_col": box[1].start,
                "max_row": box[0].stop,
                "max_col": box[1].stop,
                "mean_proba": None if sums is None else float(sums[label] / n),
            }
        )
    return records


def write_object_table(path: str | os.PathLike, tables: Iterable[tuple[str, Sequence[dict[str, Any]]]]) -> Path:
    """Write ``objects.csv`` atomically: a row per object of each ``(image name, records)`` pair, in order.

    Centroids are written with 3 decimals, mean probabilities with 4; an object without one has an empty cell.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "objects.csv"
    >>> print(write_object_table(target, [("a", object_table(np.array([[0, 1]])))]).read_text(), end="")
    image,label,area,centroid_y,centroid_x,min_row,min_col,max_row,max_col,mean_proba
    a,1,1,0.000,1.000,0,1,1,2,
    """
    from ..io import write_bytes_atomic

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for image, records in tables:
        writer.writerows(table_rows(image, records))
    return write_bytes_atomic(Path(path), buffer.getvalue().encode("utf-8"))


def table_rows(image: str, records: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """The ``objects.csv`` rows of image ``image``'s records (:func:`object_table`), in :data:`COLUMNS` order.

    >>> table_rows("a", object_table(np.array([[0, 1]]), np.array([[0.0, 0.9]])))
    [['a', 1, 1, '0.000', '1.000', 0, 1, 1, 2, '0.9000']]
    """
    rows = []
    for record in records:
        proba = record.get("mean_proba")
        rows.append(
            [
                image,
                record["label"],
                record["area"],
                f"{record['centroid_y']:.3f}",
                f"{record['centroid_x']:.3f}",
                record["min_row"],
                record["min_col"],
                record["max_row"],
                record["max_col"],
                "" if proba is None else f"{proba:.4f}",
            ]
        )
    return rows
