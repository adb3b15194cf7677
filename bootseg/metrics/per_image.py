"""Dice, IoU and pixel accuracy of one prediction against its target."""

from __future__ import annotations

from typing import Any

import numpy as np  # noqa: F401  (the examples use it)

from .counts import _accuracy_from, _counts, _dice_from, _iou_from

__all__ = ["dice", "iou", "pixel_accuracy"]


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
