"""How sure a network is of each mask it makes, without ground truth: the score that orders images for checking.

``bootseg run`` writes it per image to ``run.json`` and ``confidence.csv`` and sorts the report by it, least
confident first, so that a person corrects the worst masks first.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONFIDENCE_DEFINITION", "UNSURE_HIGH", "UNSURE_LOW", "confidence"]

#: Probabilities strictly above this and below :data:`UNSURE_HIGH` count as unsure in :func:`confidence`.
UNSURE_LOW = 0.25
#: See :data:`UNSURE_LOW`.
UNSURE_HIGH = 0.75

#: The definition of :func:`confidence` in words, as written to run.json and the report.
CONFIDENCE_DEFINITION = (
    "share of the predicted object (pixels with p > 0.5, together with every unsure pixel, 0.25 < p < 0.75) "
    "on which the network is sure (p <= 0.25 or p >= 0.75); 1 = no unsure pixel"
)


def confidence(proba: np.ndarray) -> float:
    """How sure a network is of one image's mask, from 0 (unsure on the whole object) to 1 (no unsure pixel).

    ``1 - |U| / |F ∪ U|`` with ``U`` the unsure pixels (``0.25 < p < 0.75``) and ``F`` the predicted object
    (``p > 0.5``): a crisp object scores near 1, an outline that wanders over a wide band, or an object that is
    mostly unsure, scores low. An image with neither object nor unsure pixel scores 1.

    Chosen by its rank correlation (Spearman) with the per-image Dice against true masks, measured on two data
    sets: 0.785 on 64 synthetic spheroid images (``bootseg demo``) and 0.785 on the 210 images of
    ``wbc_tecom_brightfield``. Alternatives were less steady: the mean of ``|2p - 1|`` over the object (0.97 and
    0.62), the same band at 0.1-0.9 (0.69 and 0.74), the mean of ``|2p - 1|`` over the whole image (0.89 and
    0.37, dominated by the background).

    >>> p = np.zeros((10, 10), np.float32); p[2:8, 2:8] = 0.95; p[2:8, 7] = 0.5
    >>> round(confidence(p), 3)
    0.833
    """
    values = np.asarray(proba, dtype=np.float32)
    unsure = (values > UNSURE_LOW) & (values < UNSURE_HIGH)
    area = np.count_nonzero(unsure | (values > 0.5))
    return 1.0 if area == 0 else float(1.0 - np.count_nonzero(unsure) / area)
