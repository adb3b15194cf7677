"""Objects separated by thin lines: find the lines as ridges, not as a grey level.

In electron micrographs of tissue the cells fill the image edge to edge and the background is the thin, dark
membrane between them. A grey-level threshold takes every dark pixel as background: the membranes, but also the
darker textured parts of the cells (organelles, dense cytoplasm), so that the cells come out eaten away. A ridge
filter answers a different question, *is this pixel on a line?*, from the curvature of the grey levels across
it: the Sato filter (:func:`skimage.filters.sato`, the largest eigenvalue of the Hessian over a few scales)
responds to lines a few pixels wide and hardly to blobs or texture. :func:`ridge_foreground` thresholds that
response with Otsu's method; the lines are the background and everything else is foreground.

The :class:`Ridges` annotator does this for any image. The ``auto`` first stage switches to it by itself when
its own masks say the images are of this kind (:func:`bootseg.thickness.thin_background`): several objects per
image, with a background much thinner than the objects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from skimage import filters

from .base import ThresholdAnnotator
from .options import check_number
from .plan import Plan
from .polarity import choose_polarity

__all__ = [
    "DEFAULT_RIDGE_RADIUS",
    "Ridges",
    "otsu_bright",
    "ridge_foreground",
    "select_ridges",
    "sigmas_for",
]

#: The lines' half-width in pixels that sets the filter's scales unless it is given or measured.
DEFAULT_RIDGE_RADIUS = 5.0


def sigmas_for(radius: float) -> tuple[float, ...]:
    """The Sato filter's scales for lines up to ``2 * radius`` pixels wide: 1, 2, … up to ``radius / sqrt(3)``.

    A line of half-width ``h`` gives its strongest scale-normalised response near ``sigma = h / sqrt(3)``; the
    scales start at one pixel and are at least two.

    Examples
    --------
    >>> sigmas_for(4.7), sigmas_for(1.0)
    ((1.0, 2.0, 3.0), (1.0, 2.0))
    """
    radius = check_number("radius", radius)
    if not radius > 0:
        raise ValueError(f"radius must be a number > 0 (the half-width of the lines in pixels), got {radius!r}")
    top = max(2, math.ceil(radius / math.sqrt(3)))
    return tuple(float(s) for s in range(1, top + 1))


def ridge_foreground(grey: np.ndarray, sigmas: Sequence[float], polarity: str) -> np.ndarray:
    """The foreground when the background is thin lines: every pixel not on a line.

    Parameters
    ----------
    grey : (H, W) ndarray
        One channel, not constant.
    sigmas : sequence of float
        The scales of :func:`skimage.filters.sato`.
    polarity : {"bright", "dark"}
        Of the objects: bright objects are separated by dark lines (``black_ridges=True``), dark ones by bright
        lines.

    Returns
    -------
    (H, W) ndarray of bool
        ``sato(grey) <= threshold_otsu(sato(grey))``.

    Examples
    --------
    >>> grey = np.full((32, 32), 200.0); grey[:, 15:17] = 20.0       # a dark line between two bright halves
    >>> fg = ridge_foreground(grey, (1.0, 2.0), "bright")
    >>> bool(fg[:, 15].any()), bool(fg[:, :10].all())
    (False, True)
    """
    if polarity not in ("bright", "dark"):
        raise ValueError(f"polarity must be 'bright' or 'dark', got {polarity!r}")
    # float32: half the memory of float64; the response is far finer than its Otsu threshold needs
    response = filters.sato(np.asarray(grey, dtype=np.float32), sigmas=tuple(sigmas), black_ridges=polarity == "bright")
    top = float(response.max())
    if not top > 0:  # no line at all: everything is object
        return np.ones(response.shape, bool)
    return response <= filters.threshold_otsu(response)


def select_ridges(grey: np.ndarray, sigmas: Sequence[float], polarity: str) -> np.ndarray:
    """:func:`ridge_foreground` for ``polarity``; for ``"auto"`` the polarity is chosen on this image as for a
    threshold (:func:`~.polarity.choose_polarity` on Otsu's bright class: whether the objects are the bright or
    the dark class is a question about grey levels, and the ridge masks' own geometry answers it less well).

    >>> grey = np.full((32, 32), 200.0); grey[:, 15:17] = 20.0
    >>> bool(select_ridges(grey, (1.0, 2.0), "auto")[:, :10].all())
    True
    """
    if polarity in ("bright", "dark"):
        return ridge_foreground(grey, sigmas, polarity)
    return ridge_foreground(grey, sigmas, choose_polarity(grey, otsu_bright(grey)))


def otsu_bright(grey: np.ndarray) -> np.ndarray:
    """Otsu's bright class, ``grey > threshold_otsu(grey)``: the evidence for the polarity of the ridge masks."""
    return grey > filters.threshold_otsu(grey)


class Ridges(ThresholdAnnotator):
    """Background as thin lines found by a ridge filter (:func:`ridge_foreground`), for cells packed edge to edge.

    Parameters
    ----------
    radius : float, default 5.0
        The half-width in pixels of the thickest lines to find; the filter's scales are
        :func:`sigmas_for` it (5: 1, 2 and 3 pixels).
    **options
        The shared options of :class:`~bootseg.annotators.base.ThresholdAnnotator`. The polarity is that of the
        objects: ``"bright"`` objects between dark lines (EM cells), ``"dark"`` objects between bright lines;
        ``"auto"`` decides from the bright-object mask's geometry, as for thresholds.

    Examples
    --------
    >>> grey = np.full((32, 32), 200, np.uint8); grey[:, 15:17] = 20; grey[15:17, :] = 20   # four bright tiles
    >>> mask = Ridges(polarity="bright").annotate(grey)
    >>> bool(mask[5, 5]), bool(mask[15, 5])
    (True, False)
    """

    name = "ridges"

    def __init__(self, *, radius: float = DEFAULT_RIDGE_RADIUS, **options: Any) -> None:
        super().__init__(**options)
        self.sigmas = sigmas_for(radius)
        self.radius = float(radius)

    def options(self) -> dict[str, Any]:
        """The options as keyword arguments, ``radius`` included."""
        return {"radius": self.radius, **super().options()}

    def foreground(self, grey: np.ndarray, polarity: str | None = None, *, plan: Plan | None = None) -> np.ndarray:
        """:func:`select_ridges` for ``polarity`` or the plan's."""
        return select_ridges(grey, self.sigmas, polarity or (self.plan if plan is None else plan).polarity)

    def polarity_evidence(self, data: np.ndarray, bright: np.ndarray, *, plan: Plan | None = None) -> np.ndarray:
        """Otsu's bright class of ``data`` (:func:`otsu_bright`), as for :func:`select_ridges`."""
        return otsu_bright(data)

    def split(self, grey: np.ndarray, *, plan: Plan | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The foreground for bright objects (between dark lines) and the one for dark objects (between bright
        lines)."""
        return ridge_foreground(grey, self.sigmas, "bright"), ridge_foreground(grey, self.sigmas, "dark")
