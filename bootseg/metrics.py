"""Segmentation metrics: Dice (DSC), IoU and pixel accuracy, per image and over a dataset.

Every metric is a pure function of arrays first; the aggregates are built from them. Masks may be NumPy arrays
or torch tensors (on any device; torch is never imported by this module) of any of these kinds:

* bool: True is foreground;
* integer (0/1, 0/255, label images): a value **above 0** is foreground;
* float (0/1 masks, probabilities): a value **at or above 0.5** is foreground, so a 0/1 or 0/255 float mask
  and a probability map all binarise as expected. NaN is refused.

Conventions
-----------
* **Both masks empty** (no foreground in prediction nor target) scores **1.0** for Dice and IoU: the
  prediction is exactly right. (scikit-learn returns 0.0 there with a warning; ``zero_division=1.0`` gives
  our value.)
* A per-image function looks at *all* elements of its two arrays, so given stacked ``(N, H, W)`` arrays it
  returns the pooled value over the stack. For per-image statistics use :func:`summarize`.
* Standard deviations are population standard deviations (``ddof=0``) over images, as ``numpy.std``.

The paper's numbers
-------------------
The authors' code reported a *soft* Dice: probabilities (not thresholded masks) multiplied with the targets
and summed over every pixel of every image in a batch, ``(2 Σ p·t + s) / (Σ p + Σ t + s)`` with a smoothing
term ``s``, averaged over batches. :func:`pooled_soft_dice` computes that form, over the whole set or per
batch, so results can be compared with the paper as well as with the per-image standard that
:func:`summarize` reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Summary",
    "dice",
    "iou",
    "pixel_accuracy",
    "pooled_dice",
    "pooled_iou",
    "pooled_soft_dice",
    "summarize",
]

FLOAT_THRESHOLD = 0.5


# --------------------------------------------------------------------------------------------------- helpers


def _is_tensor(value: Any) -> bool:
    """True for a torch tensor, found by duck typing so that torch need not be imported."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(side) for side in value.shape)


def _binary(mask: Any, name: str) -> np.ndarray:
    """Binarise one mask (ndarray, tensor or nested list) by the module's rule; return a bool ndarray."""
    if _is_tensor(mask):
        tensor = mask.detach()
        if tensor.dtype.is_complex:
            raise TypeError(f"{name} must be a bool, integer or float mask, got tensor dtype {tensor.dtype}")
        if tensor.dtype.is_floating_point:
            if bool(tensor.isnan().any()):
                raise ValueError(f"{name} contains NaN values (shape {_shape(tensor)}); masks must be finite")
            tensor = tensor >= FLOAT_THRESHOLD
        else:
            tensor = tensor > 0 if str(tensor.dtype) != "torch.bool" else tensor
        return tensor.cpu().numpy()
    if isinstance(mask, (str, bytes)) or mask is None:
        raise TypeError(f"{name} must be an array or tensor, got {type(mask).__name__}")
    array = np.asarray(mask)
    if array.dtype == bool:
        return array
    if array.dtype.kind in "ui":
        return array > 0
    if array.dtype.kind == "f":
        if np.isnan(array).any():
            raise ValueError(f"{name} contains NaN values (shape {array.shape}); masks must be finite")
        return array >= FLOAT_THRESHOLD
    raise TypeError(f"{name} must be a bool, integer or float mask, got dtype {array.dtype}")


def _pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """Binarise a prediction and its target and check that their shapes agree."""
    p = _binary(pred, "pred")
    t = _binary(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred has shape {p.shape} but target has shape {t.shape}; they must be equal")
    if p.size == 0:
        raise ValueError(f"pred and target are empty (shape {p.shape}); a mask needs at least one pixel")
    return p, t


def _counts(pred: Any, target: Any) -> tuple[int, int, int, int]:
    """Return (intersection, |pred|, |target|, number of pixels) of one binarised pair."""
    p, t = _pair(pred, target)
    return int(np.count_nonzero(p & t)), int(np.count_nonzero(p)), int(np.count_nonzero(t)), int(p.size)


def _dice_from(inter: int, n_pred: int, n_target: int) -> float:
    total = n_pred + n_target
    return 1.0 if total == 0 else 2.0 * inter / total


def _iou_from(inter: int, n_pred: int, n_target: int) -> float:
    union = n_pred + n_target - inter
    return 1.0 if union == 0 else inter / union


def _accuracy_from(inter: int, n_pred: int, n_target: int, pixels: int) -> float:
    return (pixels - n_pred - n_target + 2 * inter) / pixels


def _as_list(masks: Any, name: str) -> list[Any]:
    """A dataset of masks: a list/tuple of masks or a stacked (N, H, W[, ...]) array or tensor."""
    if isinstance(masks, (str, bytes)) or masks is None:
        raise TypeError(f"{name} must be a sequence of masks or an (N, H, W) array, got {type(masks).__name__}")
    if isinstance(masks, np.ndarray) or _is_tensor(masks):
        if masks.ndim < 3:
            raise ValueError(
                f"{name} has shape {_shape(masks)}; pass a list of masks or a stacked (N, H, W) array "
                "(for one image, wrap it in a list)"
            )
        return [masks[i] for i in range(masks.shape[0])]
    if isinstance(masks, Sequence):
        return list(masks)
    raise TypeError(f"{name} must be a sequence of masks or an (N, H, W) array, got {type(masks).__name__}")


def _dataset_pairs(preds: Any, targets: Any, names: tuple[str, str] = ("preds", "targets")) -> list[tuple]:
    first, second = _as_list(preds, names[0]), _as_list(targets, names[1])
    if len(first) != len(second):
        raise ValueError(f"{names[0]} has {len(first)} masks but {names[1]} has {len(second)}; they must match")
    if not first:
        raise ValueError(f"{names[0]} and {names[1]} are empty; need at least one image")
    return list(zip(first, second, strict=True))


def _dataset_counts(preds: Any, targets: Any) -> list[tuple[int, int, int, int]]:
    counts = []
    for index, (pred, target) in enumerate(_dataset_pairs(preds, targets)):
        try:
            counts.append(_counts(pred, target))
        except (ValueError, TypeError) as error:
            raise type(error)(f"image {index}: {error}") from None
    return counts


def _totals(counts: list[tuple[int, ...]]) -> tuple[int, ...]:
    """Column sums of per-image count tuples."""
    return tuple(int(sum(column)) for column in zip(*counts, strict=True))


# ------------------------------------------------------------------------------------------------ per image


def dice(pred: Any, target: Any) -> float:
    """Dice similarity coefficient (DSC, F1 score) of two masks: ``2 |P ∩ T| / (|P| + |T|)``.

    Parameters
    ----------
    pred, target : (H, W) array_like or torch tensor
        Binary masks of equal shape: bool, integer (foreground > 0) or float (foreground >= 0.5). Any shape is
        accepted as long as both agree; a stacked ``(N, H, W)`` pair gives the value pooled over the stack.

    Returns
    -------
    float
        In [0, 1]; 1.0 when both masks are empty.

    Raises
    ------
    ValueError
        If the shapes differ, the masks have no pixels, or a float mask contains NaN.
    TypeError
        If a mask is not an array of bool, integer or float values.

    Examples
    --------
    >>> dice(np.array([[1, 1], [0, 0]]), np.array([[1, 0], [0, 0]]))
    0.6666666666666666
    >>> dice(np.zeros((2, 2), bool), np.zeros((2, 2), bool))
    1.0
    """
    inter, n_pred, n_target, _ = _counts(pred, target)
    return _dice_from(inter, n_pred, n_target)


def iou(pred: Any, target: Any) -> float:
    """Intersection over union (Jaccard index) of two masks: ``|P ∩ T| / |P ∪ T|``.

    Parameters
    ----------
    pred, target : (H, W) array_like or torch tensor
        Binary masks of equal shape, binarised as in :func:`dice`.

    Returns
    -------
    float
        In [0, 1]; 1.0 when both masks are empty.

    Raises
    ------
    ValueError
        If the shapes differ, the masks have no pixels, or a float mask contains NaN.
    TypeError
        If a mask is not an array of bool, integer or float values.

    Examples
    --------
    >>> iou(np.array([[255, 255], [0, 0]], np.uint8), np.array([[1, 0], [0, 0]]))
    0.5
    """
    inter, n_pred, n_target, _ = _counts(pred, target)
    return _iou_from(inter, n_pred, n_target)


def pixel_accuracy(pred: Any, target: Any) -> float:
    """Share of pixels where the two masks agree (foreground and background alike).

    Parameters
    ----------
    pred, target : (H, W) array_like or torch tensor
        Binary masks of equal shape, binarised as in :func:`dice`.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        If the shapes differ, the masks have no pixels, or a float mask contains NaN.
    TypeError
        If a mask is not an array of bool, integer or float values.

    Examples
    --------
    >>> pixel_accuracy(np.array([[1, 1], [0, 0]]), np.array([[1, 0], [0, 0]]))
    0.75
    """
    return _accuracy_from(*_counts(pred, target))


# ------------------------------------------------------------------------------------------------- datasets


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


def pooled_dice(preds: Any, targets: Any) -> float:
    """Hard Dice pooled over a dataset: counts summed over all images, then ``2 Σ|P ∩ T| / (Σ|P| + Σ|T|)``.

    Parameters
    ----------
    preds, targets : sequence of (H, W) masks, or (N, H, W) array or tensor
        As in :func:`summarize`.

    Returns
    -------
    float
        In [0, 1]; 1.0 when every mask is empty.

    Examples
    --------
    >>> pooled_dice([np.array([[1, 1]]), np.array([[0, 0]])], [np.array([[1, 0]]), np.array([[0, 0]])])
    0.6666666666666666
    """
    inter, n_pred, n_target, _ = _totals(_dataset_counts(preds, targets))
    return _dice_from(inter, n_pred, n_target)


def pooled_iou(preds: Any, targets: Any) -> float:
    """Hard IoU pooled over a dataset: ``Σ|P ∩ T| / Σ|P ∪ T|`` over all images.

    Parameters
    ----------
    preds, targets : sequence of (H, W) masks, or (N, H, W) array or tensor
        As in :func:`summarize`.

    Returns
    -------
    float
        In [0, 1]; 1.0 when every mask is empty.

    Examples
    --------
    >>> pooled_iou([np.array([[1, 1]]), np.array([[0, 0]])], [np.array([[1, 0]]), np.array([[0, 0]])])
    0.5
    """
    inter, n_pred, n_target, _ = _totals(_dataset_counts(preds, targets))
    return _iou_from(inter, n_pred, n_target)


def _soft(values: Any, name: str) -> np.ndarray:
    """Probabilities as float64: floats must lie in [0, 1]; bool and integer masks count as 0/1 (> 0)."""
    if _is_tensor(values):
        tensor = values.detach()
        values = tensor.float().cpu().numpy() if tensor.dtype.is_floating_point else tensor.cpu().numpy()
    if isinstance(values, (str, bytes)) or values is None:
        raise TypeError(f"{name} must be an array or tensor, got {type(values).__name__}")
    array = np.asarray(values)
    if array.dtype == bool or array.dtype.kind in "ui":
        return (array > 0).astype(np.float64)
    if array.dtype.kind != "f":
        raise TypeError(f"{name} must be float probabilities or a bool/integer mask, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if array.size and not (np.isfinite(array).all() and array.min() >= 0.0 and array.max() <= 1.0):
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        raise ValueError(
            f"{name} must hold probabilities in [0, 1] without NaN, got values from {low} to {high}; "
            "apply a sigmoid to logits first"
        )
    return array


def pooled_soft_dice(probs: Any, targets: Any, *, smooth: float = 1.0, batch_size: int | None = None) -> float:
    """Soft Dice on probabilities pooled over images, the form the paper's code reported.

    ``(2 Σ p·t + smooth) / (Σ p + Σ t + smooth)``, the sums running over every pixel of every image. With
    ``batch_size``, the value is computed per consecutive batch and averaged with each batch weighted by its
    number of images (as Keras and Lightning average a per-batch metric over an epoch), which reproduces what
    a test loop of that batch size logs. Targets are binarised as in :func:`dice`; predictions are not
    thresholded.

    Parameters
    ----------
    probs : sequence of (H, W) arrays, or (N, H, W) array or tensor
        Foreground probabilities in [0, 1] (float), or hard masks (bool/integer, foreground > 0).
    targets : sequence of (H, W) masks, or (N, H, W) array or tensor
        True masks, pairwise of the same shape as ``probs``.
    smooth : float, optional
        Smoothing term added to numerator and denominator (default 1.0, a common choice in Dice-loss code; it
        makes an all-empty batch score 1). Must be finite and >= 0.
    batch_size : int or None, optional
        Pool per batch of this many images and average over batches (default None: one pool over all images).

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        If probabilities leave [0, 1], shapes or lengths disagree, ``smooth`` < 0 or ``batch_size`` < 1.
    TypeError
        For inputs that are not arrays or sequences of arrays.

    Examples
    --------
    >>> probs = [np.array([[0.9, 0.2], [0.1, 0.0]])]
    >>> targets = [np.array([[1, 0], [0, 0]])]
    >>> round(pooled_soft_dice(probs, targets, smooth=0.0), 4)
    0.8182
    """
    if isinstance(smooth, bool) or not isinstance(smooth, (int, float, np.integer, np.floating)):
        raise TypeError(f"smooth must be a number, got {type(smooth).__name__} {smooth!r}")
    if not math.isfinite(smooth) or smooth < 0:
        raise ValueError(f"smooth must be finite and >= 0, got smooth={smooth}")
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"batch_size must be an int or None, got {type(batch_size).__name__} {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got batch_size={batch_size}")
    pairs = _dataset_pairs(probs, targets, ("probs", "targets"))
    sums = []  # per image: (sum p*t, sum p, sum t)
    for index, (prob, target) in enumerate(pairs):
        p = _soft(prob, f"probs[{index}]")
        t = _binary(target, f"targets[{index}]")
        if p.shape != t.shape:
            raise ValueError(f"image {index}: probs has shape {p.shape} but target has shape {t.shape}")
        sums.append((float(p[t].sum()), float(p.sum()), float(np.count_nonzero(t))))
    step = len(sums) if batch_size is None else int(batch_size)
    total, weight = 0.0, 0
    for start in range(0, len(sums), step):
        batch = sums[start : start + step]
        inter, sum_p, sum_t = (sum(column) for column in zip(*batch, strict=True))
        denominator = sum_p + sum_t + smooth
        value = 1.0 if denominator == 0 else (2.0 * inter + smooth) / denominator
        total += value * len(batch)
        weight += len(batch)
    return total / weight
