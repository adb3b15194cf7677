"""The set-level choices of a first stage's ``fit``, as functions of the stage's options, a plan and the images
that return a new plan: none of them changes the stage or the plan it is given.

:meth:`~bootseg.annotators.base.ThresholdAnnotator.fit` starts from the plan of the options and passes it through
these functions in turn (the channel, then the polarity and the one-object rule; multi-Otsu's candidates and the
``auto`` stage's background are decided in :mod:`~bootseg.annotators.thresholds` and
:mod:`~bootseg.annotators.auto` the same way). With an executor, the workers run module-level functions on the
stage, a frozen plan and a batch of images (:func:`map_images`), so they need nothing that could change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

import numpy as np

from ..executors import map_batches
from .channels import choose_channel, subsample
from .plan import Plan
from .polarity import polarity_score
from .postprocess import largest_component, postprocess
from .preprocess import check_range, is_constant

if TYPE_CHECKING:
    from .base import ThresholdAnnotator

__all__ = ["decide_channel", "decide_polarity_and_largest", "map_images", "segment_batch"]

log = logging.getLogger(__name__)


def map_images(
    executor: Executor,
    function: Callable[[ThresholdAnnotator, Plan, list[Any]], list[Any]],
    stage: ThresholdAnnotator,
    plan: Plan,
    items: Sequence[Any],
) -> list[Any]:
    """``function(stage, plan, batch)`` on batches of ``items`` in the executor's workers
    (:func:`~bootseg.executors.map_batches`), the results flattened in order. ``function`` is module-level and
    every worker gets the stage's options and the frozen ``plan`` with its batch: nothing one worker could change
    for another."""
    return [value for batch in map_batches(executor, function, items, stage, plan) for value in batch]


def decide_channel(stage: ThresholdAnnotator, plan: Plan, images: list[np.ndarray]) -> Plan:
    """``plan`` with the channel whose masks agree best with the other channels' over ``images``
    (:func:`~bootseg.annotators.channels.choose_channel`; every mask made under ``plan``)."""
    channel, agreement = choose_channel(images, lambda image, name: stage._segment(image, name, plan))
    log.info(
        "%s: channel %r chosen over %d image(s) (agreement with the other channels: %s)",
        stage.name,
        channel,
        len(images),
        ", ".join(f"{name} {value:.3f}" for name, value in agreement.items()),
    )
    return plan.choose("channel", channel=channel, channel_agreement=tuple(agreement.items()))


def decide_polarity_and_largest(
    stage: ThresholdAnnotator,
    plan: Plan,
    images: list[np.ndarray],
    executor: Executor | None = None,
    *,
    masks: bool = True,
) -> tuple[Plan, list[np.ndarray]]:
    """``plan`` with the set's polarity and, with ``largest_component="auto"``, whether to keep one object per
    image; and the final masks of the images that took part (at most :data:`~.channels.MAX_CHOICE_IMAGES`).

    The masks are those :meth:`~bootseg.annotators.base.ThresholdAnnotator.annotate` gives the images under the
    returned plan (none with ``masks=False``). Without an executor each step is computed once per image; with one,
    each step runs on batches of images in the workers, which compute again what an earlier step found (the grey
    image, the split).
    """
    sample = subsample(images)
    split = [_split_of(stage, plan, image) for image in sample] if executor is None else None
    if stage.polarity == "auto":
        if split is None:
            evidence = map_images(executor, _evidence_batch, stage, plan, sample)
        else:
            evidence = [_evidence(stage, plan, data, bright) for data, bright in split]
        total = sum(value for value in evidence if value is not None)
        plan = plan.choose("polarity", polarity="bright" if total >= 0 else "dark")
        log.info("%s: polarity %r chosen over %d image(s)", stage.name, plan.polarity, len(images))
    if not masks and stage.largest_component != "auto":
        return plan, []
    if split is None:
        finals = map_images(executor, _final_batch, stage, plan, sample)
    else:
        bright_in_use = plan.polarity == "bright"
        finals = [
            _final(stage, plan, data, bright if bright is None or bright_in_use else stage.foreground(data, plan=plan))
            for data, bright in split
        ]
    cleaned = [mask for mask, _ in finals]
    if stage.largest_component == "auto":
        from .base import CENTRED_SHARE  # the one-object rule's constant, read when the rule is applied

        centred = sum(piece is not None and bool(piece[_middle(piece)]) for _, piece in finals)
        share = centred / len(finals)
        plan = plan.choose("largest_component", largest_component=share >= CENTRED_SHARE, centred_share=share)
        log.info(
            "%s: the largest object covers the centre in %d of %d image(s): %s",
            stage.name,
            centred,
            len(finals),
            "one object per image kept" if plan.largest_component else "every object kept",
        )
    if not masks or not plan.largest_component:
        return plan, cleaned
    # the pieces _final left out: those of masks that miss the centre
    missing = [mask for mask, piece in finals if piece is None]
    found = iter(
        _largest_batch(stage, plan, missing)
        if executor is None
        else map_images(executor, _largest_batch, stage, plan, missing)
    )
    return plan, [next(found) if piece is None else piece for _, piece in finals]


def segment_batch(stage: ThresholdAnnotator, plan: Plan, images: list[np.ndarray]) -> list[np.ndarray]:
    """The masks :meth:`~bootseg.annotators.base.ThresholdAnnotator.annotate` gives checked ``images`` under
    ``plan`` (a worker's task)."""
    return [stage._segment(image, stage.channel_for(image, plan), plan) for image in images]


def _split_of(stage: ThresholdAnnotator, plan: Plan, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The image as the stage sees it (checked) and its bright class (None for a constant image), through
    foreground(), which subclasses override (k-means clusters and has no split())."""
    data = stage.prepare(image, stage.channel_for(image, plan), plan=plan)
    check_range(data)
    return data, None if is_constant(data) else stage.foreground(data, "bright", plan=plan)


def _evidence(stage: ThresholdAnnotator, plan: Plan, data: np.ndarray, bright: np.ndarray | None) -> float | None:
    """The image's :func:`~bootseg.annotators.polarity.polarity_score` for ``polarity="auto"``."""
    return None if bright is None else polarity_score(stage.polarity_evidence(data, bright, plan=plan))


def _evidence_batch(stage: ThresholdAnnotator, plan: Plan, images: list[np.ndarray]) -> list[float | None]:
    return [_evidence(stage, plan, *_split_of(stage, plan, image)) for image in images]


def _final(
    stage: ThresholdAnnotator, plan: Plan, data: np.ndarray, objects: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The cleaned mask of ``objects`` (the foreground in the plan's polarity; None: a constant image) and, where
    the largest object matters, that object cut at necks: for every mask when the plan keeps one object, and with
    ``"auto"`` for a mask that covers the centre (a mask that misses it has no largest object covering it, and its
    piece is needed only if the stage keeps one object per image)."""
    if objects is None:
        return np.zeros(data.shape[:2], bool), None
    cleaned = postprocess(objects, min_size=plan.min_size, fill_holes=plan.fill_holes)
    wanted = plan.largest_component or (stage.largest_component == "auto" and bool(cleaned[_middle(cleaned)]))
    return cleaned, largest_component(cleaned, plan.neck) if wanted else None


def _final_batch(
    stage: ThresholdAnnotator, plan: Plan, images: list[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    finals = []
    for image in images:
        data = stage.prepare(image, stage.channel_for(image, plan), plan=plan)
        finals.append(_final(stage, plan, data, None if is_constant(data) else stage.foreground(data, plan=plan)))
    return finals


def _largest_batch(stage: ThresholdAnnotator, plan: Plan, masks: list[np.ndarray]) -> list[np.ndarray]:
    return [largest_component(mask, plan.neck) for mask in masks]


def _middle(mask: np.ndarray) -> tuple[int, int]:
    return mask.shape[0] // 2, mask.shape[1] // 2
