"""Stage files: one archive that names the stage that wrote it, the same bytes for the same stage, and clear
refusals for files that are damaged or name a stage this installation does not have."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from bootseg.datasets import synthetic_spheroids
from bootseg.plugins import Registry, StageInfo, make_plugin_manager
from bootseg.refiners import UNetRefiner
from bootseg.stagefile import HEADER, StageFileError, StageHeader, load_stage, read_header, save_stage

TINY = {"size": 32, "base_channels": 4, "depth": 2, "epochs": 1, "progress": False, "device": "cpu"}


@pytest.fixture(scope="module")
def trained():
    images, truth = synthetic_spheroids(6, size=32, seed=1)
    return UNetRefiner(**TINY).fit(images, truth), images


def test_the_file_names_its_stage_and_its_bytes_repeat(trained, tmp_path):
    unet, _ = trained
    header = StageHeader("unet", "bootseg.refiners", "bootseg", "0.1.0")
    first = save_stage(unet, tmp_path / "a.pt", header)
    second = save_stage(unet, tmp_path / "b.pt", header)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        record = json.loads(archive.read(HEADER))
    assert record["stage"] == "unet" and record["format"] == "bootseg.stage"
    assert read_header(first) == header
    assert not list(tmp_path.glob(".stage-*"))  # the temporary folder is gone


def test_a_stage_file_and_a_bare_unet_checkpoint_both_load(trained, tmp_path):
    unet, images = trained
    reference = unet.predict_proba(images)
    wrapped = save_stage(unet, tmp_path / "model-1-unet.pt", StageHeader("unet", "bootseg.refiners", "bootseg"))
    bare = unet.save(tmp_path / "bare.pt")
    assert read_header(bare) is None
    for path in (wrapped, bare):
        stage, header = load_stage(path, device="cpu")
        assert isinstance(stage, UNetRefiner) and header.stage == "unet"
        for a, b in zip(reference, stage.predict_proba(images), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)
    direct = UNetRefiner.load(wrapped, device="cpu")  # the Python API reads what bootseg run wrote
    np.testing.assert_allclose(direct.predict_proba(images[:1])[0], reference[0], atol=1e-6)


def test_a_stage_that_is_not_installed_is_named_with_its_distribution(trained, tmp_path):
    unet, _ = trained
    path = save_stage(unet, tmp_path / "m.pt", StageHeader("mynet", "mine", "bootseg-mynet", "2.0"))
    with pytest.raises(
        StageFileError,
        match=r"stage 'mynet' from mine \(bootseg-mynet 2\.0\), which is not installed here; install bootseg-mynet",
    ):
        load_stage(path)


def test_a_registered_stage_without_load_cannot_be_rebuilt(trained, tmp_path):
    unet, _ = trained

    class Cleanup:
        def refine(self, images, masks):
            return masks

    registry = Registry(make_plugin_manager(load_entrypoints=False))
    registry.stages["refiner"]["cleanup"] = StageInfo("cleanup", "refiner", Cleanup, "here")
    path = save_stage(unet, tmp_path / "m.pt", StageHeader("cleanup", "here"))
    with pytest.raises(
        StageFileError, match=r"stage 'cleanup' is registered by here as a class without fit, predict_proba"
    ):
        load_stage(path, registry)


def test_a_damaged_header_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "broken.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(HEADER, "{not json")
    with pytest.raises(StageFileError, match=r"broken\.pt.* has a damaged or newer stage header"):
        read_header(path)
    with pytest.raises(FileNotFoundError, match=r"model file .*missing\.pt' does not exist"):
        read_header(tmp_path / "missing.pt")


def test_a_save_that_writes_nothing_is_refused(tmp_path):
    class Silent:
        def save(self, path):
            return path

    with pytest.raises(StageFileError, match=r"stage 'silent' from here: save\(.*\) wrote no file"):
        save_stage(Silent(), tmp_path / "m.pt", StageHeader("silent", "here"))
    assert not (tmp_path / "m.pt").exists()


def test_a_damaged_network_in_a_stage_file_is_refused_naming_that_file(trained, tmp_path):
    """``bootseg predict``'s path: the stage is unpacked to a temporary folder, and the error still names the file."""
    import torch

    from bootseg.refiners.checkpoint import CheckpointError

    unet, _ = trained
    broken = UNetRefiner.load(unet.save(tmp_path / "bare.pt"), device="cpu")
    with torch.no_grad():
        next(broken.model.parameters()).fill_(float("nan"))
    path = save_stage(broken, tmp_path / "model-1-unet.pt", StageHeader("unet", "bootseg.refiners", "bootseg"))
    for load in (lambda: load_stage(path, device="cpu"), lambda: UNetRefiner.load(path, device="cpu")):
        with pytest.raises(CheckpointError, match=r"model-1-unet\.pt' holds weights that are not finite"):
            load()
