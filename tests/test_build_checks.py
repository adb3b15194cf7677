"""Every option of every stage is checked when the chain is built, before anything is written to OUT."""

from __future__ import annotations

import pytest

from bootseg.cli import main
from bootseg.datasets import synthetic_spheroids
from bootseg.io import write_image
from bootseg.refiners import UNetRefiner


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("build") / "images"
    folder.mkdir()
    for i, image in enumerate(synthetic_spheroids(2, size=24, seed=0)[0]):
        write_image(folder / f"{i}.png", image)
    return folder


@pytest.mark.parametrize(
    ("device", "match"),
    [("banana", r"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got 'banana'"), ("cuda:3", r"cuda:3")],
)
def test_a_device_this_machine_cannot_give_is_refused_when_the_stage_is_built(device, match):
    import torch

    if device == "cuda:3" and torch.cuda.device_count() > 3:
        pytest.skip("this machine has a cuda:3")
    with pytest.raises(ValueError, match=match):
        UNetRefiner(device=device)


@pytest.mark.parametrize("device", ["banana", "cuda:3"])
def test_run_with_a_bad_stage_device_writes_nothing(images, tmp_path, capsys, device):
    import torch

    if device == "cuda:3" and torch.cuda.device_count() > 3:
        pytest.skip("this machine has a cuda:3")
    out = tmp_path / "out"
    status = main(["run", str(images), "--out", str(out), "--chain", f'otsu,unet(device="{device}")', "-q"])
    assert status == 2
    assert device in capsys.readouterr().err
    assert not out.exists()


def test_a_cuda_index_beyond_the_devices_is_refused_naming_the_count(monkeypatch):
    import torch

    from bootseg.refiners.device import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"device 'cuda:3' was asked for but this machine has 1 CUDA device"):
        resolve_device("cuda:3")
