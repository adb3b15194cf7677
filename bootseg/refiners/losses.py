"""Segmentation losses on logits: soft Dice (per image), binary cross-entropy, and their sum.

Each takes an optional per-image ``weight`` (``(B,)``): the loss is then the mean over the batch of each image's
loss times its weight, so that a person's corrected masks count more than a first stage's (1 for every image is
the unweighted loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["get_loss", "soft_dice_loss"]


def soft_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """``1 − soft Dice``, computed per image and averaged over the batch.

    Parameters
    ----------
    logits, target : (B, 1, H, W) tensors
        Raw network outputs and {0, 1} targets.
    smooth : float
        Added to numerator and denominator, so an empty target predicted empty scores a loss near 0.
    weight : (B,) tensor, optional
        Each image's weight.

    >>> x = torch.full((1, 1, 4, 4), 20.0)
    >>> round(float(soft_dice_loss(x, torch.ones(1, 1, 4, 4))), 4)
    0.0
    """
    prob = torch.sigmoid(logits.float()).flatten(1)
    target = target.float().flatten(1)
    inter = (prob * target).sum(1)
    dice = (2 * inter + smooth) / (prob.sum(1) + target.sum(1) + smooth)
    if weight is not None:
        return ((1 - dice) * weight).mean()
    return 1 - dice.mean()


def _bce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    if weight is not None:
        per_pixel = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
        return (per_pixel.flatten(1).mean(1) * weight).mean()
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def _bce_dice(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    return _bce(logits, target, weight) + soft_dice_loss(logits, target, weight=weight)


_LOSSES = {"dice": soft_dice_loss, "bce": _bce, "bce_dice": _bce_dice}


def get_loss(name: str):
    """The loss function called ``name`` (``"dice"``, ``"bce"`` or ``"bce_dice"``)."""
    if name not in _LOSSES:
        raise ValueError(f"loss must be one of {', '.join(_LOSSES)}, got {name!r}")
    return _LOSSES[name]
