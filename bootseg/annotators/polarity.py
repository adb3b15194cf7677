"""Which class is the object: the bright one or the dark one.

A threshold splits an image into a bright and a dark class; ``polarity`` says which of the two is foreground.
``"bright"`` and ``"dark"`` fix it; ``"auto"`` decides per image with :func:`choose_polarity`.

The rule behind ``"auto"`` looks at the geometry of the two classes, never at which one is smaller (in electron
microscopy the object class covers 78 % of the image) and never at the border alone (in dermoscopy the dark
vignetted corners touch the border):

``score = sea(dark) - sea(bright) + 2 * (centre(bright) - ring(bright))``

- ``sea(C)``: the share of class ``C`` in its largest 4-connected component. The background is usually one
  connected "sea" around the objects (1.0), while objects fall apart into many islands (nuclei, cells) or one
  island plus specks. In EM the dark membranes form one connected network and the bright cell interiors are many
  islands, so the bright class wins although it is the majority.
- ``centre(bright) - ring(bright)``: how much more of the central ellipse (normalised radius < 0.25, half the image
  across) is bright than of the ring 0.35 <= r < 0.5. The ring stays inside the inscribed ellipse, so the dark
  vignetted corners of a dermoscope hardly count. A centred object (one cell, one lesion) makes this term decide
  when the topology is ambiguous (a lesion fused with the vignetting); for images with objects everywhere it is
  near 0 and the ``sea`` term decides.

Bright is foreground when ``score >= 0``, dark otherwise. The weight 2 was chosen on the datasets in
``shared/data`` (``benchmarks/polarity_check.py``); any weight from 2 to 2.5 picks the better class on at least
94 % of the images of every one of them. An empty (or full) bright class gives an empty foreground.

For a whole data set, sum :func:`polarity_score` over its images and take the sign, so that one polarity is used
for every image.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import ndimage as ndi

__all__ = ["CENTRE_WEIGHT", "POLARITIES", "choose_polarity", "polarity_score", "select_polarity"]

Polarity = Literal["bright", "dark"]

#: The values the ``polarity`` option accepts.
POLARITIES = ("bright", "dark", "auto")
#: Weight of the centre-versus-ring term of :func:`polarity_score`.
CENTRE_WEIGHT = 2.0
_CENTRE_RADIUS = 0.25
_RING = (0.35, 0.5)


def _sea(mask: np.ndarray) -> float:
    total = int(np.count_nonzero(mask))
    if total == 0:
        return 0.0
    labels, _ = ndi.label(mask)
    sizes = np.bincount(labels.ravel())
    return float(sizes[1:].max()) / total


@lru_cache(maxsize=16)
def _centre_and_ring(height: int, width: int) -> tuple[np.ndarray, int, np.ndarray, int]:
    """The central ellipse and the ring of an image of this shape, each with its pixel count (cached: a data set
    usually has one or a few shapes)."""
    rows = (np.arange(height) - (height - 1) / 2) / height
    cols = (np.arange(width) - (width - 1) / 2) / width
    radius = np.hypot(rows[:, None], cols[None, :])
    centre = radius < _CENTRE_RADIUS
    ring = (radius >= _RING[0]) & (radius < _RING[1])
    centre.flags.writeable = ring.flags.writeable = False
    return centre, int(np.count_nonzero(centre)), ring, int(np.count_nonzero(ring))


def _centre_excess(mask: np.ndarray) -> float:
    centre, centre_size, ring, ring_size = _centre_and_ring(*mask.shape)
    if not centre_size or not ring_size:
        return 0.0
    return float(np.count_nonzero(mask & centre) / centre_size - np.count_nonzero(mask & ring) / ring_size)


def polarity_score(bright_mask: np.ndarray) -> float:
    """Evidence that the bright class is the foreground: positive for bright, negative for dark.

    Parameters
    ----------
    bright_mask : (H, W) ndarray of bool
        The bright class of a two-class split (e.g. ``grey > threshold_otsu(grey)``).

    Returns
    -------
    float
        ``sea(dark) - sea(bright) + 2 * (centre(bright) - ring(bright))``, in [-3, 3] (see the module notes).

    Examples
    --------
    >>> spot = np.zeros((32, 32), bool); spot[12:20, 12:20] = True    # one bright object in the middle
    >>> polarity_score(spot) > 0
    True
    """
    bright = np.asarray(bright_mask, dtype=bool)
    if bright.ndim != 2:
        raise ValueError(f"bright_mask must be (H, W), got shape {bright.shape}")
    return _sea(~bright) - _sea(bright) + CENTRE_WEIGHT * _centre_excess(bright)


def choose_polarity(grey: np.ndarray, bright_mask: np.ndarray) -> Polarity:
    """Decide whether the bright or the dark class of ``grey`` is the foreground (the ``"auto"`` rule).

    Parameters
    ----------
    grey : (H, W) ndarray
        The grey image the mask was made from. Only its shape is checked: the rule uses the geometry of the two
        classes (:func:`polarity_score`), which keeps it independent of the intensity units.
    bright_mask : (H, W) ndarray of bool
        The bright class, e.g. ``grey > threshold_otsu(grey)``.

    Returns
    -------
    {"bright", "dark"}
        ``"bright"`` when :func:`polarity_score` is >= 0.

    Examples
    --------
    >>> grey = np.zeros((32, 32)); grey[12:20, 12:20] = 1.0
    >>> choose_polarity(grey, grey > 0.5)
    'bright'
    >>> choose_polarity(1.0 - grey, 1.0 - grey > 0.5)
    'dark'
    """
    if np.shape(grey)[:2] != np.shape(bright_mask):
        raise ValueError(
            f"bright_mask has shape {np.shape(bright_mask)}; expected {np.shape(grey)[:2]} to match the grey image"
        )
    return "bright" if polarity_score(bright_mask) >= 0 else "dark"


def select_polarity(
    polarity: str, grey: np.ndarray, bright_fg: np.ndarray, dark_fg: np.ndarray | None = None
) -> np.ndarray:
    """The foreground mask for ``polarity``, given the masks for both choices.

    Parameters
    ----------
    polarity : {"bright", "dark", "auto"}
    grey : (H, W) ndarray
        The grey image (for ``"auto"``).
    bright_fg : (H, W) ndarray of bool
        The foreground if the objects are bright (the background is the darkest class).
    dark_fg : (H, W) ndarray of bool, optional
        The foreground if the objects are dark; ``~bright_fg`` by default (two-class methods).

    Returns
    -------
    (H, W) ndarray of bool

    Examples
    --------
    >>> bright = np.array([[True, False]])
    >>> select_polarity("dark", np.zeros((1, 2)), bright).tolist()
    [[False, True]]
    """
    if polarity == "auto":
        polarity = choose_polarity(grey, bright_fg)
    if polarity == "bright":
        return bright_fg
    if polarity == "dark":
        return ~bright_fg if dark_fg is None else dark_fg
    raise ValueError(f"polarity must be one of {', '.join(map(repr, POLARITIES))}, got {polarity!r}")
