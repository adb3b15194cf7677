"""Rounds of networks that stop when the masks stop changing (``stable=``, ``bootseg run --rounds N``)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from bootseg import BootstrapChain
from bootseg.cli import main
from bootseg.datasets import synthetic_spheroids
from bootseg.io import read_mask, write_image
from bootseg.rounds import STABLE, Rounds, mask_change

TINY = ("unet", {"size": 32, "epochs": 1, "base_channels": 4, "batch_size": 4})


def test_mask_change_is_the_mean_of_one_minus_dice():
    rng = np.random.default_rng(0)
    before = [rng.random((12, 16)) > 0.5 for _ in range(5)] + [np.zeros((4, 4), bool)]
    after = [m ^ (rng.random(m.shape) > 0.8) for m in before[:5]] + [np.zeros((4, 4), bool)]
    reference = np.mean(
        [1 - f1_score(b.ravel(), a.ravel(), zero_division=1.0) for b, a in zip(before, after, strict=True)]
    )
    assert mask_change(before, after) == pytest.approx(reference, abs=1e-12)
    assert mask_change(before, before) == 0.0
    with pytest.raises(ValueError, match="got 2 masks before and 1 after"):
        mask_change(before[:2], after[:1])


def test_rounds_say_where_they_stopped():
    rounds = Rounds(0.01, {"1-unet": 0.05})
    assert not rounds.done
    rounds.changes["2-unet"] = 0.004
    assert rounds.done and not rounds.stopped
    rounds.skipped.append("3-unet")
    assert rounds.stopped and rounds.as_dict()["run"] == 2
    assert rounds.summary().startswith("stopped after 2-unet: it changed the masks by 0.004")


def test_a_chain_stops_after_a_stage_that_changed_the_masks_less_than_the_tolerance():
    images, _ = synthetic_spheroids(8, size=32)
    stages = ["otsu", TINY, TINY, TINY]
    every = BootstrapChain(stages, progress=False, stable=0.0).run(images)
    assert list(every.stages) == ["0-otsu", "1-unet", "2-unet", "3-unet"] and not every.rounds.skipped
    first = every.stages["0-otsu"].masks
    assert every.rounds.changes["1-unet"] == pytest.approx(mask_change(first, every.stages["1-unet"].masks))
    stopped = BootstrapChain(stages, progress=False, stable=1.5).run(images)  # any change is under 1.5
    assert list(stopped.stages) == ["0-otsu", "1-unet"]
    assert stopped.rounds.skipped == ["2-unet", "3-unet"] and list(stopped.rounds.changes) == ["1-unet"]
    plain = BootstrapChain(stages[:2], progress=False).run(images)
    assert plain.rounds is None
    assert all(np.array_equal(a, b) for a, b in zip(plain.masks, stopped.masks, strict=True))
    with pytest.raises(ValueError, match=r"stable must be a number >= 0 .*got -1"):
        BootstrapChain(stages, stable=-1)


def test_cli_rounds_repeat_the_last_network_and_record_where_they_stopped(tmp_path, capsys):
    images, _ = synthetic_spheroids(8, size=32)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(images):
        write_image(folder / f"{i}.png", image)
    out = tmp_path / "out"
    chain = "otsu,unet(size=32,epochs=1,base_channels=4,batch_size=4)"
    assert main(["run", str(folder), "--out", str(out), "--chain", chain, "--rounds", "3", "--no-overlays", "-q"]) == 0
    record = json.loads((out / "run.json").read_text())
    rounds = record["rounds"]
    assert record["options"]["rounds"] == 3 and record["settings"]["rounds"] == 3 and rounds["tolerance"] == STABLE
    keys = ["0-otsu", *rounds["changes"]]
    assert [stage["key"] for stage in record["stages"]] == keys
    assert rounds["skipped"] == ["1-unet", "2-unet", "3-unet"][len(keys) - 1 :]
    masks = {key: [read_mask(out / "stages" / key / f"{i}.png") for i in range(8)] for key in keys}
    expected_skipped = []
    for before, key in itertools.pairwise(keys):
        change = mask_change(masks[before], masks[key])
        assert rounds["changes"][key] == pytest.approx(change, abs=1e-5)
    assert all(rounds["changes"][key] >= STABLE for key in keys[1:-1])  # else it would have stopped there
    if rounds["changes"][keys[-1]] < STABLE and len(keys) < 4:
        expected_skipped = [f"{i}-unet" for i in range(len(keys), 4)]
    assert rounds["skipped"] == expected_skipped
    for key in rounds["skipped"]:
        assert not (out / "stages" / key).exists()
    assert "Rounds:" in (out / "report.html").read_text()
    capsys.readouterr()
    assert main(["run", str(folder), "--out", str(tmp_path / "bad"), "--chain", "otsu", "--rounds", "2"]) == 2
    assert "--rounds repeats the chain's last network stage, and the chain 'otsu' has none" in capsys.readouterr().err
