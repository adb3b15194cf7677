"""The ``unet`` option ``normalize``: each image stretched between its percentiles before the network sees it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bootseg.datasets import synthetic_spheroids
from bootseg.refiners import UNetRefiner
from bootseg.refiners.config import UNetConfig
from bootseg.refiners.pixels import PERCENTILES, stretch


def _reference(image: np.ndarray) -> np.ndarray:
    """The stretch from its definition: the lowest values whose cumulative share reaches each percentile."""
    values = np.sort(image.ravel())
    low, high = (values[int(np.ceil(len(values) * q / 100)) - 1] for q in PERCENTILES)
    out = (image.astype(np.float64) - low) * 255.0 / (float(high) - float(low))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", range(4))
def test_stretch_matches_its_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    image = rng.normal(90, 20, size=(37, 41, 3)).clip(0, 255).astype(np.uint8)
    np.testing.assert_array_equal(stretch(image), _reference(image))


def test_stretch_leaves_a_flat_image_alone() -> None:
    flat = np.full((8, 8), 7, np.uint8)
    assert stretch(flat) is flat


def test_images_of_one_scene_at_two_exposures_look_alike_to_the_network() -> None:
    images, truth = synthetic_spheroids(6, size=48, seed=2)
    dim = [(im.astype(np.float64) * 0.4).astype(np.uint8) for im in images]  # the same scenes, underexposed
    unet = UNetRefiner(size=48, base_channels=4, epochs=1, min_radius=0, normalize="percentile", progress=False)
    unet.fit(images, truth)
    bright, dark = unet.predict_proba(images[:2]), unet.predict_proba(dim[:2])
    for a, b in zip(bright, dark, strict=True):
        assert float(np.abs(a - b).mean()) < 0.02


def test_the_option_is_checked_and_old_networks_keep_their_inputs(tmp_path) -> None:
    with pytest.raises(ValueError, match="normalize must be one of none, percentile, got 'zscore'"):
        UNetConfig(normalize="zscore")
    images, truth = synthetic_spheroids(4, size=32, seed=0)
    unet = UNetRefiner(size=32, base_channels=4, epochs=1, min_radius=0, progress=False).fit(images, truth)
    path = unet.save(tmp_path / "unet.pt")
    data = torch.load(path, weights_only=True)
    del data["config"]["normalize"]  # a file written before the option
    torch.save(data, path)
    assert UNetRefiner.load(path).config.normalize == "none"
