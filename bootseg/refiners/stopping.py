"""When training has stopped improving: patience on the validation loss, with a minimum improvement and a floor.

The training loop asks an :class:`EarlyStopping` after every epoch whether to go on. The rule is kept apart from
the loop so that it can be read, tested on synthetic curves and replayed on recorded ones
(:func:`stop_epoch`) without training anything. Which weights are kept is not its business: the loop keeps the
epoch with the lowest validation loss, whenever it stops.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["EarlyStopping", "stop_epoch"]


class EarlyStopping:
    """Stop when the validation loss has not improved enough for ``patience`` epochs, but never before ``min_epochs``.

    An epoch improves when its loss is below ``(1 - min_delta)`` times the loss of the last epoch that improved:
    ``min_delta`` is a share of the loss, so one value serves losses of any scale (a soft-label cross-entropy
    whose floor differs from one set of images to the next). Small wobbles below the best loss therefore do not
    reset the count, while the weights of the lowest loss are still the ones the loop keeps.

    Parameters
    ----------
    patience : int or None
        Epochs without an improvement after which training stops; ``None`` never stops.
    min_delta : float
        Smallest relative improvement that counts, in [0, 1).
    min_epochs : int
        Train at least this many epochs whatever the curve does.

    Examples
    --------
    >>> rule = EarlyStopping(patience=2)
    >>> [rule.update(loss) for loss in [1.0, 0.8, 0.9, 0.85, 0.7]]
    [False, False, False, True, False]
    >>> rule.reason
    'no improvement of the validation loss for 2 epochs after epoch 2'
    """

    def __init__(self, patience: int | None = None, *, min_delta: float = 0.0, min_epochs: int = 0) -> None:
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
            raise ValueError(f"patience must be an integer >= 1 or None (never stop early), got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not 0 <= min_delta < 1:
            raise ValueError(f"min_delta must be a share of the loss in [0, 1), such as 0.01, got {min_delta!r}")
        if isinstance(min_epochs, bool) or not isinstance(min_epochs, int) or min_epochs < 0:
            raise ValueError(f"min_epochs must be an integer >= 0, got {min_epochs!r}")
        self.patience = patience
        self.min_delta = float(min_delta)
        self.min_epochs = min_epochs
        self.epoch = 0
        self.reference = math.inf
        self.improved_epoch = 0
        self.reason: str | None = None

    def update(self, val_loss: float) -> bool:
        """Take the validation loss of the next epoch; True when training should stop after this epoch."""
        self.epoch += 1
        if val_loss < self.reference * (1.0 - self.min_delta) or self.improved_epoch == 0:
            self.reference, self.improved_epoch = val_loss, self.epoch
        if self.patience is None or self.epoch < self.min_epochs:
            return False
        if self.epoch - self.improved_epoch >= self.patience:
            self.reason = (
                f"no improvement of the validation loss for {self.patience} epochs after epoch {self.improved_epoch}"
            )
            return True
        return False


def stop_epoch(
    val_losses: Iterable[float], patience: int | None, *, min_delta: float = 0.0, min_epochs: int = 0
) -> int:
    """The epoch (counted from 1) after which :class:`EarlyStopping` stops on a recorded curve, or its length.

    >>> stop_epoch([1.0, 0.5, 0.6, 0.7, 0.4], patience=2)
    4
    >>> stop_epoch([1.0, 0.5, 0.6, 0.7, 0.4], patience=2, min_epochs=5)
    5
    """
    rule = EarlyStopping(patience, min_delta=min_delta, min_epochs=min_epochs)
    count = 0
    for loss in val_losses:
        count += 1
        if rule.update(loss):
            break
    return count
