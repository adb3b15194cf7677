"""The pipeline every built-in annotator runs: validate, grey, median, segment, polarity, clean-up."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..images import check_image
from .options import check_bool, check_choice, check_int, check_median
from .polarity import POLARITIES, select_polarity
from .postprocess import postprocess
from .preprocess import median_blur, to_grey

__all__ = ["ThresholdAnnotator"]

log = logging.getLogger(__name__)


class ThresholdAnnotator:
    """Base class of the built-in annotators: the shared options and the steps around the segmentation.

    ``annotate(image)`` runs, in this order: :func:`bootseg.images.check_image`; grey conversion
    (:func:`~bootseg.annotators.preprocess.to_grey`: Rec. 709 luma on the native values, lossless for 16-bit
    and float); the optional median filter; the subclass's split into a bright and a dark foreground
    (:meth:`split`); the polarity choice; and the clean-up (:func:`~bootseg.annotators.postprocess.postprocess`:
    ``min_size``, then ``fill_holes``, then ``largest_component``).

    A constant image (after the median filter) holds no object: its mask is all False, whatever the polarity.

    Parameters
    ----------
    polarity : {"auto", "bright", "dark"}, default "auto"
        Which class is foreground. ``"auto"`` decides per image with
        :func:`~bootseg.annotators.polarity.choose_polarity`; it picked the better class on at least 94 % of the
        images of every benchmark data set, bright-field, dermoscopy, fluorescence and EM alike.
    median : int, default 0
        Side of the square median filter applied to the grey image before segmenting (odd, >= 3), or 0 for none.
        Off by default, as in the paper's description of its first stages (its code blurred heavily; pass e.g.
        ``median=5`` against salt-and-pepper noise); sizes 3 and 5 changed Otsu's mean Dice on the benchmark
        data sets by less than 0.01. See :func:`~bootseg.annotators.preprocess.median_blur`.
    largest_component : bool, default False
        Keep only the largest object. Off by default so that images with several objects (nuclei, the EM cell
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
        largest_component: bool = False,
        fill_holes: bool = True,
        min_size: int = 0,
    ) -> None:
        self.polarity = check_choice("polarity", polarity, self.polarities)
        self.median = check_median(median)
        self.largest_component = check_bool("largest_component", largest_component)
        self.fill_holes = check_bool("fill_holes", fill_holes)
        self.min_size = check_int("min_size", min_size, minimum=0)

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
        data = self.prepare(image)
        _check_range(data)
        if _is_constant(data):
            log.debug("%s: constant image, empty mask", self.name)
            return np.zeros(image.shape[:2], bool)
        mask = self.foreground(data)
        return postprocess(
            mask, min_size=self.min_size, fill_holes=self.fill_holes, largest_component=self.largest_component
        )

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The data the method segments: the grey image, median-filtered if asked.

        Parameters
        ----------
        image : (H, W) or (H, W, C) ndarray
            A checked image.

        Returns
        -------
        (H, W) ndarray
        """
        grey = to_grey(image)
        if self.median:
            grey = median_blur(grey, self.median)
        return grey

    def foreground(self, grey: np.ndarray) -> np.ndarray:
        """The foreground before clean-up: :meth:`split`, then the polarity choice.

        Parameters
        ----------
        grey : (H, W) ndarray
            The prepared, non-constant grey image.

        Returns
        -------
        (H, W) ndarray of bool
        """
        bright_fg, dark_fg = self.split(grey)
        return select_polarity(self.polarity, grey, bright_fg, dark_fg)

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
