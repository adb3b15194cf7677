"""The pipeline every built-in annotator runs: validate, grey, median, segment, polarity, clean-up."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

import numpy as np

from ..description import StageDescription
from ..executors import map_method
from ..images import check_image
from .channels import CHANNELS, channel_image, choose_channel, subsample
from .options import check_bool, check_choice, check_int, check_median, check_number
from .polarity import POLARITIES, polarity_score, select_polarity
from .postprocess import largest_component, postprocess
from .preprocess import median_blur

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
    ``min_size``, then ``fill_holes``, then ``largest_component`` with ``neck``).

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
        #: With ``channel="auto"``: the channel :meth:`fit` chose, and each candidate's agreement with the others.
        self.chosen_channel: str | None = None
        self.channel_agreement: dict[str, float] = {}
        #: With ``polarity="auto"``: the polarity :meth:`fit` chose for the whole set.
        self.chosen_polarity: str | None = None
        #: With ``largest_component="auto"``: whether :meth:`fit` chose one object per image, and the share of
        #: images whose largest object covers the centre.
        self.chosen_largest: bool | None = None
        self.centred_share = 0.0

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
        """Segment one image.

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
        return self._segment(image, self.channel_for(image))

    def fit(self, images: Sequence[np.ndarray], *, executor: Executor | None = None) -> ThresholdAnnotator:
        """Learn what a whole set of images decides: each option set to ``"auto"`` that is best chosen per set.

        The chain calls this with every image before the first stage annotates (and with its executor, when it
        has one). At most 200 images, evenly spaced, take part. Nothing happens unless an option is ``"auto"``:

        - ``channel="auto"``: every candidate channel segments the images and the one whose masks agree best with
          the majority vote of the others is kept (:attr:`chosen_channel`; :mod:`bootseg.annotators.channels`);
        - ``polarity="auto"``: one polarity for the set, the sign of the summed
          :func:`~bootseg.annotators.polarity.polarity_score` of the images (:attr:`chosen_polarity`);
        - ``largest_component="auto"``: keep only the largest object of each image when, in at least
          :data:`CENTRED_SHARE` of the images, the largest object covers the image centre (crops centred on one
          cell, lesion or spheroid); keep every object otherwise (:attr:`chosen_largest`).

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
        self._fit_choices(checked, executor)
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

    def _fit_choices(self, checked: list[np.ndarray], executor: Executor | None = None) -> None:
        """The channel, then the polarity and the one-object rule (subclasses add their own choices)."""
        self.chosen_channel = None
        if self.channel == "auto":
            self.chosen_channel, self.channel_agreement = choose_channel(checked, self._segment)
            log.info(
                "%s: channel %r chosen over %d image(s) (agreement with the other channels: %s)",
                self.name,
                self.chosen_channel,
                len(checked),
                ", ".join(f"{name} {value:.3f}" for name, value in self.channel_agreement.items()),
            )
        self._fit_polarity_and_largest(checked, executor, masks=False)

    def _fit_polarity_and_largest(
        self, checked: list[np.ndarray], executor: Executor | None = None, *, masks: bool = True
    ) -> list[np.ndarray]:
        """The set's polarity and, with ``largest_component="auto"``, whether to keep one object per image.

        Returns the final masks of the images that took part (at most :data:`~.channels.MAX_CHOICE_IMAGES`): the
        same masks :meth:`annotate` gives them now (none with ``masks=False``). Without an executor each step is
        computed once per image; with one, each step runs on batches of images in the workers, which compute
        again what an earlier step found (the grey image, the split).
        """
        self.chosen_polarity = None
        self.chosen_largest = None
        sample = subsample(checked)
        split = [self._split_of(image) for image in sample] if executor is None else None
        if self.polarity == "auto":
            if split is None:
                evidence = map_method(executor, self, "_evidence_of", sample)
            else:
                evidence = [self._evidence(data, bright) for data, bright in split]
            total = sum(value for value in evidence if value is not None)
            self.chosen_polarity = "bright" if total >= 0 else "dark"
            log.info("%s: polarity %r chosen over %d image(s)", self.name, self.chosen_polarity, len(checked))
        if not masks and self.largest_component != "auto":
            return []
        if split is None:
            finals = map_method(executor, self, "_final_of", sample)
        else:
            bright_in_use = self.polarity_in_use() == "bright"
            finals = [
                self._final(data, bright if bright is None or bright_in_use else self.foreground(data))
                for data, bright in split
            ]
        cleaned = [mask for mask, _ in finals]
        if self.largest_component == "auto":
            centred = sum(piece is not None and bool(piece[_middle(piece)]) for _, piece in finals)
            self.centred_share = centred / len(finals)
            self.chosen_largest = self.centred_share >= CENTRED_SHARE
            log.info(
                "%s: the largest object covers the centre in %d of %d image(s): %s",
                self.name,
                centred,
                len(finals),
                "one object per image kept" if self.chosen_largest else "every object kept",
            )
        if not masks or not self.keeps_largest():
            return cleaned
        # the pieces _final left out: those of masks that miss the centre
        missing = [mask for mask, piece in finals if piece is None]
        found = iter(
            [self._largest_of(mask) for mask in missing]
            if executor is None
            else map_method(executor, self, "_largest_of", missing)
        )
        return [next(found) if piece is None else piece for _, piece in finals]

    def _split_of(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The image as the stage sees it (checked) and its bright class (None for a constant image), through
        foreground(), which subclasses override (k-means clusters and has no split())."""
        data = self.prepare(image, self.channel_for(image))
        _check_range(data)
        return data, None if _is_constant(data) else self.foreground(data, "bright")

    def _evidence(self, data: np.ndarray, bright: np.ndarray | None) -> float | None:
        """The image's :func:`~bootseg.annotators.polarity.polarity_score` for ``polarity="auto"``."""
        return None if bright is None else polarity_score(self.polarity_evidence(data, bright))

    def _evidence_of(self, image: np.ndarray) -> float | None:
        return self._evidence(*self._split_of(image))

    def _final(self, data: np.ndarray, objects: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The cleaned mask of ``objects`` (the foreground in the polarity in use; None: a constant image) and,
        where the largest object matters, that object cut at necks: for every mask when the stage keeps one
        object, and with ``"auto"`` for a mask that covers the centre (a mask that misses it has no largest
        object covering it, and its piece is needed only if the stage keeps one object per image)."""
        if objects is None:
            return np.zeros(data.shape[:2], bool), None
        cleaned = postprocess(objects, min_size=self.min_size, fill_holes=self.fill_holes)
        wanted = self.keeps_largest() or (self.largest_component == "auto" and bool(cleaned[_middle(cleaned)]))
        return cleaned, self._largest_of(cleaned) if wanted else None

    def _final_of(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        data = self.prepare(image, self.channel_for(image))
        return self._final(data, None if _is_constant(data) else self.foreground(data))

    def _largest_of(self, mask: np.ndarray) -> np.ndarray:
        return largest_component(mask, self.neck)

    def polarity_evidence(self, data: np.ndarray, bright: np.ndarray) -> np.ndarray:
        """The mask whose :func:`~bootseg.annotators.polarity.polarity_score` decides ``polarity="auto"``: the
        foreground for bright objects, ``bright`` (subclasses whose masks are not a split of grey levels may
        decide on another mask)."""
        return bright

    def keeps_largest(self) -> bool:
        """Whether masks keep only their largest object: ``largest_component``, or for ``"auto"`` what
        :meth:`fit` chose (every object is kept before :meth:`fit`)."""
        if self.largest_component == "auto":
            return bool(self.chosen_largest)
        return bool(self.largest_component)

    def choices(self) -> dict[str, Any]:
        """What :meth:`fit` chose for the set (empty before :meth:`fit`, or when nothing was ``"auto"``).

        >>> from bootseg.annotators import Otsu
        >>> image = np.zeros((16, 16), np.uint8); image[4:12, 4:12] = 200
        >>> Otsu().fit([image]).choices()
        {'polarity': 'bright'}
        """
        made: dict[str, Any] = {}
        if self.chosen_channel is not None:
            made["channel"] = self.chosen_channel
            if self.channel_agreement:
                made["channel_agreement"] = {k: round(v, 4) for k, v in self.channel_agreement.items()}
        if self.chosen_polarity is not None:
            made["polarity"] = self.chosen_polarity
        if self.chosen_largest is not None:
            made["largest_component"] = self.chosen_largest
            made["centred_share"] = round(self.centred_share, 4)
        return made

    def describe(self) -> StageDescription:
        """Its options and what :meth:`fit` chose, for ``run.json`` and the report."""
        return StageDescription(self.options(), self.choices())

    def polarity_in_use(self) -> str:
        """``polarity``, or for ``"auto"`` the one :meth:`fit` chose for the set (``"auto"``: per image)."""
        if self.polarity == "auto" and self.chosen_polarity is not None:
            return self.chosen_polarity
        return self.polarity

    def channel_for(self, image: np.ndarray) -> str:
        """The channel :meth:`annotate` splits for ``image``.

        ``channel`` itself unless it is ``"auto"``; then grey for a grey image, the fitted choice, or (not
        fitted) the choice made on this image alone.
        """
        if self.channel != "auto":
            return self.channel
        if image.ndim == 2:
            return "grey"
        if self.chosen_channel is not None:
            return self.chosen_channel
        return choose_channel([image], self._segment)[0]

    def _segment(self, image: np.ndarray, channel: str) -> np.ndarray:
        data = self.prepare(image, channel)
        _check_range(data)
        if _is_constant(data):
            log.debug("%s: constant image, empty mask", self.name)
            return np.zeros(image.shape[:2], bool)
        mask = self.foreground(data)
        return postprocess(
            mask,
            min_size=self.min_size,
            fill_holes=self.fill_holes,
            largest_component=self.keeps_largest(),
            neck=self.neck,
        )

    def prepare(self, image: np.ndarray, channel: str = "grey") -> np.ndarray:
        """The data the method segments: one channel of the image (grey by default), median-filtered if asked.

        Parameters
        ----------
        image : (H, W) or (H, W, C) ndarray
            A checked image.
        channel : str
            One of :data:`bootseg.annotators.channels.CANDIDATES` (see :func:`~.channels.channel_image`).

        Returns
        -------
        (H, W) ndarray
        """
        grey = channel_image(image, channel)
        if self.median:
            grey = median_blur(grey, self.median)
        return grey

    def foreground(self, grey: np.ndarray, polarity: str | None = None) -> np.ndarray:
        """The foreground before clean-up: :meth:`split`, then the polarity choice.

        Parameters
        ----------
        grey : (H, W) ndarray
            The prepared, non-constant grey image.
        polarity : str, optional
            Overrides :meth:`polarity_in_use`.

        Returns
        -------
        (H, W) ndarray of bool
        """
        bright_fg, dark_fg = self.split(grey)
        return select_polarity(polarity or self.polarity_in_use(), grey, bright_fg, dark_fg)

    def split(self, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The foreground for bright objects and the one for dark objects (None: the complement of the first).

        Parameters
        ----------
        grey : (H, W) ndarray
            The prepared, non-constant grey image.

        Returns
        -------
        bright_fg : (H, W) ndarray of bool
        dark_fg : (H, W) ndarray of bool or None
        """
        raise NotImplementedError(f"{type(self).__name__} must implement split()")


def _is_constant(data: np.ndarray) -> bool:
    flat = data.reshape(-1)
    step = data.shape[2] if data.ndim == 3 else 1
    # every value equals the one a pixel before it: one contiguous comparison, also for colour
    return bool((flat[step:] == flat[:-step]).all())


def _check_range(data: np.ndarray) -> None:
    if data.dtype.kind != "f":
        return
    low, high = float(data.min()), float(data.max())
    if not np.isfinite(high - low):
        raise ValueError(
            f"image values span [{low:g}, {high:g}], more than float64 can hold after grey conversion; "
            "rescale the image (e.g. divide by its maximum absolute value) first"
        )


def _middle(mask: np.ndarray) -> tuple[int, int]:
    return mask.shape[0] // 2, mask.shape[1] // 2
