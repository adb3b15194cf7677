"""Work sent to an executor's workers: module-level functions, so that they pickle with the stage they are given."""

from __future__ import annotations

from typing import Any

import numpy as np

from .protocols import Network

__all__ = ["annotate_batch", "predict_batch"]


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


def predict_batch(network: Network, images: list[np.ndarray]) -> list[np.ndarray]:
    """The network's masks: its probabilities above its own threshold, as in :meth:`BootstrapChain.run`.

    >>> class Half:
    ...     threshold = 0.5
    ...     def predict_proba(self, images):
    ...         return [np.full(image.shape, 0.6) for image in images]
    >>> predict_batch(Half(), [np.zeros((1, 2))])[0].tolist()
    [[True, True]]
    """
    return [proba > network.threshold for proba in network.predict_proba(images)]
