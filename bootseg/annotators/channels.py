"""Which single channel of an image a threshold splits: grey, or a colour channel chosen by consensus.

A threshold works on one value per pixel. Grey (Rec. 709 luma) is the natural choice when the object differs from
the background in brightness, but not every object does: a dermoscopy lesion differs from the skin most in
saturation, while the dark vignetted corners of the dermoscope are as dark as the lesion; a stained white cell
differs from the red cells around it in hue, not in brightness. The ``channel`` option names the channel:

- ``"grey"``: the luma, in the image's own units (the default; see :func:`~bootseg.annotators.preprocess.to_grey`);
- ``"saturation"``: HSV saturation, ``(max − min) / max`` of R, G, B;
- ``"lab_a"`` and ``"lab_b"``: the CIE L*a*b* opponent axes, green–red and blue–yellow;
- ``"texture"``: the local standard deviation of grey in a :data:`TEXTURE_WINDOW`-pixel square, for objects that
  differ from the background in texture rather than in level (unstained cells in phase contrast or bright field,
  whose inside is as bright on average as the medium around them, as in the local-contrast segmentation of
  phase-contrast images, Jaccard et al., PHANTAST, PLoS ONE 2014);
- ``"auto"``: the channel whose masks agree best with those of the other channels, over a set of images.

**The consensus rule behind "auto".** Each candidate channel gives a mask per image (the annotator's own method
and polarity rule on that channel). A channel's errors tend to be its own — the vignetting only in grey, the pale
cytoplasm only in saturation — while the object is found by most channels, so the channel whose masks are closest
to the majority vote of the *others* (mean Dice over the images) is the one kept for every image. Grey images (and
colour images whose colour channels are constant) have one candidate, grey. The choice is made over a whole set of
images by :meth:`~bootseg.annotators.base.ThresholdAnnotator.fit` (the chain calls it with every image before the
first stage annotates); an annotator that was not fitted chooses for each image from that image alone. On the
benchmark data sets it picks grey for the white cells of ``wbc_tecom``, saturation for dermoscopy and blue–yellow
for ``wbc_cellavision`` (``docs/benchmarks.md``).

A ``multiotsu`` with ``classes="auto"``, as in the ``auto`` first stage (:class:`~bootseg.annotators.auto.Auto`),
chooses the channel together with the number of classes, by the objectness of each candidate's final masks, but
only among grey and the colour channels whose masks agree with the majority vote of the other channels' masks
(:data:`~bootseg.annotators.candidates.AGREEMENT_FLOOR`). ``"auto"`` chooses ``"texture"`` in one case only: when
most images of the set have objects both brighter and darker than their background (the halos of phase
contrast, :mod:`~bootseg.annotators.two_sided`), texture is the one candidate; it applies to grey and colour
images alike.

Colour channels are computed from the image scaled to [0, 1] (uint8 by 255, uint16 by 65535, other dtypes from
their own minimum to maximum) with OpenCV's float conversions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..metrics import dice
from .preprocess import to_grey

__all__ = [
    "CANDIDATES",
    "CHANNELS",
    "COLOUR",
    "TEXTURE_WINDOW",
    "channel_image",
    "choose_channel",
    "local_std",
    "subsample",
]

#: The values the ``channel`` option accepts.
CHANNELS = ("grey", "saturation", "lab_a", "lab_b", "texture", "auto")
#: The channels ``"auto"`` chooses from, in order of preference on a tie.
CANDIDATES = ("grey", "saturation", "lab_a", "lab_b")
#: The colour channels among :data:`CANDIDATES` (a grey image has none of them).
COLOUR = ("saturation", "lab_a", "lab_b")
#: Side of the square window of the ``"texture"`` channel's local standard deviation, in pixels.
TEXTURE_WINDOW = 7
#: The span of each colour channel's values; a channel varies on an image when it spans 1 % of this.
SPANS = {"saturation": 1.0, "lab_a": 255.0, "lab_b": 255.0}
#: At most this many images, evenly spaced, take part in the choice.
MAX_CHOICE_IMAGES = 200


def _unit_rgb(image: np.ndarray) -> np.ndarray:
    rgb = image[..., :3]
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / np.float32(255)
    if rgb.dtype == np.uint16:
        return rgb.astype(np.float32) / np.float32(65535)
    data = rgb.astype(np.float64)
    low, span = float(data.min()), float(np.ptp(data))
    return ((data - low) / (span if span > 0 else 1.0)).astype(np.float32)


def channel_image(image: np.ndarray, channel: str) -> np.ndarray:
    """One channel of a checked image as an ``(H, W)`` array.

    ``"grey"`` is :func:`~bootseg.annotators.preprocess.to_grey`. Colour channels of a single-channel image are
    refused: a grey image has no hue.

    >>> red = np.zeros((2, 2, 3), np.uint8); red[..., 0] = 255
    >>> round(float(channel_image(red, "saturation")[0, 0]), 4), bool(channel_image(red, "lab_a")[0, 0] > 50)
    (1.0, True)
    """
    if channel == "grey":
        return to_grey(image)
    if channel == "texture":
        return local_std(to_grey(image), TEXTURE_WINDOW)
    if channel not in COLOUR:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS[:-1])}, got {channel!r}")
    if image.ndim != 3:
        raise ValueError(f"channel {channel!r} needs a colour image; this one has a single channel (use 'grey')")
    import cv2

    rgb = _unit_rgb(image)
    if channel == "saturation":
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    return lab[..., 1] if channel == "lab_a" else lab[..., 2]


def local_std(grey: np.ndarray, window: int) -> np.ndarray:
    """The standard deviation of ``grey`` in the ``window`` × ``window`` square around each pixel (float32; the
    border reflected), from box means of the values and of their squares.

    >>> flat = np.full((9, 9), 5.0); flat[4, 4] = 50.0
    >>> round(float(local_std(flat, 3)[4, 4]), 3), float(local_std(flat, 3)[0, 0])
    (14.142, 0.0)
    """
    import cv2

    values = grey.astype(np.float32)
    mean = cv2.blur(values, (window, window), borderType=cv2.BORDER_REFLECT)
    square = cv2.blur(values * values, (window, window), borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(square - mean * mean, 0.0))


def subsample(images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """At most :data:`MAX_CHOICE_IMAGES` of ``images``, evenly spaced (all of them when there are fewer)."""
    images = list(images)
    if len(images) <= MAX_CHOICE_IMAGES:
        return images
    picks = np.linspace(0, len(images) - 1, MAX_CHOICE_IMAGES).round().astype(int)
    return [images[i] for i in picks]


def candidates_for(images: Sequence[np.ndarray]) -> list[str]:
    """The channels ``"auto"`` may pick for ``images``: texture alone for a two-sided set (objects brighter and
    darker than the background at once, :func:`~bootseg.annotators.two_sided.is_two_sided`); else grey, and each
    colour channel that varies (spans 1 % of its range) on at least half of them when every image is colour (an RGB
    image with R = G = B has grey alone)."""
    from .two_sided import is_two_sided

    if is_two_sided(images):
        return ["texture"]
    if not images or any(image.ndim != 3 for image in images):
        return ["grey"]
    varied = [
        name
        for name in COLOUR
        if sum(np.ptp(channel_image(image, name)) > 0.01 * SPANS[name] for image in images) * 2 >= len(images)
    ]
    return ["grey", *varied]


def choose_channel(
    images: Sequence[np.ndarray], segment: Callable[[np.ndarray, str], np.ndarray]
) -> tuple[str, dict[str, float]]:
    """The candidate channel whose masks agree best with the majority vote of the other candidates' masks.

    Parameters
    ----------
    images : sequence of checked images
        At most :data:`MAX_CHOICE_IMAGES`, evenly spaced, are used.
    segment : callable
        ``segment(image, channel)`` → the bool mask the annotator makes from that channel.

    Returns
    -------
    channel : str
        One of :data:`CANDIDATES`; ``"grey"`` when there is only one candidate.
    agreement : dict
        Each candidate's mean Dice with the majority vote of the others (empty with one candidate).
    """
    images = subsample(images)
    names = candidates_for(images)
    if len(names) == 1:
        return names[0], {}
    agreement = dict.fromkeys(names, 0.0)
    for image in images:
        masks = {name: segment(image, name) for name in names}
        for name in names:
            others = np.mean([masks[other] for other in names if other != name], axis=0)
            agreement[name] += dice(masks[name], others > 0.5)
    mean = {name: value / len(images) for name, value in agreement.items()}
    return max(names, key=lambda name: mean[name]), mean  # max keeps the first (grey) on a tie
