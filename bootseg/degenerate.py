"""Masks that hold no segmentation: (nearly) empty, or (nearly) all foreground, and the warning a stage gets.

A network that stopped too early, or a first stage given the wrong polarity, can make such masks for every image;
the run then goes on without an error, so the warning has to be loud: in the log, in ``run.json`` and at the top
of the report.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "NEARLY",
    "STAGE_SHARE",
    "UNSURE_SHARE",
    "degenerate_kind",
    "degenerate_warning",
    "stage_warnings",
    "unsure_warning",
]

log = logging.getLogger(__name__)

#: A mask with less than this share of foreground pixels is (nearly) empty; more than 1 minus it, (nearly) full.
NEARLY = 0.01
#: A stage is warned about when at least this share of its masks are (nearly) empty or (nearly) full.
STAGE_SHARE = 0.9
#: A network stage that keeps its input where it is unsure is warned about when it was unsure on at least this share
#: of all pixels: its masks are then mostly the previous stage's.
UNSURE_SHARE = 0.5


def degenerate_kind(mask: np.ndarray) -> str | None:
    """``"empty"`` or ``"full"`` for a mask under :data:`NEARLY` or over ``1 - NEARLY`` foreground, else ``None``.

    >>> mask = np.zeros((20, 20), bool); mask[0, 0] = True
    >>> degenerate_kind(mask), degenerate_kind(~mask), degenerate_kind(np.eye(20, dtype=bool))
    ('empty', 'full', None)
    """
    share = float(np.count_nonzero(mask)) / max(int(np.size(mask)), 1)
    if share < NEARLY:
        return "empty"
    if share > 1.0 - NEARLY:
        return "full"
    return None


def degenerate_warning(stage: str, kinds: Iterable[str | None] | Sequence[np.ndarray]) -> str | None:
    """The warning for ``stage`` when at least :data:`STAGE_SHARE` of its masks are (nearly) empty or full.

    ``kinds`` are the masks themselves, or their :func:`degenerate_kind` (``bootseg predict`` keeps only those).

    >>> degenerate_warning("1-unet", ["full", "full", "empty"])[:58]
    'stage 1-unet: 2 of 3 masks are (nearly) all foreground and'
    >>> degenerate_warning("1-unet", ["full", None, None]) is None
    True
    """
    kinds = [k if k is None or isinstance(k, str) else degenerate_kind(k) for k in kinds]
    empty, full = kinds.count("empty"), kinds.count("full")
    if not kinds or empty + full < STAGE_SHARE * len(kinds):
        return None
    parts = []
    if full:
        parts.append(f"{full} of {len(kinds)} masks are (nearly) all foreground")
    if empty:
        parts.append(f"{empty} of {len(kinds)} masks are (nearly) empty")
    return (
        f"stage {stage}: {' and '.join(parts)} (under {NEARLY:.0%} of their pixels in the other class), so it "
        "segmented nothing; check its options (a network: more epochs, a lower learning rate; a first stage: its "
        "polarity) and its input masks before using the results"
    )


def unsure_warning(stage: str, proba: Sequence[np.ndarray] | None, confident: float | None) -> str | None:
    """The warning for a network ``stage`` that keeps its input masks where it is unsure (``confident`` above 0.5,
    :func:`bootseg.stagework.network_masks`) when it was unsure on at least :data:`UNSURE_SHARE` of all pixels.

    >>> unsure_warning("1-unet", [np.full((4, 4), 0.5)], 0.8)[:70]
    'stage 1-unet: the network was unsure (probability between 0.2 and 0.8)'
    >>> unsure_warning("1-unet", [np.full((4, 4), 0.5)], 0.5) is None
    True
    """
    if confident is None or confident <= 0.5 or not proba:
        return None
    total = sum(int(np.size(p)) for p in proba)
    from .stagework import unsure_pixels

    unsure = sum(int(np.count_nonzero(unsure_pixels(p, confident))) for p in proba)
    share = unsure / max(total, 1)
    if share < UNSURE_SHARE:
        return None
    return (
        f"stage {stage}: the network was unsure (probability between {1.0 - confident:.2g} and {confident:.2g}) on "
        f"{share:.0%} of the pixels, where the previous stage's masks were kept, so its masks are mostly its "
        "input's: it found no rule its input masks agree on; its probability maps (--save-proba) show where"
    )


def stage_warnings(stages: Iterable[Any]) -> list[str]:
    """:func:`degenerate_warning` of each stage result (``.key``, ``.masks``) that has one, and for network stages
    (``.proba`` and a ``confident`` level on ``.stage``) :func:`unsure_warning`, each logged as a warning.

    >>> from types import SimpleNamespace
    >>> stage_warnings([SimpleNamespace(key="0-otsu", masks=[np.eye(20, dtype=bool)])])
    []
    """
    stages = list(stages)
    found = [w for stage in stages if (w := degenerate_warning(stage.key, stage.masks)) is not None]
    for stage in stages:
        confident = getattr(getattr(stage, "stage", None), "confident", None)
        warning = unsure_warning(stage.key, getattr(stage, "proba", None), confident)
        if warning is not None:
            found.append(warning)
    for warning in found:
        log.warning("%s", warning)
    return found
