"""The two kinds of stage a bootstrapping chain is made of.

An :class:`Annotator` turns one image into a first, noisy mask with no training (a threshold, a clustering).
A :class:`Refiner` learns from images and the previous stage's masks and returns better masks (a network).
Both are structural protocols: any object with the right method satisfies them, no base class is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Annotator", "Refiner", "satisfies"]


@runtime_checkable
class Annotator(Protocol):
    """A first stage: one image in, one boolean mask out.

    Examples
    --------
    >>> import numpy as np
    >>> class Brighter:
    ...     def annotate(self, image):
    ...         return image > image.mean()
    >>> isinstance(Brighter(), Annotator)
    True
    """

    def annotate(self, image: np.ndarray) -> np.ndarray:
        """Segment one image.

        Parameters
        ----------
        image : (H, W) or (H, W, C) ndarray
            Any numeric dtype (uint8, uint16, float, ...).

        Returns
        -------
        mask : (H, W) ndarray of bool
            True marks foreground.
        """
        ...


@runtime_checkable
class Refiner(Protocol):
    """A later stage: learns from (image, mask) pairs and returns refined masks for the same images.

    Examples
    --------
    >>> class Identity:
    ...     def refine(self, images, masks):
    ...         return [m.astype(bool) for m in masks]
    >>> isinstance(Identity(), Refiner)
    True
    """

    def refine(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Learn from ``masks`` and return refined masks.

        Parameters
        ----------
        images : sequence of (H, W) or (H, W, C) ndarray
        masks : sequence of (H, W) ndarray of bool
            The previous stage's masks, one per image, each of its image's size.

        Returns
        -------
        list of (H, W) ndarray of bool
            One refined mask per image, each of its image's size.
        """
        ...


_METHODS = {Annotator: "annotate", Refiner: "refine"}


def satisfies(obj: object, protocol: type) -> bool:
    """Whether ``obj`` (an instance or a class) provides the callable method that ``protocol`` requires.

    Works on classes as well as instances, so a registry can check a factory before building anything.

    >>> satisfies(int, Annotator)
    False
    """
    method = _METHODS.get(protocol)
    if method is None:
        raise TypeError(f"protocol must be Annotator or Refiner, got {protocol!r}")
    return callable(getattr(obj, method, None))
