"""What a first stage applies to every image, as one frozen value: the :class:`Plan` its ``fit`` decides.

A built-in first stage has options (what was asked: ``polarity="auto"``) and a plan (what is done: dark
objects). Before :meth:`~bootseg.annotators.base.ThresholdAnnotator.fit` the plan comes from the options alone,
and whatever is ``"auto"`` is left to each image where an image can decide it alone; ``fit`` returns a new plan
for the whole set, made by functions of the images, and the stage keeps it whole or, when ``fit`` raises, not at
all. A plan never changes: it can be compared, pickled to a worker process and shared between threads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .kinds import Kind

__all__ = ["CHOSEN", "Plan", "plan_view"]

#: The settings ``fit`` may choose, in the order :meth:`Plan.choices` reports them.
CHOSEN = ("channel", "polarity", "largest_component", "classes", "ridges", "per_object")


@dataclass(frozen=True)
class Plan:
    """Every setting :meth:`~bootseg.annotators.base.ThresholdAnnotator.annotate` applies, and what ``fit``
    measured to choose them.

    The first group says how every image is segmented; the second is what ``fit`` found, for a person
    (:meth:`choices`). Dictionaries are kept as tuples of pairs, so that the plan is immutable all the way down.

    Parameters
    ----------
    channel : str
        The channel split: one of :data:`~bootseg.annotators.channels.CHANNELS`; ``"auto"`` (not fitted): each
        colour image chooses its own. A channel that ``fit`` chose applies to colour images; grey images use grey.
    classes : int or None
        Multi-Otsu's number of classes; None: 2 or 3, chosen by each image (``classes="auto"`` before ``fit``), or
        a method without classes.
    polarity : str
        ``"bright"`` or ``"dark"`` objects; ``"auto"``: each image decides; ``"largest"``: k-means's rule.
    largest_component, neck, median, fill_holes, min_size
        The clean-up and the median filter, as the options of
        :class:`~bootseg.annotators.base.ThresholdAnnotator` (``largest_component`` resolved to True or False).
    ridges : bool
        Whether the background is found as lines (:func:`~bootseg.annotators.ridges.select_ridges`) at the scales
        ``ridge_sigmas``.
    per_object : bool
        Whether each object is thresholded again within ``grow`` pixels of it
        (:mod:`~bootseg.annotators.per_object`).
    chosen : tuple of str
        The settings ``fit`` chose, in the order of :data:`CHOSEN` (empty before ``fit``).
    kinds : tuple of Kind
        Where ``fit`` found several kinds of image in the set (:mod:`~bootseg.annotators.kinds`): each kind with
        its own plan, which :meth:`for_image` gives the images of that kind. This plan is then the largest kind's.
    channel_agreement, centred_share, objectness, summary, background_ratio
        What ``fit`` measured: each candidate channel's agreement with the others, the share of images whose
        largest object covers the centre, each candidate's objectness, one sentence on the choice, and the
        background-to-objects radius ratio with the background's radius (None: not measured).

    Examples
    --------
    >>> plan = Plan(polarity="auto")
    >>> fitted = plan.choose("polarity", polarity="dark")
    >>> fitted.polarity, fitted.choices(), plan.choices()
    ('dark', {'polarity': 'dark'}, {})
    >>> fitted.polarity = "bright"
    Traceback (most recent call last):
    dataclasses.FrozenInstanceError: cannot assign to field 'polarity'
    """

    channel: str = "grey"
    classes: int | None = None
    polarity: str = "auto"
    largest_component: bool = False
    neck: float = 0.0
    median: int = 0
    fill_holes: bool = True
    min_size: int = 0
    ridges: bool = False
    ridge_sigmas: tuple[float, ...] = ()
    per_object: bool = False
    grow: float = 0.0
    chosen: tuple[str, ...] = ()
    channel_agreement: tuple[tuple[str, float], ...] = ()
    centred_share: float = 0.0
    objectness: tuple[tuple[str, float], ...] = ()
    summary: str = ""
    background_ratio: tuple[float, float] | None = None
    kinds: tuple[Kind, ...] = ()

    def for_image(self, image: np.ndarray) -> Plan:
        """The plan for ``image``: this plan, or where ``fit`` found several kinds of image in the set
        (:mod:`~bootseg.annotators.kinds`) the plan of the kind nearest to the image.

        >>> Plan().for_image(np.zeros((4, 4))) == Plan()
        True
        """
        if not self.kinds:
            return self
        from .kinds import nearest_kind

        return nearest_kind(self.kinds, image).plan

    def choose(self, *names: str, **changes: Any) -> Plan:
        """A copy with ``changes`` applied and ``names`` (among :data:`CHOSEN`) marked as chosen by ``fit``.

        >>> Plan().choose("classes", classes=3).chosen
        ('classes',)
        """
        unknown = set(names) - set(CHOSEN)
        if unknown:
            raise ValueError(f"a plan can mark only {', '.join(CHOSEN)} as chosen, got {sorted(unknown)}")
        chosen = tuple(name for name in CHOSEN if name in names or name in self.chosen)
        return dataclasses.replace(self, chosen=chosen, **changes)

    def chosen_value(self, name: str) -> Any:
        """The value of setting ``name`` if ``fit`` chose it, else None.

        >>> Plan(polarity="bright").chosen_value("polarity") is None
        True
        """
        return getattr(self, name) if name in self.chosen else None

    def choices(self) -> dict[str, Any]:
        """What ``fit`` chose for the set, as a stage's ``choices()`` reports it (empty before ``fit``).

        Floats are rounded for a person: shares, agreements and objectness to 4 decimals, ``grow`` to 2.

        >>> Plan().choose("largest_component", largest_component=True, centred_share=0.8).choices()
        {'largest_component': True, 'centred_share': 0.8}
        """
        made: dict[str, Any] = {}
        if "channel" in self.chosen:
            made["channel"] = self.channel
            if self.channel_agreement:
                made["channel_agreement"] = {key: round(value, 4) for key, value in self.channel_agreement}
        if "polarity" in self.chosen:
            made["polarity"] = self.polarity
        if "largest_component" in self.chosen:
            made["largest_component"] = self.largest_component
            made["centred_share"] = round(self.centred_share, 4)
        if "classes" in self.chosen:
            made["classes"] = self.classes
            made["objectness"] = {key: round(value, 4) for key, value in self.objectness}
            made["summary"] = self.summary
        if self.background_ratio is not None:
            made["background_ratio"] = round(self.background_ratio[0], 4)
            if "ridges" in self.chosen:
                made["ridges"] = self.ridges
                if self.ridges:
                    made["ridge_sigmas"] = list(self.ridge_sigmas)
            if "per_object" in self.chosen:
                made["per_object"] = self.per_object
                if self.per_object:
                    made["grow"] = round(self.grow, 2)
        if self.kinds:
            made["kinds"] = [{"images": kind.images, **kind.plan.choices()} for kind in self.kinds]
        return made

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain Python values (pairs as dictionaries, tuples as lists), for a log or JSON.

        >>> Plan(objectness=(("grey, 2 classes", 0.5),)).to_dict()["objectness"]
        {'grey, 2 classes': 0.5}
        """
        made: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in ("channel_agreement", "objectness"):
                value = dict(value)
            elif field.name == "kinds":
                value = [
                    {"centre": list(kind.centre), "images": kind.images, "plan": kind.plan.to_dict()} for kind in value
                ]
            elif isinstance(value, tuple):
                value = list(value)
            made[field.name] = value
        return made


def plan_view(read: Callable[[Plan], Any], doc: str) -> property:
    """A read-only stage attribute that reads the stage's plan (``stage.plan``): the attributes by which a stage
    exposed what ``fit`` chose before the plan held it all (``chosen_channel``, ``use_ridges``...).

    >>> class Stage:
    ...     plan = Plan(polarity="dark")
    ...     polarity_used = plan_view(lambda plan: plan.polarity, "The polarity in use.")
    >>> Stage().polarity_used
    'dark'
    """
    return property(lambda stage: read(stage.plan), doc=doc)
