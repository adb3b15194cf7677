"""Kinds of image within one set: groups of images whose plain statistics are clearly apart.

A set can mix kinds of image that no one threshold rule serves: nuclei in fluorescence (bright on a dark
background) beside nuclei in bright-field or H&E (dark on a bright background). One polarity for the whole set is
then wrong for every image of the smaller kind. :func:`split_kinds` finds such groups without labels, from each
image's :func:`image_features` (each channel's mean and spread), so that :class:`~bootseg.annotators.auto.Auto`
can choose a plan for each kind.

The test is the separation of a two-means split of the features: the distance between the two centres over the
root-mean-square distance of the images to their own centre. Any cloud of one kind split in two gives about 2 to 3
(a Gaussian split at its median: 2.7); two kinds apart give far more. A group is split again while its halves are
:data:`SEPARATION` apart and each holds at least :data:`MIN_KIND` images, up to :data:`MAX_KINDS` kinds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .plan import Plan

__all__ = ["MAX_KINDS", "MIN_KIND", "SEPARATION", "Kind", "image_features", "nearest_kind", "split_kinds", "two_means"]

#: The separation of two groups (centre distance over the within-group spread) above which they are two kinds.
SEPARATION = 7.0
#: The fewest images a kind may hold: a few odd images (an empty field, a saturated one) are not a kind.
MIN_KIND = 5
#: The most kinds one set is split into.
MAX_KINDS = 4


def image_features(image: np.ndarray) -> np.ndarray:
    """A few numbers that tell kinds of image apart: each channel's mean and standard deviation (grey as three
    equal channels), on the 0..1 scale of the image's dtype (other dtypes than uint8 stretched from their own
    minimum and maximum, as :func:`bootseg.images.to_uint8` does).

    >>> image_features(np.full((4, 4), 255, np.uint8)).tolist()
    [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    """
    from ..images import to_uint8

    array = to_uint8(np.asarray(image)).astype(np.float64) / 255.0
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    flat = array.reshape(-1, array.shape[2])[:, :3]
    return np.stack([flat.mean(0), flat.std(0)], axis=1).ravel()


def two_means(features: np.ndarray) -> tuple[np.ndarray, float]:
    """The labels (0/1) of a two-means split of ``features`` (one row per image) and its separation: the
    distance between the two centres over the root-mean-square distance of the rows to their own centre
    (infinite when every row sits on its centre; 0 when the rows cannot be split).

    >>> labels, separation = two_means(np.array([[0.0], [0.1], [0.9], [1.0]]))
    >>> labels.tolist(), round(separation, 2)
    ([0, 0, 1, 1], 18.0)
    """
    from sklearn.cluster import KMeans

    rows = np.asarray(features, dtype=np.float64)
    if len(np.unique(rows.round(9), axis=0)) < 2:
        return np.zeros(len(rows), dtype=int), 0.0
    fitted = KMeans(2, n_init=10, random_state=0).fit(rows)
    labels = fitted.labels_.astype(int)
    if labels[0] == 1:  # the first image's group is group 0, so that the labels do not depend on k-means's order
        labels = 1 - labels
    centres = np.stack([rows[labels == g].mean(0) for g in (0, 1)])
    spread = float(np.sqrt(((rows - centres[labels]) ** 2).sum(1).mean()))
    distance = float(np.linalg.norm(centres[0] - centres[1]))
    return labels, (np.inf if spread == 0.0 else distance / spread)


def split_kinds(features: np.ndarray) -> list[np.ndarray]:
    """The kinds of image among the rows of ``features``, each as the sorted indices of its rows, the largest
    kind first (one kind holding every row when the set is of one kind).

    A group is split in two (:func:`two_means`) while the halves are at least :data:`SEPARATION` apart and each
    holds at least :data:`MIN_KIND` rows, until there are :data:`MAX_KINDS` kinds.

    >>> rows = np.array([[0.1], [0.12], [0.11], [0.1], [0.13], [0.9], [0.91], [0.92], [0.9], [0.93], [0.9]])
    >>> larger, smaller = split_kinds(rows)
    >>> len(larger), int(larger.min()), len(smaller), int(smaller.min())
    (6, 5, 5, 0)
    """
    rows = np.asarray(features, dtype=np.float64)
    done: list[np.ndarray] = []
    pending = [np.arange(len(rows))]
    while pending:
        group = pending.pop()
        if len(done) + len(pending) + 1 >= MAX_KINDS or len(group) < 2 * MIN_KIND:
            done.append(group)
            continue
        labels, separation = two_means(rows[group])
        halves = [group[labels == g] for g in (0, 1)]
        if separation >= SEPARATION and min(len(half) for half in halves) >= MIN_KIND:
            pending += halves
        else:
            done.append(group)
    return sorted(done, key=lambda kind: (-len(kind), int(kind[0])))


@dataclass(frozen=True)
class Kind:
    """One kind of image and the plan chosen for it.

    Parameters
    ----------
    centre : tuple of float
        The mean :func:`image_features` of its images; an image goes to the kind of the nearest centre.
    images : int
        How many of the fitted images it held.
    plan : Plan
        What the stage applies to images of this kind.
    """

    centre: tuple[float, ...]
    images: int
    plan: Plan


def nearest_kind(kinds: Sequence[Kind], image: np.ndarray) -> Kind:
    """The kind whose centre is nearest to ``image``'s :func:`image_features` (the first on a tie).

    >>> from bootseg.annotators.plan import Plan
    >>> on_black = Kind((0.0, 0.0) * 3, 3, Plan(polarity="bright"))
    >>> on_white = Kind((1.0, 0.0) * 3, 2, Plan(polarity="dark"))
    >>> kinds = [on_black, on_white]
    >>> nearest_kind(kinds, np.full((4, 4), 250, np.uint8)).plan.polarity
    'dark'
    """
    features = image_features(image)
    distances = [float(np.linalg.norm(features - np.asarray(kind.centre))) for kind in kinds]
    return kinds[int(np.argmin(distances))]
