"""What a stage says about itself for the run record and the report: a small, typed description.

``run.json``, the report and ``bootseg predict`` record each stage's options, what it decided over the set, how it
trained and where it ran. A stage tells them by returning a :class:`StageDescription` from ``describe()`` (the
:class:`~bootseg.protocols.Described` protocol); :func:`describe_stage` asks it, and for a stage that does not
say, records the options it was given. Nothing else about a stage object is read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StageDescription", "TrainingSummary", "describe_stage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSummary:
    """How a network stage trained, as ``run.json``'s ``training`` entry records it.

    Attributes
    ----------
    history : tuple of dict
        One entry per epoch (``epoch``, ``train_loss``, ``val_loss``, any other numbers the stage keeps).
    best_epoch, best_val_loss
        The epoch whose weights were kept and its validation loss (None where the stage keeps the last).
    seconds : float or None
        Wall time of the training.
    train_images, val_images : int or None
        Sizes of the training and validation split.
    stopped_early : bool or None
        Whether a stopping rule ended the training before its last epoch.
    batch_size, memory_retries, world_size : int or None
        The batch size used, the restarts after running out of memory, the training processes.

    Examples
    --------
    >>> summary = TrainingSummary(history=({"epoch": 1, "train_loss": 0.5},), seconds=2.0, train_images=8)
    >>> summary.to_dict()["epochs_run"], summary.to_dict()["images_per_second"]
    (1, 4.0)
    """

    history: tuple[Mapping[str, Any], ...] = ()
    best_epoch: int | None = None
    best_val_loss: float | None = None
    seconds: float | None = None
    train_images: int | None = None
    val_images: int | None = None
    stopped_early: bool | None = None
    batch_size: int | None = None
    memory_retries: int | None = None
    world_size: int | None = None

    @property
    def images_per_second(self) -> float | None:
        """Training images seen per second, over every epoch (None without the time or the set's size)."""
        if not self.seconds or not self.train_images:
            return None
        return len(self.history) * self.train_images / self.seconds

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able entry of ``run.json`` (``epochs_run`` and ``images_per_second`` added)."""
        return {
            "epochs_run": len(self.history),
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "seconds": self.seconds,
            "train_images": self.train_images,
            "val_images": self.val_images,
            "images_per_second": self.images_per_second,
            "stopped_early": self.stopped_early,
            "batch_size": self.batch_size,
            "memory_retries": self.memory_retries,
            "world_size": self.world_size,
            "history": [dict(entry) for entry in self.history],
        }


@dataclass(frozen=True)
class StageDescription:
    """A stage's own account of itself.

    Attributes
    ----------
    options : mapping
        Every option the stage runs with (after its defaults and what it resolved), JSON-able; what resuming and
        reproducing a run compare.
    choices : mapping
        What the stage decided from the images (a channel, a polarity, a working size); empty when nothing.
    training : TrainingSummary or None
        How a network trained; None for a stage that does not train or has not trained yet.
    device : str or None
        Where a network runs (``"cpu"``, ``"cuda:0"``); None for a stage that runs on no device.

    Examples
    --------
    >>> StageDescription({"k": 3}).choices
    {}
    """

    options: Mapping[str, Any]
    choices: Mapping[str, Any] = field(default_factory=dict)
    training: TrainingSummary | None = None
    device: str | None = None


def describe_stage(stage: Any, given: Mapping[str, Any] | None = None) -> StageDescription:
    """``stage.describe()`` for a :class:`~bootseg.protocols.Described` stage; else the options it was given.

    A ``describe()`` that fails or returns something else only informs: the failure is logged and the given
    options are recorded instead, so that a plugin's report never stops a run whose masks are done.

    Examples
    --------
    >>> describe_stage(object(), {"k": 2}).options
    {'k': 2}
    """
    from .protocols import Described

    fallback = StageDescription(dict(given or {}))
    if not isinstance(stage, Described):
        return fallback
    try:
        described = stage.describe()
    except Exception as exc:
        log.warning(
            "stage %r: describe() failed, its given options are recorded: %s: %s", stage, type(exc).__name__, exc
        )
        return fallback
    if not isinstance(described, StageDescription):
        log.warning(
            "stage %r: describe() returned %r, not a StageDescription; its given options are recorded", stage, described
        )
        return fallback
    return described
