"""The default first stage: Otsu's method with every choice made over the whole set of images, without labels."""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import Executor
from functools import partial
from typing import Any

import numpy as np

from ..thickness import MAX_MEASURED_MASKS, evenly_spaced, median_radii, thin_background
from .channels import subsample
from .decide import map_images, segment_batch
from .kinds import MIN_KIND, Kind, image_features, split_kinds
from .options import check_bool
from .per_object import rethreshold_objects
from .plan import Plan, plan_view
from .postprocess import postprocess
from .ridges import DEFAULT_RIDGE_RADIUS, select_ridges, sigmas_for
from .thresholds import AUTO_CLASSES, MultiOtsu, multiotsu_thresholds

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_GROW", "GROW_SHARE", "Auto", "decide_background"]

#: With ``per_object``: the neighbourhood of each object reaches this share of the objects' radius.
GROW_SHARE = 0.5
#: The neighbourhood's reach in pixels before :meth:`Auto.fit` measures the objects.
DEFAULT_GROW = 3.0


class Auto(MultiOtsu):
    r"""Otsu's method with the channel, the number of classes and the polarity chosen over the images, without labels.

    :class:`MultiOtsu` with ``channel="auto"`` and ``classes="auto"`` (grey, HSV saturation or L\*a\*b\* a or
    b, :mod:`bootseg.annotators.channels`; 2 or 3 classes), ``polarity="auto"`` (one polarity for the whole set),
    ``largest_component="auto"`` (one object per image when the largest object covers the centre of most
    images: crops centred on a cell, a lesion, a spheroid) and ``neck=0.5`` (that object cut free of the objects
    it touches through a narrow neck). :meth:`fit` tries every channel with 2 and 3 classes, each with its own
    polarity and one-object rule, and keeps the candidate whose final masks score the highest mean
    :func:`~bootseg.annotators.polarity.polarity_score` (the one that looks most like objects on a background)
    among grey and the colour channels whose masks agree with the other channels' majority
    (:data:`~bootseg.annotators.candidates.AGREEMENT_FLOOR`): where the channels disagree, as on H&E tissue, no
    colour channel has the evidence to be preferred to grey. Where most images show objects both brighter and
    darker than their background (phase contrast's halos, :mod:`~bootseg.annotators.two_sided`), no level splits
    them and the one candidate channel is their texture (the local spread of grey). The chain calls :meth:`fit`
    before the first stage annotates. This is the first stage of ``bootseg run``'s default chain.

    Last, with ``ridges="auto"``, when the images hold several objects each and the background of the chosen
    masks is less than half as thick as the objects (:func:`~bootseg.thickness.thin_background`), the
    objects are packed edge to edge and the background is the lines between them: the stage then finds those
    lines with a ridge filter (:mod:`bootseg.annotators.ridges`) at scales set by their measured width, in the
    chosen channel and polarity (cell membranes in electron micrographs).

    ``per_object`` moves every object's outline to the split of the grey levels in its own neighbourhood
    (:mod:`bootseg.annotators.per_object`, the same method and classes on the pixels within half the objects'
    radius of it): one level for the whole image makes bright blurred objects too large and dim ones too small.
    It is off by default: it helped fluorescence nuclei but harmed H&E and mixed-modality nuclei, so it has no
    evidence as a default (``docs/benchmarks.md``, leave-one-dataset-out); ``per_object="auto"`` applies it
    when the images hold several objects each and two classes were chosen.

    Parameters
    ----------
    channel, classes, polarity, largest_component
        ``"auto"`` each; any fixed value as in :class:`MultiOtsu`.
    neck : float, default 0.5
        See :class:`~bootseg.annotators.base.ThresholdAnnotator`; 0 keeps touching objects together.
    ridges : bool or "auto", default "auto"
        Find a thin background as lines: ``"auto"`` when :meth:`fit` finds it thin (see above), True always (at
        the default width, :data:`~bootseg.annotators.ridges.DEFAULT_RIDGE_RADIUS`, unless the background was
        measured thin), False never.
    per_object : bool or "auto", default False
        Each object's own threshold: ``"auto"`` when :meth:`fit` keeps several objects per image, with two
        classes and no ridges; True always (with three classes each neighbourhood is split in three and the
        upper two kept; with ridges it is skipped); False never.
    kinds : bool, default True
        Look for kinds of image that are clearly apart in the set (:mod:`~bootseg.annotators.kinds`: nuclei in
        fluorescence beside nuclei in bright-field) and choose every setting above for each kind; an image is
        segmented with the plan of the kind nearest to it. False: one plan for the whole set.
    median, fill_holes, min_size
        The shared options; defaults ``0``, ``True``, ``0``.

    Examples
    --------
    >>> image = np.zeros((32, 32), np.uint8); image[8:24, 8:24] = 200
    >>> first = Auto().fit([image])
    >>> first.classes, first.chosen_channel, first.chosen_polarity, int(first.annotate(image).sum())
    (2, 'grey', 'bright', 256)
    """

    name = "auto"

    def __init__(
        self,
        *,
        classes: int | str = "auto",
        channel: str = "auto",
        polarity: str = "auto",
        largest_component: bool | str = "auto",
        neck: float = 0.5,
        ridges: bool | str = "auto",
        per_object: bool | str = False,
        kinds: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(
            classes=classes,
            channel=channel,
            polarity=polarity,
            largest_component=largest_component,
            neck=neck,
            **options,
        )
        self.ridges: bool | str = "auto" if ridges == "auto" else check_bool("ridges", ridges)
        self.per_object: bool | str = "auto" if per_object == "auto" else check_bool("per_object", per_object)
        self.kinds = check_bool("kinds", kinds)

    use_ridges = plan_view(
        lambda plan: plan.ridges,
        "Whether the background is found as thin lines (:mod:`~bootseg.annotators.ridges`): ``ridges=True``, or "
        'for ``"auto"`` what :meth:`fit` chose.',
    )
    ridge_sigmas = plan_view(
        lambda plan: plan.ridge_sigmas, "The ridge filter's scales (from the background's radius after :meth:`fit`)."
    )
    background_ratio = plan_view(
        lambda plan: plan.background_ratio,
        "After :meth:`fit`: the median background-to-objects radius ratio of the threshold's masks, and the median "
        "background radius (:func:`~bootseg.thickness.median_radii`); None before.",
    )
    use_per_object = plan_view(
        lambda plan: plan.per_object,
        'Whether each object is thresholded again in its neighbourhood: ``per_object=True``, or for ``"auto"`` '
        "what :meth:`fit` chose.",
    )
    grow = plan_view(
        lambda plan: plan.grow,
        "How far (pixels) each object's neighbourhood reaches (half the objects' radius after :meth:`fit`).",
    )

    def options(self) -> dict[str, Any]:
        """The options as keyword arguments, ``ridges``, ``per_object`` and ``kinds`` included."""
        return {**super().options(), "ridges": self.ridges, "per_object": self.per_object, "kinds": self.kinds}

    def plan_from_options(self) -> Plan:
        """:class:`MultiOtsu`'s plan, with the ridge filter and the per-object thresholds as the options say
        (``"auto"``: off) at their default reach (:data:`~bootseg.annotators.ridges.DEFAULT_RIDGE_RADIUS`,
        :data:`DEFAULT_GROW`)."""
        return dataclasses.replace(
            super().plan_from_options(),
            ridges=self.ridges is True,
            ridge_sigmas=sigmas_for(DEFAULT_RIDGE_RADIUS),
            per_object=self.per_object is True,
            grow=DEFAULT_GROW,
        )

    def _fits(self) -> bool:
        return self.ridges is not False or self.per_object is not False or super()._fits()

    def _decide(self, images: list[np.ndarray], executor: Executor | None, plan: Plan) -> Plan:
        """With ``kinds=True`` and several kinds of image in the set (:func:`~.kinds.split_kinds`), one plan per
        kind (:meth:`_decide_kind`), held by the largest kind's plan; else the plan for the whole set."""
        if not self.kinds or len(images) < 2 * MIN_KIND:
            return self._decide_kind(images, executor, plan)
        features = np.stack([image_features(image) for image in images])
        groups = split_kinds(features)
        if len(groups) == 1:
            return self._decide_kind(images, executor, plan)
        kinds = tuple(
            Kind(
                tuple(float(value) for value in features[group].mean(0)),
                len(group),
                self._decide_kind([images[i] for i in group], executor, plan),
            )
            for group in groups
        )
        summary = f"{len(kinds)} kinds of image, each with its own plan: " + "; ".join(
            f"{kind.images} images: {kind.plan.summary or kind.plan.polarity}" for kind in kinds
        )
        log.info("%s: %s", self.name, summary)
        return dataclasses.replace(kinds[0].plan, kinds=kinds, summary=summary)

    def _decide_kind(self, images: list[np.ndarray], executor: Executor | None, plan: Plan) -> Plan:
        """The channel, classes, polarity and one-object rule as :class:`MultiOtsu`, on the threshold alone (no
        ridges, no per-object thresholds); then the background's choices (:func:`decide_background`)."""
        plan = super()._decide(images, executor, dataclasses.replace(plan, ridges=False, per_object=False))
        if self.ridges is False and self.per_object is False:
            return plan
        return decide_background(self, plan, images, executor)

    def foreground(self, grey: np.ndarray, polarity: str | None = None, *, plan: Plan | None = None) -> np.ndarray:
        """Otsu's classes, or where the plan uses ridges the pixels off the lines
        (:func:`~bootseg.annotators.ridges.select_ridges`)."""
        plan = self.plan if plan is None else plan
        if plan.ridges:
            return select_ridges(grey, plan.ridge_sigmas, polarity or plan.polarity)
        return super().foreground(grey, polarity, plan=plan)

    def _segment(self, image: np.ndarray, channel: str, plan: Plan | None = None) -> np.ndarray:
        plan = self.plan if plan is None else plan
        if not plan.per_object or plan.ridges:
            return super()._segment(image, channel, plan)
        data = self.prepare(image, channel, plan=plan)
        mask = super()._segment(image, channel, plan)
        if not mask.any():
            return mask
        if plan.largest_component:  # per_object=True with one object: re-threshold every object, then choose again
            mask = postprocess(self.foreground(data, plan=plan), min_size=plan.min_size, fill_holes=plan.fill_holes)
        local = rethreshold_objects(data, mask, plan.grow, partial(_object_side, plan))
        return postprocess(
            local,
            min_size=plan.min_size,
            fill_holes=plan.fill_holes,
            largest_component=plan.largest_component,
            neck=plan.neck,
        )


def decide_background(stage: Auto, plan: Plan, images: list[np.ndarray], executor: Executor | None = None) -> Plan:
    """``plan`` with the ridge filter and the per-object thresholds chosen from the radius of each class of the
    masks ``plan`` gives (:func:`~bootseg.thickness.median_radii`).

    With ``ridges="auto"`` the stage switches to the ridge filter when the images hold several objects each (the
    one-object rule is off) and the background is thin against them (:func:`~bootseg.thickness.thin_background`);
    with ``per_object="auto"`` it thresholds each object again when the images hold several objects each, two
    classes were chosen and the ridge filter is not in use.
    """
    # only the masks median_radii measures (evenly spaced, as it would pick them) are made
    measured = evenly_spaced(subsample(images), MAX_MEASURED_MASKS)
    masks = (
        segment_batch(stage, plan, measured)
        if executor is None
        else map_images(executor, segment_batch, stage, plan, measured)
    )
    radii = median_radii(masks)
    ratio, grow = (None, plan.grow) if radii is None else ((radii[2], radii[1]), max(GROW_SHARE * radii[0], 1.0))
    thin = radii is not None and thin_background(radii[2])
    # the lines' half-width is the background's radius where the background is thin; a thick background says
    # nothing about lines (ridges=True on such images): the default width then
    sigmas = sigmas_for(max(radii[1], 1.0) if thin and radii is not None else DEFAULT_RIDGE_RADIUS)
    ridges = stage.ridges is True or (stage.ridges == "auto" and thin and not plan.largest_component)
    # two classes: an object of two levels (a nucleus in its cytoplasm) has no one split with its surroundings
    several = not plan.largest_component and not ridges and plan.classes == 2
    per_object = not ridges and (stage.per_object is True or (stage.per_object == "auto" and several))
    log.info(
        "%s: background-to-objects radius ratio %s: %s; %s",
        stage.name,
        "n/a" if radii is None else f"{radii[2]:.3f}",
        f"background found as thin lines (Sato scales {sigmas})" if ridges else "no ridges",
        f"each object thresholded again within {grow:.1f} px" if per_object else "one threshold",
    )
    chosen = [name for name, option in (("ridges", stage.ridges), ("per_object", stage.per_object)) if option]
    return plan.choose(
        *chosen,
        ridges=ridges,
        ridge_sigmas=sigmas,
        per_object=per_object,
        grow=grow,
        background_ratio=ratio,
    )


def _object_side(plan: Plan, values: np.ndarray) -> np.ndarray:
    """The object's side of one neighbourhood's values, by the plan's classes (two before :meth:`Auto.fit`) and
    polarity."""
    thresholds = multiotsu_thresholds(values, plan.classes or AUTO_CLASSES[0])  # too few levels: ValueError
    if plan.polarity == "dark":
        return values <= thresholds[-1]
    return values > thresholds[0]
