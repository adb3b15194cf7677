from __future__ import annotations

import numpy as np
import pytest
import torch

from bootseg.refiners.config import PRESETS, UNetConfig
from bootseg.refiners.device import resolve_device
from bootseg.refiners.losses import get_loss, soft_dice_loss
from bootseg.refiners.unet import UNet


@pytest.mark.parametrize("shape", [(32, 32), (30, 45), (17, 64), (33, 9)])
@pytest.mark.parametrize("upsampling", ["transpose", "bilinear"])
def test_unet_keeps_any_input_size(shape, upsampling):
    net = UNet(2, base_channels=4, depth=3, upsampling=upsampling)
    out = net(torch.rand(2, 2, *shape))
    assert out.shape == (2, 1, *shape)


def test_paper_unet_has_31_million_parameters_for_rgb():
    net = UNet(3)  # the paper's 64-128-256-512-1024
    n = sum(p.numel() for p in net.parameters())
    assert 30.9e6 < n < 31.2e6
    widths = [m.out_channels for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert max(widths) == 1024 and min(widths) == 64
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())


def test_unet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="upsampling must be 'transpose' or 'bilinear', got 'nearest'"):
        UNet(1, upsampling="nearest")
    with pytest.raises(ValueError, match="depth must be between 1 and 8, got 0"):
        UNet(1, depth=0)


def test_presets_and_overrides():
    fast = UNetConfig.from_options("fast")
    paper = UNetConfig.from_options("paper")
    assert (paper.size, paper.base_channels, paper.batch_size, paper.epochs, paper.loss) == (
        256,
        64,
        32,
        100,
        "dice",
    )
    assert fast.size == PRESETS["fast"]["size"] and fast.base_channels < paper.base_channels
    assert UNetConfig.from_options("paper", epochs=3, loss="bce").epochs == 3
    assert UNetConfig.from_options(None).loss == "bce"


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        (
            {"size": 100},
            ValueError,
            r"size 100 is not divisible by 2\*\*depth = 16; use a multiple such as 112",
        ),
        ({"loss": "focal"}, ValueError, r"loss must be one of dice, bce, bce_dice, got 'focal'"),
        ({"epochs": 0}, ValueError, r"epochs must be between 1 and 100000, got 0"),
        ({"epochs": 2.5}, TypeError, r"epochs must be an integer, got 2.5"),
        ({"val_fraction": 1.0}, ValueError, r"val_fraction must be in \[0, 1\), got 1.0"),
        ({"lr": -1}, ValueError, r"lr must be a finite number > 0 \(the paper.s: 1e-3\), got -1"),
        ({"threshold": 1.5}, ValueError, r"threshold must be in \(0, 1\), got 1.5"),
        ({"confident": 0.4}, ValueError, r"confident must be in \[0.5, 1\] \(0.5: every pixel the network's.*got 0.4"),
        ({"confident": True}, ValueError, r"confident must be in \[0.5, 1\].*got True"),
        ({"label_sigma": -1}, ValueError, r"label_sigma must be a number >= 0, got -1"),
        ({"epoch": 3}, TypeError, r"unknown unet option\(s\) epoch; valid options: .*epochs"),
    ],
)
def test_config_errors_say_what_would_be_right(options, error, match):
    with pytest.raises(error, match=match):
        UNetConfig.from_options("fast", **options)


def test_unknown_preset():
    with pytest.raises(ValueError, match=r"preset must be one of fast, paper or None, got 'slow'"):
        UNetConfig.from_options("slow")


def test_soft_dice_loss_matches_a_numpy_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 1, 5, 6)).astype(np.float32)
    target = (rng.random((3, 1, 5, 6)) > 0.5).astype(np.float32)
    p = 1 / (1 + np.exp(-logits))
    per_image = [(2 * (p[i] * target[i]).sum() + 1) / (p[i].sum() + target[i].sum() + 1) for i in range(3)]
    expected = 1 - np.mean(per_image)
    got = float(soft_dice_loss(torch.from_numpy(logits), torch.from_numpy(target)))
    assert got == pytest.approx(expected, rel=1e-5)


def test_bce_loss_matches_sklearn():
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 1, 4, 4)).astype(np.float32)
    target = (rng.random((2, 1, 4, 4)) > 0.5).astype(np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = log_loss(target.ravel(), p.ravel(), labels=[0, 1])
    got = float(get_loss("bce")(torch.from_numpy(logits), torch.from_numpy(target)))
    assert got == pytest.approx(expected, rel=1e-5)
    both = float(get_loss("bce_dice")(torch.from_numpy(logits), torch.from_numpy(target)))
    dice = float(soft_dice_loss(torch.from_numpy(logits), torch.from_numpy(target)))
    assert both == pytest.approx(got + dice, rel=1e-5)
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("l2")


def test_device_resolution():
    expected = "cuda" if torch.cuda.is_available() else None
    auto = resolve_device("auto")
    if expected:
        assert auto.type == "cuda"
    elif not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        assert auto.type == "cpu"
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available here; use 'auto' or 'cpu'"):
            resolve_device("cuda")
