"""Objects, not just pixels: a label image, a table and ImageJ ROIs from a mask.

A mask says which pixels are foreground; counting, measuring and correcting objects needs each object on its own.
:func:`label_objects` numbers a mask's objects (splitting touching ones on request), :func:`object_table` measures
them (area, centroid, bounding box, and the mean foreground probability inside each where a network gave one),
:func:`write_labels` saves the label image as a TIFF, and :func:`write_rois` saves each object's outline as an
ImageJ/Fiji ROI set. ``bootseg run`` and ``bootseg predict`` write them with ``--labels``, ``--objects`` and
``--rois``.

Examples
--------
>>> import numpy as np
>>> mask = np.zeros((6, 8), bool); mask[1:3, 1:3] = True; mask[3:5, 5:7] = True
>>> labels = label_objects(mask)
>>> [(row["label"], row["area"]) for row in object_table(labels)]
[(1, 4), (2, 4)]
"""

from __future__ import annotations

from .labels import DEFAULT_SPLIT, DIP, SPLITS, label_dtype, label_objects, typical_radius, write_labels
from .rois import outlines, write_rois
from .table import COLUMNS, object_table, table_rows, write_object_table

__all__ = [
    "COLUMNS",
    "DEFAULT_SPLIT",
    "DIP",
    "SPLITS",
    "label_dtype",
    "label_objects",
    "object_table",
    "outlines",
    "table_rows",
    "typical_radius",
    "write_labels",
    "write_object_table",
    "write_rois",
]
