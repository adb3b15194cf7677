"""Corrected masks: read and checked, choosing the first stage, trusted by the networks, kept as final masks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.filters import threshold_otsu

from bootseg import BootstrapChain
from bootseg.cli import main
from bootseg.corrections import (
    CONFIDENT_LEVELS,
    MARGIN,
    TRUSTED_SHARE,
    check_corrections,
    choose_confident,
    choose_first_stage,
    read_corrections,
    trust_weight,
)
from bootseg.datasets import synthetic_spheroids
from bootseg.io import write_image, write_mask
from bootseg.metrics import dice
from bootseg.plugins import default_registry
from bootseg.refiners.config import UNetConfig
from bootseg.refiners.losses import get_loss, soft_dice_loss
from bootseg.refiners.training import split_indices

NET = ("unet", {"size": 32, "epochs": 2, "base_channels": 4, "batch_size": 4})


@pytest.fixture(scope="module")
def spheroids():
    return synthetic_spheroids(10, size=32, seed=4)


def _build(spec):
    return default_registry().create("annotator", spec[0], **spec[1])


# -- reading and checking ---------------------------------------------------------------------------------------------


def test_read_corrections_reads_a_subset_by_stem_in_any_mask_form(tmp_path):
    truth = np.zeros((4, 5), bool)
    truth[1:3, 2:4] = True
    write_mask(tmp_path / "b.png", truth)  # 0/255
    write_image(tmp_path / "c.tif", truth.astype(np.uint8))  # 0/1
    read = read_corrections(tmp_path, ["a", "b", "c"])
    assert list(read) == ["b", "c"]
    for mask in read.values():
        np.testing.assert_array_equal(mask, truth)


def test_read_corrections_names_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"corrections folder '.*nowhere' does not exist"):
        read_corrections(tmp_path / "nowhere", ["a"])
    write_mask(tmp_path / "zz.png", np.zeros((2, 2), bool))
    with pytest.raises(ValueError, match=r"1 mask\(s\) named after no input image: zz\.png; .*named like a, b"):
        read_corrections(tmp_path, ["a", "b"])
    write_mask(tmp_path / "a.png", np.zeros((2, 2), bool))
    write_image(tmp_path / "a.tif", np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"two files named 'a': a\.png and a\.tif"):
        read_corrections(tmp_path, ["a", "zz"])


def test_check_corrections_refuses_unknown_names_and_wrong_sizes():
    images = [np.zeros((4, 4), np.uint8), np.zeros((6, 3), np.uint8)]
    with pytest.raises(ValueError, match=r"corrections for 1 name\(s\) that are no input's: c"):
        check_corrections({"c": np.zeros((4, 4))}, ["a", "b"], images)
    with pytest.raises(ValueError, match=r"the correction for 'b' has .*expected shape \(6, 3\)"):
        check_corrections({"b": np.zeros((4, 4))}, ["a", "b"], images)
    with pytest.raises(TypeError, match="corrections must be a dict"):
        check_corrections([np.zeros((4, 4))], ["a"], images[:1])


@pytest.mark.parametrize(("trusted", "total"), [(1, 10), (5, 100), (20, 100), (1, 5000), (50, 60), (0, 10), (3, 3)])
def test_trust_weight_gives_the_corrected_images_their_share(trusted, total):
    weight = trust_weight(trusted, total)
    assert 1.0 <= weight <= 20.0
    if trusted and total > trusted and 1.0 < weight < 20.0:  # not clipped: exactly the share of the loss
        share = weight * trusted / (weight * trusted + (total - trusted))
        assert share == pytest.approx(TRUSTED_SHARE)


# -- the first stage --------------------------------------------------------------------------------------------------


def _otsu(image, dark):
    return image < threshold_otsu(image) if dark else image > threshold_otsu(image)


def test_corrections_choose_another_first_stage_only_with_a_clear_lead(spheroids):
    images, _ = spheroids
    specs = [("otsu", {"polarity": "bright", "fill_holes": False}), ("otsu", {"polarity": "dark", "fill_holes": False})]
    dark = {i: _otsu(images[i], dark=True) for i in (0, 3)}  # a person who wants the dark class
    choice, stage = choose_first_stage(images, dark, _build, specs=specs)
    assert not choice.kept_default and choice.spec == specs[1]
    assert dice(stage.annotate(images[5]), _otsu(images[5], dark=True)) > 0.98  # the fitted stage chosen
    assert choice.scores["otsu(polarity=dark, fill_holes=false)"] > 0.98
    assert choice.scores["otsu(polarity=bright, fill_holes=false)"] < 0.5
    assert "chose otsu(polarity=dark, fill_holes=false)" in choice.summary()

    bright = {i: _otsu(images[i], dark=False) for i in (0, 3)}
    choice, _ = choose_first_stage(images, bright, _build, specs=specs)
    assert choice.kept_default and choice.spec == specs[0]


class _Fixed:
    """A first stage that always gives the first ``count`` pixels of a 10 × 10 image."""

    def __init__(self, count):
        self.count = count

    def annotate(self, image):
        return np.arange(100).reshape(10, 10) < self.count


@pytest.mark.parametrize(("other", "chosen"), [(93, False), (97, True)])
def test_a_lead_of_at_most_the_margin_keeps_the_default(other, chosen):
    correction = {0: np.arange(100).reshape(10, 10) < 100}
    specs = [("default", {"count": 90}), ("other", {"count": other})]
    choice, stage = choose_first_stage([np.zeros((10, 10))], correction, lambda spec: _Fixed(**spec[1]), specs=specs)
    lead = dice(np.arange(100) < other, np.ones(100, bool)) - dice(np.arange(100) < 90, np.ones(100, bool))
    assert (lead > MARGIN) is chosen  # 0.017 and 0.038
    assert choice.kept_default is not chosen and stage.count == (other if chosen else 90)
    assert choice.default_score == pytest.approx(180 / 190)


def test_a_failing_candidate_is_left_out_and_recorded(spheroids):
    images, truth = spheroids
    specs = [("otsu", {"polarity": "bright"}), ("multiotsu", {"classes": 9})]  # 9 classes fail on these images
    choice, _ = choose_first_stage(images, {0: truth[0]}, _build, specs=specs)
    assert list(choice.scores) == ["otsu(polarity=bright)"]
    assert "multiotsu(classes=9)" in choice.failed


# -- the chain --------------------------------------------------------------------------------------------------------


def test_the_chain_keeps_corrections_as_masks_and_gives_them_to_the_network(spheroids, monkeypatch):
    images, truth = spheroids
    names = [f"n{i}" for i in range(len(images))]
    seen = {}
    from bootseg.refiners import UNetRefiner

    real_fit = UNetRefiner.fit

    def spy(self, images_, masks, *, trusted=()):
        seen["trusted"], seen["masks"] = list(trusted), [np.asarray(m).copy() for m in masks]
        return real_fit(self, images_, masks, trusted=trusted)

    monkeypatch.setattr(UNetRefiner, "fit", spy)
    chain = BootstrapChain(["auto", NET], progress=False)
    fixes = {"n2": truth[2], "n7": truth[7]}
    result = chain.run(images, names=names, corrections=fixes)
    assert result.corrected == ["n2", "n7"]
    assert seen["trusted"] == [2, 7]
    np.testing.assert_array_equal(seen["masks"][7], truth[7] > 0)
    for stage in result.stages.values():
        for i in (2, 7):
            np.testing.assert_array_equal(stage.masks[i], truth[i] > 0)
    choice = result.first_stage_choice
    assert len(choice.scores) >= 15 and "auto" in choice.scores and "kmeans" in choice.scores
    own = [dice(chain.stages[0].annotate(images[i]), truth[i]) for i in (2, 7)]  # the candidate chosen, fitted
    assert np.mean(own) == pytest.approx(choice.scores[choice.to_dict()["chosen"]])
    assert choice.scores[choice.to_dict()["chosen"]] >= choice.scores["auto"]
    # a run without corrections uses auto itself again, not the candidate the corrections chose
    again = chain.run(images, names=names)
    assert type(again.stages[0].stage).__name__ == "Auto" and again.corrected == [] and again.first_stage_choice is None


def test_a_named_first_stage_is_not_replaced(spheroids):
    images, truth = spheroids
    result = BootstrapChain(["otsu"], progress=False).run(images, corrections={"image-0001": truth[1]})
    plain = BootstrapChain(["otsu"], progress=False).run(images)
    assert result.first_stage_choice is None
    np.testing.assert_array_equal(result.masks[1], truth[1] > 0)
    for i in (0, 2, 9):
        np.testing.assert_array_equal(result.masks[i], plain.masks[i])


def test_corrections_are_part_of_a_checkpoint_folders_state(spheroids, tmp_path):
    images, truth = spheroids
    chain = BootstrapChain(["otsu"], progress=False)
    chain.run(images, checkpoint_dir=tmp_path, corrections={"image-0001": truth[1]})
    with pytest.raises(ValueError, match=r"corrections of 1 image\(s\) there \(image-0001\), the same images', with"):
        chain.run(images, checkpoint_dir=tmp_path, corrections={"image-0001": ~truth[1].astype(bool)})
    with pytest.raises(ValueError, match=r"corrections of 1 image\(s\) there \(image-0001\), 0 now"):
        chain.run(images, checkpoint_dir=tmp_path)


# -- the network's loss and split -------------------------------------------------------------------------------------


def test_weighted_losses_match_the_formula():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 1, 5, 5, generator=generator)
    target = (torch.rand(3, 1, 5, 5, generator=generator) > 0.5).float()
    weight = torch.tensor([1.0, 4.0, 0.5])
    per_image = torch.stack([F.binary_cross_entropy_with_logits(logits[i], target[i]) for i in range(3)])
    assert float(get_loss("bce")(logits, target, weight=weight)) == pytest.approx(float((per_image * weight).mean()))
    ones = torch.ones(3)
    assert float(get_loss("bce")(logits, target, weight=ones)) == pytest.approx(float(get_loss("bce")(logits, target)))
    dices = torch.stack([soft_dice_loss(logits[i : i + 1], target[i : i + 1]) for i in range(3)])
    assert float(soft_dice_loss(logits, target, weight=weight)) == pytest.approx(float((dices * weight).mean()))


def test_trusted_images_are_never_held_out():
    for seed in range(5):
        train, val = split_indices(20, 0.25, seed, keep=[3, 11])
        assert {3, 11} <= set(train.tolist()) and not {3, 11} & set(val.tolist())
        assert sorted([*train.tolist(), *val.tolist()]) == list(range(20)) and len(val) == 4


def test_held_out_corrections_are_the_validation_set_and_never_trained_on(spheroids, caplog):
    from bootseg.refiners import UNetRefiner

    train, val = split_indices(20, 0.25, 3, keep=[11, 3], hold_out=True)
    assert val.tolist() == [3, 11] and train.tolist() == [i for i in range(20) if i not in (3, 11)]
    images, truth = spheroids
    options = {"size": 32, "epochs": 2, "base_channels": 4, "batch_size": 4, "progress": False, "min_radius": 0}
    unet = UNetRefiner(corrections="validate", trusted_epochs=3, **options).fit(images, truth, trusted=[1, 6])
    assert (unet.report.train_images, unet.report.val_images) == (8, 2) and unet.validated_on_trusted
    assert unet.trusted_report is None  # nothing is trained on the held-out images, not even trusted_epochs
    assert unet.choices()["trusted"] == {"images": 2, "use": "validate", "weight": 1.0, "epochs": 3}
    # the validation loss is the loss on the two corrected images: the same number computed from the weights kept
    trained = UNetRefiner(corrections="train", **options).fit(images, truth, trusted=[1, 6])
    assert (trained.report.train_images, trained.report.val_images) == (8, 2) and not trained.validated_on_trusted
    everything = list(range(len(images)))
    with caplog.at_level("WARNING", logger="bootseg.refiners"):
        alone = UNetRefiner(corrections="validate", **options).fit(images, truth, trusted=everything)
    assert "every image is corrected, so none is left to train on" in caplog.text
    assert not alone.validated_on_trusted and alone.report.train_images == len(images)
    with pytest.raises(ValueError, match=r"corrections must be one of train, validate, got 'hold'"):
        UNetRefiner(corrections="hold")


def _reference_level_scores(probas, inputs, truths, levels):
    """Mean Dice per level from the definition: the input's class where 1 - c < p < c, else p >= c (0.5: p > 0.5)."""
    scores = {}
    for c in levels:
        values = []
        for p, previous, truth in zip(probas, inputs, truths, strict=True):
            mask = p > 0.5 if c <= 0.5 else np.where((p > 1 - c) & (p < c), previous, p >= c)
            overlap = 2 * np.logical_and(mask, truth).sum()
            total = mask.sum() + truth.sum()
            values.append(1.0 if total == 0 else overlap / total)
        scores[c] = float(np.mean(values))
    return scores


def test_choose_confident_scores_each_level_as_defined_and_keeps_the_current_within_the_margin():
    rng = np.random.default_rng(1)
    truths = [rng.random((12, 12)) > 0.6 for _ in range(3)]
    probas = [np.clip(t * 0.55 + rng.random((12, 12)) * 0.45, 0, 1) for t in truths]
    inputs = [rng.random((12, 12)) > 0.5 for _ in range(3)]
    level, scores = choose_confident(
        0.8, 0.5, dict(enumerate(probas)), dict(enumerate(inputs)), dict(enumerate(truths))
    )
    reference = _reference_level_scores(probas, inputs, truths, CONFIDENT_LEVELS)
    assert scores == pytest.approx({f"{c:g}": v for c, v in reference.items()})
    best = max(reference, key=reference.get)
    assert level == (0.8 if reference[best] <= reference[0.8] + MARGIN else best)
    # the teacher right and the network unsure everywhere: its input's masks are kept; of the levels that keep
    # them all, the nearest to the current one
    level, scores = choose_confident(0.5, 0.5, {0: np.full((12, 12), 0.45)}, {0: truths[0]}, {0: truths[0]})
    assert level == 0.6 and scores["1"] == scores["0.6"] == 1.0 and scores["0.5"] == 0.0
    # a level set by hand that is not on the list is weighed too
    assert "0.85" in choose_confident(0.85, 0.5, {0: probas[0]}, {0: inputs[0]}, {0: truths[0]})[1]


def test_a_chain_chooses_confident_on_the_corrections_its_network_held_out(spheroids):
    from bootseg.stagework import network_masks

    images, truth = spheroids
    names = [f"n{i}" for i in range(len(images))]
    net = ("unet", {**NET[1], "min_radius": 0})  # corrections="validate" is the default
    chain = BootstrapChain(["otsu", net], progress=False)
    fixed = (2, 5, 7)
    result = chain.run(images, names=names, corrections={names[i]: truth[i] for i in fixed})
    network = result.stages[1].stage
    assert network.validated_on_trusted
    drawn = [chain.stages[0].annotate(images[i]) for i in fixed]  # the first stage's own masks, not the corrections
    probas = [result.stages[1].proba[i] for i in fixed]
    reference = _reference_level_scores(probas, drawn, [truth[i] > 0 for i in fixed], CONFIDENT_LEVELS)
    recorded = network.choices()["trusted"]["confident"]
    assert recorded["scores"] == pytest.approx({f"{c:g}": v for c, v in reference.items()}, abs=5e-5)
    best = max(reference, key=reference.get)
    own = UNetConfig().confident  # the option's default level
    assert recorded["chosen"] == network.confident == (own if reference[best] <= reference[own] + MARGIN else best)
    level = recorded["chosen"]
    said = f"confident={own:g}, its option," if level == own else f"confident={level:g} over its option {own:g}"
    assert network.choices()["summary"].startswith(f"{said} on the 3 corrected image(s) it held out: mean Dice ")
    for i in (0, 3, 9):  # the other images' masks follow the level chosen
        expected = network_masks(network, result.stages[1].proba[i], result.stages[0].masks[i])
        np.testing.assert_array_equal(result.stages[1].masks[i], expected)
    for i in fixed:
        np.testing.assert_array_equal(result.masks[i], truth[i] > 0)


# -- the command line -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folders(tmp_path_factory, spheroids):
    root = tmp_path_factory.mktemp("corrections")
    (root / "images").mkdir()
    (root / "fixes").mkdir()
    images, truth = spheroids
    for i, (image, mask) in enumerate(zip(images, truth, strict=True)):
        write_image(root / "images" / f"c{i:02d}.png", image)
        if i in (1, 4):
            write_mask(root / "fixes" / f"c{i:02d}.png", mask)
    return root


def test_run_with_corrections_writes_what_to_correct_next(folders, tmp_path):
    out = tmp_path / "out"
    chain = "auto,unet(size=32,epochs=2,base_channels=4,batch_size=4)"
    args = [
        "run",
        str(folders / "images"),
        "--out",
        str(out),
        "--chain",
        chain,
        "--corrections",
        str(folders / "fixes"),
    ]
    assert main([*args, "-q"]) == 0
    run = json.loads((out / "run.json").read_text())
    assert run["corrections"]["images"] == ["c01", "c04"]
    assert run["corrections"]["first_stage"]["summary"]
    assert run["settings"]["corrections"] == str((folders / "fixes").resolve())
    assert [item["name"] for item in run["inputs"] if item.get("corrected")] == ["c01", "c04"]
    rows = (out / "confidence.csv").read_text().split()[1:]
    expected = [row.split(",")[0] for row in rows if row.split(",")[0] not in ("c01", "c04")]
    assert (out / "to-correct.txt").read_text().split() == expected and len(expected) == 8
    from bootseg.io import read_mask

    np.testing.assert_array_equal(read_mask(out / "masks" / "c04.png"), read_mask(folders / "fixes" / "c04.png"))
    page = (out / "report.html").read_text()
    assert (
        "Corrections:" in page
        and f"<b>To correct next</b> (least confident first; all in to-correct.txt): {', '.join(expected[:5])}</p>"
        in page
    )


def test_run_refuses_bad_corrections_before_writing(folders, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    write_mask(bad / "c03.png", np.zeros((5, 5), bool))
    out = tmp_path / "out"
    args = ["run", str(folders / "images"), "--out", str(out), "--chain", "otsu", "--corrections", str(bad), "-q"]
    assert main(args) == 1
    assert "the correction for 'c03' has" in capsys.readouterr().err
    assert not out.exists()
    inside = ["run", str(folders / "images"), "--out", str(folders / "fixes" / "out"), "--chain", "otsu"]
    assert main([*inside, "--corrections", str(folders / "fixes"), "-q"]) == 2
    assert "is inside --corrections" in capsys.readouterr().err


def test_run_again_repeats_an_earlier_run_with_corrections(folders, tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    chain = "otsu,unet(size=32,epochs=1,base_channels=4,batch_size=4)"
    assert main(["run", str(folders / "images"), "--out", str(first), "--chain", chain, "--seed", "3", "-q"]) == 0
    again = ["run", "--again", str(first), "--out", str(second), "--corrections", str(folders / "fixes"), "-q"]
    assert main(again) == 0
    before, after = (json.loads((f / "run.json").read_text()) for f in (first, second))
    for key in ("inputs", "stages", "seed", "chain_text", "preset"):
        assert after["settings"][key] == before["settings"][key]
    assert after["corrections"]["images"] == ["c01", "c04"] and "corrections" not in before
    assert (second / "to-correct.txt").read_text().split()[0] not in ("c01", "c04")
    capsys.readouterr()
    assert main(["run", "--again", str(first), "--out", str(tmp_path / "x"), "--chain", "kmeans", "-q"]) == 2
    assert "leave out --chain" in capsys.readouterr().err
    assert main(["run", "--again", str(first), "-q"]) == 2
    assert "--again RUN needs --out NEW" in capsys.readouterr().err
    assert main(["run", "--again", str(tmp_path), "--out", str(tmp_path / "y"), "-q"]) == 2
    assert "no run.json there" in capsys.readouterr().err


def test_the_network_trains_on_the_corrected_images_alone_after_the_set(spheroids):
    from bootseg.refiners import UNetRefiner

    images, truth = spheroids
    options = {"size": 32, "epochs": 2, "base_channels": 4, "batch_size": 4, "progress": False, "min_radius": 0}
    unet = UNetRefiner(corrections="train", trusted_epochs=3, **options).fit(images, truth, trusted=[1, 6])
    report = unet.trusted_report
    assert report is not None and len(report.history) == 3 and report.train_images == 2 and report.val_images == 0
    assert unet.choices()["trusted"] == {"images": 2, "use": "train", "weight": trust_weight(2, 10), "epochs": 3}
    plain = UNetRefiner(trusted_epochs=3, **options).fit(images, truth)
    assert plain.trusted_report is None and "trusted" not in plain.choices()
    default = UNetRefiner(corrections="train", **options).fit(images, truth, trusted=[1, 6])  # no epochs alone
    assert default.trusted_report is None and default.choices()["trusted"]["epochs"] == 0
    with pytest.raises(ValueError, match=r"trusted_epochs must be between 0 and 100000 \(MAX_EPOCHS\), got 100001"):
        UNetRefiner(trusted_epochs=100_001)
    with pytest.raises(ValueError, match=r"trusted holds image indices outside 0\.\.9: \[3, 10\]"):
        UNetRefiner(**options).fit(images, truth, trusted=[3, 10])


def test_spread_order_takes_the_least_confident_of_each_kind_first():
    from bootseg.corrections import spread_order

    rng = np.random.default_rng(0)
    levels = [20, 120, 220]  # three kinds of image, by brightness
    kinds = [i % 3 for i in range(15)]
    images = [np.clip(rng.normal(levels[k], 5, (8, 8)), 0, 255).astype(np.uint8) for k in kinds]
    confidence = rng.random(15)
    order = spread_order(images, confidence, kinds=3)
    assert sorted(order) == list(range(15))
    assert {kinds[i] for i in order[:3]} == {0, 1, 2}
    for kind in range(3):
        mine = [i for i in order if kinds[i] == kind]
        assert mine == sorted(mine, key=lambda i: confidence[i])
    first = [min((i for i in range(15) if kinds[i] == k), key=lambda i: confidence[i]) for k in range(3)]
    assert order[:3] == sorted(first, key=lambda i: confidence[i])
    assert spread_order([], []) == [] and spread_order(images[:1], [0.5]) == [0]


def test_a_second_network_is_judged_against_the_first_networks_own_masks_not_the_corrections(spheroids):
    from bootseg.stagework import network_masks

    images, truth = spheroids
    net = ("unet", {**NET[1], "min_radius": 0, "confident": 0.9})
    chain = BootstrapChain(["otsu", net, net], progress=False)
    fixed = (1, 4, 8)
    result = chain.run(images, corrections={f"image-{i:04d}": truth[i] for i in fixed})
    first, second = result.stages[1], result.stages[2]
    drawn = [
        network_masks(first.stage, first.proba[i], chain.stages[0].annotate(images[i])) for i in fixed
    ]  # the first network's masks of the corrected images as it drew them, from Otsu's own
    reference = _reference_level_scores(
        [second.proba[i] for i in fixed], drawn, [truth[i] > 0 for i in fixed], CONFIDENT_LEVELS
    )
    recorded = second.stage.choices()["trusted"]["confident"]["scores"]
    assert recorded == pytest.approx({f"{c:g}": v for c, v in reference.items()}, abs=5e-5)
