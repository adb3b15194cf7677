"""Scoring masks against ground truth, per image and per stage, streamed: one image in memory at a time.

The per-image values come from :mod:`bootseg.metrics`; the pooled values are computed from pixel counts summed
over the images, with the same formulas as :func:`bootseg.metrics.summarize` and
:func:`bootseg.metrics.pooled_soft_dice` (smoothing 1), so any number of images can be scored.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import dice, iou, pixel_accuracy

__all__ = ["Column", "Evaluation", "Scorer"]

SOFT_SMOOTH = 1.0
FOOTNOTE = (
    "mean ± std over images (population std); pooled: pixel counts summed over all images; pooled soft: "
    "probabilities (not thresholded) against the truth, summed over all images, the form the paper's code "
    "reported (smoothing 1), only for stages with probability maps"
)


@dataclass
class Column:
    """One stage's scores over the matched images."""

    key: str
    label: str
    dice: list[float] = field(default_factory=list)
    iou: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    counts: np.ndarray = field(default_factory=lambda: np.zeros(4, np.int64))  # inter, pred, truth, pixels
    soft: np.ndarray | None = None  # sum p*t, sum p, sum t over the images that have a probability map
    missing_proba: int = 0  # images scored without a probability map

    def add(self, pred: np.ndarray, truth: np.ndarray, proba: np.ndarray | None) -> None:
        """Score one image (``pred`` and ``truth`` bool, ``proba`` float in [0, 1] or None)."""
        self.dice.append(dice(pred, truth))
        self.iou.append(iou(pred, truth))
        self.accuracy.append(pixel_accuracy(pred, truth))
        inter = np.count_nonzero(pred & truth)
        self.counts += (inter, np.count_nonzero(pred), np.count_nonzero(truth), pred.size)
        if proba is None:
            self.missing_proba += 1
        else:
            if self.soft is None:
                self.soft = np.zeros(3)
            self.soft += (float(proba[truth].sum()), float(proba.sum()), float(np.count_nonzero(truth)))

    @property
    def n(self) -> int:
        return len(self.dice)

    def pooled(self) -> dict[str, float]:
        """Dice, IoU and pixel accuracy from the summed counts."""
        inter, n_pred, n_truth, pixels = (int(v) for v in self.counts)
        total, union = n_pred + n_truth, n_pred + n_truth - inter
        return {
            "dice": 1.0 if total == 0 else 2.0 * inter / total,
            "iou": 1.0 if union == 0 else inter / union,
            "accuracy": (pixels - n_pred - n_truth + 2 * inter) / pixels if pixels else math.nan,
        }

    def soft_dice(self) -> float | None:
        """The paper's pooled soft Dice, or None when this stage has no probability maps."""
        if self.soft is None or self.missing_proba:
            return None
        inter, sum_p, sum_t = self.soft
        return float((2.0 * inter + SOFT_SMOOTH) / (sum_p + sum_t + SOFT_SMOOTH))

    def as_dict(self, names: Sequence[str] | None = None) -> dict[str, Any]:
        """Means, stds, pooled values (and per-image values by name when ``names`` is given)."""
        pooled = self.pooled()
        data: dict[str, Any] = {"key": self.key, "label": self.label, "n": self.n}
        for metric, values in (("dice", self.dice), ("iou", self.iou), ("accuracy", self.accuracy)):
            data[f"{metric}_mean"] = float(np.mean(values)) if values else None
            data[f"{metric}_std"] = float(np.std(values)) if values else None
            data[f"pooled_{metric}"] = pooled[metric]
        data["pooled_soft_dice"] = self.soft_dice()
        if names is not None:
            data["per_image"] = {
                name: {"dice": d, "iou": j, "accuracy": a}
                for name, d, j, a in zip(names, self.dice, self.iou, self.accuracy, strict=True)
            }
        return data


@dataclass
class Evaluation:
    """Scores of one or more stages over the same matched images (the paper's Table 1, one column per stage)."""

    columns: list[Column]
    names: list[str]

    def table(self, digits: int = 3) -> str:
        """A plain-text table: rows are metrics, columns are stages."""
        rows: list[tuple[str, list[str]]] = []
        for label, metric in (("DSC", "dice"), ("IoU", "iou"), ("PA", "accuracy")):
            cells = []
            for column in self.columns:
                values = getattr(column, metric)
                cells.append(f"{np.mean(values):.{digits}f} ± {np.std(values):.{digits}f}")
            rows.append((f"{label:<4} mean ± std", cells))
        rows.append(("DSC  pooled", [f"{c.pooled()['dice']:.{digits}f}" for c in self.columns]))
        soft = [c.soft_dice() for c in self.columns]
        rows.append(("DSC  pooled soft", ["-" if s is None else f"{s:.{digits}f}" for s in soft]))
        header = f"metric (n={len(self.names)})"
        first = max(len(header), *(len(r[0]) for r in rows))
        widths = [max(len(c.label), *(len(r[1][i]) for r in rows)) for i, c in enumerate(self.columns)]
        lines = [
            f"{header:<{first}}  " + "  ".join(f"{c.label:>{w}}" for c, w in zip(self.columns, widths, strict=True))
        ]
        for label, cells in rows:
            lines.append(
                f"{label:<{first}}  " + "  ".join(f"{cell:>{w}}" for cell, w in zip(cells, widths, strict=True))
            )
        return "\n".join(lines)

    def as_dict(self, *, per_image: bool = False) -> dict[str, Any]:
        """JSON-ready: ``n``, ``names`` and one entry per column (see :meth:`Column.as_dict`)."""
        return {
            "n": len(self.names),
            "names": list(self.names),
            "footnote": FOOTNOTE,
            "columns": [c.as_dict(self.names if per_image else None) for c in self.columns],
        }

    def write_csv(self, path: str | Path) -> Path:
        """Per-image, per-stage scores in long form: ``name,stage,dice,iou,pixel_accuracy``."""
        from ..io import atomic_write

        path = Path(path)
        with atomic_write(path, "w") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["name", "stage", "dice", "iou", "pixel_accuracy"])
            for column in self.columns:
                for name, d, j, a in zip(self.names, column.dice, column.iou, column.accuracy, strict=True):
                    writer.writerow([name, column.key, f"{d:.6f}", f"{j:.6f}", f"{a:.6f}"])
        return path


class Scorer:
    """Feed images one at a time; :meth:`result` gives the :class:`Evaluation`."""

    def __init__(self, columns: Iterable[tuple[str, str]]) -> None:
        self.columns = [Column(key, label) for key, label in columns]
        self.names: list[str] = []

    def add(self, name: str, truth: np.ndarray, preds: Sequence[np.ndarray], probas: Sequence[np.ndarray | None]):
        """Score image ``name``: one prediction (and probability map or None) per column."""
        self.names.append(name)
        for column, pred, proba in zip(self.columns, preds, probas, strict=True):
            column.add(pred, truth, proba)

    def result(self) -> Evaluation:
        """The scores so far."""
        return Evaluation(self.columns, self.names)
