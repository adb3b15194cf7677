"""Metrics pooled over a dataset: hard Dice and IoU on the summed counts, and the soft Dice on probabilities
that the paper's code reported."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .counts import _binary, _dataset_counts, _dataset_pairs, _dice_from, _iou_from, _is_tensor, _totals

__all__ = ["pooled_dice", "pooled_iou", "pooled_soft_dice"]


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
