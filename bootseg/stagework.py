"""Work sent to an executor's workers: module-level functions, so that they pickle with the stage they are given."""

from __future__ import annotations

from typing import Any

import numpy as np

from .protocols import Network

__all__ = ["annotate_batch", "network_masks", "predict_batch", "unsure_pixels"]


def annotate_batch(annotator: Any, images: list[np.ndarray]) -> list[tuple[bool, Any]]:
    """``(True, mask)`` or ``(False, exception)`` per image, so that the caller can name the image that failed.

    >>> from bootseg.annotators import Otsu
    >>> ok, mask = annotate_batch(Otsu(), [np.eye(4, dtype=np.uint8)])[0]
    >>> ok, mask.shape
    (True, (4, 4))
    """
    outcomes: list[tuple[bool, Any]] = []
    for image in images:
        try:
            outcomes.append((True, annotator.annotate(image)))
        except Exception as exc:
            outcomes.append((False, exc))
            break
    return outcomes


def network_masks(network: Any, proba: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """A network stage's mask of one image in a chain run, from its probabilities and its input mask.

    With a ``confident`` level above 0.5 (:class:`~bootseg.protocols.Confident`), the input mask changed only
    where the network is sure: foreground where ``proba >= confident``, background where
    ``proba <= 1 - confident``, the input's class in between. Otherwise (0.5, or a network without the
    attribute) the probabilities above the network's ``threshold``.

    >>> class Sure:
    ...     threshold, confident = 0.5, 0.8
    >>> proba = np.array([[0.9, 0.6, 0.4, 0.1]])
    >>> mask = network_masks(Sure(), proba, np.array([[False, False, True, True]]))
    >>> "".join(str(int(value)) for value in mask.ravel())
    '1010'
    """
    confident = getattr(network, "confident", None)
    if confident is None or confident <= 0.5:
        return proba > network.threshold
    return np.where(unsure_pixels(proba, confident), np.asarray(previous, dtype=bool), proba >= confident)


def unsure_pixels(proba: np.ndarray, confident: float) -> np.ndarray:
    """Where a network with this ``confident`` level (above 0.5) keeps its input's class:
    ``1 - confident < proba < confident``.

    >>> "".join(str(int(value)) for value in unsure_pixels(np.array([0.1, 0.15, 0.5, 0.8, 0.9]), 0.8))
    '00100'
    """
    return (proba > 1.0 - confident) & (proba < confident)


def predict_batch(network: Network, images: list[np.ndarray]) -> list[np.ndarray]:
    """The network's masks of new images: its probabilities above its own threshold (there is no input mask for
    ``confident`` to keep).

    >>> class Half:
    ...     threshold = 0.5
    ...     def predict_proba(self, images):
    ...         return [np.full(image.shape, 0.6) for image in images]
    >>> predict_batch(Half(), [np.zeros((1, 2))])[0].tolist()
    [[True, True]]
    """
    return [proba > network.threshold for proba in network.predict_proba(images)]
