"""Whether a training run diverged: a loss that is never finite, or weights that are not, make it a failure.

A network whose loss went to NaN or infinity predicts nothing useful (every mask empty, or full), and its
probabilities would even look sure; such a run stops with :class:`bootseg.errors.TrainingDivergedError`, which
says what diverged and what to change, instead of handing those masks on as a result.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch import nn

from ..errors import TrainingDivergedError

__all__ = ["check_converged", "non_finite_tensors"]

log = logging.getLogger(__name__)


def non_finite_tensors(state: dict[str, Any]) -> list[str]:
    """The names of the floating-point tensors in ``state`` (a ``state_dict``) holding a NaN or an infinity.

    >>> non_finite_tensors({"w": torch.ones(2), "b": torch.tensor([1.0, float("nan")]), "n": torch.tensor(3)})
    ['b']
    """
    return [
        name
        for name, value in state.items()
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]


def check_converged(report: Any, model: nn.Module, *, lr: float) -> None:
    """Raise :class:`TrainingDivergedError` if no epoch of ``report`` had a finite validation loss, or if the
    weights kept in ``model`` are not finite; warn if the loss stopped being finite after the kept epoch.

    >>> from bootseg.refiners.training import TrainReport
    >>> report = TrainReport(history=[{"epoch": 1, "train_loss": 0.4, "val_loss": 0.5}], best_epoch=1,
    ...                      best_val_loss=0.5)
    >>> check_converged(report, nn.Linear(1, 1), lr=1e-3)   # finite: nothing to say
    """
    history = list(report.history)
    advice = (
        f"lower the learning rate (e.g. unet(lr={lr / 10:g}), now lr={lr:g}), or check that the images and the "
        "first stage's masks are what you expect"
    )
    if report.best_epoch == 0 or not math.isfinite(report.best_val_loss):
        last = history[-1] if history else {}
        raise TrainingDivergedError(
            f"unet training diverged: the validation loss was not finite in any of its {len(history)} epochs "
            f"(last epoch: train loss {last.get('train_loss')}, validation loss {last.get('val_loss')}), so no "
            f"weights could be kept; {advice}"
        )
    broken = non_finite_tensors(model.state_dict())
    if broken:
        raise TrainingDivergedError(
            f"unet training diverged: {len(broken)} weight tensors of the kept epoch {report.best_epoch} are not "
            f"finite (first: {broken[0]}); {advice}"
        )
    later = [e for e in history if e["epoch"] > report.best_epoch and not _finite(e)]
    if later:
        log.warning(
            "unet training diverged at epoch %d (train loss %s, validation loss %s); the weights of epoch %d "
            "(validation loss %.4f) are kept; %s",
            later[0]["epoch"],
            later[0].get("train_loss"),
            later[0].get("val_loss"),
            report.best_epoch,
            report.best_val_loss,
            advice,
        )


def _finite(epoch: dict[str, Any]) -> bool:
    return all(math.isfinite(float(epoch.get(key, 0.0))) for key in ("train_loss", "val_loss"))
