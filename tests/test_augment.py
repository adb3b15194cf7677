from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from bootseg.refiners.augment import AugmentConfig, augment_batch


def _batch(n=6, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, size, size, generator=g)
    masks = (images > 0.5).float()
    return images, masks


def _gen(seed=1):
    return torch.Generator().manual_seed(seed)


def test_flips_are_exact_and_shared_by_image_and_mask():
    images, masks = _batch()
    for name, dim in (("hflip", -1), ("vflip", -2)):
        x, y = augment_batch(images, masks, AugmentConfig.only(name), _gen())
        torch.testing.assert_close(x, images.flip(dim))
        torch.testing.assert_close(y, masks.flip(dim))


@pytest.mark.parametrize("name", ["rotate", "scale"])
def test_rotation_and_scaling_move_image_and_mask_together(name):
    images, masks = _batch(size=48)
    # the mask is a function of the image, so the same geometry keeps them consistent
    x, y = augment_batch(images, masks, AugmentConfig.only(name), _gen())
    assert not torch.allclose(x, images)
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    agreement = ((x[inner] > 0.5).float() == y[inner]).float().mean()
    assert agreement > 0.75  # bilinear vs nearest on white noise differ at most pixels' fractions, not everywhere


def test_rotation_keeps_distance_to_centre_and_area():
    size = 64
    yy, xx = np.mgrid[:size, :size]
    disc = ((yy - 16) ** 2 + (xx - 31.5) ** 2 <= 6**2).astype(np.float32)  # 15.5 px above the centre
    masks = torch.from_numpy(disc)[None, None].repeat(8, 1, 1, 1)
    x, y = augment_batch(masks.clone(), masks, AugmentConfig.only("rotate"), _gen())
    for k in range(8):
        m = y[k, 0].numpy()
        cy, cx = ndimage.center_of_mass(m)
        assert np.hypot(cy - 31.5, cx - 31.5) == pytest.approx(15.5, abs=1.0)
        assert m.sum() == pytest.approx(disc.sum(), rel=0.08)
        # the image (here the same disc) was moved by the same rotation
        assert ((x[k, 0].numpy() > 0.5) == (m > 0.5)).mean() > 0.99
    angles = {round(float(np.degrees(np.arctan2(*ndimage.center_of_mass(y[k, 0].numpy())))), 0) for k in range(8)}
    assert len(angles) > 4  # a different angle per sample


def test_scaling_zooms_by_the_drawn_factor():
    size = 64
    yy, xx = np.mgrid[:size, :size]
    disc = ((yy - 31.5) ** 2 + (xx - 31.5) ** 2 <= 10**2).astype(np.float32)
    masks = torch.from_numpy(disc)[None, None]
    cfg = AugmentConfig.only("scale", scale_range=(1.5, 1.5))
    _, y = augment_batch(masks.clone(), masks, cfg, _gen())
    # zoom 1.5: area grows by 1.5² (within a pixel ring)
    assert float(y.sum()) == pytest.approx(disc.sum() * 1.5**2, rel=0.06)


def test_blur_matches_scipy_gaussian_filter():
    images, masks = _batch(n=2)
    cfg = AugmentConfig.only("blur", blur_sigma=(1.0, 1.0))
    x, y = augment_batch(images, masks, cfg, _gen())
    expected = ndimage.gaussian_filter(
        images.numpy()[:, 0].astype(np.float64), sigma=(0, 1.0, 1.0), mode="mirror", truncate=3.0
    )
    np.testing.assert_allclose(x.numpy()[:, 0], expected, atol=1e-5)
    torch.testing.assert_close(y, masks)


def test_noise_has_the_drawn_standard_deviation():
    images = torch.full((4, 1, 64, 64), 0.5)
    masks = torch.zeros(4, 1, 64, 64)
    x, _ = augment_batch(images, masks, AugmentConfig.only("noise", noise_std=(0.05, 0.05)), _gen())
    assert float((x - images).std()) == pytest.approx(0.05, rel=0.05)


def test_brightness_adds_a_value_in_range():
    images = torch.full((8, 1, 8, 8), 0.5)
    x, _ = augment_batch(images, torch.zeros(8, 1, 8, 8), AugmentConfig.only("brightness"), _gen())
    shift = (x - images)[:, 0, 0, 0]
    assert torch.all(shift.abs() <= 0.1 + 1e-6) and shift.abs().max() > 0.01
    assert torch.allclose(x - images, shift.view(-1, 1, 1, 1).expand_as(x))


def test_contrast_scales_deviation_from_the_mean():
    images, masks = _batch(n=8)
    x, _ = augment_batch(images, masks, AugmentConfig.only("contrast", contrast=(0.5, 0.5)), _gen())
    ratio = (x - x.mean((2, 3), keepdim=True)).std((2, 3)) / (images - images.mean((2, 3), keepdim=True)).std((2, 3))
    torch.testing.assert_close(ratio, torch.full_like(ratio, 0.5), rtol=1e-4, atol=1e-4)


def test_probability_zero_changes_nothing_and_inputs_are_untouched():
    images, masks = _batch()
    before = images.clone()
    off = AugmentConfig(
        **{f"{n}_p": 0.0 for n in ("hflip", "vflip", "rotate", "scale", "blur", "noise", "brightness", "contrast")}
    )
    x, y = augment_batch(images, masks, off, _gen())
    torch.testing.assert_close(x, images)
    torch.testing.assert_close(y, masks)
    augment_batch(images, masks, AugmentConfig(), _gen())
    torch.testing.assert_close(images, before)


def test_parameters_are_random_per_sample_and_seeded():
    images = torch.full((16, 1, 8, 8), 0.5)
    masks = torch.zeros(16, 1, 8, 8)
    x1, _ = augment_batch(images, masks, AugmentConfig(), _gen(3))
    x2, _ = augment_batch(images, masks, AugmentConfig(), _gen(3))
    torch.testing.assert_close(x1, x2)
    assert len({round(float(v), 5) for v in x1.mean((1, 2, 3))}) > 4


def test_errors():
    with pytest.raises(ValueError, match="unknown augmentation 'shear'"):
        AugmentConfig.only("shear")
    with pytest.raises(ValueError, match=r"images must be \(B, C, H, W\) and masks \(B, 1, H, W\)"):
        augment_batch(torch.zeros(2, 8, 8), torch.zeros(2, 1, 8, 8), AugmentConfig(), _gen())
