"""Objects brighter and darker than their background at once (bootseg.annotators.two_sided) and the texture
channel ``auto`` then thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import filters

from bootseg.annotators import Auto, Otsu
from bootseg.annotators import two_sided as two_sided_module
from bootseg.annotators.channels import candidates_for
from bootseg.annotators.two_sided import BALANCE, is_two_sided, two_sided_share, two_sidedness
from bootseg.metrics import dice


def _cells(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """Where the cells are: a few discs."""
    yy, xx = np.mgrid[:size, :size]
    mask = np.zeros((size, size), bool)
    for _ in range(rng.integers(3, 5)):
        cy, cx = rng.integers(20, size - 20, 2)
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(12, 17) ** 2
    return mask


def phase_contrast(count: int = 8, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Cells as phase contrast shows them: a bright halo around a mottled body, darker and brighter than the flat
    mid-grey medium in turn."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    images, truths = [], []
    for _ in range(count):
        cells = _cells(rng)
        rim = cells & ~ndi.binary_erosion(cells, iterations=2)
        image = np.full(cells.shape, 120.0) + rng.normal(0, 3, cells.shape)
        image[cells] = rng.choice([50.0, 120.0, 190.0], int(cells.sum()))
        image[rim] = 185.0 + rng.normal(0, 5, int(rim.sum()))
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        truths.append(cells)
    return images, truths


def one_sided(count: int = 8, seed: int = 0, bright: bool = True) -> list[np.ndarray]:
    """Cells brighter (as in fluorescence) or darker (as in bright field) than their background."""
    rng = np.random.default_rng(seed)
    made = []
    for _ in range(count):
        cells = _cells(rng)
        level = (170, 20) if bright else (90, 225)
        image = np.where(cells, *level) + rng.normal(0, 6, cells.shape)
        made.append(np.clip(image, 0, 255).astype(np.uint8))
    return made


def test_phase_contrast_is_two_sided_and_one_sided_kinds_are_not():
    halos, _ = phase_contrast()
    assert min(two_sidedness(image) for image in halos) >= BALANCE
    for bright in (True, False):
        images = one_sided(bright=bright)
        assert max(two_sidedness(image) for image in images) < 0.1
        assert two_sided_share(images) == 0.0 and not is_two_sided(images)
    assert two_sided_share(halos) == 1.0 and is_two_sided(halos)


def test_the_score_does_not_depend_on_polarity_or_units():
    image = phase_contrast(1)[0][0]
    score = two_sidedness(image)
    assert two_sidedness(255 - image) == pytest.approx(score, abs=0.02)
    assert two_sidedness(image.astype(np.uint16) * 257) == pytest.approx(score, abs=0.02)
    assert two_sidedness(image / 255.0) == pytest.approx(score, abs=0.02)
    colour = np.repeat(image[:, :, None], 3, axis=2)
    assert two_sidedness(colour) == pytest.approx(score, abs=0.02)


def test_the_tails_are_counted_around_the_background_mode():
    # a reference from the definition: mode of the 256-bin histogram (5-bin smoothing), MAD as a sigma, 3 sigmas
    rng = np.random.default_rng(1)
    image = rng.normal(100, 4, (80, 80))
    image[10:30, 10:30] = 40.0
    image[50:60, 50:70] = 170.0
    counts, edges = np.histogram(image, bins=256, range=(image.min(), image.max()))
    peak = np.argmax(np.convolve(counts, np.ones(5) / 5, mode="same"))
    level = (edges[peak] + edges[peak + 1]) / 2
    sigma = 1.4826 * np.median(np.abs(image - level))
    dark, bright = np.sum(image < level - 3 * sigma), np.sum(image > level + 3 * sigma)
    assert two_sidedness(image) == pytest.approx(min(dark, bright) / max(dark, bright), rel=1e-12)
    assert two_sidedness(image) == pytest.approx(200 / 400, abs=0.02)  # the two objects, and a few noise pixels


def test_degenerate_images_and_sets():
    assert two_sidedness(np.full((8, 8), 7, np.uint8)) == 0.0
    assert two_sided_share([]) == 0.0 and not is_two_sided([])


def test_auto_thresholds_the_texture_of_a_two_sided_set():
    images, truths = phase_contrast()
    assert candidates_for(images) == ["texture"]
    assert "texture" not in candidates_for(one_sided())
    stage = Auto().fit(images)
    assert stage.chosen_channel == "texture" and stage.choices()["channel"] == "texture"
    assert stage.summary.startswith("texture, as 100% of the images have objects brighter and darker than their")
    assert stage.channel_for(images[0]) == "texture"  # a grey image keeps the texture the set was fitted with
    found = np.mean([dice(stage.annotate(image), truth) for image, truth in zip(images, truths, strict=True)])
    levels = [filters.threshold_otsu(image) for image in images]
    bright = np.mean([dice(im > t, m) for im, t, m in zip(images, levels, truths, strict=True)])
    dark = np.mean([dice(im <= t, m) for im, t, m in zip(images, levels, truths, strict=True)])
    assert found > 0.8 and found > max(bright, dark) + 0.15


def test_the_rule_can_be_switched_off_by_its_share(monkeypatch):
    images, _ = phase_contrast()
    monkeypatch.setattr(two_sided_module, "SHARE", 1.01)
    assert candidates_for(images) == ["grey"]
    assert Auto().fit(images).chosen_channel == "grey"
    # a fixed channel is never replaced
    assert Otsu(channel="grey").fit(images).channel_for(images[0]) == "grey"
