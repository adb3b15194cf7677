"""Binarising masks by the package's rule and counting pixels (intersection, prediction, target, all) per
image and per dataset: what every metric is computed from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

FLOAT_THRESHOLD = 0.5


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
