"""The paper's second first stage: k-means on intensities, the largest cluster is background."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import ThresholdAnnotator
from .kmeans1d import kmeans_grey
from .kmeans_color import kmeans_color
from .options import check_bool, check_int
from .plan import Plan
from .polarity import POLARITIES, choose_polarity
from .preprocess import luma, median_blur, to_colour

__all__ = ["KMeans"]

_MAX_K = 16


class KMeans(ThresholdAnnotator):
    """k-means clustering of grey levels (or colours); by default the largest cluster is background, as in the paper.

    On grey levels the clustering is exact and fast: Lloyd's algorithm runs on the histogram
    (:mod:`bootseg.annotators.kmeans1d`), not on the pixels. With ``color=True`` it clusters the colour vectors
    through a quantised colour histogram (:mod:`bootseg.annotators.kmeans_color`). Both agree with
    :func:`cv2.kmeans` called as the paper called it on more than 99 % of the pixels and run many times faster
    (``benchmarks/kmeans_speed.py``).

    ``polarity`` picks the background cluster; every other cluster is foreground:

    - ``"largest"`` (the default, the paper's rule): the cluster with the most pixels (ties: the darker);
    - ``"bright"``: the darkest cluster (objects are brighter than the background);
    - ``"dark"``: the brightest cluster;
    - ``"auto"``: :func:`~bootseg.annotators.polarity.choose_polarity` on the "bright" mask decides between
      ``"bright"`` and ``"dark"``.

    Clusters are ordered by the grey value of their centre (Rec. 709 luma of the centre colour with
    ``color=True``).

    Parameters
    ----------
    k : int, default 2
        Number of clusters, 2 to 16. Clusters left empty (an image with fewer distinct values) are dropped.
    color : bool, default False
        Cluster colour vectors (RGB; alpha dropped) instead of grey levels. No effect on single-channel images.
    seed : int, default 0
        Seed of the k-means++ starts with ``color=True`` (the grey clustering needs none: its starts are the
        weighted quantiles and evenly spaced levels).
    polarity : {"largest", "auto", "bright", "dark"}, default "largest"
        See above. "largest" is right for the paper's kind of image (one object on a larger homogeneous
        background) but not where objects cover most of the image (EM cell interiors); use "auto" there.
    median, largest_component, fill_holes, min_size
        The other shared options; defaults ``0``, ``False``, ``True``, ``0``
        (see :class:`~bootseg.annotators.base.ThresholdAnnotator`). With ``color=True`` the median filter runs
        on each colour channel.

    Examples
    --------
    >>> image = np.zeros((32, 32), np.uint8); image[8:24, 8:24] = 200
    >>> mask = KMeans().annotate(image)
    >>> int(mask.sum()), bool(mask[16, 16])
    (256, True)
    """

    name = "kmeans"
    polarities = ("largest", *POLARITIES)

    def __init__(
        self, *, k: int = 2, color: bool = False, seed: int = 0, polarity: str = "largest", **options: Any
    ) -> None:
        super().__init__(polarity=polarity, **options)
        self.k = check_int("k", k, minimum=2, maximum=_MAX_K)
        self.color = check_bool("color", color)
        self.seed = check_int("seed", seed, minimum=0)
        if self.color and self.channel != "grey":
            raise ValueError(
                f"channel={self.channel!r} picks one channel to cluster, but color=True clusters the RGB colours; "
                "use one of them"
            )

    def options(self) -> dict[str, Any]:
        """The options as keyword arguments, ``k``, ``color`` and ``seed`` included."""
        return {"k": self.k, "color": self.color, "seed": self.seed, **super().options()}

    def prepare(self, image: np.ndarray, channel: str = "grey", *, plan: Plan | None = None) -> np.ndarray:
        """The channel (grey by default), or with ``color=True`` the ``(H, W, 3)`` colours (uint8 as they are,
        anything else as float64); median-filtered if the plan asks."""
        plan = self.plan if plan is None else plan
        if not self.color or image.ndim == 2:
            return super().prepare(image, channel, plan=plan)
        channels = image[:, :, :3]
        if plan.median:
            channels = np.stack([median_blur(channels[:, :, c], plan.median) for c in range(3)], axis=2)
        return channels if channels.dtype == np.uint8 else to_colour(channels)

    def foreground(self, data: np.ndarray, polarity: str | None = None, *, plan: Plan | None = None) -> np.ndarray:
        """Cluster, then take every cluster but the background one (see the class notes) for ``polarity`` or the
        plan's."""
        if data.ndim == 3:
            labels, centres = kmeans_color(data, self.k, seed=self.seed)
            brightness = luma(centres)
        else:
            labels, result = kmeans_grey(data, self.k)
            brightness = result.centres
        order = np.argsort(brightness, kind="stable")
        darkest, brightest = int(order[0]), int(order[-1])
        polarity = polarity or (self.plan if plan is None else plan).polarity
        if polarity == "auto":
            grey = luma(data) if data.ndim == 3 else data
            polarity = choose_polarity(grey, labels != darkest)
        if polarity == "largest":
            counts = np.bincount(labels.ravel(), minlength=brightness.size)
            background = int(order[np.argmax(counts[order])])
        else:
            background = darkest if polarity == "bright" else brightest
        return labels != background
