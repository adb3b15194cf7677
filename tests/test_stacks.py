"""Z-stacks and time series: read plane by plane, segmented with one model for the set, written back as stacks."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import roifile
import tifffile

from bootseg import BootstrapChain
from bootseg.cli import main
from bootseg.cli.common import UsageError
from bootseg.cli.evaluate import evaluate_folders
from bootseg.inputs import BadInputError, load_inputs, scan_files
from bootseg.io import ImageReadError, read_mask, read_planes, write_image
from bootseg.stacks import Stack, plane_names, read_calibration, stack_labels, stack_masks


def _volume(seed: int, depth: int, size: int = 40) -> np.ndarray:
    """(depth, size, size) uint16: three balls whose sections shrink away from the middle plane, with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    centres = rng.integers(10, size - 10, (3, 2))
    planes = []
    for z in range(depth):
        radius = 8 - 2 * abs(z - depth // 2)
        inside = np.zeros((size, size), bool)
        for y, x in centres:
            inside |= np.hypot(yy - y, xx - x) < max(radius, 2)
        planes.append(np.clip(inside * 1500 + rng.normal(300, 60, (size, size)), 0, 65535))
    return np.stack(planes).astype(np.uint16)


@pytest.fixture
def folder(tmp_path):
    """A Z-stack (ImageJ), a time series of Z-stacks (ImageJ), a stack of unnamed pages and one 2D image."""
    images = tmp_path / "images"
    images.mkdir()
    arrays = {
        "cells": _volume(1, 5),
        "movie": np.stack([_volume(2, 3), _volume(3, 3)]),
        "pages": _volume(4, 2),
        "single": _volume(5, 3)[1],
    }
    tifffile.imwrite(images / "cells.tif", arrays["cells"], imagej=True, metadata={"axes": "ZYX"})
    tifffile.imwrite(images / "movie.tif", arrays["movie"], imagej=True, metadata={"axes": "TZYX"})
    tifffile.imwrite(images / "pages.tif", arrays["pages"])
    write_image(images / "single.tif", arrays["single"])
    return images, arrays


def test_read_planes_gives_every_plane_in_the_files_order(folder):
    images, arrays = folder
    for name, axes in (("cells", "Z"), ("movie", "TZ"), ("pages", "Q")):
        planes, read_axes, shape = read_planes(images / f"{name}.tif")
        reference = tifffile.imread(images / f"{name}.tif")
        assert read_axes == axes and shape == reference.shape[:-2]
        np.testing.assert_array_equal(np.stack(planes), reference.reshape(-1, *reference.shape[-2:]))
    planes, axes, shape = read_planes(images / "single.tif")
    assert axes == "" and shape == () and len(planes) == 1
    np.testing.assert_array_equal(planes[0], arrays["single"])


def test_ome_tiff_axes_colour_stacks_and_channels(tmp_path):
    series = np.random.default_rng(0).integers(0, 4000, (4, 16, 20), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "t.ome.tif", series, ome=True, metadata={"axes": "TYX"})
    planes, axes, shape = read_planes(tmp_path / "t.ome.tif")
    assert (axes, shape) == ("T", (4,))
    np.testing.assert_array_equal(np.stack(planes), series)
    colour = np.random.default_rng(1).integers(0, 255, (3, 16, 20, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", colour, imagej=True, metadata={"axes": "ZYXS"})
    planes, axes, _ = read_planes(tmp_path / "rgb.tif")
    assert axes == "Z" and planes[0].shape == (16, 20, 3)
    np.testing.assert_array_equal(np.stack(planes), colour)
    stains = np.random.default_rng(2).integers(0, 4000, (3, 2, 16, 20), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "zc.tif", stains, imagej=True, metadata={"axes": "ZCYX"})
    planes, axes, _ = read_planes(tmp_path / "zc.tif", channel=1)
    assert axes == "Z"
    np.testing.assert_array_equal(np.stack(planes), stains[:, 1])
    with pytest.raises(ImageReadError, match=r"zc\.tif': TIFF holds 2 channels \(axis C of ZCYX.*--channel N"):
        read_planes(tmp_path / "zc.tif")
    with pytest.raises(ImageReadError, match=r"zc\.tif': channel 2 is out of range: the image has 2 channels"):
        read_planes(tmp_path / "zc.tif", channel=2)


def test_plane_names_are_unique_ordered_and_name_the_axes():
    names = plane_names("m", "TZ", (3, 12))
    assert len(set(names)) == 36 and names == sorted(names)
    assert names[13] == "m_t0001_z0001" and plane_names("big", "Z", (12000,))[-1] == "big_z11999"
    assert plane_names("q", "QQ", (2, 3))[-1] == "q_p0005"


def test_load_inputs_expands_stacks_and_refuses_a_name_clash(folder):
    images, _ = folder
    inputs = load_inputs(images)
    assert len(inputs) == 5 + 6 + 2 + 1
    assert inputs.names[:2] == ["cells_z0000", "cells_z0001"] and inputs.names[-1] == "single"
    assert [(s.name, s.axes, s.shape) for s in inputs.stacks] == [
        ("cells", "Z", (5,)),
        ("movie", "TZ", (2, 3)),
        ("pages", "Q", (2,)),
    ]
    assert inputs.sources[0] == str(images / "cells.tif")
    files, _ = scan_files(images)
    assert [f.names for f in files] == [s.names for s in inputs.stacks] + [["single"]]
    write_image(images / "cells_z0003.png", np.eye(8, dtype=np.uint8))
    with pytest.raises(BadInputError, match=r"cells_z0003.png: its name 'cells_z0003' is also that of '.*cells.tif'"):
        load_inputs(images)


def test_stack_masks_are_the_planes_masks_in_order():
    stack = Stack("s", "s.tif", "TZ", (2, 2), plane_names("s", "TZ", (2, 2)))
    masks = [np.full((3, 4), i % 2 == 0) for i in range(4)]
    array = stack_masks(stack, masks)
    assert array.shape == (2, 2, 3, 4) and array.dtype == np.uint8
    np.testing.assert_array_equal(array.reshape(4, 3, 4), np.stack(masks).astype(np.uint8) * 255)
    with pytest.raises(ValueError, match="stack 's' has 4 planes, got 3 masks"):
        stack_masks(stack, masks[:3])


def test_a_chain_on_stacks_is_the_chain_on_their_planes(folder):
    images, arrays = folder
    chain = BootstrapChain(["otsu"], progress=False)
    result = chain.run(images)
    planes = [*arrays["cells"], *arrays["movie"].reshape(-1, 40, 40), *arrays["pages"], arrays["single"]]
    alone = chain.run(planes).masks
    assert all(np.array_equal(a, b) for a, b in zip(result.masks, alone, strict=True))
    np.testing.assert_array_equal(result.stack_masks("movie").reshape(6, 40, 40) > 0, np.stack(alone[5:11]))
    with pytest.raises(KeyError, match=r"no stack named 'single' among the inputs \(stacks: cells, movie, pages\)"):
        result.stack_masks("single")


def test_cli_run_and_predict_write_each_stack_as_one_file(folder, tmp_path):
    images, _ = folder
    out = tmp_path / "run"
    chain = "otsu,unet(size=32,epochs=1,base_channels=4,batch_size=4)"
    assert main(["run", str(images), "--out", str(out), "--chain", chain, "--no-overlays", "-q"]) == 0
    record = json.loads((out / "run.json").read_text())
    assert [(s["name"], s["axes"], s["shape"], s["planes"]) for s in record["stacks"]] == [
        ("cells", "Z", [5], 5),
        ("movie", "TZ", [2, 3], 6),
        ("pages", "Q", [2], 2),
    ]
    assert record["inputs"][0]["stack"] == "cells" and "stack" not in record["inputs"][-1]
    assert "Stacks (3)" in (out / "report.html").read_text()
    for stack in record["stacks"]:
        with tifffile.TiffFile(out / stack["masks"]) as tiff:
            assert tiff.series[0].axes == stack["axes"] + "YX"
            written = tiff.series[0].asarray()
        names = plane_names(stack["name"], stack["axes"], stack["shape"])
        planes = np.stack([read_mask(out / "masks" / f"{name}.png") for name in names])
        np.testing.assert_array_equal(written.reshape(planes.shape) > 0, planes)
    assert not (out / "stacks" / "single.tif").exists()

    # predict: the stack's masks are those of its planes given as files of their own
    separate = tmp_path / "separate"
    separate.mkdir()
    for z, plane in enumerate(tifffile.imread(images / "cells.tif")):
        tifffile.imwrite(separate / f"cells_z{z:04d}.tif", plane)
    assert main(["predict", str(out), str(images / "cells.tif"), "--out", str(tmp_path / "p1"), "--labels", "-q"]) == 0
    assert main(["predict", str(out), str(separate), "--out", str(tmp_path / "p2"), "-q"]) == 0
    for z in range(5):
        name = f"cells_z{z:04d}.png"
        assert (tmp_path / "p1" / "masks" / name).read_bytes() == (tmp_path / "p2" / "masks" / name).read_bytes()
    stacked = tifffile.imread(tmp_path / "p1" / "stacks" / "cells.tif")
    np.testing.assert_array_equal(
        stacked > 0, np.stack([read_mask(tmp_path / "p2" / "masks" / f"cells_z{z:04d}.png") for z in range(5)])
    )
    predicted = json.loads((tmp_path / "p1" / "run.json").read_text())["stacks"][0]
    assert predicted["masks"] == "stacks/cells.tif" and predicted["labels"] == "stacks/labels/cells.tif"
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "p1" / predicted["labels"]) > 0, stacked > 0)


def test_overwrite_removes_the_stacks_a_run_wrote(folder, tmp_path):
    images, _ = folder
    out = tmp_path / "run"
    assert main(["run", str(images), "--out", str(out), "--chain", "otsu", "--no-overlays", "-q"]) == 0
    assert (out / "stacks" / "movie.tif").exists()
    (images / "movie.tif").unlink()
    assert main(["run", str(images), "--out", str(out), "--chain", "otsu", "--no-overlays", "--overwrite", "-q"]) == 0
    assert sorted(p.name for p in (out / "stacks").iterdir()) == ["cells.tif", "pages.tif"]


def test_the_pixel_size_of_an_ome_stack_is_recorded_and_written_back(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    metadata = {"axes": "ZYX", "PhysicalSizeX": 0.325, "PhysicalSizeY": 0.325, "PhysicalSizeZ": 1.5}
    tifffile.imwrite(images / "ome.ome.tif", _volume(6, 3), ome=True, metadata=metadata)
    assert read_calibration(images / "ome.ome.tif") == {"x": 0.325, "y": 0.325, "z": 1.5, "unit": "µm"}
    tifffile.imwrite(tmp_path / "plain.tif", _volume(6, 3), photometric="minisblack")
    assert read_calibration(tmp_path / "plain.tif") == {}
    out = tmp_path / "run"
    assert main(["run", str(images), "--out", str(out), "--chain", "otsu", "--no-overlays", "-q"]) == 0
    stack = json.loads((out / "run.json").read_text())["stacks"][0]
    assert stack["name"] == "ome.ome" and stack["calibration"]["z"] == 1.5
    written = read_calibration(out / "stacks" / "ome.ome.tif")
    assert written["z"] == 1.5 and written["unit"] == "µm"
    assert written["x"] == pytest.approx(0.325, rel=1e-6) and written["y"] == pytest.approx(0.325, rel=1e-6)


def test_labels_of_a_stack_are_written_as_one_label_stack_too(folder, tmp_path):
    images, _ = folder
    out = tmp_path / "run"
    command = ["run", str(images), "--out", str(out), "--chain", "otsu", "--no-overlays", "--labels", "--rois", "-q"]
    assert main(command) == 0
    record = json.loads((out / "run.json").read_text())
    movie = next(s for s in record["stacks"] if s["name"] == "movie")
    assert movie["labels"] == "stacks/labels/movie.tif" and movie["rois"] == "stacks/rois/movie.zip"
    merged = roifile.roiread(out / movie["rois"])
    expected = []
    for number, name in enumerate(plane_names("movie", "TZ", (2, 3)), start=1):
        for roi in roifile.roiread(out / "rois" / f"{name}.zip"):
            t, z = (number - 1) // 3, (number - 1) % 3
            expected.append((f"t{t:04d}-z{z:04d}-{roi.name}", number, t + 1, z + 1, roi.coordinates().tolist()))
    got = [(r.name, r.position, r.t_position, r.z_position, r.coordinates().tolist()) for r in merged]
    assert got == expected and len(got) > 6
    with tifffile.TiffFile(out / movie["labels"]) as tiff:
        assert tiff.series[0].axes == "TZYX" and tiff.series[0].dtype == np.uint16
        written = tiff.series[0].asarray()
    planes = [tifffile.imread(out / "labels" / f"{name}.tif") for name in plane_names("movie", "TZ", (2, 3))]
    np.testing.assert_array_equal(written.reshape(6, 40, 40), np.stack(planes))
    masks = np.stack([read_mask(out / "masks" / f"{name}.png") for name in plane_names("movie", "TZ", (2, 3))])
    np.testing.assert_array_equal(written.reshape(6, 40, 40) > 0, masks)
    assert written.max() >= 1
    assert not (out / "stacks" / "labels" / "single.tif").exists()


def test_stack_labels_keep_the_numbers_and_widen_past_uint16():
    stack = Stack("s", "s.tif", "Z", (2,), ["s_z0000", "s_z0001"])
    small = stack_labels(stack, [np.array([[0, 3], [2, 1]]), np.array([[5, 0], [0, 4]])])
    assert small.dtype == np.uint16 and small[1, 0, 0] == 5
    big = stack_labels(stack, [np.full((2, 2), 70000), np.zeros((2, 2), int)])
    assert big.dtype == np.uint32 and int(big.max()) == 70000
    with pytest.raises(ValueError, match="stack 's' has 2 planes, got 1 label images"):
        stack_labels(stack, [np.zeros((2, 2), int)])


def test_a_truth_stack_scores_the_planes_of_its_input_stack(folder, tmp_path):
    images, arrays = folder
    truth = tmp_path / "truth"
    truth.mkdir()
    true_cells = arrays["cells"] > 1000
    true_cells[:, :6] = True  # a band the threshold does not see, so that each plane scores its own Dice
    true_cells[2, :, :12] = True
    tifffile.imwrite(truth / "cells.tif", true_cells.astype(np.uint8) * 255, photometric="minisblack")  # axes QYX
    for z, plane in enumerate(arrays["pages"] > 1000):  # per plane, named as the planes' masks
        write_image(truth / f"pages_p{z:04d}.png", plane.astype(np.uint8) * 255)
    movie = (arrays["movie"] > 1000).astype(np.uint8) * 255
    tifffile.imwrite(truth / "movie.tif", movie, imagej=True, metadata={"axes": "TZYX"})
    write_image(truth / "single.png", (arrays["single"] > 1000).astype(np.uint8) * 255)
    out = tmp_path / "run"
    command = ["run", str(images), "--out", str(out), "--chain", "otsu", "--no-overlays", "--truth", str(truth), "-q"]
    assert main(command) == 0
    rows = {row["name"]: row for row in csv.DictReader((out / "evaluation.csv").open())}
    assert len(rows) == 14 and "movie_t0001_z0002" in rows and "cells" not in rows
    for z in range(5):
        mask = read_mask(out / "masks" / f"cells_z{z:04d}.png")
        expected = 2 * (mask & true_cells[z]).sum() / (mask.sum() + true_cells[z].sum())
        assert float(rows[f"cells_z{z:04d}"]["dice"]) == pytest.approx(expected, abs=1e-5)
    assert float(rows["cells_z0002"]["dice"]) < float(rows["cells_z0001"]["dice"]) < 1
    evaluation = evaluate_folders(out, truth, strict=False)
    assert sorted(evaluation.names) == sorted(rows)
    tifffile.imwrite(truth / "cells.tif", true_cells[:3].astype(np.uint8) * 255, photometric="minisblack")
    with pytest.raises(UsageError, match=r"cells.tif' holds 3 planes but the input stack '.*cells.tif' has 5"):
        evaluate_folders(out, truth)
