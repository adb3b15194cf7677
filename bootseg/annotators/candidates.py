"""How ``multiotsu(classes="auto")`` and ``auto`` compare their fitted candidates (channel × number of classes).

Each candidate is fitted whole over the set (its polarity and one-object rule included) and gives its final masks
and their mean objectness (:func:`~bootseg.annotators.polarity.polarity_score`). The most object-like candidate is
kept, but a colour channel only with the evidence of the other channels: its masks must agree with the majority
vote of the other channels' masks (:func:`agreements`, at least :data:`AGREEMENT_FLOOR`). Where the channels
disagree, as on H&E tissue, no colour channel is preferred to grey.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..metrics import dice
from .channels import COLOUR
from .plan import Plan

__all__ = [
    "AGREEMENT_FLOOR",
    "CLOSE",
    "FALLBACK_MARGIN",
    "PLAINEST",
    "Fitted",
    "agreements",
    "best_candidate",
    "summary",
    "unpack",
]

#: ``classes="auto"`` with ``channel="auto"`` keeps a colour channel only when its final masks agree with the
#: majority vote of the other channels' masks (mean Dice) at least this much: where the channels disagree, no
#: colour channel has the evidence to be preferred to grey.
AGREEMENT_FLOOR = 0.5


class Fitted(NamedTuple):
    """What one candidate's fit gives: the mean objectness of its final masks, its plan (the polarity and the
    one-object rule chosen), and the masks, each packed flat with :func:`numpy.packbits` beside its pixel count
    (:func:`unpack`)."""

    score: float
    plan: Plan
    masks: list[tuple[np.ndarray, int]]


def agreements(fitted: dict[tuple[int, str], Fitted]) -> dict[str, float]:
    """Each candidate's mean Dice with the majority vote of the other channels' masks of the same class count
    (``"grey, 2 classes"``: agreement); a count with one channel has nothing to agree with and is left out."""
    made = {}
    for (count, channel), outcome in fitted.items():
        others = [value.masks for (c, name), value in fitted.items() if c == count and name != channel]
        if not others:
            continue
        votes = [np.mean([unpack(masks[i]) for masks in others], axis=0) > 0.5 for i in range(len(outcome.masks))]
        mine = [unpack(packed) for packed in outcome.masks]
        made[f"{channel}, {count} classes"] = float(np.mean([dice(m, v) for m, v in zip(mine, votes, strict=True)]))
    return made


#: Two candidates whose objectness differs by less than this are "close": the summary says the choice was weak.
CLOSE = 0.1


def summary(best: tuple[int, str], scores: dict[str, float], agreement: dict[str, float], polarity: str | None) -> str:
    """One sentence for a person: the chosen candidate (``best``, as ``(classes, channel)``), the runner-up and its
    margin (weak under :data:`CLOSE`), and the colour candidates passed over for lack of agreement."""
    chosen = f"{best[1]}, {best[0]} classes"
    passed = [key for key, value in agreement.items() if key.split(",")[0] in COLOUR and value < AGREEMENT_FLOOR]
    others = {key: value for key, value in scores.items() if key != chosen and key not in passed}
    text = f"{chosen}" + (f", {polarity} objects" if polarity else "") + f" (objectness {scores[chosen]:.2f})"
    if others:
        runner = max(others, key=others.__getitem__)
        margin = scores[chosen] - others[runner]
        if margin < 0:  # the plainest kept over a better one (FALLBACK_MARGIN)
            text += f"; kept over {runner} ({others[runner]:.2f}), which is within {FALLBACK_MARGIN} of it"
        else:
            sure = "weak: candidates close" if margin < CLOSE else "clear"
            text += f"; runner-up {runner} ({others[runner]:.2f}): {sure}"
    if passed:
        listed = ", ".join(f"{key} ({scores[key]:.2f}, agreement {agreement[key]:.2f})" for key in passed)
        text += f"; colour candidates the other channels did not confirm (agreement < {AGREEMENT_FLOOR}): {listed}"
    return text


def unpack(packed: tuple[np.ndarray, int]) -> np.ndarray:
    """A mask of :data:`Fitted`, flat again: ``(np.packbits(mask.ravel()), mask.size)`` → the bool pixels.

    >>> mask = np.array([True, False, True])
    >>> unpack((np.packbits(mask), mask.size)).tolist()
    [True, False, True]
    """
    return np.unpackbits(packed[0], count=packed[1]).view(bool)


#: The plainest candidate: Otsu's threshold on grey.
PLAINEST = (2, "grey")
#: The best candidate is kept only when its objectness is at least this much above :data:`PLAINEST`'s; closer, the
#: evidence for it is weak and the plainest is kept (0: the best is always kept).
FALLBACK_MARGIN = 0.0


def best_candidate(fitted: dict[tuple[int, str], Fitted]) -> tuple[int, str]:
    """The (classes, channel) pair the fit keeps: the highest objectness among grey and the colour candidates
    whose agreement (:func:`agreements`) reaches :data:`AGREEMENT_FLOOR`, unless :data:`PLAINEST` is within
    :data:`FALLBACK_MARGIN` of it. Ties keep the first: 2 classes, grey."""
    agreement = agreements(fitted)
    trusted = [
        key
        for key in fitted
        if key[1] not in COLOUR or agreement.get(f"{key[1]}, {key[0]} classes", 0.0) >= AGREEMENT_FLOOR
    ]
    best = max(trusted, key=lambda key: fitted[key].score)
    if PLAINEST in fitted and fitted[best].score - fitted[PLAINEST].score < FALLBACK_MARGIN:
        return PLAINEST
    return best
