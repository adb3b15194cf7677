"""A diverged training is a failure, a network with non-finite weights is refused, degenerate masks are said loudly."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from bootseg.cli import main
from bootseg.confidence import confidence, factors
from bootseg.datasets import synthetic_spheroids
from bootseg.errors import TrainingDivergedError
from bootseg.io import write_image
from bootseg.refiners import UNetRefiner
from bootseg.refiners.checkpoint import CheckpointError

TINY = {"size": 32, "base_channels": 4, "depth": 2, "batch_size": 4, "epochs": 2, "progress": False}


@pytest.fixture(scope="module")
def data():
    images, masks = synthetic_spheroids(6, size=32, seed=2)
    return images, masks


def _spheroid_folder(tmp_path, *, seed):
    """A folder of six synthetic 32² spheroid images, for a run through the command line."""
    folder = tmp_path / "images"
    folder.mkdir()
    images, _ = synthetic_spheroids(6, size=32, seed=seed)
    for i, image in enumerate(images):
        write_image(folder / f"{i}.png", image)
    return folder


def test_a_training_whose_loss_is_never_finite_fails_saying_what_to_change(data):
    images, masks = data
    stage = UNetRefiner(preset=None, lr=1e30, device="cpu", **TINY)
    with pytest.raises(TrainingDivergedError, match=r"diverged.*not finite.*lower the learning rate.*lr=1e\+29"):
        stage.fit(images, masks)


def test_a_non_finite_learning_rate_is_refused_at_build():
    for lr in (math.inf, math.nan):
        with pytest.raises(ValueError, match="lr must be a finite number > 0"):
            UNetRefiner(preset=None, lr=lr, device="cpu", **TINY)


def test_run_with_a_diverging_network_exits_1_and_saves_no_model(tmp_path, capsys):
    folder = _spheroid_folder(tmp_path, seed=2)
    out = tmp_path / "out"
    chain = "otsu,unet(lr=1e30,size=32,base_channels=4,depth=2,batch_size=4,epochs=2)"
    assert main(["run", str(folder), "--out", str(out), "--chain", chain, "--device", "cpu", "-q"]) == 1
    assert "training diverged" in capsys.readouterr().err
    assert not (out / "model-1-unet.pt").exists() and not (out / "masks").exists()


def test_a_checkpoint_with_non_finite_weights_is_refused_naming_the_file(data, tmp_path):
    images, masks = data
    stage = UNetRefiner(preset=None, device="cpu", **{**TINY, "epochs": 1}).fit(images, masks)
    with torch.no_grad():
        next(stage.model.parameters()).fill_(float("nan"))
    path = stage.save(tmp_path / "model-1-unet.pt")
    with pytest.raises(CheckpointError, match=r"model-1-unet\.pt.*not finite"):
        UNetRefiner.load(path, device="cpu")


@pytest.mark.parametrize("value", [0.0, 1.0, float("nan")])
def test_an_empty_or_full_mask_never_scores_full_confidence(value):
    proba = np.full((16, 16), value, np.float32)
    image = np.random.default_rng(0).random((16, 16))
    assert confidence(proba) == 0.0 and confidence(proba, image) == 0.0
    assert factors(proba).score(lines=True) == 0.0


def test_a_stage_of_nearly_all_empty_masks_warns_in_the_log_run_json_and_report(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):  # bright images with one dark pixel: the fixed threshold keeps (almost) everything
        image = np.full((24, 24), 200, np.uint8)
        image[rng.integers(24), rng.integers(24)] = 0
        write_image(folder / f"{i}.png", image)
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--chain", "otsu(polarity=dark)", "-q"]) == 0
    err = capsys.readouterr().err
    assert "warning: stage 0-otsu:" in err and "4 of 4 masks are (nearly) empty" in err
    record = json.loads((out / "run.json").read_text())
    assert any("4 of 4 masks are (nearly) empty" in w for w in record["warnings"])
    report = (out / "report.html").read_text()
    assert report.index("(nearly) empty") < report.index("Masks to check")


def test_predict_warns_when_every_mask_is_empty(data, tmp_path, capsys):
    images, masks = data
    stage = UNetRefiner(preset=None, device="cpu", **{**TINY, "epochs": 1}).fit(images, masks)
    head = [m for m in stage.model.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == 1][-1]
    with torch.no_grad():
        head.bias.fill_(-1e3)  # a network that says "background" everywhere
    model = stage.save(tmp_path / "model-1-unet.pt")
    folder = tmp_path / "new"
    folder.mkdir()
    for i, image in enumerate(images[:3]):
        write_image(folder / f"{i}.png", image)
    out = tmp_path / "pred"
    assert main(["predict", str(model), str(folder), "--out", str(out), "--device", "cpu", "-q"]) == 0
    assert "stage model: 3 of 3 masks are (nearly) empty" in capsys.readouterr().err
    record = json.loads((out / "run.json").read_text())
    assert record["warnings"] and all(entry["confidence"] == 0.0 for entry in record["inputs"])


def test_a_loss_that_diverges_after_the_kept_epoch_warns_and_nan_weights_fail(caplog):
    from bootseg.refiners.divergence import check_converged
    from bootseg.refiners.training import TrainReport

    history = [{"epoch": 1, "train_loss": 0.4, "val_loss": 0.3}, {"epoch": 2, "train_loss": math.nan, "val_loss": 9}]
    report = TrainReport(history=history, best_epoch=1, best_val_loss=0.3)
    model = torch.nn.Linear(2, 1)
    with caplog.at_level("WARNING", logger="bootseg"):
        check_converged(report, model, lr=0.1)
    assert "diverged at epoch 2" in caplog.text and "the weights of epoch 1" in caplog.text and "lr=0.01" in caplog.text
    with torch.no_grad():
        model.bias.fill_(math.inf)
    with pytest.raises(
        TrainingDivergedError, match=r"1 weight tensors of the kept epoch 1 are not finite \(first: bias\)"
    ):
        check_converged(report, model, lr=0.1)


def test_a_network_unsure_on_most_pixels_warns_that_its_masks_are_its_inputs(tmp_path, capsys):
    folder = _spheroid_folder(tmp_path, seed=3)
    untrained = "size=32,epochs=1,lr=1e-9,base_channels=4,depth=2,batch_size=6,augment=false"  # outputs near 0.5
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--chain", f"otsu,unet({untrained})", "-q"]) == 0
    err = capsys.readouterr().err
    assert "warning: stage 1-unet: the network was unsure (probability between 0.2 and 0.8) on" in err
    record = json.loads((out / "run.json").read_text())
    assert any("where the previous stage's masks were kept" in w for w in record["warnings"])
    assert "where the previous stage&#x27;s masks were kept" in (out / "report.html").read_text()
    # every pixel the network's: nothing was kept, nothing to say
    again = tmp_path / "again"
    assert (
        main(["run", str(folder), "--out", str(again), "--chain", f"otsu,unet({untrained},confident=0.5)", "-q"]) == 0
    )
    assert "unsure" not in capsys.readouterr().err
