"""How sure a network is of each mask it makes, without ground truth: the score that orders images for checking.

``bootseg run`` writes it per image to ``run.json`` and ``confidence.csv`` and sorts the report by it, least
confident first, so that a person corrects the worst masks first.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONFIDENCE_DEFINITION", "UNSURE_HIGH", "UNSURE_LOW", "confidence", "solidity", "sureness"]

#: Probabilities strictly above this and below :data:`UNSURE_HIGH` count as unsure in :func:`sureness`.
UNSURE_LOW = 0.25
#: See :data:`UNSURE_LOW`.
UNSURE_HIGH = 0.75

#: The definition of :func:`confidence` in words, as written to run.json and the report.
CONFIDENCE_DEFINITION = (
    "sureness x solidity: sureness is the share of the predicted object (pixels with p > 0.5, together with every "
    "unsure pixel, 0.25 < p < 0.75) on which the network is sure (p <= 0.25 or p >= 0.75); solidity is the "
    "area-weighted mean of area / convex hull area over the predicted objects; 1 = crisp, convex objects"
)


def confidence(proba: np.ndarray) -> float:
    """How far one image's mask can be trusted, from 0 to 1: :func:`sureness` × :func:`solidity`.

    Two independent warnings multiply. The network is unsure along a wide band of the outline, or over much of the
    object (low :func:`sureness`); or the objects are far from convex (low :func:`solidity`), which is how a mask
    looks when it has fused an object with its neighbours (a white cell with the red cells around it) or leaked
    into the background. Neither reads a true mask.

    Chosen by its rank correlation (Spearman ρ) with the per-image Dice against the true masks on the five
    benchmark data sets (``docs/benchmarks.md``, where every candidate is listed): sureness alone gave ρ from 0.29
    to 0.80, and 0.33 on the CellaVision white cells, whose failures are confident; the product gave 0.65 there,
    0.70 to 0.84 on three others and 0.35 on the fluorescence nuclei. An image with no object and no unsure pixel
    scores 1.

    >>> p = np.zeros((10, 10), np.float32); p[2:8, 2:8] = 0.95; p[2:8, 7] = 0.5
    >>> round(confidence(p), 3)   # a 6 x 5 rectangle, one unsure column: sureness 5/6, solidity 1
    0.833
    """
    values = np.asarray(proba, dtype=np.float32)
    return sureness(values) * solidity(values > 0.5)


def sureness(proba: np.ndarray) -> float:
    """How sure a network is of one image's mask, from 0 (unsure on the whole object) to 1 (no unsure pixel).

    ``1 - |U| / |F ∪ U|`` with ``U`` the unsure pixels (``0.25 < p < 0.75``) and ``F`` the predicted object
    (``p > 0.5``): a crisp object scores near 1, an outline that wanders over a wide band, or an object that is
    mostly unsure, scores low. An image with neither object nor unsure pixel scores 1.

    Alternatives measured when it was chosen were less steady across data sets: the mean of ``|2p - 1|`` over the
    object, the same band at 0.1-0.9, the mean of ``|2p - 1|`` over the whole image (dominated by the background).

    >>> p = np.zeros((10, 10), np.float32); p[2:8, 2:8] = 0.95; p[2:8, 7] = 0.5
    >>> round(sureness(p), 3)
    0.833
    """
    values = np.asarray(proba, dtype=np.float32)
    unsure = (values > UNSURE_LOW) & (values < UNSURE_HIGH)
    area = np.count_nonzero(unsure | (values > 0.5))
    return 1.0 if area == 0 else float(1.0 - np.count_nonzero(unsure) / area)


def solidity(mask: np.ndarray) -> float:
    """Area-weighted mean solidity (area / area of the convex hull) of the mask's 4-connected objects.

    1 for convex objects (and for an empty mask); low for objects fused with their neighbours or with ragged,
    leaking outlines. Each object's solidity is scikit-image's (:func:`skimage.measure.regionprops`: pixels over
    the pixels of its convex hull image).

    >>> ring = np.zeros((9, 9), bool); ring[1:8, 1:8] = True; ring[3:6, 3:6] = False
    >>> round(solidity(ring), 3)   # 40 pixels, a 7 x 7 hull
    0.816
    """
    from skimage import measure

    regions = measure.regionprops(measure.label(np.asarray(mask, dtype=bool), connectivity=1))
    if not regions:
        return 1.0
    areas = np.array([region.area for region in regions], dtype=float)
    return float(np.dot(areas, [region.solidity for region in regions]) / areas.sum())
