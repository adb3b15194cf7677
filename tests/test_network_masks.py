"""A network stage's masks in a chain run: its input masks changed where it is sure (bootseg.stagework)."""

from __future__ import annotations

import numpy as np
import pytest

from bootseg import BootstrapChain
from bootseg.protocols import Confident
from bootseg.refiners import UNetRefiner
from bootseg.stagework import network_masks


class _Net:
    def __init__(self, threshold=0.5, confident=None):
        self.threshold = threshold
        if confident is not None:
            self.confident = confident


@pytest.mark.parametrize("confident", [0.6, 0.8, 0.95, 1.0])
def test_the_input_is_kept_where_the_network_is_unsure(confident):
    rng = np.random.default_rng(0)
    proba = rng.random((32, 32))
    previous = rng.random((32, 32)) > 0.5
    mask = network_masks(_Net(confident=confident), proba, previous)
    reference = np.where(proba >= confident, True, np.where(proba <= 1 - confident, False, previous))
    np.testing.assert_array_equal(mask, reference)
    assert mask.dtype == bool and not np.shares_memory(mask, previous)


@pytest.mark.parametrize("network", [_Net(threshold=0.3), _Net(threshold=0.3, confident=0.5)])
def test_without_a_confident_level_the_threshold_decides(network):
    proba = np.linspace(0, 1, 20).reshape(4, 5)
    np.testing.assert_array_equal(network_masks(network, proba, np.ones((4, 5), bool)), proba > 0.3)


def test_the_unet_declares_its_level_and_the_paper_preset_keeps_every_pixel_its_own():
    assert isinstance(UNetRefiner(), Confident)
    assert UNetRefiner(confident=0.9).confident == 0.9
    assert UNetRefiner(preset="paper").confident == 0.5


def test_a_chain_run_keeps_the_first_stage_where_the_network_is_unsure(spheroids):
    images, _ = spheroids
    options = {"size": 32, "base_channels": 4, "depth": 2, "epochs": 2, "batch_size": 8, "confident": 0.9}
    chain = BootstrapChain(["otsu", ("unet", options)], device="cpu", progress=False)
    result = chain.run(images[:6])
    first, network = result.stages["otsu"], result.stages["unet"]
    assert any(((p > 0.1) & (p < 0.9)).any() for p in network.proba)
    for teacher, proba, mask in zip(first.masks, network.proba, network.masks):
        unsure = (proba > 0.1) & (proba < 0.9)
        np.testing.assert_array_equal(mask[unsure], teacher[unsure])
        np.testing.assert_array_equal(mask[~unsure], proba[~unsure] >= 0.9)
    # new images have no input mask: the threshold decides there
    np.testing.assert_array_equal(chain.predict(images[:1])[0], network.proba[0] > 0.5)


def test_the_unsure_warning_counts_the_pixels_network_masks_keeps():
    from bootseg.degenerate import UNSURE_SHARE, unsure_warning

    proba = [np.linspace(0, 1, 100).reshape(10, 10), np.full((5, 5), 0.5)]
    kept = sum(int(np.count_nonzero((p > 0.2) & (p < 0.8))) for p in proba)  # 60 of 100, then 25 of 25
    share = kept / 125
    assert share >= UNSURE_SHARE
    assert f"on {share:.0%} of the pixels" in unsure_warning("1-unet", proba, 0.8)
    assert unsure_warning("1-unet", proba[:1], 0.9) is not None  # 80 of 100 between 0.1 and 0.9
    assert unsure_warning("1-unet", proba[:1], 0.6) is None  # 20 of 100 between 0.4 and 0.6
    assert unsure_warning("1-unet", None, 0.8) is None
