"""How sure a network is of each mask it makes, without ground truth: the score that orders images for checking.

``bootseg run`` writes it per image to ``run.json`` and ``confidence.csv`` and sorts the report by it, least
confident first, so that a person corrects the worst masks first.

It has two forms. Objects on a background (nuclei, cells, lesions) are judged by how sure the network is of the
objects, how solid they are and how well their outlines lie on the image's edges. Where the objects are packed
edge to edge and the background is thin lines between them (cells in an electron micrograph of tissue), the
errors left are along the lines: the score then judges how sure the network is of the lines, and leaves the
objects' solidity out (:func:`judges_lines`, from the masks' own geometry).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CONFIDENCE_DEFINITION",
    "EDGE_REACH",
    "EDGE_SIGMA",
    "SOLIDITY_POWER",
    "UNSURE_HIGH",
    "UNSURE_LOW",
    "Factors",
    "combine",
    "confidence",
    "edge_fit",
    "factors",
    "judges_lines",
    "judges_lines_from_radii",
    "solidity",
    "sureness",
]

#: Probabilities strictly above this and below :data:`UNSURE_HIGH` count as unsure in :func:`sureness`.
UNSURE_LOW = 0.25
#: See :data:`UNSURE_LOW`.
UNSURE_HIGH = 0.75
#: The power of :func:`solidity` in :func:`confidence`: how much a fused or leaking mask weighs against the rest.
SOLIDITY_POWER = 3
#: Scale (pixels) of the Gaussian derivative that :func:`edge_fit` takes of the image.
EDGE_SIGMA = 1.0
#: How far (pixels) along the outline's normal, inward and outward, :func:`edge_fit` looks for a stronger edge.
EDGE_REACH = 1

#: The definition of :func:`confidence` in words, as written to run.json and the report.
CONFIDENCE_DEFINITION = (
    f"sureness x solidity^{SOLIDITY_POWER} x edge fit: sureness is the share of the predicted object (pixels with "
    "p > 0.5, together with every unsure pixel, 0.25 < p < 0.75) on which the network is sure (p <= 0.25 or "
    "p >= 0.75); solidity is the area-weighted mean of area / convex hull area over the predicted objects; edge fit "
    "is the mean, over the outline, of the image's derivative across the outline divided by its largest value "
    "within 1 px inward or outward; 1 = crisp, convex objects whose outline lies on the image's edges. Where the "
    "masks' background is thin lines between packed objects (its radius under half the objects'), sureness is "
    "measured on the background (the lines) instead, and solidity is left out. An empty or all-foreground mask "
    "scores 0"
)


def confidence(proba: np.ndarray, image: np.ndarray | None = None, *, lines: bool = False) -> float:
    """How far one image's mask can be trusted, from 0 to 1: :func:`sureness` × :func:`solidity` ³ × :func:`edge_fit`.

    Three independent warnings multiply. The network is unsure along a wide band of the outline, or over much of
    the object (low :func:`sureness`); the objects are far from convex (low :func:`solidity`), which is how a mask
    looks when it has fused an object with its neighbours (a white cell with the red cells around it) or leaked
    into the background; or the outline runs beside the image's edges instead of on them (low :func:`edge_fit`),
    which is how a mask looks when it takes in a halo around each object or stops short of it. None reads a true
    mask. Without ``image`` the third factor is left out (1). :func:`combine` puts the factors together.

    Chosen by its rank correlation (Spearman ρ) with the per-image Dice against the true masks on the five
    benchmark data sets (``docs/benchmarks.md``, where every candidate is listed). Sureness alone gave ρ from 0.29
    to 0.80, and 0.33 on the CellaVision white cells, whose failures are confident; sureness × solidity raised that
    to 0.65 but left the fluorescence nuclei at 0.35, whose masks go wrong by a crisp halo of a pixel or two. The
    edge fit sees the halo, but on the large CellaVision cells, whose true outlines often run a pixel from a
    stronger edge (the nucleus inside, a red cell outside), it is noise that drowns the solidity; the solidity's
    power (:data:`SOLIDITY_POWER`) gives a fused mask its weight back. Both the power and the edge fit's reach were
    chosen on those five data sets. An empty or all-foreground mask (and a map of NaN, which predicts nothing)
    scores 0: it holds no outline and no object to judge, and a network that diverged or stopped too early makes
    such masks, so they are checked first instead of last.

    With ``lines=True`` (masks whose background is thin lines between packed objects, :func:`judges_lines`) the
    score is the sureness of the background, ``sureness(1 - proba)``, × :func:`edge_fit`. In such images the
    mistakes are a pixel or two along every line, and the objects' sureness dilutes them over the large objects:
    on the EM cells (ratio 0.08 in the network's masks) the objects' form gave ρ -0.01 with the true Dice, the
    lines' sureness 0.58, and the solidity of the packed cells -0.07 (``docs/benchmarks.md``).

    >>> p = np.zeros((10, 10), np.float32); p[2:8, 2:8] = 0.95; p[2:8, 7] = 0.5
    >>> round(confidence(p), 3)   # a 6 x 5 rectangle, one unsure column: sureness 5/6, solidity 1
    0.833
    >>> image = np.zeros((10, 10)); image[2:8, 2:7] = 1.0   # the edges are where the outline is: edge fit 0.98
    >>> round(confidence(p, image), 3)
    0.82
    """
    return factors(proba, image).score(lines)


@dataclass(frozen=True)
class Factors:
    """The factors of one image's confidence in both forms, so that the form can be chosen after the set is seen
    (``bootseg predict`` streams its images and decides at the end, from its masks, as ``bootseg run`` does).

    >>> f = Factors(sureness=0.9, background_sureness=0.6, solidity=0.5, edge_fit=0.8)
    >>> round(f.score(), 3), round(f.score(lines=True), 3)   # 0.9 x 0.5^3 x 0.8, and 0.6 x 0.8
    (0.09, 0.48)
    """

    sureness: float
    background_sureness: float
    solidity: float
    edge_fit: float = 1.0
    #: The mask is empty or all foreground: it holds no segmentation to trust, so it scores 0 in either form.
    degenerate: bool = False

    def score(self, lines: bool = False) -> float:
        """The confidence in the objects' form, or with ``lines`` in the lines' form (see :func:`confidence`)."""
        if self.degenerate:
            return 0.0
        if lines:
            return combine(self.background_sureness, 1.0, self.edge_fit)
        return combine(self.sureness, self.solidity, self.edge_fit)


def factors(proba: np.ndarray, image: np.ndarray | None = None) -> Factors:
    """Every factor of :func:`confidence` for one image, in both forms: ``factors(p, image).score(lines)`` is
    ``confidence(p, image, lines=lines)``.

    >>> p = np.zeros((10, 10), np.float32); p[2:8, 2:8] = 0.95; p[2:8, 7] = 0.5
    >>> f = factors(p)
    >>> round(f.sureness, 3), round(f.background_sureness, 3), f.solidity, f.edge_fit   # 6 unsure of 70: 1 - 6/70
    (0.833, 0.914, 1.0, 1.0)
    """
    values = np.asarray(proba, dtype=np.float32)
    mask = values > 0.5
    return Factors(
        sureness(values),
        sureness(1.0 - values),
        solidity(mask),
        1.0 if image is None else edge_fit(image, mask),
        degenerate=bool(mask.all() or not mask.any()),
    )


def judges_lines(masks: Sequence[np.ndarray]) -> bool:
    """Whether :func:`confidence` should judge these masks in its ``lines`` form: their background is thin lines
    between objects packed edge to edge (:func:`bootseg.thickness.thin_background` of
    :func:`bootseg.thickness.median_radii`, the rule by which the ``auto`` first stage looks for ridges).

    One answer for a whole set, so that every image is scored alike: a mask that leaks into the background, which
    a per-image rule could mistake for packed objects, keeps the objects' form and its low solidity.

    >>> cells = np.ones((40, 40), bool); cells[::10] = False; cells[:, ::10] = False   # a grid of 1-px lines
    >>> yy, xx = np.mgrid[:40, :40]; disc = np.hypot(yy - 20, xx - 20) < 8             # one object
    >>> judges_lines([cells]), judges_lines([disc])
    (True, False)
    """
    from .thickness import MAX_MEASURED_MASKS, class_radii, evenly_spaced

    return judges_lines_from_radii(map(class_radii, evenly_spaced(masks, MAX_MEASURED_MASKS)))


def judges_lines_from_radii(radii: Iterable[tuple[float, float] | None]) -> bool:
    """:func:`judges_lines` from the masks' :func:`bootseg.thickness.class_radii`, already measured on the masks
    :func:`judges_lines` would pick (``bootseg predict`` streams its masks and keeps only these radii).

    >>> judges_lines_from_radii([(8.0, 1.0), None, (9.0, 1.5)]), judges_lines_from_radii([(8.0, 12.0)])
    (True, False)
    """
    from .thickness import median_of_radii, thin_background

    summary = median_of_radii(radii)
    return thin_background(None if summary is None else summary[2])


def combine(sureness: float, solidity: float, edge_fit: float = 1.0) -> float:
    """The confidence from its three factors, as :func:`confidence` combines them:
    ``sureness × solidity ** SOLIDITY_POWER × edge_fit``.

    For scoring stored factors again (the benchmarks keep them per image) without the probabilities.

    >>> round(combine(0.9, 0.8, 0.5), 6)   # 0.9 x 0.512 x 0.5
    0.2304
    """
    return float(sureness * solidity**SOLIDITY_POWER * edge_fit)


def sureness(proba: np.ndarray) -> float:
    """How sure a network is of one image's mask, from 0 (unsure on the whole object) to 1 (no unsure pixel).

    ``1 - |U| / |F ∪ U|`` with ``U`` the unsure pixels (``0.25 < p < 0.75``) and ``F`` the predicted object
    (``p > 0.5``): a crisp object scores near 1, an outline that wanders over a wide band, or an object that is
    mostly unsure, scores low. An image with neither object nor unsure pixel scores 1.

    Alternatives measured when it was chosen were less steady across data sets: the mean of ``|2p - 1|`` over the
    object, the same band at 0.1-0.9, the mean of ``|2p - 1|`` over the whole image (dominated by the background).

    >>> p = np.zeros((10, 10), np.float32); p[2:8, 2:8] = 0.95; p[2:8, 7] = 0.5
    >>> round(sureness(p), 3)
    0.833
    """
    values = np.asarray(proba, dtype=np.float32)
    unsure = (values > UNSURE_LOW) & (values < UNSURE_HIGH)
    area = np.count_nonzero(unsure | (values > 0.5))
    return 1.0 if area == 0 else float(1.0 - np.count_nonzero(unsure) / area)


def solidity(mask: np.ndarray) -> float:
    """Area-weighted mean solidity (area / area of the convex hull) of the mask's 4-connected objects.

    1 for convex objects (and for an empty mask); low for objects fused with their neighbours or with ragged,
    leaking outlines. Each object's solidity is scikit-image's (:func:`skimage.measure.regionprops`: pixels over
    the pixels of its convex hull image).

    >>> ring = np.zeros((9, 9), bool); ring[1:8, 1:8] = True; ring[3:6, 3:6] = False
    >>> round(solidity(ring), 3)   # 40 pixels, a 7 x 7 hull
    0.816
    """
    from skimage import measure

    regions = measure.regionprops(measure.label(np.asarray(mask, dtype=bool), connectivity=1))
    if not regions:
        return 1.0
    areas = np.array([region.area for region in regions], dtype=float)
    return float(np.dot(areas, [region.solidity for region in regions]) / areas.sum())


def edge_fit(image: np.ndarray, mask: np.ndarray, sigma: float = EDGE_SIGMA, reach: int = EDGE_REACH) -> float:
    """How well the mask's outline lies on the image's edges, from 0 to 1 (1 = on the strongest nearby edge).

    At every point of the outline (half a pixel outside each object pixel next to the background), the image's
    derivative across the outline (along the normal of the mask smoothed by a Gaussian of 2 px) is divided by the
    largest value the same derivative takes along that normal within ``reach`` pixels inward and outward; the
    score is the mean of that ratio. A mask whose outline sits a pixel or two outside the objects' edges (a halo)
    or inside them scores low. Only the derivative across the outline counts, so a texture weighs less than it
    would in the gradient's magnitude. The derivative is a Gaussian derivative of scale ``sigma``; for a colour
    image it is the root sum of squares over the channels, each divided by its standard deviation, constant
    channels left out. An empty or full mask, or a constant image, has no outline to judge and scores 1; so does a
    point whose derivative is 0 all along its normal.

    Args:
        image: the image the mask was made from, ``(H, W)`` or ``(H, W, C)``, any numeric dtype.
        mask: the mask, ``(H, W)``, the same height and width.
        sigma: scale of the Gaussian derivative, in pixels (> 0).
        reach: how far to look along the normal each way, in pixels (≥ 1).

    >>> image = np.zeros((40, 40)); image[10:30, 10:30] = 1.0
    >>> mask = np.zeros((40, 40), bool); mask[10:30, 10:30] = True
    >>> round(edge_fit(image, mask), 2)   # the outline on the edge
    1.0
    >>> mask[9:31, 9:31] = True           # one pixel too wide all round: about exp(-1/2)
    >>> round(edge_fit(image, mask), 2)
    0.64
    """
    from scipy import ndimage
    from skimage.segmentation import find_boundaries

    mask = np.asarray(mask, dtype=bool)
    values = np.asarray(image)
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim not in (2, 3) or values.shape[:2] != mask.shape:
        raise ValueError(
            f"edge_fit: the image must be (H, W) or (H, W, C) with the mask's size {mask.shape}; "
            f"got an image of shape {values.shape}"
        )
    if not sigma > 0 or int(reach) < 1:
        raise ValueError(f"edge_fit: sigma must be > 0 and reach >= 1; got sigma={sigma!r}, reach={reach!r}")
    outline = find_boundaries(mask, mode="inner")
    if not outline.any():
        return 1.0
    ys, xs = np.nonzero(outline)
    margin = int(np.ceil(4 * max(sigma, 2.0))) + int(reach) + 1
    top, left = max(ys.min() - margin, 0), max(xs.min() - margin, 0)
    bottom, right = min(ys.max() + margin + 1, mask.shape[0]), min(xs.max() + margin + 1, mask.shape[1])
    values = values[top:bottom, left:right].astype(np.float32)
    channels = [values] if values.ndim == 2 else [values[..., c] for c in range(values.shape[-1])]
    channels = [c / c.std() for c in channels if c.std() > 0]
    if not channels:
        return 1.0
    ys, xs = ys - top, xs - left
    smooth = ndimage.gaussian_filter(mask[top:bottom, left:right].astype(np.float32), 2.0)
    ny, nx = np.gradient(smooth)  # the normal, pointing into the object
    length = np.hypot(ny[ys, xs], nx[ys, xs])
    length[length == 0] = 1.0
    uy, ux = ny[ys, xs] / length, nx[ys, xs] / length
    gradients = [
        (ndimage.gaussian_filter(c, sigma, order=(1, 0)), ndimage.gaussian_filter(c, sigma, order=(0, 1)))
        for c in channels
    ]
    profile = np.empty((2 * int(reach) + 1, ys.size))
    for row, step in enumerate(np.arange(-int(reach), int(reach) + 1) - 0.5):  # the outline: half a pixel out
        at = [ys + step * uy, xs + step * ux]
        squares = np.zeros(ys.size)
        for gy, gx in gradients:
            across = ndimage.map_coordinates(gy, at, order=1, mode="nearest") * uy
            across += ndimage.map_coordinates(gx, at, order=1, mode="nearest") * ux
            squares += across**2
        profile[row] = np.sqrt(squares)
    best = profile.max(axis=0)
    ratio = np.divide(profile[int(reach)], best, out=np.ones(ys.size), where=best > 0)
    return float(ratio.mean())
