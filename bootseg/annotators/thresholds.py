"""Thresholds from scikit-image's family as annotators: global (Otsu, Li, Yen, triangle, ISODATA), multi-class
(multi-Otsu) and local (Sauvola, Niblack).

Each computes the threshold with the scikit-image function of the same name on the grey image
(:func:`~bootseg.annotators.preprocess.to_grey`), so its masks are identical to the raw call:
``grey > t`` for bright objects and ``grey <= t`` (the complement) for dark ones. On integer grey images up to
16 bits scikit-image histograms every grey level exactly; on float images (colour input, float or 32-bit input)
it uses 256 bins between the minimum and the maximum.

The global thresholds are one table, :data:`GLOBAL_METHODS`, and one class, :class:`GlobalThreshold`; each
method is also a class of its own name (:class:`Otsu`, :class:`Li`, :class:`Yen`, :class:`Triangle`,
:class:`Isodata`), made from the table, which the registry builds under the method's name.

Every class takes the shared keyword options of :class:`~bootseg.annotators.base.ThresholdAnnotator`:
``polarity="auto"``, ``median=0``, ``largest_component=False``, ``fill_holes=True``, ``min_size=0``.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, NamedTuple

import numpy as np
from skimage import exposure, filters

from .base import ThresholdAnnotator
from .candidates import Fitted, agreements, best_candidate, summary
from .channels import candidates_for, subsample
from .decide import decide_polarity_and_largest
from .options import check_choice, check_int, check_number, check_odd_window
from .plan import Plan, plan_view
from .polarity import polarity_score

log = logging.getLogger(__name__)

#: The class counts ``classes="auto"`` chooses from.
AUTO_CLASSES = (2, 3)

__all__ = [
    "AUTO_CLASSES",
    "GLOBAL_METHODS",
    "GlobalMethod",
    "GlobalThreshold",
    "Isodata",
    "Li",
    "MultiOtsu",
    "Niblack",
    "Otsu",
    "Sauvola",
    "Triangle",
    "Yen",
    "decide_classes",
    "fit_candidate",
    "multiotsu_thresholds",
]


_MULTIOTSU_BINS = 256


class TooFewLevelsError(ValueError):
    """The image has fewer distinct grey levels than the classes asked of multi-Otsu."""


def threshold_isodata(grey: np.ndarray) -> float:
    """The first ISODATA threshold of :func:`skimage.filters.threshold_isodata`, which may find none.

    Raises
    ------
    ValueError
        When the 256-bin histogram has no ISODATA threshold (possible with extreme outliers).

    >>> int(threshold_isodata(np.array([[0, 10], [200, 210]], np.uint8)))
    105
    """
    candidates = filters.threshold_isodata(grey, return_all=True)
    if len(candidates) == 0:
        raise ValueError(
            "isodata found no threshold: no grey level lies halfway between the means of the pixels below and "
            "above it (extreme outliers squeeze the histogram); clip the outliers or use otsu"
        )
    return candidates[0]


class GlobalMethod(NamedTuple):
    """One row of :data:`GLOBAL_METHODS`: the threshold function, the name of the method's class, and what the
    method is, for that class's documentation."""

    function: Callable[[np.ndarray], float]
    class_name: str
    about: str


#: The global thresholds by registered name: each is scikit-image's ``threshold_<name>`` of the grey image.
GLOBAL_METHODS: dict[str, GlobalMethod] = {
    "otsu": GlobalMethod(filters.threshold_otsu, "Otsu", "Otsu's threshold, the paper's first stage"),
    "li": GlobalMethod(filters.threshold_li, "Li", "Li's minimum cross-entropy threshold"),
    "yen": GlobalMethod(filters.threshold_yen, "Yen", "Yen's maximum-correlation threshold"),
    "triangle": GlobalMethod(
        filters.threshold_triangle, "Triangle", "The triangle threshold, suited to one dominant background peak"
    ),
    "isodata": GlobalMethod(
        threshold_isodata,
        "Isodata",
        "The ISODATA (Ridler-Calvard) threshold; an image whose 256-bin histogram has none raises ValueError",
    ),
}


class GlobalThreshold(ThresholdAnnotator):
    """One threshold ``t`` for the whole grey image, by a method of :data:`GLOBAL_METHODS`: ``grey > t`` for
    bright objects, ``grey <= t`` (the complement) for dark ones.

    The registry builds each method under its own name through the class of that name (``otsu``:
    :class:`Otsu`, whose options are the shared ones alone): ``GlobalThreshold(method="li")`` gives the masks of
    ``Li()``.

    Parameters
    ----------
    method : str, default "otsu"
        A key of :data:`GLOBAL_METHODS`: ``"otsu"``, ``"li"``, ``"yen"``, ``"triangle"`` or ``"isodata"``.
    polarity, median, largest_component, fill_holes, min_size, neck, channel
        The shared options (see :class:`~bootseg.annotators.base.ThresholdAnnotator`).

    Examples
    --------
    >>> image = np.array([[0, 10], [200, 210]], np.uint8)
    >>> int(GlobalThreshold(method="otsu", polarity="bright").threshold(image))
    10
    >>> GlobalThreshold(method="li")
    ... # doctest: +NORMALIZE_WHITESPACE
    GlobalThreshold(method='li', polarity='auto', median=0, largest_component=False, fill_holes=True, min_size=0,
                    neck=0.0, channel='grey')
    """

    def __init__(self, *, method: str = "otsu", **options: Any) -> None:
        super().__init__(**options)
        self.method = check_choice("method", method, GLOBAL_METHODS)

    def options(self) -> dict[str, Any]:
        """The options as keyword arguments, ``method`` first unless the class is named after it (:class:`Otsu`)."""
        shared = super().options()
        return shared if self.name == self.method else {"method": self.method, **shared}

    def threshold(self, grey: np.ndarray) -> float:
        """The threshold ``t`` for ``grey`` (bright foreground is ``grey > t``): the method's function of it.

        Parameters
        ----------
        grey : (H, W) ndarray
            The prepared, non-constant grey image.

        Returns
        -------
        float or scalar of the image's dtype
        """
        return GLOBAL_METHODS[self.method].function(grey)

    def split(self, grey: np.ndarray, *, plan: Plan | None = None) -> tuple[np.ndarray, None]:
        """``(grey > t, None)``: dark objects are the complement, ``grey <= t``."""
        return grey > self.threshold(grey), None


def _named(method: str) -> type[GlobalThreshold]:
    """The class of one method of :data:`GLOBAL_METHODS`, named and registered after it: ``GlobalThreshold`` with
    ``method`` fixed, its keyword options the shared ones."""
    row = GLOBAL_METHODS[method]

    def __init__(self: GlobalThreshold, **options: Any) -> None:
        GlobalThreshold.__init__(self, method=method, **options)

    __init__.__signature__ = inspect.signature(ThresholdAnnotator.__init__)  # type: ignore[attr-defined]
    doc = f"""{row.about} (:func:`skimage.filters.threshold_{method}`), registered as ``{method}``:
    :class:`GlobalThreshold` with ``method="{method}"``.

    Parameters
    ----------
    polarity, median, largest_component, fill_holes, min_size, neck, channel
        The shared options; defaults ``"auto"``, ``0``, ``False``, ``True``, ``0``, ``0.0``, ``"grey"``
        (see :class:`~bootseg.annotators.base.ThresholdAnnotator`).

    Examples
    --------
    >>> image = np.zeros((32, 32), np.uint8); image[8:24, 8:24] = 200
    >>> int({row.class_name}().annotate(image).sum())
    256
    """
    namespace = {"__doc__": doc, "__init__": __init__, "__module__": __name__, "__qualname__": row.class_name}
    return type(row.class_name, (GlobalThreshold,), {**namespace, "name": method})


Otsu = _named("otsu")
"""Otsu's threshold, the paper's first stage: :class:`GlobalThreshold` with ``method="otsu"``, registered as
``otsu``; its keyword options are the shared ones."""
Li = _named("li")
"""Li's minimum cross-entropy threshold: :class:`GlobalThreshold` with ``method="li"``, registered as ``li``."""
Yen = _named("yen")
"""Yen's maximum-correlation threshold: :class:`GlobalThreshold` with ``method="yen"``, registered as ``yen``."""
Triangle = _named("triangle")
"""The triangle threshold: :class:`GlobalThreshold` with ``method="triangle"``, registered as ``triangle``."""
Isodata = _named("isodata")
"""The ISODATA threshold: :class:`GlobalThreshold` with ``method="isodata"``, registered as ``isodata``."""


class MultiOtsu(ThresholdAnnotator):
    """Multi-Otsu (:func:`skimage.filters.threshold_multiotsu`): ``classes`` intensity classes, one is background.

    With thresholds ``t[0] < ... < t[-1]``, bright objects are every class above the darkest
    (``grey > t[0]``: the darkest class is background) and dark objects every class below the brightest
    (``grey <= t[-1]``: the brightest class is background). ``"auto"`` decides on the bright mask, ``grey > t[0]``.
    With ``classes=2`` this is Otsu.

    The histogram has one bin per grey level for 8-bit images and 256 equal bins between the minimum and the
    maximum otherwise (scikit-image's choice for floats; for integer images with more than 256 levels, e.g.
    16-bit, the same 256 bins are used, since the search would grow with the square of the number of levels):
    the masks are those of ``threshold_multiotsu(grey.astype(float), classes)`` there.

    Parameters
    ----------
    classes : int or "auto", default 3
        Number of classes, 2 to 5. An image with fewer non-empty histogram bins than ``classes`` raises
        ValueError. ``"auto"`` chooses 2 or 3 over the images given to :meth:`fit` (for each image alone when not
        fitted): the count whose final masks look more like objects on a background, by the mean of
        :func:`~bootseg.annotators.polarity.polarity_score`; with ``channel="auto"`` the channel is chosen in the
        same step, by the same score, among grey and the colour channels whose masks agree with the majority of
        the other channels' (:data:`~bootseg.annotators.candidates.AGREEMENT_FLOOR`). Three classes add the
        middle class to the objects: a white cell's pale cytoplasm around its dark nucleus.
    polarity, median, largest_component, fill_holes, min_size
        The shared options; defaults ``"auto"``, ``0``, ``False``, ``True``, ``0``.

    Examples
    --------
    >>> image = np.zeros((32, 32), np.uint8); image[4:28, 4:28] = 100; image[12:20, 12:20] = 200
    >>> int(MultiOtsu(polarity="bright").annotate(image).sum())
    576
    """

    name = "multiotsu"

    def __init__(self, *, classes: int | str = 3, **options: Any) -> None:
        super().__init__(**options)
        if isinstance(classes, str) and classes != "auto":
            raise ValueError(f"classes must be an integer from 2 to 5 or 'auto', got {classes!r}")
        self.classes_option: int | str = (
            "auto" if classes == "auto" else check_int("classes", classes, minimum=2, maximum=5)
        )

    classes = plan_view(
        lambda plan: plan.classes,
        'The number of classes in use (with ``classes="auto"``: the one :meth:`fit` chose, else None).',
    )
    candidate_scores = plan_view(
        lambda plan: dict(plan.objectness),
        'With ``classes="auto"``: the mean objectness of each candidate\'s masks (``"grey, 2 classes"``: '
        "score), from :meth:`fit`.",
    )
    summary = plan_view(
        lambda plan: plan.summary,
        'With ``classes="auto"``: one sentence for a person, what :meth:`fit` chose and how clear the choice was.',
    )

    def options(self) -> dict[str, Any]:
        """The options as keyword arguments, ``classes`` included."""
        return {"classes": self.classes_option, **super().options()}

    def plan_from_options(self) -> Plan:
        """The shared settings and the number of classes (None for ``"auto"``: each image chooses 2 or 3)."""
        classes = None if self.classes_option == "auto" else int(self.classes_option)
        return dataclasses.replace(super().plan_from_options(), classes=classes)

    def _fits(self) -> bool:
        return self.classes_option == "auto" or super()._fits()

    def fits_candidates(self) -> bool:
        """True with ``classes="auto"`` (see :meth:`fit`)."""
        return self.classes_option == "auto"

    def _decide(self, images: list[np.ndarray], executor: Executor | None, plan: Plan) -> Plan:
        """With ``classes="auto"``, the candidates' choice (:func:`decide_classes`); else the base class's."""
        if self.classes_option != "auto":
            return super()._decide(images, executor, plan)
        return decide_classes(self, plan, images, executor)

    def _segment(self, image: np.ndarray, channel: str, plan: Plan | None = None) -> np.ndarray:
        plan = self.plan if plan is None else plan
        if plan.classes is not None:
            return super()._segment(image, channel, plan)
        # classes="auto", not fitted: this image alone decides
        masks = {}
        for count in AUTO_CLASSES:
            try:
                masks[count] = super()._segment(image, channel, dataclasses.replace(plan, classes=count))
            except TooFewLevelsError:
                if count == AUTO_CLASSES[0]:
                    raise
        return masks[max(masks, key=lambda count: polarity_score(masks[count]))]

    def thresholds(self, grey: np.ndarray, *, plan: Plan | None = None) -> np.ndarray:
        """The ``classes - 1`` thresholds of ``grey``, ascending (:func:`multiotsu_thresholds` with the plan's
        classes).

        Raises
        ------
        ValueError
            When the histogram has fewer non-empty bins than ``classes``.
        """
        return multiotsu_thresholds(grey, (self.plan if plan is None else plan).classes)

    def split(self, grey: np.ndarray, *, plan: Plan | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(grey > t[0], grey <= t[-1])``."""
        thresholds = self.thresholds(grey, plan=plan)
        return grey > thresholds[0], grey <= thresholds[-1]


def multiotsu_thresholds(grey: np.ndarray, classes: int | None) -> np.ndarray:
    """The ``classes - 1`` multi-Otsu thresholds of ``grey``, ascending, from a 256-bin histogram (one bin per
    level for 8-bit images; see :class:`MultiOtsu`).

    Raises
    ------
    ValueError
        When the histogram has fewer non-empty bins than ``classes`` (:class:`TooFewLevelsError`), or
        ``classes`` is None (``classes="auto"`` is chosen per set or per image, never here).

    >>> multiotsu_thresholds(np.array([[0, 100], [200, 200]], np.uint8), 3).tolist()
    [0, 100]
    """
    if classes is None:
        raise ValueError("multiotsu_thresholds needs a number of classes; 'auto' is chosen by fit or per image")
    values = grey.reshape(-1)
    if values.dtype.kind in "iu" and int(values.max()) - int(values.min()) >= _MULTIOTSU_BINS:
        values = values.astype(np.float64)  # 256 bins, not one per level: the search is O(bins ** 2) or worse
    counts, centres = exposure.histogram(values, nbins=_MULTIOTSU_BINS, source_range="image", normalize=True)
    levels = int(np.count_nonzero(counts))
    if levels < classes:
        raise TooFewLevelsError(
            f"multiotsu with classes={classes} needs at least {classes} distinct grey levels, but "
            f"the image has {levels} (after a 256-bin histogram for float images); use fewer classes or otsu"
        )
    return filters.threshold_multiotsu(classes=classes, hist=(counts, centres))


def decide_classes(stage: MultiOtsu, plan: Plan, images: list[np.ndarray], executor: Executor | None = None) -> Plan:
    """``plan`` with the number of classes (and with ``channel="auto"`` the channel) of ``classes="auto"``.

    Every candidate (2 or 3 classes × each candidate channel when ``channel`` is ``"auto"``) is fitted whole,
    its polarity and one-object rule included (:func:`fit_candidate`), and the candidate whose final masks score
    the highest mean :func:`~bootseg.annotators.polarity.polarity_score` (objects on a background) is kept, among
    grey and the colour candidates with the evidence of the other channels
    (:func:`~bootseg.annotators.candidates.best_candidate`): judged on the masks the stage will give. With an
    ``executor`` each candidate is one task, sent the stage, its own frozen plan and the images.
    """
    auto_channel = stage.channel == "auto"
    channels = candidates_for(images) if auto_channel else [plan.channel]
    candidates = [(count, channel) for count in AUTO_CLASSES for channel in channels]
    plans = [
        plan.choose("channel", classes=count, channel=channel)
        if auto_channel
        else dataclasses.replace(plan, classes=count)
        for count, channel in candidates
    ]
    sample = subsample(images)
    if executor is None:
        outcomes = [fit_candidate(stage, each, sample) for each in plans]
    else:
        outcomes = list(executor.map(fit_candidate, [stage] * len(plans), plans, [sample] * len(plans)))
    fitted = {
        candidate: outcome for candidate, outcome in zip(candidates, outcomes, strict=True) if outcome is not None
    }
    best = best_candidate(fitted)
    scores = {f"{channel}, {count} classes": outcome.score for (count, channel), outcome in fitted.items()}
    agreement = agreements(fitted) if len(channels) > 1 else {}
    chosen = fitted[best].plan
    log.info(
        "%s: %s, %d classes chosen (objectness: %s)",
        stage.name,
        best[1],
        best[0],
        ", ".join(f"{key} {value:.3f}" for key, value in scores.items()),
    )
    text = summary(best, scores, agreement, chosen.chosen_value("polarity"))
    if auto_channel and channels == ["texture"]:
        from .two_sided import two_sided_share

        share = two_sided_share(images)  # the images candidates_for decided on
        text = f"texture, as {share:.0%} of the images have objects brighter and darker than their background; {text}"
    return chosen.choose(
        "classes",
        channel_agreement=tuple(agreement.items()),
        objectness=tuple(scores.items()),
        summary=text,
    )


def fit_candidate(stage: MultiOtsu, plan: Plan, images: list[np.ndarray]) -> Fitted | None:
    """One candidate of ``classes="auto"`` (the plan's classes and channel) fitted whole: the mean objectness of
    its final masks, its plan with the polarity and one-object rule chosen, and the masks; None when the images
    have too few grey levels for its classes (never for the fewest). Module-level and pure, so that an executor's
    workers (threads or processes) can run the candidates side by side."""
    try:
        fitted, masks = decide_polarity_and_largest(stage, plan, images)
    except TooFewLevelsError:  # an image with two grey levels has no third class
        if plan.classes == AUTO_CLASSES[0]:
            raise
        return None
    score = float(np.mean([polarity_score(mask) for mask in masks]))
    return Fitted(score, fitted, [(np.packbits(mask.ravel()), mask.size) for mask in masks])


class LocalThreshold(ThresholdAnnotator):
    """A threshold that varies over the image, computed in a ``window_size`` window around each pixel."""

    def __init__(self, *, window_size: int = 15, k: float = 0.2, **options: Any) -> None:
        super().__init__(**options)
        self.window_size = check_odd_window("window_size", window_size)
        self.k = check_number("k", k)

    def options(self) -> dict[str, Any]:
        """The options as keyword arguments, ``window_size`` and ``k`` included."""
        return {"window_size": self.window_size, "k": self.k, **super().options()}

    def threshold_image(self, grey: np.ndarray) -> np.ndarray:
        """The ``(H, W)`` threshold image of ``grey``."""
        raise NotImplementedError(f"{type(self).__name__} must implement threshold_image()")

    def split(self, grey: np.ndarray, *, plan: Plan | None = None) -> tuple[np.ndarray, None]:
        """``(grey > T, None)`` with the threshold image ``T``: dark objects are ``grey <= T``."""
        return grey > self.threshold_image(grey), None


class Sauvola(LocalThreshold):
    """Sauvola's local threshold (:func:`skimage.filters.threshold_sauvola`), for uneven illumination.

    ``T = m * (1 + k * (s / R - 1))`` with the local mean ``m`` and standard deviation ``s`` in the window and
    ``R`` half the image's grey range.

    Parameters
    ----------
    window_size : int, default 15
        Odd window side in pixels, at least 3; about the size of an object.
    k : float, default 0.2
        Weight of the local standard deviation (scikit-image's default).
    polarity, median, largest_component, fill_holes, min_size
        The shared options; defaults ``"auto"``, ``0``, ``False``, ``True``, ``0``.

    Examples
    --------
    >>> image = np.zeros((32, 32), np.uint8); image[8:24, 8:24] = 200
    >>> Sauvola(window_size=31).annotate(image)[16, 16]
    np.True_
    """

    name = "sauvola"

    def threshold_image(self, grey: np.ndarray) -> np.ndarray:
        """:func:`skimage.filters.threshold_sauvola` of ``grey``."""
        return filters.threshold_sauvola(grey, window_size=self.window_size, k=self.k)


class Niblack(LocalThreshold):
    """Niblack's local threshold (:func:`skimage.filters.threshold_niblack`): ``T = m - k * s`` in each window.

    Parameters
    ----------
    window_size : int, default 15
        Odd window side in pixels, at least 3.
    k : float, default 0.2
        Weight of the local standard deviation (scikit-image's default).
    polarity, median, largest_component, fill_holes, min_size
        The shared options; defaults ``"auto"``, ``0``, ``False``, ``True``, ``0``.

    Examples
    --------
    >>> image = np.zeros((32, 32), np.uint8); image[8:24, 8:24] = 200
    >>> Niblack(window_size=31, polarity="bright").annotate(image)[16, 16]
    np.True_
    """

    name = "niblack"

    def threshold_image(self, grey: np.ndarray) -> np.ndarray:
        """:func:`skimage.filters.threshold_niblack` of ``grey``."""
        return filters.threshold_niblack(grey, window_size=self.window_size, k=self.k)
