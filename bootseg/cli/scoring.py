"""Scoring masks against ground truth, per image and per stage, streamed: one image in memory at a time.

The per-image values come from :mod:`bootseg.metrics`; the pooled values are computed from pixel counts summed
over the images, with the same formulas as :func:`bootseg.metrics.summarize` and
:func:`bootseg.metrics.pooled_soft_dice` (smoothing 1), so any number of images can be scored.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import BootsegError
from ..metrics import dice, iou, pixel_accuracy

__all__ = ["Column", "Evaluation", "EvaluationError", "Scorer", "SizeMismatch", "Unmatched", "Unreadable"]

#: How many names a message lists before "and N more".
NAMES_SHOWN = 12

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


def names_text(names: Sequence[str], limit: int = NAMES_SHOWN) -> str:
    """The first ``limit`` names, comma-separated, and how many more there are.

    >>> names_text(["a", "b", "c"], limit=2)
    'a, b and 1 more'
    """
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def shape_text(shape: Sequence[int]) -> str:
    """``H×W`` of an array shape.

    >>> shape_text((20, 10))
    '20×10'
    """
    return "×".join(str(side) for side in tuple(shape)[:2])


class SizeMismatch(NamedTuple):
    """An image whose prediction differs in size from its ground truth: shapes as ``(H, W)``, predictions by stage.

    >>> str(SizeMismatch("a", (20, 20), {"pred": (10, 20)}))
    'a (ground truth 20×20, pred 10×20)'
    """

    name: str
    truth_shape: tuple[int, ...]
    pred_shapes: Mapping[str, tuple[int, ...]]

    def shapes(self) -> str:
        """Both sizes: ``ground truth H×W, STAGE H×W``.

        >>> SizeMismatch("a", (20, 20), {"pred": (10, 20)}).shapes()
        'ground truth 20×20, pred 10×20'
        """
        preds = ", ".join(f"{key} {shape_text(shape)}" for key, shape in self.pred_shapes.items())
        return f"ground truth {shape_text(self.truth_shape)}, {preds}"

    def __str__(self) -> str:
        return f"{self.name} ({self.shapes()})"


class Unreadable(NamedTuple):
    """An image left out because one of its mask files could not be read; ``reason`` names the file.

    >>> str(Unreadable("a", "truth/a.png", "cannot read 'truth/a.png': the file is empty (0 bytes)"))
    "cannot read 'truth/a.png': the file is empty (0 bytes)"
    """

    name: str
    file: str
    reason: str

    def __str__(self) -> str:
        return self.reason if self.file in self.reason else f"'{self.file}': {self.reason}"


@dataclass
class Unmatched:
    """What an evaluation left out, by reason; false when every file found a partner and was scored.

    Attributes
    ----------
    no_truth : list of str
        Predictions without a ground-truth mask of the same name.
    no_prediction : list of str
        Ground-truth masks without a prediction of the same name.
    missing : dict of str to list of str
        Per stage key, names that other stages have but this one lacks (run folders with several stages).
    size_mismatch : list of SizeMismatch
        Pairs whose prediction and ground truth differ in height or width.
    unreadable : list of Unreadable
        Images with a mask file (prediction or ground truth) that could not be read.

    Examples
    --------
    >>> unmatched = Unmatched(no_truth=["x"], no_prediction=["y", "z"])
    >>> bool(unmatched), bool(Unmatched())
    (True, False)
    >>> for line in unmatched.messages():
    ...     print(line)
    1 prediction(s) have no ground-truth mask of the same name and are left out: x
    2 ground-truth mask(s) have no prediction of the same name and are left out: y, z
    """

    no_truth: list[str] = field(default_factory=list)
    no_prediction: list[str] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)
    size_mismatch: list[SizeMismatch] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.no_truth or self.no_prediction or self.missing or self.size_mismatch or self.unreadable)

    def messages(self) -> list[str]:
        """One line per reason, with the count and the first names: the CLI's warnings and the error's text.

        Examples
        --------
        >>> Unmatched(size_mismatch=[SizeMismatch("b", (20, 20), {"pred": (10, 20)})]).messages()
        ['1 image(s) differ in size from their ground truth and are left out: b (ground truth 20×20, pred 10×20)']
        """
        lines = [
            f"{key} lacks {len(names)} mask(s) that other stages have; left out: {names_text(names)}"
            for key, names in self.missing.items()
        ]
        if self.no_truth:
            lines.append(
                f"{len(self.no_truth)} prediction(s) have no ground-truth mask of the same name and are left out: "
                + names_text(self.no_truth)
            )
        if self.no_prediction:
            lines.append(
                f"{len(self.no_prediction)} ground-truth mask(s) have no prediction of the same name and are left "
                f"out: {names_text(self.no_prediction)}"
            )
        if self.size_mismatch:
            lines.append(
                f"{len(self.size_mismatch)} image(s) differ in size from their ground truth and are left out: "
                + _items_text(self.size_mismatch)
            )
        if self.unreadable:
            lines.append(
                f"{len(self.unreadable)} image(s) have a mask file that cannot be read and are left out: "
                + _items_text(self.unreadable)
            )
        return lines

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, every key always present (empty lists when nothing was left out for that reason).

        Examples
        --------
        >>> Unmatched(size_mismatch=[SizeMismatch("b", (20, 20), {"pred": (10, 20)})]).as_dict()["size_mismatch"]
        [{'name': 'b', 'truth_shape': [20, 20], 'pred_shapes': {'pred': [10, 20]}}]
        """
        return {
            "no_truth": list(self.no_truth),
            "no_prediction": list(self.no_prediction),
            "missing": {key: list(names) for key, names in self.missing.items()},
            "size_mismatch": [
                {
                    "name": m.name,
                    "truth_shape": list(m.truth_shape[:2]),
                    "pred_shapes": {key: list(shape[:2]) for key, shape in m.pred_shapes.items()},
                }
                for m in self.size_mismatch
            ],
            "unreadable": [{"name": u.name, "file": u.file, "reason": u.reason} for u in self.unreadable],
        }

    def rows(self) -> list[tuple[str, str, str]]:
        """``(name, stage, note)`` for every image left out, as :meth:`Evaluation.write_csv` writes them.

        Examples
        --------
        >>> Unmatched(no_truth=["x"], missing={"0-otsu": ["y"]}).rows()
        [('y', '0-otsu', 'not in this stage'), ('x', '', 'no ground truth')]
        """
        rows = [(name, key, "not in this stage") for key, names in self.missing.items() for name in names]
        rows += [(name, "", "no ground truth") for name in self.no_truth]
        rows += [(name, "", "no prediction") for name in self.no_prediction]
        rows += [(m.name, "", f"size mismatch: {m.shapes()}") for m in self.size_mismatch]
        rows += [(u.name, "", f"unreadable: {u}") for u in self.unreadable]
        return rows


def _items_text(items: Sequence[object], limit: int = NAMES_SHOWN) -> str:
    shown = "; ".join(str(item) for item in items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


class EvaluationError(BootsegError, ValueError):
    """Masks that could not all be scored; the message has one line per reason, as the CLI's warnings.

    ``unmatched`` says what was left out and why; ``evaluation`` holds the scores of the pairs that could be
    scored (None when there are none).

    Examples
    --------
    >>> error = EvaluationError("1 prediction(s) have ...", Unmatched(no_truth=["x"]))
    >>> error.unmatched.no_truth, error.evaluation is None, isinstance(error, ValueError)
    (['x'], True, True)
    """

    def __init__(self, message: str, unmatched: Unmatched, evaluation: Evaluation | None = None) -> None:
        super().__init__(message)
        self.unmatched = unmatched
        self.evaluation = evaluation


@dataclass
class Evaluation:
    """Scores of one or more stages over the same matched images (the paper's Table 1, one column per stage).

    ``unmatched`` lists what was left out (names without a partner, size mismatches, unreadable files).
    """

    columns: list[Column]
    names: list[str]
    unmatched: Unmatched = field(default_factory=Unmatched)

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
        """JSON-ready: ``n``, ``names``, one entry per column (see :meth:`Column.as_dict`) and ``unmatched``
        (see :meth:`Unmatched.as_dict`)."""
        return {
            "n": len(self.names),
            "names": list(self.names),
            "footnote": FOOTNOTE,
            "columns": [c.as_dict(self.names if per_image else None) for c in self.columns],
            "unmatched": self.unmatched.as_dict(),
        }

    def write_csv(self, path: str | Path) -> Path:
        """Per-image, per-stage scores in long form: ``name,stage,dice,iou,pixel_accuracy,note``.

        Scored rows have an empty ``note``; every image left out follows with empty scores and the reason in
        ``note`` (``no ground truth``, ``no prediction``, ``not in this stage``, ``size mismatch: ...``,
        ``unreadable: ...``).
        """
        from ..io import atomic_write

        path = Path(path)
        with atomic_write(path, "w") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["name", "stage", "dice", "iou", "pixel_accuracy", "note"])
            for column in self.columns:
                for name, d, j, a in zip(self.names, column.dice, column.iou, column.accuracy, strict=True):
                    writer.writerow([name, column.key, f"{d:.6f}", f"{j:.6f}", f"{a:.6f}", ""])
            for name, stage, note in self.unmatched.rows():
                writer.writerow([name, stage, "", "", "", note])
        return path


class Scorer:
    """Feed images one at a time; :meth:`result` gives the :class:`Evaluation`.

    >>> scorer = Scorer([("otsu", "otsu")])
    >>> scorer.add("a", np.array([[True, False]]), [np.array([[True, True]])], [None])
    >>> result = scorer.result()
    >>> result.names, round(result.columns[0].dice[0], 4), result.as_dict()["unmatched"]["no_truth"]
    (['a'], 0.6667, [])
    """

    def __init__(self, columns: Iterable[tuple[str, str]]) -> None:
        self.columns = [Column(key, label) for key, label in columns]
        self.names: list[str] = []

    def add(self, name: str, truth: np.ndarray, preds: Sequence[np.ndarray], probas: Sequence[np.ndarray | None]):
        """Score image ``name``: one prediction (and probability map or None) per column."""
        self.names.append(name)
        for column, pred, proba in zip(self.columns, preds, probas, strict=True):
            column.add(pred, truth, proba)

    def result(self, unmatched: Unmatched | None = None) -> Evaluation:
        """The scores so far, with what was left out (``unmatched``, default: nothing)."""
        return Evaluation(self.columns, self.names, Unmatched() if unmatched is None else unmatched)
