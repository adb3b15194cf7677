"""Per-image metrics over a dataset: their mean, standard deviation and pooled values in one :class:`Summary`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .counts import _accuracy_from, _dataset_counts, _dice_from, _iou_from, _totals

__all__ = ["Summary", "summarize"]


@dataclass(frozen=True)
class Summary:
    """Per-image metrics over a dataset, their mean and (population) standard deviation, and pooled values.

    Attributes
    ----------
    n : int
        Number of images.
    dice_mean, dice_std, iou_mean, iou_std, accuracy_mean, accuracy_std : float
        Mean and population standard deviation (``ddof=0``) of the per-image values.
    pooled_dice, pooled_iou, pooled_accuracy : float
        The metric computed once on the counts summed over all images (large images weigh more).
    dice_values, iou_values, accuracy_values : tuple of float
        The per-image values, in input order.

    Examples
    --------
    >>> s = summarize([np.ones((2, 2))], [np.ones((2, 2))])
    >>> s.dice_mean, s.as_dict()["iou_std"]
    (1.0, 0.0)
    """

    n: int
    dice_mean: float
    dice_std: float
    iou_mean: float
    iou_std: float
    accuracy_mean: float
    accuracy_std: float
    pooled_dice: float
    pooled_iou: float
    pooled_accuracy: float
    dice_values: tuple[float, ...] = field(repr=False)
    iou_values: tuple[float, ...] = field(repr=False)
    accuracy_values: tuple[float, ...] = field(repr=False)

    def as_dict(self, *, per_image: bool = False) -> dict[str, Any]:
        """The summary as a flat dict of plain Python numbers (JSON-ready).

        Parameters
        ----------
        per_image : bool, optional
            Also include the per-image value lists ``dice_values``, ``iou_values``, ``accuracy_values``
            (default False).

        Examples
        --------
        >>> sorted(summarize([np.ones((2, 2))], [np.ones((2, 2))]).as_dict())[:3]
        ['accuracy_mean', 'accuracy_std', 'dice_mean']
        """
        values = asdict(self)
        for key in ("dice_values", "iou_values", "accuracy_values"):
            if per_image:
                values[key] = list(values[key])
            else:
                del values[key]
        return values

    def format_table(self, digits: int = 4) -> str:
        """A small plain-text table: one row per metric, columns mean, std and pooled.

        Examples
        --------
        >>> print(summarize([np.ones((2, 2))], [np.ones((2, 2))]).format_table(2))
        metric (n=1)     mean    std pooled
        dice             1.00   0.00   1.00
        iou              1.00   0.00   1.00
        pixel_accuracy   1.00   0.00   1.00
        """
        rows = [
            ("dice", self.dice_mean, self.dice_std, self.pooled_dice),
            ("iou", self.iou_mean, self.iou_std, self.pooled_iou),
            ("pixel_accuracy", self.accuracy_mean, self.accuracy_std, self.pooled_accuracy),
        ]
        width = max(digits + 3, 6)
        label = max(14, len(f"metric (n={self.n})"))
        lines = [f"{f'metric (n={self.n})':<{label}} {'mean':>{width}} {'std':>{width}} {'pooled':>{width}}"]
        for name, mean, std, pooled in rows:
            numbers = " ".join(f"{value:>{width}.{digits}f}" for value in (mean, std, pooled))
            lines.append(f"{name:<{label}} {numbers}")
        return "\n".join(lines)


def summarize(preds: Any, targets: Any) -> Summary:
    """Per-image Dice, IoU and pixel accuracy over a dataset, with mean, std and pooled values.

    Parameters
    ----------
    preds, targets : sequence of (H, W) masks, or (N, H, W) array or tensor
        Predicted and true masks, pairwise of equal shape (images may differ in size), binarised as in
        :func:`dice`.

    Returns
    -------
    Summary
        Means and population standard deviations (``ddof=0``) over images, pooled values, and the per-image
        values. ``summary.as_dict()`` gives a flat dict, ``summary.format_table()`` a text table.

    Raises
    ------
    ValueError
        If the two datasets differ in length or are empty, or a pair differs in shape (the message names the
        image index).
    TypeError
        If either is not a sequence of masks or a stacked array.

    Examples
    --------
    >>> preds = [np.array([[1, 1], [0, 0]]), np.array([[1, 0], [0, 0]])]
    >>> targets = [np.array([[1, 0], [0, 0]]), np.array([[1, 0], [0, 0]])]
    >>> s = summarize(preds, targets)
    >>> round(s.dice_mean, 4), round(s.dice_std, 4), round(s.pooled_dice, 4)
    (0.8333, 0.1667, 0.8)
    """
    counts = _dataset_counts(preds, targets)
    dices = tuple(_dice_from(i, p, t) for i, p, t, _ in counts)
    ious = tuple(_iou_from(i, p, t) for i, p, t, _ in counts)
    accuracies = tuple(_accuracy_from(*c) for c in counts)
    inter, n_pred, n_target, pixels = _totals(counts)
    return Summary(
        n=len(counts),
        dice_mean=float(np.mean(dices)),
        dice_std=float(np.std(dices)),
        iou_mean=float(np.mean(ious)),
        iou_std=float(np.std(ious)),
        accuracy_mean=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies)),
        pooled_dice=_dice_from(inter, n_pred, n_target),
        pooled_iou=_iou_from(inter, n_pred, n_target),
        pooled_accuracy=_accuracy_from(inter, n_pred, n_target, pixels),
        dice_values=dices,
        iou_values=ious,
        accuracy_values=accuracies,
    )
