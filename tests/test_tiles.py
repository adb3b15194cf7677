"""The network's one scale per set and its tiles: geometry against NumPy references, and the network on images
larger than a tile against the same images whole."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bootseg.datasets import synthetic_spheroids
from bootseg.metrics import dice
from bootseg.refiners import UNetRefiner
from bootseg.refiners.config import UNetConfig
from bootseg.refiners.tiles import blend_weights, count, pad_to, scaled_shape, starts, stitch, windows


@pytest.mark.parametrize("length", [1, 16, 255, 256, 257, 300, 511, 1000, 4097])
@pytest.mark.parametrize(("tile", "overlap"), [(256, 64), (256, 0), (64, 16), (48, 47)])
def test_starts_cover_with_the_overlap_asked(length: int, tile: int, overlap: int) -> None:
    found = starts(length, tile, overlap)
    if length <= tile:
        assert found == [0]
        return
    assert found[0] == 0 and found[-1] == length - tile
    covered = np.zeros(length, bool)
    for start in found:
        covered[start : start + tile] = True
    assert covered.all()
    gaps = np.diff(found)
    assert (gaps > 0).all() and (gaps <= tile - overlap).all()  # every neighbour overlaps by at least `overlap`
    assert len(found) == int(np.ceil((length - tile) / (tile - overlap))) + 1  # and no more tiles than that needs


def test_pad_to_reflects_like_numpy() -> None:
    array = np.arange(5 * 3 * 2).reshape(5, 3, 2)
    np.testing.assert_array_equal(pad_to(array, 8), np.pad(array, [(0, 3), (0, 5), (0, 0)], mode="symmetric"))
    assert pad_to(array, 2) is array


@pytest.mark.parametrize("shape", [(300, 200), (256, 256), (40, 700), (513, 257)])
def test_windows_and_stitch_give_back_the_array(shape: tuple[int, int]) -> None:
    array = np.random.default_rng(0).random(shape).astype(np.float32)
    tiles, corners = windows(array, 64, 16)
    assert len(tiles) == count(shape, 64, 16)
    for tile, (r, c) in zip(tiles, corners, strict=True):
        np.testing.assert_array_equal(tile, pad_to(array, 64)[r : r + 64, c : c + 64])
    np.testing.assert_allclose(stitch(tiles, corners, shape, 16), array, rtol=1e-6)


def test_blend_weights_follow_the_ramp_formula() -> None:
    side, overlap = 16, 4
    i = np.arange(side)
    ramp = np.clip(np.minimum(i + 0.5, side - i - 0.5) / overlap, None, 1.0)
    np.testing.assert_allclose(blend_weights(side, overlap), np.outer(ramp, ramp), rtol=1e-6)
    assert (blend_weights(side, overlap) > 0).all()
    np.testing.assert_array_equal(blend_weights(side, 0), np.ones((side, side), np.float32))


def test_stitch_blends_two_tiles_by_their_weights() -> None:
    left, right = np.zeros((8, 8), np.float32), np.ones((8, 8), np.float32)
    out = stitch([left, right], [(0, 0), (0, 4)], (8, 12), 4)
    w = blend_weights(8, 4)
    expected = np.zeros((8, 12))
    expected[:, 8:] = 1
    expected[:, 4:8] = w[:, :4] / (w[:, :4] + w[:, 4:8])  # the right tile's share where both cover
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_scaled_shape_keeps_the_aspect() -> None:
    assert scaled_shape((218, 256), 0.5) == (109, 128)
    assert scaled_shape((3, 1000), 0.01) == (1, 10)


def test_the_tile_option_is_checked() -> None:
    with pytest.raises(ValueError, match="tile must be a multiple of 2\\*\\*depth = 16, got 100"):
        UNetConfig(tile=100)
    with pytest.raises(ValueError, match="tile must be between 16 and 8192"):
        UNetConfig(tile=8)


def _mosaic(images: list[np.ndarray], rows: int, cols: int) -> np.ndarray:
    return np.concatenate([np.concatenate(images[r * cols : (r + 1) * cols], axis=1) for r in range(rows)])


@pytest.fixture(scope="module")
def trained() -> tuple[UNetRefiner, list[np.ndarray], list[np.ndarray]]:
    images, truth = synthetic_spheroids(12, size=64, seed=3)
    unet = UNetRefiner(size=64, base_channels=4, epochs=4, min_radius=0, progress=False, threads=1, seed=0)
    unet.fit(images, truth)
    return unet, images, truth


def test_a_mosaic_in_tiles_agrees_with_its_parts(trained) -> None:
    """Six 64² images side by side (128 × 192), predicted in 32² tiles blended, against each image whole."""
    unet, images, _ = trained
    parts = unet.predict_proba(images[:6])
    unet.config = UNetConfig(**{**unet.config.to_dict(), "tile": 32})
    try:
        whole = unet.predict_proba([_mosaic(images[:6], 2, 3)])[0]
    finally:
        unet.config = UNetConfig(**{**unet.config.to_dict(), "tile": 256})
    assert whole.shape == (128, 192)
    expected = _mosaic(parts, 2, 3)
    assert dice(whole > 0.5, expected > 0.5) > 0.95
    assert float(np.abs(whole - expected).mean()) < 0.05


def test_images_keep_their_aspect_and_the_set_scale(trained) -> None:
    """A network at one scale: an image twice as wide gives, on each half, what each half gives alone."""
    unet, images, _ = trained
    pair = np.concatenate([images[0], images[1]], axis=1)  # 64 × 128: larger than the native 64, not squashed
    proba = unet.predict_proba([pair])[0]
    alone = np.concatenate(unet.predict_proba(images[:2]), axis=1)
    assert proba.shape == (64, 128)
    assert dice(proba > 0.5, alone > 0.5) > 0.95


def test_a_large_image_trains_on_tiles_and_the_corrected_ones_are_held_out() -> None:
    images, truth = synthetic_spheroids(4, size=64, seed=1)
    big = [_mosaic(images, 2, 2), *images]  # one 128² image among 64² ones: the set's native side is 64
    masks = [_mosaic(truth, 2, 2), *truth]
    unet = UNetRefiner(size=64, tile=32, base_channels=4, epochs=1, min_radius=0, progress=False, threads=1)
    unet.fit(big, masks, trusted=[0])
    # the 128² image is 128² working pixels at the set's scale: 4 × 4 tiles of 32², the others 2 × 2 each
    assert unet.scale["tiles"] == {"side": 32, "count": 16 + 4 * 4}
    assert unet.report.val_images == 16 and unet.report.train_images == 16
    assert unet.choices()["trusted"]["images"] == 1


def test_a_network_saved_without_a_scale_squashes_as_it_did(trained, tmp_path) -> None:
    """A file from before the set had one scale: every image resized to size² whole, and back."""
    import cv2

    unet, images, _ = trained
    path = unet.save(tmp_path / "unet.pt")
    data = torch.load(path, weights_only=True)
    del data["native"]
    del data["config"]["tile"]
    torch.save(data, path)
    old = UNetRefiner.load(path, threads=1)
    assert old.native is None and old.config.tile == old.config.size
    image = np.concatenate([images[0], images[1]], axis=1)  # 64 × 128
    squashed = cv2.resize(image, (64, 64), interpolation=cv2.INTER_LINEAR)  # one side shrinks, one stays
    x = torch.from_numpy(squashed[None, None].astype(np.float32) / 255)
    with torch.inference_mode():
        reference = torch.sigmoid(old.model(x))[0, 0].numpy()
    expected = np.clip(cv2.resize(reference, (128, 64), interpolation=cv2.INTER_LINEAR), 0, 1)
    np.testing.assert_allclose(old.predict_proba([image])[0], expected, atol=1e-5)


def test_a_chain_on_an_image_larger_than_its_tiles() -> None:
    """otsu → unet on one 192 × 256 image with 32² tiles: masks of the image's size, the tiles recorded."""
    from bootseg import BootstrapChain

    images, _ = synthetic_spheroids(12, size=64, seed=5)
    big = np.concatenate([_mosaic(images[:4], 1, 4), _mosaic(images[4:8], 1, 4), _mosaic(images[8:], 1, 4)])
    options = {"size": 64, "tile": 32, "base_channels": 4, "epochs": 1, "min_radius": 0, "progress": False}
    chain = BootstrapChain(["otsu", ("unet", {**options, "threads": 1})])
    result = chain.run([big])
    assert result.masks[0].shape == big.shape == (192, 256)
    unet = chain.stages[-1]
    # one image: its longer side (256) is the set's native side, so the working scale is 64 / 256
    assert unet.native == 256 and unet.scale["tiles"] == {"side": 32, "count": 2 * 2}
    assert result.stages["unet"].proba[0].shape == big.shape
