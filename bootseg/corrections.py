"""A person's corrected masks for a few images, and what the chain does with them.

A first stage makes the same mistake on many images (a white cell fused with its red neighbours, a lesion that
takes in dark skin); no label-free rule sees it, a person does at a glance. A handful of corrected masks carries
that information, and the chain uses it three ways:

* **the first stage**: when it is ``auto``, every candidate ``auto`` weighs (channel × classes, polarity, the
  one-object rule, ...) and the plain stages are fitted on the set and scored by Dice on the corrected images; the
  best replaces ``auto``'s own choice when it beats it by more than :data:`MARGIN` (:func:`choose_first_stage`);
* **the networks**: corrected masks are each network's validation set, never trained on, on which the chain then
  chooses how sure the network must be to change its input masks (:func:`choose_confident`), from every pixel
  the network's to its input's masks kept whole; or, with the ``unet`` option ``corrections="train"``, trusted
  labels, never held out, weighted up (:func:`trust_weight`) and never replaced by a round's predictions;
* **the output**: a corrected image's mask is its correction, at every stage.

Corrections are named by their image's name (the file stem for a folder): ``{"0007": mask}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .annotators.kinds import image_features
from .images import check_mask
from .metrics import dice

__all__ = [
    "CONFIDENT_LEVELS",
    "MARGIN",
    "FirstStageChoice",
    "candidate_specs",
    "check_corrections",
    "choose_confident",
    "choose_first_stage",
    "fit_set",
    "judge_network",
    "read_corrections",
    "spec_text",
    "spread_order",
    "trust_weight",
]

log = logging.getLogger(__name__)

#: A candidate first stage replaces ``auto``'s own choice only when its mean Dice on the corrected images is
#: higher by more than this: with one or two corrections a small lead is noise, not evidence.
MARGIN = 0.02

#: The share of the training loss the corrected images carry together, at most (:func:`trust_weight`).
TRUSTED_SHARE = 1 / 3

#: The largest weight one corrected image gets (one correction among thousands must not swamp the rest).
MAX_WEIGHT = 20.0


def read_corrections(folder: str | Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The corrected masks in ``folder``, by image name (file stem), read as bool masks.

    Any subset of ``names`` may be there; a file whose stem is no image's name, two files of one stem, a folder
    that is missing or holds no mask are errors that name the file or folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bootseg.io import write_mask
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_mask(folder / "b.png", np.eye(3, dtype=bool))
    >>> {name: int(mask.sum()) for name, mask in read_corrections(folder, ["a", "b"]).items()}
    {'b': 3}
    """
    from .io import index_by_stem, read_mask

    folder = Path(folder)
    try:
        found = index_by_stem(folder, "corrections")
    except NotADirectoryError as exc:
        raise ValueError(str(exc)) from exc
    known = set(names)
    unknown = sorted(set(found) - known)
    if unknown:
        listed = ", ".join(found[name].name for name in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        some = ", ".join(sorted(known)[:3])
        raise ValueError(
            f"corrections folder '{folder}' holds {len(unknown)} mask(s) named after no input image: {listed}; a "
            f"correction takes its image's file stem (inputs are named like {some})"
        )
    return {name: read_mask(found[name]) for name in names if name in found}


def check_corrections(
    corrections: Mapping[str, Any], names: Sequence[str], images: Sequence[np.ndarray]
) -> dict[int, np.ndarray]:
    """The corrections as bool masks by image index; a name that is no image's, or a mask of the wrong size, is an
    error that names it.

    >>> image = np.zeros((2, 2), np.uint8)
    >>> check_corrections({"b": [[0, 255], [0, 0]]}, ["a", "b"], [image, image])[1].tolist()
    [[False, True], [False, False]]
    """
    if not isinstance(corrections, Mapping):
        raise TypeError(f"corrections must be a dict of image name → mask, got {type(corrections).__name__}")
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(str(name) for name in corrections if name not in index)
    if unknown:
        raise ValueError(
            f"corrections for {len(unknown)} name(s) that are no input's: {', '.join(unknown[:5])}"
            f"{' ...' if len(unknown) > 5 else ''}; the inputs are named like {', '.join(list(names)[:3])}"
        )
    checked = {}
    for name, mask in corrections.items():
        i = index[name]
        checked[i] = check_mask(mask, images[i].shape, name=f"the correction for {name!r}")
    return dict(sorted(checked.items()))


def trust_weight(trusted: int, total: int) -> float:
    """The loss weight of each corrected image among ``total`` training images: the corrected images together
    carry up to :data:`TRUSTED_SHARE` of the loss (each at least 1 and at most :data:`MAX_WEIGHT`).

    >>> trust_weight(5, 100), trust_weight(1, 1000), trust_weight(50, 100)
    (9.5, 20.0, 1.0)
    """
    if trusted <= 0 or total <= trusted:
        return 1.0
    share = TRUSTED_SHARE / (1 - TRUSTED_SHARE)
    return float(min(MAX_WEIGHT, max(1.0, round(share * (total - trusted) / trusted, 6))))


def candidate_specs(images: Sequence[np.ndarray]) -> list[tuple[str, dict[str, Any]]]:
    """The first stages weighed against corrections, ``auto`` (its own choice) first: the candidates ``auto``
    compares (each channel with 2 and 3 classes), each of its rules forced either way, the texture channel, and the
    plain stages (Otsu either way, k-means).

    >>> specs = candidate_specs([np.zeros((4, 4), np.uint8)])
    >>> specs[0], ("kmeans", {}) in specs, any(options.get("channel") == "lab_a" for _, options in specs)
    (('auto', {}), True, False)
    """
    colour = any(image.ndim == 3 for image in images)
    channels = ["grey", *(("saturation", "lab_a", "lab_b") if colour else ())]
    specs: list[tuple[str, dict[str, Any]]] = [("auto", {})]
    specs += [("auto", {"channel": c, "classes": k}) for c in channels for k in (2, 3)]
    specs += [("auto", {"polarity": p}) for p in ("bright", "dark")]
    specs += [("auto", {"largest_component": v}) for v in (False, True)]
    specs += [("auto", {"per_object": True}), ("auto", {"neck": 0.0}), ("auto", {"ridges": False})]
    specs += [("multiotsu", {"channel": "texture", "classes": 3, "polarity": p}) for p in ("bright", "dark")]
    specs += [("otsu", {"polarity": "bright"}), ("otsu", {"polarity": "dark"}), ("kmeans", {})]
    return specs


def spec_text(spec: tuple[str, Mapping[str, Any]]) -> str:
    """A spec as ``bootseg run --chain`` writes it: ``auto(channel=grey, classes=2)``.

    >>> spec_text(("otsu", {"polarity": "dark"})), spec_text(("auto", {}))
    ('otsu(polarity=dark)', 'auto')
    """
    name, options = spec
    if not options:
        return name
    shown = ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in options.items())
    return f"{name}({shown})"


@dataclass(frozen=True)
class FirstStageChoice:
    """What :func:`choose_first_stage` chose and why: the spec kept, every candidate's mean Dice on the corrected
    images (``scores``, by :func:`spec_text`), the default's, and whether the default was kept.

    >>> choice = FirstStageChoice(("kmeans", {}), {"auto": 0.5, "kmeans": 0.9}, 0.5, kept_default=False)
    >>> choice.summary()
    'chose kmeans (Dice 0.900 on the corrected images) over auto (0.500), the best of 2 candidates'
    """

    spec: tuple[str, dict[str, Any]]
    scores: dict[str, float] = field(default_factory=dict)
    default_score: float = float("nan")
    kept_default: bool = True
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One sentence for the log and the report."""
        best = spec_text(self.spec)
        count = len(self.scores)
        if self.kept_default:
            runner = max((k for k in self.scores if k != "auto"), key=self.scores.__getitem__, default=None)
            text = f"kept auto (Dice {self.default_score:.3f} on the corrected images)"
            if runner is not None:
                text += f"; best of the other {count - 1} candidates {runner} ({self.scores[runner]:.3f})"
                text += f", not more than {MARGIN} better"
            return text
        return (
            f"chose {best} (Dice {self.scores[best]:.3f} on the corrected images) over auto "
            f"({self.default_score:.3f}), the best of {count} candidates"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, for ``run.json``."""
        return {
            "chosen": spec_text(self.spec),
            "kept_default": self.kept_default,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "failed": dict(self.failed),
        }


def choose_first_stage(
    images: Sequence[np.ndarray],
    corrections: Mapping[int, np.ndarray],
    build: Callable[[tuple[str, dict[str, Any]]], Any],
    *,
    specs: Sequence[tuple[str, dict[str, Any]]] | None = None,
    executor: Executor | None = None,
) -> tuple[FirstStageChoice, Any]:
    """Fit each candidate first stage on the whole set and score it by mean Dice on the corrected images.

    Parameters
    ----------
    images : sequence of ndarray
        Every image of the run (the candidates fit their set-level choices on all of them).
    corrections : mapping of int to bool ndarray
        Corrected masks by image index (:func:`check_corrections`).
    build : callable
        ``(name, options)`` → a new annotator (the chain builds it through its registry).
    specs : sequence, optional
        The candidates, the default (``auto``) first; :func:`candidate_specs` of the images if not given.
    executor : concurrent.futures.Executor, optional
        Passed to each candidate's set-level ``fit`` where it takes one.

    Returns
    -------
    (FirstStageChoice, annotator)
        The choice and the fitted annotator of the spec chosen. The default is kept unless another candidate's
        mean Dice is higher by more than :data:`MARGIN`. A candidate that fails is left out (recorded in
        ``failed``); the default failing is an error, as it would be without corrections.

    Examples
    --------
    >>> from bootseg.annotators import Otsu
    >>> image = np.zeros((8, 8), np.uint8); image[2:6, 2:6] = 200
    >>> specs = [("otsu", {"polarity": "bright"}), ("otsu", {"polarity": "dark"})]
    >>> choice, stage = choose_first_stage([image], {0: image < 100}, lambda s: Otsu(**s[1]), specs=specs)
    >>> choice.kept_default, stage.polarity
    (False, 'dark')
    """
    specs = list(specs) if specs is not None else candidate_specs(images)
    picked = sorted(corrections)
    scores: dict[str, float] = {}
    failed: dict[str, str] = {}
    fitted: dict[str, Any] = {}
    quiet = logging.getLogger("bootseg.annotators")
    level = quiet.level
    for number, spec in enumerate(specs):
        key = spec_text(spec)
        quiet.setLevel(max(level, logging.WARNING))  # each candidate's own choices would flood the log
        try:
            stage = build(spec)
            fit_set(stage, list(images), executor)
            masks = [np.asarray(stage.annotate(images[i])) > 0 for i in picked]
        except Exception as exc:
            if number == 0:
                raise
            failed[key] = f"{type(exc).__name__}: {exc}"
            log.debug("first-stage candidate %s failed: %s", key, exc)
            continue
        finally:
            quiet.setLevel(level)
        scores[key] = float(np.mean([dice(m, corrections[i]) for m, i in zip(masks, picked, strict=True)]))
        fitted[key] = stage
    default = spec_text(specs[0])
    best = max(scores, key=scores.__getitem__)
    kept = scores[best] <= scores[default] + MARGIN
    chosen = default if kept else best
    spec = next(s for s in specs if spec_text(s) == chosen)
    choice = FirstStageChoice((spec[0], dict(spec[1])), scores, scores[default], kept, failed)
    return choice, fitted[chosen]


def fit_set(stage: Any, images: list[np.ndarray], executor: Executor | None = None) -> None:
    """The stage's set-level ``fit`` (:class:`~bootseg.protocols.FitsSet`), with ``executor`` where it takes one;
    nothing for a stage without one.

    >>> from bootseg.annotators import Auto
    >>> stage = Auto()
    >>> fit_set(stage, [np.eye(8, dtype=np.uint8) * 200])
    >>> stage.plan.channel
    'grey'
    """
    from .protocols import FitsSet, accepts

    if not isinstance(stage, FitsSet):
        return
    if executor is not None and accepts(stage.fit, "executor"):
        stage.fit(images, executor=executor)
    else:
        stage.fit(images)


#: The levels of the ``unet`` option ``confident`` that :func:`choose_confident` weighs: 0.5, every pixel the
#: network's; 1.0, its input's masks kept (but where the network is certain to float precision).
CONFIDENT_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def choose_confident(
    current: float,
    threshold: float,
    probas: Mapping[int, np.ndarray],
    inputs: Mapping[int, np.ndarray],
    corrections: Mapping[int, np.ndarray],
) -> tuple[float, dict[str, float]]:
    """The ``confident`` level of a network stage, chosen by mean Dice on the corrected images it held out.

    Each level of :data:`CONFIDENT_LEVELS` makes the stage's masks of the corrected images from the network's
    probabilities (``probas``) and the stage's input masks as its first stage drew them (``inputs``, not the
    corrections; :func:`bootseg.stagework.network_masks`), scored against the corrections. ``current`` is kept
    unless another level is higher by more than :data:`MARGIN` (of levels that tie, the one nearest ``current``).
    The network must not have trained on these
    images, or its own masks of them would win by having learned them.

    Returns
    -------
    (float, dict)
        The level chosen, and each level's mean Dice (keyed by the level as text).

    Examples
    --------
    >>> truth = np.zeros((4, 4), bool); truth[:2] = True
    >>> proba = np.where(truth, 0.7, 0.2)  # right, but not sure
    >>> level, scores = choose_confident(0.8, 0.5, {0: proba}, {0: ~truth}, {0: truth})
    >>> level, scores["0.8"], scores["0.7"], scores["0.5"]  # 0.5 to 0.7 tie: the nearest to 0.8
    (0.7, 0.0, 1.0, 1.0)
    """
    from types import SimpleNamespace

    from .stagework import network_masks

    def score(level: float) -> float:
        network = SimpleNamespace(threshold=threshold, confident=level)
        return float(np.mean([dice(network_masks(network, probas[i], inputs[i]), mask) for i, mask in fixed]))

    fixed = sorted(corrections.items(), key=lambda item: item[0])
    # a level the user set that is not on the list competes too
    scores = {f"{level:g}": score(level) for level in sorted({*CONFIDENT_LEVELS, current})}
    key = f"{current:g}"
    best = max(scores, key=lambda level: (scores[level], -abs(float(level) - current)))  # ties: the nearest
    chosen = current if scores[best] <= scores[key] + MARGIN else float(best)
    return chosen, scores


def judge_network(
    network: Any,
    proba: Sequence[np.ndarray],
    drawn: Mapping[int, np.ndarray],
    corrections: Mapping[int, np.ndarray],
    label: str,
) -> float:
    """Choose the ``confident`` level of a ``network`` that held the corrected images out
    (:func:`choose_confident` on its probabilities of every image, ``proba``, and its input stage's own masks of
    the corrected ones, ``drawn``), give it to the network with a one-sentence summary
    (``network.choose_confident``) and say it in the log after ``label`` (``"stage 1 unet"``), with every level's
    score. Returns the level chosen."""
    before = network.confident
    probas = {i: proba[i] for i in corrections}
    level, scores = choose_confident(before, network.threshold, probas, drawn, corrections)
    where = f"on the {len(corrections)} corrected image(s) it held out"
    own = scores[f"{level:g}"]
    if level != before:
        summary = f"confident={level:g} over its option {before:g} {where}: mean Dice {own:.3f} against "
        summary += f"{scores[f'{before:g}']:.3f}"
    else:
        summary = f"confident={level:g}, its option, {where}: mean Dice {own:.3f}"
        other = max((k for k in scores if float(k) != level), key=scores.__getitem__, default=None)
        if other is not None:
            summary += f"; no other level more than {MARGIN} better (best: {other}, {scores[other]:.3f})"
    network.choose_confident(level, scores, summary)
    shown = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
    log.info("%s: %s (mean Dice by level: %s)", label, summary, shown)
    return level


#: How many kinds of image :func:`spread_order` tells apart: the first this many names are one of each kind.
KINDS = 5


def spread_order(images: Sequence[np.ndarray], confidence: Sequence[float], *, kinds: int = KINDS) -> list[int]:
    """The images in the order to correct them: the least confident image of each kind first (kinds found by
    k-means on :func:`~bootseg.annotators.kinds.image_features`, the kind with the least confident image first),
    then the next of each kind, and so on; within a kind, least confident first.

    A set's least confident images are often of one unusual kind; corrections of those alone can mislead what the
    whole set is given. Spread over the kinds, the first few corrections speak for the whole set.

    >>> images = [np.full((2, 2), v, np.uint8) for v in (0, 0, 0, 255, 255)]
    >>> spread_order(images, [0.1, 0.2, 0.3, 0.9, 0.8], kinds=2)
    [0, 4, 1, 3, 2]
    """
    from sklearn.cluster import KMeans

    n = len(images)
    if n == 0:
        return []
    features = np.stack([image_features(image) for image in images])
    count = max(1, min(kinds, n, len(np.unique(features.round(6), axis=0))))
    # the features are all on one 0..1 scale, so k-means takes them as they are
    labels = np.zeros(n, dtype=int) if count == 1 else KMeans(count, n_init=10, random_state=0).fit_predict(features)
    score = np.asarray(confidence, dtype=float)
    groups = [sorted(np.flatnonzero(labels == g).tolist(), key=lambda i: (score[i], i)) for g in range(count)]
    groups.sort(key=lambda members: (score[members[0]], members[0]))
    order: list[int] = []
    for rank in range(max(len(g) for g in groups)):
        order += [members[rank] for members in groups if rank < len(members)]
    return order
