"""``--channel N`` / ``channel=``: one channel of a multi-channel image goes to the stages, as if it were alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from bootseg import BootstrapChain
from bootseg.cli import main
from bootseg.inputs import BadInputError, check_inputs, load_inputs
from bootseg.io import ImageReadError, read_image, read_mask, write_image


def _two_channels(seed: int, size: int = 48) -> np.ndarray:
    """(H, W, 2) uint16: discs in channel 0 (a nuclear stain), a bright band in channel 1 (another stain)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    nuclei = np.zeros((size, size))
    for _ in range(4):
        y, x = rng.integers(8, size - 8, 2)
        nuclei += np.hypot(yy - y, xx - x) < 5
    band = (np.abs(yy - xx - rng.integers(-10, 10)) < 6).astype(float)
    image = np.dstack([nuclei, band]) * 3000 + rng.normal(400, 60, (size, size, 2))
    return np.clip(image, 0, 65535).astype(np.uint16)


@pytest.fixture
def stacks(tmp_path):
    """The same two-channel images as channels-last and as channels-first TIFFs, and one channel alone."""
    arrays = [_two_channels(seed) for seed in range(4)]
    folders = {name: tmp_path / name for name in ("last", "first", "imagej", "alone")}
    for folder in folders.values():
        folder.mkdir()
    for i, array in enumerate(arrays):
        tifffile.imwrite(folders["last"] / f"{i}.tif", array, photometric="minisblack", planarconfig="contig")
        tifffile.imwrite(folders["first"] / f"{i}.tif", np.moveaxis(array, -1, 0), photometric="minisblack")
        tifffile.imwrite(
            folders["imagej"] / f"{i}.tif", np.moveaxis(array, -1, 0), imagej=True, metadata={"axes": "CYX"}
        )
        write_image(folders["alone"] / f"{i}.tif", array[:, :, 1])
    return arrays, folders


def test_read_image_picks_the_channel_of_every_layout(stacks, tmp_path):
    arrays, folders = stacks
    for layout in ("last", "first", "imagej"):
        for channel in (0, 1):
            image = read_image(folders[layout] / "0.tif", channel=channel)
            np.testing.assert_array_equal(image, arrays[0][:, :, channel])
    rgb = np.dstack([np.full((4, 4), v, np.uint8) for v in (10, 20, 30)])
    write_image(tmp_path / "rgb.png", rgb)
    assert [int(read_image(tmp_path / "rgb.png", channel=c)[0, 0]) for c in range(3)] == [10, 20, 30]
    assert read_image(tmp_path / "rgb.png").shape == (4, 4, 3)  # no channel: the image whole, as before


def test_without_a_channel_two_channels_are_refused_with_the_way_out(stacks):
    _, folders = stacks
    with pytest.raises(ImageReadError, match=r"TIFF holds 2 channels .* pick the channel to segment with --channel N"):
        read_image(folders["last"] / "0.tif")
    with pytest.raises(
        ImageReadError, match=r"axes QYX\), not a single 2D image; .*2 pages are channels, pick one with"
    ):
        read_image(folders["first"] / "0.tif")
    with pytest.raises(ImageReadError, match=r"TIFF holds 2 channels \(axis C of CYX, shape \(2, 48, 48\)\); pick the"):
        read_image(folders["imagej"] / "0.tif")


def test_a_channel_out_of_range_is_refused_naming_the_file_its_channels_and_the_value(stacks, tmp_path):
    _, folders = stacks
    with pytest.raises(
        ImageReadError, match=r"cannot read '.*0\.tif': channel 2 is out of range: the image has 2 channels \(0 to 1"
    ):
        read_image(folders["first"] / "0.tif", channel=2)
    with pytest.raises(BadInputError, match=r"4 of 4 inputs cannot be used") as info:
        load_inputs(folders["last"], channel=5)
    assert "last/3.tif: channel 5 is out of range: the image has 2 channels (0 to 1; shape (48, 48, 2))" in str(
        info.value
    )
    with pytest.raises(BadInputError, match=r"images\[0\]: channel 1 is out of range: the image has 1 channel \(0;"):
        check_inputs([np.zeros((4, 4))], channel=1)
    with pytest.raises(ValueError, match=r"channel must be an integer >= 0 \(the first channel is 0\), got -1"):
        load_inputs(folders["last"], channel=-1)


def test_the_first_stage_on_a_channel_is_the_first_stage_on_that_channel_alone(stacks):
    arrays, folders = stacks
    alone = BootstrapChain(["auto"]).run(folders["alone"]).masks
    for layout in ("last", "first"):
        picked = BootstrapChain(["auto"]).run(folders[layout], channel=1).masks
        assert all(np.array_equal(a, b) for a, b in zip(picked, alone))
    from_arrays = BootstrapChain(["auto"]).run(arrays, channel=1).masks
    assert all(np.array_equal(a, b) for a, b in zip(from_arrays, alone))
    nuclei = BootstrapChain(["auto"]).run(folders["last"], channel=0).masks
    assert not all(np.array_equal(a, b) for a, b in zip(nuclei, alone))  # the channel matters


def test_chain_predict_takes_the_channel_too(stacks):
    arrays, folders = stacks
    chain = BootstrapChain(["otsu", ("unet", {"size": 48, "epochs": 1, "base_channels": 4})], progress=False)
    chain.run(folders["last"], channel=1)
    alone = chain.predict(folders["alone"])
    for source in (folders["first"], arrays):
        picked = chain.predict(source, channel=1)
        assert all(np.array_equal(a, b) for a, b in zip(picked, alone))
    with pytest.raises(BadInputError, match="channel"):
        chain.predict(folders["last"])  # two channels without one picked


def test_cli_run_with_a_channel(stacks, tmp_path, capsys):
    _, folders = stacks
    picked, alone = tmp_path / "picked", tmp_path / "alone-out"
    assert main(["run", str(folders["first"]), "--out", str(picked), "--chain", "auto", "--channel", "1", "-q"]) == 0
    assert main(["run", str(folders["alone"]), "--out", str(alone), "--chain", "auto", "-q"]) == 0
    for i in range(4):
        np.testing.assert_array_equal(read_mask(picked / "masks" / f"{i}.png"), read_mask(alone / "masks" / f"{i}.png"))
    record = json.loads((picked / "run.json").read_text())
    assert record["settings"]["channel"] == 1 and record["options"]["channel"] == 1
    capsys.readouterr()
    assert (
        main(["run", str(folders["first"]), "--out", str(tmp_path / "bad"), "--chain", "otsu", "--channel", "2"]) == 1
    )
    err = capsys.readouterr().err
    assert "first/0.tif: channel 2 is out of range: the image has 2 channels (0 to 1; shape (48, 48, 2))" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(folders["first"]), "--out", str(tmp_path / "neg"), "--channel", "-1"])
    assert exit_info.value.code == 2
    assert (
        "--channel: must be a channel number from 0 (the first channel), or auto, got '-1'" in capsys.readouterr().err
    )


def test_cli_predict_with_a_channel(stacks, tmp_path):
    _, folders = stacks
    run = tmp_path / "run"
    chain = "otsu,unet(size=32,epochs=1,base_channels=4,batch_size=2)"
    assert main(["run", str(folders["alone"]), "--out", str(run), "--chain", chain, "--no-overlays", "-q"]) == 0
    picked, alone = tmp_path / "picked", tmp_path / "alone-out"
    assert main(["predict", str(run), str(folders["last"]), "--out", str(picked), "--channel", "1", "-q"]) == 0
    assert main(["predict", str(run), str(folders["alone"]), "--out", str(alone), "-q"]) == 0
    for i in range(4):
        assert (picked / "masks" / f"{i}.png").read_bytes() == (alone / "masks" / f"{i}.png").read_bytes()
    assert json.loads((picked / "run.json").read_text())["options"]["channel"] == 1
