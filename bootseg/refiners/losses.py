"""Segmentation losses on logits: soft Dice (per image), binary cross-entropy, and their sum."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["get_loss", "soft_dice_loss"]


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """``1 − soft Dice``, computed per image and averaged over the batch.

    Parameters
    ----------
    logits, target : (B, 1, H, W) tensors
        Raw network outputs and {0, 1} targets.
    smooth : float
        Added to numerator and denominator, so an empty target predicted empty scores a loss near 0.

    >>> x = torch.full((1, 1, 4, 4), 20.0)
    >>> round(float(soft_dice_loss(x, torch.ones(1, 1, 4, 4))), 4)
    0.0
    """
    prob = torch.sigmoid(logits.float()).flatten(1)
    target = target.float().flatten(1)
    inter = (prob * target).sum(1)
    dice = (2 * inter + smooth) / (prob.sum(1) + target.sum(1) + smooth)
    return 1 - dice.mean()


def _bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def _bce_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return _bce(logits, target) + soft_dice_loss(logits, target)


_LOSSES = {"dice": soft_dice_loss, "bce": _bce, "bce_dice": _bce_dice}


def get_loss(name: str):
    """The loss function called ``name`` (``"dice"``, ``"bce"`` or ``"bce_dice"``)."""
    if name not in _LOSSES:
        raise ValueError(f"loss must be one of {', '.join(_LOSSES)}, got {name!r}")
    return _LOSSES[name]
