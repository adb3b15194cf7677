"""The two kinds of stage a bootstrapping chain is made of, and the capabilities a stage may add.

An :class:`Annotator` turns one image into a first, noisy mask with no training (a threshold, a clustering).
A :class:`Refiner` learns from images and the previous stage's masks and returns better masks. A
:class:`Network` is a later stage that trains and predicts separately and can be saved: what resuming a run,
``bootseg predict``, probability maps and confidence need. All are structural protocols: any object with the
right methods satisfies them, no base class is needed. The chain and the command line call nothing on a stage
that is not declared here; ``docs/plugins.md`` says what each capability buys.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .description import StageDescription

__all__ = [
    "Annotator",
    "Confident",
    "Described",
    "FitsCandidates",
    "FitsSet",
    "Named",
    "Network",
    "Refiner",
    "StreamsProba",
    "satisfies",
]


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


@runtime_checkable
class FitsSet(Protocol):
    """An annotator's optional set-level step: ``fit(images)`` decides, once for the whole set, what
    ``annotate`` then applies to each image (a channel, a polarity). The chain calls it before the first mask;
    an annotator without it annotates each image on its own. A ``fit`` that also takes an ``executor`` keyword
    gets the run's executor.

    Examples
    --------
    >>> class SetMean:
    ...     def fit(self, images):
    ...         self.level = float(np.mean([im.mean() for im in images]))
    ...     def annotate(self, image):
    ...         return image > self.level
    >>> isinstance(SetMean(), FitsSet), isinstance(SetMean(), Annotator)
    (True, True)
    """

    def fit(self, images: Sequence[np.ndarray]) -> Any:
        """Decide from ``images`` (the whole set); return value ignored."""
        ...


@runtime_checkable
class Named(Protocol):
    """A stage object that names itself (a class attribute ``name = "my_stage"``): the name a chain built from
    the object gives its stage, its folder and its model file; without it, the class name in lower case.

    >>> class Mine:
    ...     name = "mine"
    >>> isinstance(Mine(), Named)
    True
    """

    name: str


@runtime_checkable
class FitsCandidates(Protocol):
    """A first stage whose ``fit`` fits several candidates whole (the built-in ``auto``): ``bootseg run`` starts
    its process pool for that work even on a set too small for the pool to pay for annotating alone.

    >>> from bootseg.annotators import Auto
    >>> isinstance(Auto(), FitsCandidates) and Auto().fits_candidates()
    True
    """

    def fits_candidates(self) -> bool:
        """Whether ``fit`` has that much work, with the options this stage was built with."""
        ...


@runtime_checkable
class Described(Protocol):
    """A stage that says what it is for the run record and the report (:mod:`bootseg.description`).

    >>> from bootseg.description import StageDescription
    >>> class Mine:
    ...     def describe(self):
    ...         return StageDescription({"level": 3})
    >>> isinstance(Mine(), Described)
    True
    """

    def describe(self) -> StageDescription:
        """Options, what it chose, how it trained, where it runs."""
        ...


@runtime_checkable
class Network(Protocol):
    """A later stage that trains, then predicts probabilities, and can be saved and loaded.

    The chain calls ``fit(images, masks)`` then ``predict_proba(images)`` and keeps ``proba > threshold`` (or,
    for a :class:`Confident` network, the input masks changed where it is sure; it
    never calls ``refine`` on a network); ``bootseg run`` saves the trained stage with ``save(path)`` as soon as
    it is trained, ``--resume`` and ``bootseg predict`` rebuild it with the classmethod ``load(path,
    device=None)``. A network is a :class:`Refiner` too: ``refine`` may be left out.

    Attributes
    ----------
    threshold : float
        The probability above which a pixel is foreground (its own option; 0.5 by custom).

    Examples
    --------
    >>> from bootseg.refiners import UNetRefiner
    >>> unet = UNetRefiner(size=32, epochs=1)
    >>> isinstance(unet, Network), isinstance(unet, Refiner), unet.threshold
    (True, True, 0.5)
    """

    threshold: float

    def fit(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> Any:
        """Train on (image, mask) pairs; return value ignored."""
        ...

    def predict_proba(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One float ``(H, W)`` map in [0, 1] per image, at the image's own size."""
        ...

    def save(self, path: str | os.PathLike) -> Any:
        """Write the trained stage to ``path`` (a file, or a folder the stage creates there)."""
        ...

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None) -> Network:
        """Rebuild a stage written by :meth:`save`, ready to predict; ``device`` overrides the saved one."""
        ...

    def describe(self) -> StageDescription:
        """Options, choices, training summary and device (:class:`~bootseg.description.StageDescription`)."""
        ...


@runtime_checkable
class Confident(Protocol):
    """A network whose masks in a chain run change its input masks only where it is sure
    (:func:`bootseg.stagework.network_masks`): foreground where its probability is at least ``confident``,
    background where it is at most ``1 - confident``, the previous stage's class in between. Without the
    attribute (or at 0.5) the chain keeps the probabilities above ``threshold``.

    >>> from bootseg.refiners import UNetRefiner
    >>> unet = UNetRefiner(size=32, epochs=1)
    >>> isinstance(unet, Confident), unet.confident
    (True, 0.8)
    """

    confident: float


@runtime_checkable
class StreamsProba(Protocol):
    """A network that predicts from a stream, ``batch_size`` images at a time, so that memory stays flat over a
    long folder (``bootseg predict`` uses it where a stage has it; others get chunks of images).

    >>> from bootseg.refiners import UNetRefiner
    >>> isinstance(UNetRefiner(size=32, epochs=1), StreamsProba)
    True
    """

    def iter_predict_proba(
        self, images: Iterable[np.ndarray], *, batch_size: int | None = None
    ) -> Iterator[np.ndarray]:
        """Yield one probability map per image, in order."""
        ...


_METHODS = {
    Annotator: ("annotate",),
    Refiner: ("refine",),
    Network: ("fit", "predict_proba", "save", "load", "describe"),  # and ``threshold``, on an instance
}


def satisfies(obj: object, protocol: type) -> bool:
    """Whether ``obj`` (an instance or a class) provides the callable methods that ``protocol`` requires.

    Works on classes as well as instances, so a registry can check a factory before building anything (a class
    cannot show the ``threshold`` its instances set; an instance is checked for it). A :class:`Network` satisfies
    :class:`Refiner` too (the chain trains it and predicts instead of refining).

    >>> satisfies(int, Annotator)
    False
    """
    methods = _METHODS.get(protocol)
    if methods is None:
        raise TypeError(f"protocol must be Annotator, Refiner or Network, got {protocol!r}")
    if protocol is Refiner and satisfies(obj, Network):
        return True
    has_methods = all(callable(getattr(obj, method, None)) for method in methods)
    if protocol is Network and not isinstance(obj, type):
        return has_methods and isinstance(obj, Network)
    return has_methods


def accepts(function: Any, keyword: str) -> bool:
    """Whether ``function`` (a factory, a method) takes the keyword argument ``keyword`` (by name or ``**``).

    >>> accepts(lambda *, device=None: None, "device"), accepts(lambda **options: None, "device"), accepts(len, "x")
    (True, True, False)
    """
    import inspect

    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == keyword or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
