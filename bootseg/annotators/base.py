"""The pipeline every built-in annotator runs: validate, grey, median, segment, polarity, clean-up.

Every step reads the :class:`~bootseg.annotators.plan.Plan` it is given (the stage's own by default) and the
stage's options, which do not change after the stage is built; none of them changes the stage. ``fit`` makes a
new plan through the functions of :mod:`~bootseg.annotators.decide` and keeps it whole.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from ..description import StageDescription
from ..images import check_image
from .channels import CHANNELS, COLOUR, channel_image, choose_channel
from .decide import decide_channel, decide_polarity_and_largest
from .options import check_bool, check_choice, check_int, check_median, check_number
from .plan import Plan, plan_view
from .polarity import POLARITIES, select_polarity
from .postprocess import postprocess
from .preprocess import check_range, is_constant, median_blur

__all__ = ["CENTRED_SHARE", "ThresholdAnnotator"]

#: ``largest_component="auto"`` keeps one object per image when the largest object covers the image centre in at
#: least this share of the images.
CENTRED_SHARE = 2 / 3

log = logging.getLogger(__name__)


class ThresholdAnnotator:
    """Base class of the built-in annotators: the shared options and the steps around the segmentation.

    ``annotate(image)`` runs, in this order: :func:`bootseg.images.check_image`; grey conversion
    (:func:`~bootseg.annotators.preprocess.to_grey`: Rec. 709 luma on the native values, lossless for 16-bit
    and float); the optional median filter; the subclass's split into a bright and a dark foreground
    (:meth:`split`); the polarity choice; and the clean-up (:func:`~bootseg.annotators.postprocess.postprocess`:
    ``min_size``, then ``fill_holes``, then ``largest_component`` with ``neck``). Every setting of these steps
    is read from the stage's :attr:`plan` (:class:`~bootseg.annotators.plan.Plan`): the options alone before
    :meth:`fit`, the set's choices after it.

    A constant image (after the median filter) holds no object: its mask is all False, whatever the polarity.

    Parameters
    ----------
    polarity : {"auto", "bright", "dark"}, default "auto"
        Which class is foreground. ``"auto"`` decides once for the whole set when :meth:`fit` was called (the
        chain does), from the summed :func:`~bootseg.annotators.polarity.polarity_score` of the images, and
        otherwise per image with :func:`~bootseg.annotators.polarity.choose_polarity`, which picked the better
        class on at least 94 % of the images of every benchmark data set, bright-field, dermoscopy, fluorescence
        and EM alike.
    median : int, default 0
        Side of the square median filter applied to the grey image before segmenting (odd, >= 3), or 0 for none.
        Off by default, as in the paper's description of its first stages (its code blurred heavily; pass e.g.
        ``median=5`` against salt-and-pepper noise); sizes 3 and 5 changed Otsu's mean Dice on the benchmark
        data sets by less than 0.01. See :func:`~bootseg.annotators.preprocess.median_blur`.
    largest_component : bool or "auto", default False
        Keep only the largest object (``"auto"``: when :meth:`fit` finds the largest object at the centre of most
        images, see there). Off by default so that images with several objects (nuclei, the EM cell
        interiors) keep them all (on, Otsu's mean Dice falls from 0.88 to 0.38 on nuclei); turn it on for
        one-object images (a spheroid, a lesion, one white cell: +0.05 on dermoscopy, +0.12 on CellaVision).
    fill_holes : bool, default True
        Fill holes inside objects. On by default: the objects of the paper's kind of image (a spheroid, a lesion,
        a cell) are solid, and a threshold leaves holes where their inside is textured; a hole is background that
        does not reach the image border, so the background itself is never filled. It raised Otsu's mean Dice on
        every benchmark data set (EM: 0.79 to 0.84).
    min_size : int, default 0
        Remove objects smaller than this many pixels (4-connected); 0 = off. Off by default: the right size
        depends on the image scale, and 16 or 64 pixels lowered the benchmark Dice slightly.
    neck : float, default 0.0
        With ``largest_component``: objects are first cut where they narrow to a neck whose half-width is less
        than ``neck`` times the radius of the smaller part (:func:`~bootseg.annotators.necks.split_at_necks`),
        so that a cell is kept alone rather than fused with the cells that touch it. In [0, 1); 0 = off. The
        ``auto`` first stage uses 0.5 (CellaVision white cells: Dice 0.77 to 0.82 with three classes).
    channel : {"grey", "saturation", "lab_a", "lab_b", "auto"}, default "grey"
        The channel the method splits (see :mod:`bootseg.annotators.channels`). ``"auto"`` picks, over the images
        given to :meth:`fit`, the channel whose masks agree best with those of the other channels; grey images
        always use grey.

    Examples
    --------
    >>> from bootseg.annotators import Otsu
    >>> image = np.zeros((32, 32), np.uint8); image[8:24, 8:24] = 200
    >>> mask = Otsu(polarity="bright").annotate(image)
    >>> mask.shape, int(mask.sum())
    ((32, 32), 256)
    """

    #: The registered name (set by each subclass).
    name = "threshold"
    #: Values accepted by ``polarity``.
    polarities: tuple[str, ...] = POLARITIES

    def __init__(
        self,
        *,
        polarity: str = "auto",
        median: int = 0,
        largest_component: bool | str = False,
        fill_holes: bool = True,
        min_size: int = 0,
        neck: float = 0.0,
        channel: str = "grey",
    ) -> None:
        self.polarity = check_choice("polarity", polarity, self.polarities)
        self.median = check_median(median)
        self.largest_component: bool | str = (
            "auto" if largest_component == "auto" else check_bool("largest_component", largest_component)
        )
        self.fill_holes = check_bool("fill_holes", fill_holes)
        self.min_size = check_int("min_size", min_size, minimum=0)
        self.neck = check_number("neck", neck)
        if not 0.0 <= self.neck < 1.0:
            raise ValueError(f"neck must be in [0, 1) (0 = off), got {neck!r}")
        self.channel = check_choice("channel", channel, CHANNELS)
        # the plan fit chose (None: not fitted); set whole at the end of fit, never changed in place
        self._fitted: Plan | None = None

    @property
    def plan(self) -> Plan:
        """What :meth:`annotate` applies: the plan :meth:`fit` chose for the set, or before :meth:`fit` the plan
        of the options alone (:meth:`plan_from_options`)."""
        return self.plan_from_options() if self._fitted is None else self._fitted

    def plan_from_options(self) -> Plan:
        """The plan of the options alone, as before :meth:`fit`: a channel or polarity left ``"auto"`` is chosen
        by each image, and ``largest_component="auto"`` keeps every object (subclasses add their settings).

        >>> from bootseg.annotators import Otsu
        >>> Otsu(polarity="dark", largest_component="auto").plan_from_options().largest_component
        False
        """
        return Plan(
            channel=self.channel,
            polarity=self.polarity,
            largest_component=self.largest_component is True,
            neck=self.neck,
            median=self.median,
            fill_holes=self.fill_holes,
            min_size=self.min_size,
        )

    chosen_channel = plan_view(
        lambda plan: plan.chosen_value("channel"),
        'With ``channel="auto"``: the channel :meth:`fit` chose, else None.',
    )
    channel_agreement = plan_view(
        lambda plan: dict(plan.channel_agreement),
        'With ``channel="auto"``: each candidate channel\'s agreement with the others, from :meth:`fit`.',
    )
    chosen_polarity = plan_view(
        lambda plan: plan.chosen_value("polarity"),
        'With ``polarity="auto"``: the polarity :meth:`fit` chose for the whole set, else None.',
    )
    chosen_largest = plan_view(
        lambda plan: plan.chosen_value("largest_component"),
        'With ``largest_component="auto"``: whether :meth:`fit` chose one object per image, else None.',
    )
    centred_share = plan_view(
        lambda plan: plan.centred_share,
        'With ``largest_component="auto"``: the share of images whose largest object covers the centre.',
    )

    def options(self) -> dict[str, Any]:
        """The shared options as keyword arguments (subclasses add their own).

        >>> from bootseg.annotators import Otsu
        >>> Otsu().options()["polarity"]
        'auto'
        """
        return {
            "polarity": self.polarity,
            "median": self.median,
            "largest_component": self.largest_component,
            "fill_holes": self.fill_holes,
            "min_size": self.min_size,
            "neck": self.neck,
            "channel": self.channel,
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.options().items())
        return f"{type(self).__name__}({args})"

    def annotate(self, image: np.ndarray) -> np.ndarray:
        """Segment one image as :attr:`plan` says (the plan of the image's kind, where :meth:`fit` found several
        kinds of image).

        Parameters
        ----------
        image : (H, W) or (H, W, C) ndarray
            Any real numeric dtype; ``C`` is 1, 3 (RGB) or 4 (RGBA, alpha ignored); at least 2 × 2 pixels.

        Returns
        -------
        mask : (H, W) ndarray of bool
            True marks foreground. All False for a constant image.

        Raises
        ------
        ValueError
            For an empty or wrongly shaped image, or one with NaN or infinite values.
        TypeError
            For a non-array or a non-numeric dtype.
        """
        image = check_image(image, name="image")
        plan = self.plan.for_image(image)
        return self._segment(image, self.channel_for(image, plan), plan)

    def fit(self, images: Sequence[np.ndarray], *, executor: Executor | None = None) -> ThresholdAnnotator:
        """Choose the plan for a whole set of images: each option set to ``"auto"`` that is best chosen per set.

        The chain calls this with every image before the first stage annotates (and with its executor, when it
        has one). At most 200 images, evenly spaced, take part. Nothing happens unless an option is ``"auto"``:

        - ``channel="auto"``: every candidate channel segments the images and the one whose masks agree best with
          the majority vote of the others is kept (:attr:`chosen_channel`; :mod:`bootseg.annotators.channels`);
        - ``polarity="auto"``: one polarity for the set, the sign of the summed
          :func:`~bootseg.annotators.polarity.polarity_score` of the images (:attr:`chosen_polarity`);
        - ``largest_component="auto"``: keep only the largest object of each image when, in at least
          :data:`CENTRED_SHARE` of the images, the largest object covers the image centre (crops centred on one
          cell, lesion or spheroid); keep every object otherwise (:attr:`chosen_largest`).

        The choices are made from the plan of the options (:meth:`plan_from_options`), never from an earlier fit,
        and replace :attr:`plan` whole once all are made: a fit that raises leaves the stage as it was.

        Parameters
        ----------
        images : sequence of ndarray
        executor : concurrent.futures.Executor, optional
            Spreads the work over the executor's workers: batches of images, or, where a subclass fits several
            candidates whole (:class:`~.thresholds.MultiOtsu` with ``classes="auto"``, :class:`~.auto.Auto`), one
            candidate per task. The choices are the same as without it.

        Returns
        -------
        ``self``
        """
        if not self._fits():
            return self
        checked = [check_image(image, name=f"images[{i}]") for i, image in enumerate(images)]
        if not checked:
            raise ValueError("fit needs at least one image, got none")
        self._fitted = self._decide(checked, executor, self.plan_from_options())
        return self

    def fits_candidates(self) -> bool:
        """Whether :meth:`fit` fits several candidates whole (``classes="auto"``): work enough that ``bootseg run``
        starts its process pool for it on a set of images too small for the pool to pay for annotating alone.

        Examples
        --------
        >>> from bootseg.annotators import Auto, Otsu
        >>> Auto().fits_candidates(), Otsu().fits_candidates()
        (True, False)
        """
        return False

    def _fits(self) -> bool:
        """Whether :meth:`fit` has anything to choose (subclasses with their own ``"auto"`` options extend it)."""
        return "auto" in (self.channel, self.polarity, self.largest_component)

    def _decide(self, images: list[np.ndarray], executor: Executor | None, plan: Plan) -> Plan:
        """The plan for the checked ``images``, from ``plan``: the channel, then the polarity and the one-object
        rule (subclasses decide more). Changes nothing."""
        if self.channel == "auto":
            plan = decide_channel(self, plan, images)
        return decide_polarity_and_largest(self, plan, images, executor, masks=False)[0]

    def polarity_evidence(self, data: np.ndarray, bright: np.ndarray, *, plan: Plan | None = None) -> np.ndarray:
        """The mask whose :func:`~bootseg.annotators.polarity.polarity_score` decides ``polarity="auto"``: the
        foreground for bright objects, ``bright`` (subclasses whose masks are not a split of grey levels may
        decide on another mask)."""
        return bright

    def keeps_largest(self) -> bool:
        """Whether masks keep only their largest object: ``largest_component``, or for ``"auto"`` what
        :meth:`fit` chose (every object is kept before :meth:`fit`)."""
        return self.plan.largest_component

    def choices(self) -> dict[str, Any]:
        """What :meth:`fit` chose for the set (empty before :meth:`fit`, or when nothing was ``"auto"``): the
        plan's :meth:`~bootseg.annotators.plan.Plan.choices`.

        >>> from bootseg.annotators import Otsu
        >>> image = np.zeros((16, 16), np.uint8); image[4:12, 4:12] = 200
        >>> Otsu().fit([image]).choices()
        {'polarity': 'bright'}
        """
        return self.plan.choices()

    def describe(self) -> StageDescription:
        """Its options and what :meth:`fit` chose, for ``run.json`` and the report."""
        return StageDescription(self.options(), self.choices())

    def polarity_in_use(self) -> str:
        """``polarity``, or for ``"auto"`` the one :meth:`fit` chose for the set (``"auto"``: per image)."""
        return self.plan.polarity

    def channel_for(self, image: np.ndarray, plan: Plan | None = None) -> str:
        """The channel :meth:`annotate` splits for ``image`` under ``plan`` (the stage's own by default).

        ``channel`` itself unless it is ``"auto"``; then the fitted choice (a colour channel applies to colour
        images, grey images use grey; texture applies to both), or (not fitted) the choice made on this image alone.
        """
        plan = self.plan if plan is None else plan
        if plan.channel == "auto":
            return choose_channel([image], lambda one, channel: self._segment(one, channel, plan))[0]
        if image.ndim == 2 and "channel" in plan.chosen and plan.channel in COLOUR:
            return "grey"
        return plan.channel

    def _segment(self, image: np.ndarray, channel: str, plan: Plan | None = None) -> np.ndarray:
        """The final mask of a checked ``image`` split in ``channel`` under ``plan`` (the stage's own by default)."""
        plan = self.plan if plan is None else plan
        data = self.prepare(image, channel, plan=plan)
        check_range(data)
        if is_constant(data):
            log.debug("%s: constant image, empty mask", self.name)
            return np.zeros(image.shape[:2], bool)
        mask = self.foreground(data, plan=plan)
        return postprocess(
            mask,
            min_size=plan.min_size,
            fill_holes=plan.fill_holes,
            largest_component=plan.largest_component,
            neck=plan.neck,
        )

    def prepare(self, image: np.ndarray, channel: str = "grey", *, plan: Plan | None = None) -> np.ndarray:
        """The data the method segments: one channel of the image (grey by default), median-filtered if asked.

        Parameters
        ----------
        image : (H, W) or (H, W, C) ndarray
            A checked image.
        channel : str
            One of :data:`bootseg.annotators.channels.CANDIDATES` (see :func:`~.channels.channel_image`).
        plan : Plan, optional
            Whose ``median`` applies (the stage's own by default).

        Returns
        -------
        (H, W) ndarray
        """
        plan = self.plan if plan is None else plan
        grey = channel_image(image, channel)
        if plan.median:
            grey = median_blur(grey, plan.median)
        return grey

    def foreground(self, grey: np.ndarray, polarity: str | None = None, *, plan: Plan | None = None) -> np.ndarray:
        """The foreground before clean-up: :meth:`split`, then the polarity choice.

        Parameters
        ----------
        grey : (H, W) ndarray
            The prepared, non-constant grey image.
        polarity : str, optional
            Overrides the plan's polarity.
        plan : Plan, optional
            The plan to follow (the stage's own by default).

        Returns
        -------
        (H, W) ndarray of bool
        """
        plan = self.plan if plan is None else plan
        bright_fg, dark_fg = self.split(grey, plan=plan)
        return select_polarity(polarity or plan.polarity, grey, bright_fg, dark_fg)

    def split(self, grey: np.ndarray, *, plan: Plan | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """The foreground for bright objects and the one for dark objects (None: the complement of the first).

        Parameters
        ----------
        grey : (H, W) ndarray
            The prepared, non-constant grey image.
        plan : Plan, optional
            The plan to follow, for methods with settings ``fit`` chooses (multi-Otsu's classes).

        Returns
        -------
        bright_fg : (H, W) ndarray of bool
        dark_fg : (H, W) ndarray of bool or None
        """
        raise NotImplementedError(f"{type(self).__name__} must implement split()")
