"""``--labels``, ``--objects``, ``--rois`` and ``--split``: the final masks' objects as files, on ``run`` and
``predict`` (:mod:`bootseg.objects`)."""

from __future__ import annotations

import argparse
import csv
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..objects import COLUMNS, DEFAULT_SPLIT, SPLITS, label_objects, object_table, table_rows
from ..runfolder import RunFolder
from .common import UsageError

__all__ = ["ObjectOutputs", "ObjectWriter", "add_object_options", "object_outputs"]


def add_object_options(parser: argparse.ArgumentParser) -> None:
    """The ``objects`` options that ``run`` and ``predict`` share."""
    group = parser.add_argument_group("objects (from the final masks)")
    group.add_argument(
        "--labels",
        action="store_true",
        help="write labels/NAME.tif: the objects numbered 1..N in raster order, 0 = background (16-bit TIFF; "
        "32-bit above 65535 objects)",
    )
    group.add_argument(
        "--objects",
        action="store_true",
        help="write objects.csv: image, label, area, centroid, bounding box and, where the last stage gives "
        "probabilities, the mean probability of every object",
    )
    group.add_argument(
        "--rois", action="store_true", help="write rois/NAME.zip: each object's outline, an ImageJ/Fiji ROI set"
    )
    group.add_argument(
        "--split",
        choices=SPLITS,
        default=None,
        help="how objects that touch are told apart: none (connected components) or watershed (touching round "
        f"objects parted where the mask narrows between them) (default: {DEFAULT_SPLIT})",
    )


@dataclass(frozen=True)
class ObjectOutputs:
    """Which object files a run writes, and how it splits touching objects."""

    labels: bool = False
    objects: bool = False
    rois: bool = False
    split: str = DEFAULT_SPLIT

    @property
    def wanted(self) -> bool:
        """Whether any object file is written (and the objects counted)."""
        return self.labels or self.objects or self.rois


def object_outputs(args: argparse.Namespace) -> ObjectOutputs:
    """The object files ``args`` ask for; ``--split`` alone is a :class:`UsageError`."""
    outputs = ObjectOutputs(args.labels, args.objects, args.rois, args.split or DEFAULT_SPLIT)
    if args.split is not None and not outputs.wanted:
        raise UsageError("--split says how --labels, --objects and --rois part touching objects; give one of them")
    return outputs


class ObjectWriter(AbstractContextManager):
    """Each image's objects as the outputs ask: its label image and ROI set (once; a resumed run keeps what an
    earlier try wrote), and its rows of ``objects.csv``, which is written in one atomic step when the block ends
    without error."""

    def __init__(self, folder: RunFolder, outputs: ObjectOutputs) -> None:
        self.folder, self.outputs = folder, outputs
        self.counts: list[int] = []
        self._file: Any = None
        self._writer: Any = None

    def __enter__(self) -> ObjectWriter:
        if self.outputs.objects:
            from ..io import atomic_write

            self.folder.root.mkdir(parents=True, exist_ok=True)
            self._file = atomic_write(self.folder.file(self.folder.OBJECTS), "w")
            self._writer = csv.writer(self._file.__enter__(), lineterminator="\n")
            self._writer.writerow(COLUMNS)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            self._file.__exit__(*exc)

    def add(self, name: str, mask: np.ndarray, proba: np.ndarray | None = None) -> int | None:
        """Label image ``name``'s objects and write them; their number (``None`` when no object file is asked)."""
        if not self.outputs.wanted:
            return None
        labels = label_objects(mask, split=self.outputs.split)
        if self.outputs.labels:
            self.folder.write_labels_once(name, labels)
        if self.outputs.rois:
            self.folder.write_rois_once(name, labels)
        if self._writer is not None:
            self._writer.writerows(table_rows(name, object_table(labels, proba)))
        self.counts.append(int(labels.max()))
        return self.counts[-1]

    def record(self, stage: str) -> dict[str, Any] | None:
        """``run.json``'s ``objects`` entry: whose masks, the split, the files, the number of objects."""
        if not self.outputs.wanted:
            return None
        folder = self.folder
        return {
            "stage": stage,
            "split": self.outputs.split,
            "labels": folder.LABELS if self.outputs.labels else None,
            "rois": folder.ROIS if self.outputs.rois else None,
            "table": folder.OBJECTS if self.outputs.objects else None,
            "count": sum(self.counts),
        }
