"""The stopping rule on synthetic validation curves, and the training loop that consults it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bootseg.refiners.config import UNetConfig
from bootseg.refiners.stopping import EarlyStopping, stop_epoch
from bootseg.refiners.training import train_network
from bootseg.refiners.unet import UNet


def _reference(curve, patience, min_delta=0.0, min_epochs=0):
    """The rule written out by hand: the first epoch >= min_epochs that is patience epochs past the last epoch
    whose loss fell below (1 - min_delta) times the loss of the improvement before it."""
    reference, improved = None, 0
    for epoch, loss in enumerate(curve, start=1):
        if reference is None or loss < reference * (1 - min_delta):
            reference, improved = loss, epoch
        if patience is not None and epoch >= min_epochs and epoch - improved >= patience:
            return epoch
    return len(curve)


CURVES = {
    "falls then flat": [1.0, 0.6, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3],
    "slow creep": [1.0 * 0.995**i for i in range(40)],  # 0.5 % better every epoch
    "noisy plateau": [1.0, 0.5, 0.45, 0.46, 0.449, 0.452, 0.448, 0.455, 0.447, 0.451, 0.46, 0.46],
    "late drop": [1.0, 0.8, 0.8, 0.8, 0.8, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    "rising": [0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
}


@pytest.mark.parametrize("name", sorted(CURVES))
@pytest.mark.parametrize(
    ("patience", "min_delta", "min_epochs"), [(2, 0.0, 0), (3, 0.01, 0), (2, 0.0, 6), (None, 0, 0)]
)
def test_stop_epoch_matches_the_rule_written_out(name, patience, min_delta, min_epochs):
    curve = CURVES[name]
    expected = _reference(curve, patience, min_delta, min_epochs)
    assert stop_epoch(curve, patience, min_delta=min_delta, min_epochs=min_epochs) == expected


def test_hand_counted_stops():
    assert stop_epoch(CURVES["falls then flat"], 3) == 7  # last improvement at 4, three more epochs
    assert stop_epoch(CURVES["late drop"], 3) == 5  # stops before the drop at 6
    assert stop_epoch(CURVES["late drop"], 3, min_epochs=8) == 9  # trains past it, then 3 flat epochs after 6
    assert stop_epoch(CURVES["slow creep"], 3) == 40  # every epoch improves
    assert stop_epoch(CURVES["slow creep"], 3, min_delta=0.01) == 40  # three 0.5 % steps add up to 1.5 %
    assert stop_epoch(CURVES["slow creep"], 1, min_delta=0.01) == 2
    assert stop_epoch(CURVES["noisy plateau"], 3, min_delta=0.01) == 6  # wobbles under 1 % do not count
    assert stop_epoch(CURVES["noisy plateau"], 3) == 12  # without min_delta each new low resets the count
    assert stop_epoch(CURVES["rising"], 2) == 3


def test_reason_and_nan_losses():
    rule = EarlyStopping(2)
    assert [rule.update(v) for v in [1.0, float("nan"), float("nan")]] == [False, False, True]
    assert rule.reason == "no improvement of the validation loss for 2 epochs after epoch 1"
    never = EarlyStopping(None)
    assert not any(never.update(v) for v in [1.0, 2.0, 3.0, 4.0])
    assert never.reason is None


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"patience": 0}, ValueError, r"patience must be an integer >= 1 or None .*got 0"),
        ({"patience": 2, "min_delta": 1.0}, ValueError, r"min_delta must be a share of the loss in \[0, 1\).*got 1.0"),
        ({"patience": 2, "min_delta": -0.1}, ValueError, r"min_delta .*got -0.1"),
        ({"patience": 2, "min_epochs": -1}, ValueError, r"min_epochs must be an integer >= 0, got -1"),
    ],
)
def test_bad_constants_are_refused(options, error, match):
    patience = options.pop("patience")
    with pytest.raises(error, match=match):
        EarlyStopping(patience, **options)


def test_config_checks_the_constants():
    with pytest.raises(ValueError, match=r"min_delta must be a share of the loss in \[0, 1\), such as 0.01, got 2"):
        UNetConfig(min_delta=2)
    with pytest.raises(ValueError, match=r"min_epochs must be >= 0, got -3"):
        UNetConfig(min_epochs=-3)


def _train(**options):
    cfg = UNetConfig(size=16, base_channels=2, depth=1, batch_size=4, progress=False, **options)
    x = torch.randint(0, 256, (10, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = UNet(1, base_channels=2, depth=1)
    return train_network(model, x, (x > 127).to(torch.uint8) * 255, cfg)


def test_the_loop_stops_where_the_rule_says_and_keeps_the_best_epoch():
    report = _train(epochs=30, patience=2, min_epochs=0, lr=0.5)  # a wild learning rate stops improving quickly
    losses = [h["val_loss"] for h in report.history]
    assert report.stopped_early and len(losses) < 30
    assert _reference(losses, 2) == len(losses)
    assert report.best_epoch == int(np.argmin(losses)) + 1
    assert report.stop_reason == f"no improvement of the validation loss for 2 epochs after epoch {report.best_epoch}"


def test_min_epochs_holds_the_loop_and_no_patience_trains_every_epoch():
    held = _train(epochs=12, patience=1, min_epochs=8, lr=0.5)
    assert len(held.history) >= 8
    full = _train(epochs=5, patience=None, min_epochs=0, lr=0.5)
    assert len(full.history) == 5 and not full.stopped_early and full.stop_reason is None


def test_the_fast_preset_stops_on_a_plateau_and_the_paper_preset_trains_every_epoch():
    fast = UNetConfig.from_options("fast")
    assert (fast.patience, fast.min_delta, fast.min_epochs, fast.epochs) == (20, 0.0, 0, 30)
    assert UNetConfig.from_options("paper").patience is None
