"""Rounds of networks that stop when the masks stop changing.

A chain of network stages (``auto,unet,unet,unet``) is a sequence of rounds, each trained on the previous round's
masks. With a tolerance (``BootstrapChain(..., stable=0.01)``, ``bootseg run --rounds N``), the chain stops after
the first network stage whose masks differ from its input's by less than the tolerance (:func:`mask_change`): a
further round, trained on almost the same labels, would change them as little. The stages not run are named in
:class:`Rounds`, which ``run.json`` records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["STABLE", "Rounds", "mask_change"]

#: ``bootseg run --rounds N`` stops after a round whose masks differ from its input's by less than this (the mean
#: over the images of 1 − Dice): under one pixel in a hundred of a typical object's outline and area.
STABLE = 0.01


def mask_change(before: Sequence[np.ndarray], after: Sequence[np.ndarray]) -> float:
    """How much a stage changed the masks: the mean over the images of ``1 − Dice(before, after)`` (0 where both
    masks are empty).

    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = a.copy(); b[2] = True
    >>> round(mask_change([a, a], [a, b]), 4)
    0.1
    """
    from .metrics import dice

    if len(before) != len(after):
        raise ValueError(f"got {len(before)} masks before and {len(after)} after; give one pair per image")
    changes = [1 - dice(new, old) for old, new in zip(before, after, strict=True)]
    return float(np.mean(changes)) if changes else 0.0


@dataclass
class Rounds:
    """What a chain with a tolerance did: each network stage's change to its input's masks, and where it stopped.

    Attributes
    ----------
    tolerance : float
        The change under which the chain stops.
    changes : dict of str to float
        Each network stage run, by key (``"2-unet"``), and its :func:`mask_change`.
    skipped : list of str
        The stages not run, by key; empty when every stage ran.

    Examples
    --------
    >>> rounds = Rounds(0.01, {"1-unet": 0.04, "2-unet": 0.006}, ["3-unet"])
    >>> rounds.summary()
    'stopped after 2-unet: it changed the masks by 0.006 (mean 1 − Dice), under 0.01; 3-unet not run'
    """

    tolerance: float
    changes: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Whether the masks have stopped changing: the last stage run changed them by less than the tolerance."""
        return self.stopped or (bool(self.changes) and list(self.changes.values())[-1] < self.tolerance)

    @property
    def stopped(self) -> bool:
        """Whether stages were left out because the masks had stopped changing."""
        return bool(self.skipped)

    def summary(self) -> str:
        """One sentence for the log and the report."""
        if not self.changes:
            return "no network stage ran"
        last, change = list(self.changes.items())[-1]
        if not self.stopped:
            return (
                f"every stage ran; the last, {last}, changed the masks by {change:.3f} (mean 1 − Dice), "
                f"{'under' if change < self.tolerance else 'not under'} {self.tolerance:g}"
            )
        return (
            f"stopped after {last}: it changed the masks by {change:.3f} (mean 1 − Dice), under {self.tolerance:g}; "
            f"{', '.join(self.skipped)} not run"
        )

    def as_dict(self) -> dict[str, Any]:
        """``run.json``'s ``rounds``."""
        return {
            "tolerance": self.tolerance,
            "run": len(self.changes),
            "changes": {key: round(value, 5) for key, value in self.changes.items()},
            "skipped": list(self.skipped),
            "summary": self.summary(),
        }
