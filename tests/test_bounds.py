"""Size-like options and checkpoint fields have upper bounds, checked before anything is allocated or written."""

from __future__ import annotations

import pytest

from bootseg.cli import main
from bootseg.datasets import synthetic_spheroids
from bootseg.io import write_image
from bootseg.refiners import UNetRefiner
from bootseg.refiners.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from bootseg.refiners.config import MAX_BASE_CHANNELS, MAX_SIZE, MAX_WIDEST, UNetConfig


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bounds") / "images"
    folder.mkdir()
    for i, image in enumerate(synthetic_spheroids(3, size=32, seed=1)[0]):
        write_image(folder / f"{i}.png", image)
    return folder


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"size": 2**20}, rf"size must be between 16 and {MAX_SIZE} \(MAX_SIZE\), got 1048576"),
        ({"base_channels": 512}, rf"base_channels must be between 1 and {MAX_BASE_CHANNELS} \(MAX_BASE_CHANNELS\)"),
        (
            {"base_channels": 256, "depth": 4},
            rf"the widest layer, base_channels × 2\*\*depth = 256 × 16 = 4096, is above the limit of {MAX_WIDEST}",
        ),
        ({"batch_size": 10**6}, r"batch_size must be between 1 and 4096 \(MAX_BATCH_SIZE\)"),
        ({"epochs": 10**9}, r"epochs must be between 1 and 100000 \(MAX_EPOCHS\)"),
        ({"crop": 2**20}, rf"crop must be between 0 and {MAX_SIZE} \(MAX_SIZE\)"),
    ],
)
def test_size_like_unet_options_have_a_named_upper_bound(options, match):
    with pytest.raises(ValueError, match=match):
        UNetConfig.from_options(None, **options)


def test_run_with_a_huge_size_is_refused_before_anything_is_written(images, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(images), "--out", str(out), "--size", str(2**20), "--chain", "otsu,unet", "-q"]) == 2
    assert f"size must be between 16 and {MAX_SIZE}" in capsys.readouterr().err
    assert not out.exists()


def test_a_huge_median_is_refused_when_the_chain_is_built(images, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(images), "--out", str(out), "--chain", "otsu(median=100001)", "-q"]) == 2
    assert "median must be 0 (off) or an odd integer between 3 and 255" in capsys.readouterr().err
    assert main(["run", str(images), "--out", str(out), "--chain", "sauvola(window_size=100001)", "-q"]) == 2
    assert "window_size must be at most 8191 (MAX_WINDOW), got 100001" in capsys.readouterr().err
    assert not out.exists()


def test_a_huge_workers_count_is_refused(images, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", str(images), "--out", str(tmp_path / "o"), "--chain", "otsu", "--workers", "100000"])
    assert "must be an integer between 1 and 1024" in capsys.readouterr().err


@pytest.mark.parametrize(("field", "value"), [("size", 2**20), ("base_channels", 512)])
def test_a_checkpoint_beyond_the_bounds_is_refused_before_the_network_is_built(
    images, tmp_path, monkeypatch, capsys, field, value
):
    arrays, masks = synthetic_spheroids(4, size=32, seed=1)
    options = {"size": 32, "base_channels": 4, "depth": 2, "batch_size": 4, "epochs": 1, "progress": False}
    path = UNetRefiner(preset=None, device="cpu", **options).fit(arrays, masks).save(tmp_path / "model.pt")
    data = load_checkpoint(path)
    data["config"][field] = value
    save_checkpoint(path, {k: v for k, v in data.items() if k not in ("format", "format_version")})

    def no_network(*args, **kwargs):
        raise AssertionError("the network was built before the options were checked")

    monkeypatch.setattr("bootseg.refiners.unet.UNet.__init__", no_network)
    with pytest.raises(CheckpointError, match=rf"model\.pt.*{field} must be between"):
        UNetRefiner.load(path, device="cpu")
    out = tmp_path / "pred"
    assert main(["predict", str(path), str(images), "--out", str(out), "--device", "cpu", "-q"]) == 1
    assert f"{field} must be between" in capsys.readouterr().err
    assert not out.exists()  # nothing written: no empty masks/ or overlays/


def test_bounds_leave_the_presets_valid():
    assert UNetConfig.from_options("paper").base_channels * 2**4 <= MAX_WIDEST
    assert UNetConfig.from_options("paper").size <= MAX_SIZE and UNetConfig.from_options("fast").size <= MAX_SIZE


def test_predict_batch_size_is_bounded_as_the_network_option_is(images, tmp_path, capsys):
    from bootseg.cli.common import MAX_BATCH_SIZE
    from bootseg.refiners import config

    assert MAX_BATCH_SIZE == config.MAX_BATCH_SIZE
    with pytest.raises(SystemExit):
        main(["predict", str(tmp_path / "m.pt"), str(images), "--out", str(tmp_path / "o"), "--batch-size", "10**9"])
    with pytest.raises(SystemExit):
        main(["predict", str(tmp_path / "m.pt"), str(images), "--out", str(tmp_path / "o"), "--batch-size", "5000"])
    assert "must be an integer between 1 and 4096 (MAX_BATCH_SIZE)" in capsys.readouterr().err
