"""The ``unet`` option ``schedule``: the learning rate held, or decayed along a half cosine over training."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from bootseg.datasets import synthetic_spheroids
from bootseg.refiners import UNetRefiner
from bootseg.refiners import training as training_module
from bootseg.refiners.config import UNetConfig
from bootseg.refiners.training import learning_rate_schedule


@pytest.mark.parametrize("steps", [1, 3, 10, 37])
def test_cosine_rates_match_their_formula(steps: int) -> None:
    lr = 2e-3
    opt = torch.optim.Adam([torch.zeros(2, requires_grad=True)], lr=lr)
    sched = learning_rate_schedule(opt, "cosine", steps)
    rates = []
    for _ in range(steps):
        opt.step()
        sched.step()
        rates.append(opt.param_groups[0]["lr"])
    t = np.arange(1, steps + 1)
    np.testing.assert_allclose(rates, lr * 0.5 * (1 + np.cos(np.pi * t / steps)), atol=1e-12)
    assert rates[-1] == pytest.approx(0.0, abs=1e-12)


def test_constant_has_no_scheduler() -> None:
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1e-3)
    assert learning_rate_schedule(opt, "constant", 5) is None


@pytest.mark.parametrize(("images", "batch_size", "epochs"), [(10, 3, 2), (10, 4, 3), (6, 16, 4)])
def test_training_decays_to_zero_at_its_last_step(monkeypatch, images: int, batch_size: int, epochs: int) -> None:
    made = []

    def spy(optimizer, schedule, steps):
        made.append((optimizer, learning_rate_schedule(optimizer, schedule, steps)))
        return made[-1][1]

    monkeypatch.setattr(training_module, "learning_rate_schedule", spy)
    data, truth = synthetic_spheroids(images, size=32, seed=1)
    UNetRefiner(
        size=32,
        base_channels=4,
        epochs=epochs,
        batch_size=batch_size,
        schedule="cosine",
        patience=None,
        min_radius=0,
        augment=False,
        progress=False,
    ).fit(data, truth)
    ((optimizer, scheduler),) = made
    train = images - round(images * 0.2)  # the default val_fraction holds a fifth out
    steps = epochs * math.ceil(train / batch_size)
    assert scheduler.T_max == steps
    assert scheduler.last_epoch == steps
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_the_option_is_checked_and_old_networks_report_a_constant_rate(tmp_path) -> None:
    with pytest.raises(ValueError, match="schedule must be one of constant, cosine, got 'step'"):
        UNetConfig(schedule="step")
    with pytest.raises(ValueError, match="schedule must be 'constant' or 'cosine', got 'linear'"):
        learning_rate_schedule(torch.optim.Adam([torch.zeros(1, requires_grad=True)]), "linear", 3)
    images, truth = synthetic_spheroids(4, size=32, seed=0)
    unet = UNetRefiner(size=32, base_channels=4, epochs=1, min_radius=0, schedule="cosine", progress=False)
    path = unet.fit(images, truth).save(tmp_path / "unet.pt")
    assert UNetRefiner.load(path).config.schedule == "cosine"
    data = torch.load(path, weights_only=True)
    del data["config"]["schedule"]  # a file written before the option
    torch.save(data, path)
    assert UNetRefiner.load(path).config.schedule == "constant"


def test_the_fast_preset_takes_small_batches_on_a_cosine_and_the_paper_preset_a_constant_rate() -> None:
    fast, paper = UNetConfig.from_options("fast"), UNetConfig.from_options("paper")
    assert (fast.batch_size, fast.epochs, fast.schedule) == (8, 30, "cosine")
    assert (paper.batch_size, paper.epochs, paper.schedule) == (32, 100, "constant")
    assert UNetConfig() == fast  # no preset: the fast preset's values


def test_bootseg_run_records_the_schedule_and_takes_another(tmp_path) -> None:
    from test_cli import bootseg, make_data

    images, _ = make_data(tmp_path)
    for schedule in ("cosine", "constant"):
        out = tmp_path / schedule
        chain = "otsu,unet(size=32,base_channels=4,depth=2" + (")" if schedule == "cosine" else ",schedule=constant)")
        done = bootseg("run", images, "--out", out, "--chain", chain, "--epochs", "2", "--device", "cpu", "-q")
        assert done.returncode == 0, done.stderr
        unet = json.loads((out / "run.json").read_text())["stages"][1]
        assert unet["options"]["schedule"] == schedule and unet["options"]["batch_size"] == 8
        assert unet["training"]["epochs_run"] == 2
    rejected = bootseg("run", images, "--out", tmp_path / "bad", "--chain", "otsu,unet(schedule=step)")
    assert rejected.returncode != 0 and "schedule must be one of constant, cosine, got 'step'" in rejected.stderr
