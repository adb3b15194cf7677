"""``colour_distance``: pixels far in CIE Lab colour from the image's background colour."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from bootseg.images import check_image, to_uint8
from skimage.color import rgb2lab
from skimage.filters import threshold_otsu

from ._morphology import clean
from ._options import check_bool, check_choice, check_float, check_int

__all__ = ["ColourDistance"]

BACKGROUNDS = ("dominant", "border", "median")


class ColourDistance:
    """A first stage for stained tissue and bright-field images: foreground differs in colour from the background.

    The image is converted to CIE Lab (grey images have only a lightness), the background colour is estimated, and
    each pixel's distance to it (CIE76 ΔE, Euclidean in Lab) is optionally smoothed and thresholded. Unlike a
    grey-level threshold this finds objects that differ from their surroundings in hue or saturation (eosin-pink
    tissue on a white slide, a brown DAB stain) as well as in brightness, and needs no polarity: darker and
    brighter objects are both far from the background.

    Parameters
    ----------
    background : {"dominant", "border", "median"}, default "dominant"
        How the background colour is estimated. ``"dominant"``: the median colour of the most populated cell of a
        coarse 8 × 8 × 8 Lab histogram (right whenever the background is the most common colour, even if it covers
        under half of the image); ``"border"``: the median colour of a frame ``border`` wide along the image edge
        (objects away from the edge); ``"median"``: the median colour of the whole image (background over half).
    border : float, default 0.05
        Width of the frame for ``background="border"``, as a share of the shorter side (at least one pixel);
        in (0, 0.5].
    threshold : float or None, default None
        Distance in ΔE units above which a pixel is foreground; ``None`` picks it per image with Otsu's method on
        the distances. (ΔE 2.3 is a just-noticeable difference; 10-20 separates a stain from a white slide.)
    smooth : float, default 1.0
        Standard deviation in pixels of a Gaussian blur of the distance map against pixel noise; 0 = off.
    min_size : int, default 0
        Remove objects (4-connected) smaller than this many pixels; 0 = off.
    fill_holes : bool, default True
        Fill holes inside objects.

    Raises
    ------
    TypeError, ValueError
        For an option of the wrong type or out of range; the message names the option and the value.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.full((32, 32, 3), 240, np.uint8)       # a white slide
    >>> image[8:24, 8:24] = (200, 80, 150)                # a pink stained object
    >>> mask = ColourDistance(smooth=0).annotate(image)
    >>> mask.shape, mask.dtype, int(mask[8:24, 8:24].sum()), int(mask.sum())
    ((32, 32), dtype('bool'), 256, 256)
    """

    name = "colour_distance"

    def __init__(
        self,
        *,
        background: str = "dominant",
        border: float = 0.05,
        threshold: float | None = None,
        smooth: float = 1.0,
        min_size: int = 0,
        fill_holes: bool = True,
    ) -> None:
        self.background = check_choice("background", background, BACKGROUNDS)
        self.border = check_float("border", border, minimum=0.0, maximum=0.5, open_low=True)
        self.threshold = None if threshold is None else check_float("threshold", threshold, minimum=0.0)
        self.smooth = check_float("smooth", smooth, minimum=0.0)
        self.min_size = check_int("min_size", min_size, minimum=0)
        self.fill_holes = check_bool("fill_holes", fill_holes)

    def options(self) -> dict[str, Any]:
        """The options as keyword arguments."""
        return {
            "background": self.background,
            "border": self.border,
            "threshold": self.threshold,
            "smooth": self.smooth,
            "min_size": self.min_size,
            "fill_holes": self.fill_holes,
        }

    def __repr__(self) -> str:
        return f"ColourDistance({', '.join(f'{k}={v!r}' for k, v in self.options().items())})"

    def annotate(self, image: np.ndarray) -> np.ndarray:
        """Segment one image.

        Parameters
        ----------
        image : (H, W) or (H, W, C) ndarray
            Any real dtype; ``C`` is 1, 3 (RGB) or 4 (RGBA, alpha ignored). uint8 values are taken as they are;
            other dtypes are stretched from their own minimum to maximum first.

        Returns
        -------
        mask : (H, W) ndarray of bool
            True where the colour is far from the background. All False for an image of one colour.

        Raises
        ------
        ValueError
            For a wrongly shaped image, one under 2 × 2 pixels, or one with NaN or infinite values.
        TypeError
            For a non-array or a non-numeric dtype.
        """
        image = check_image(image, name="image")
        distance = self.distance(image)
        if not distance.max() > 0:
            return np.zeros(image.shape[:2], bool)
        level = self.threshold if self.threshold is not None else float(threshold_otsu(distance))
        return clean(distance > level, fill_holes=self.fill_holes, min_size=self.min_size)

    def distance(self, image: np.ndarray) -> np.ndarray:
        """Each pixel's ΔE distance from the background colour, smoothed if asked.

        Parameters
        ----------
        image : (H, W) or (H, W, C) ndarray
            A checked image (:func:`bootseg.images.check_image`).

        Returns
        -------
        (H, W) ndarray of float32
        """
        rgb = to_uint8(image)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[:, :, None], 3, axis=2)
        lab = rgb2lab(rgb[:, :, :3].astype(np.float32) / np.float32(255.0)).astype(np.float32)
        reference = self.background_colour(lab)
        distance = np.sqrt(((lab - reference) ** 2).sum(axis=2, dtype=np.float32))
        if self.smooth > 0:
            distance = cv2.GaussianBlur(distance, (0, 0), self.smooth, borderType=cv2.BORDER_REFLECT)
        return distance

    def background_colour(self, lab: np.ndarray) -> np.ndarray:
        """The background's Lab colour, estimated as the ``background`` option says.

        Parameters
        ----------
        lab : (H, W, 3) ndarray of float32
            The image in CIE Lab.

        Returns
        -------
        (3,) ndarray of float32
        """
        pixels = lab.reshape(-1, 3)
        if self.background == "median":
            return np.median(pixels, axis=0)
        if self.background == "border":
            height, width = lab.shape[:2]
            frame = max(1, round(self.border * min(height, width)))
            edge = np.ones((height, width), bool)
            edge[frame:-frame, frame:-frame] = False
            return np.median(lab[edge], axis=0)
        # "dominant": the most populated cell of a coarse histogram; L in [0, 100], a and b roughly in [-128, 127].
        scaled = (pixels - np.array([0.0, -128.0, -128.0], np.float32)) / np.array([100.0, 256.0, 256.0], np.float32)
        cells = np.clip((scaled * 8).astype(np.int64), 0, 7)
        index = (cells[:, 0] * 8 + cells[:, 1]) * 8 + cells[:, 2]
        dominant = int(np.argmax(np.bincount(index, minlength=512)))
        return np.median(pixels[index == dominant], axis=0)
