"""The ``bootseg`` command, run as a user runs it: in a subprocess, on tiny images made here."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bootseg.datasets import synthetic_spheroids
from bootseg.io import read_image, read_mask, write_image, write_mask

TINY = "otsu,unet(epochs=1,size=32,base_channels=4,depth=2,batch_size=4)"
SIZES = [(48, 48), (48, 64), (64, 48), (64, 64), (48, 56), (56, 64)]


def bootseg(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "BOOTSEG_DISABLE_PLUGINS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "bootseg", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def make_data(folder: Path, sizes=SIZES) -> tuple[Path, Path]:
    """Images of several sizes in folder/images, their true masks in folder/truth."""
    images, truth = folder / "images", folder / "truth"
    images.mkdir(parents=True)
    truth.mkdir()
    for i, (h, w) in enumerate(sizes):
        image, mask = (a[0] for a in synthetic_spheroids(1, size=64, seed=i))
        write_image(images / f"img{i}.png", np.ascontiguousarray(image[:h, :w]))
        write_mask(truth / f"img{i}.png", mask[:h, :w])
    return images, truth


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    """One `bootseg run` of a two-stage chain, shared by the tests that read its outputs."""
    root = tmp_path_factory.mktemp("run")
    images, truth = make_data(root)
    out = root / "out"
    result = bootseg(
        "run", images, "--out", out, "--chain", TINY, "--device", "cpu", "--save-proba", "--truth", truth, "--seed", "3"
    )
    return root, images, truth, out, result


def test_run_writes_every_output_at_the_input_sizes(done_run):
    _, _, _, out, result = done_run
    assert result.returncode == 0, result.stderr
    names = [f"img{i}" for i in range(len(SIZES))]
    for name, (h, w) in zip(names, SIZES):
        for folder in ("masks", "stages/0-otsu", "stages/1-unet"):
            mask = read_image(out / folder / f"{name}.png")
            assert mask.shape == (h, w) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
        proba = read_image(out / "proba" / f"{name}.png")
        assert proba.shape == (h, w) and proba.dtype == np.uint16
        overlay = read_image(out / "overlays" / f"{name}.png")
        assert overlay.ndim == 3 and overlay.shape[2] == 3 and overlay.shape[0] % h == 0
    np.testing.assert_array_equal(read_mask(out / "masks/img0.png"), read_mask(out / "stages/1-unet/img0.png"))
    assert (out / "model-1-unet.pt").is_file() and not (out / "model-0-otsu.pt").exists()
    # stdout holds the results only: the table, then the output folder
    assert result.stdout.strip().splitlines()[-1] == str(out.resolve())
    assert "DSC  mean ± std" in result.stdout and "1-unet (final)" in result.stdout


def test_run_json_records_options_versions_timings_and_inputs(done_run):
    _, _, _, out, _ = done_run
    run = json.loads((out / "run.json").read_text())
    assert run["format"] == "bootseg.run" and run["argv"][:2] == ["bootseg", "run"]
    assert run["options"]["chain"] == TINY and run["options"]["seed"] == 3
    assert [s["key"] for s in run["stages"]] == ["0-otsu", "1-unet"]
    unet = run["stages"][1]
    assert unet["options"]["epochs"] == 1 and unet["options"]["base_channels"] == 4  # after presets
    assert unet["options"]["lr"] == pytest.approx(1e-3) and unet["options"]["seed"] == 3
    assert unet["device"] == "cpu" and run["device_used"] == "cpu" and unet["model"] == "model-1-unet.pt"
    assert unet["training"]["epochs_run"] == 1 and len(unet["training"]["history"]) == 1
    assert run["stages"][0]["options"]["polarity"] == "auto"
    assert {"python", "bootseg", "torch", "numpy"} <= set(run["versions"])
    assert {"read", "0-otsu", "1-unet", "write", "total"} <= set(run["timings"])
    assert [item["name"] for item in run["inputs"]] == [f"img{i}" for i in range(len(SIZES))]
    assert all(0.0 <= item["confidence"] <= 1.0 for item in run["inputs"])
    assert run["proba"] == {"stage": "1-unet", "folder": "proba", "format": "png16"}
    assert [c["key"] for c in run["evaluation"]["columns"]] == ["0-otsu", "1-unet"]


def test_report_is_self_contained_with_table_and_least_confident_first(done_run):
    _, _, _, out, _ = done_run
    text = (out / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>") and "Scores against the ground truth" in text
    assert "DSC, mean ± std" in text and "1-unet (final)" in text
    assert text.count('src="data:image/png;base64,') == len(SIZES)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    run = json.loads((out / "run.json").read_text())
    expected = [i["name"] for i in sorted(run["inputs"], key=lambda i: (i["confidence"], i["name"]))]
    shown = [text.index(f'alt="{name}"') for name in expected]
    assert shown == sorted(shown)


def test_evaluate_a_run_folder_gives_one_column_per_stage_and_a_csv(done_run, tmp_path):
    _, _, truth, out, run_result = done_run
    result = bootseg("evaluate", out, truth, "--csv", tmp_path / "scores.csv", "--report")
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0]
    assert header.split()[:3] == ["metric", f"(n={len(SIZES)})", "0-otsu"] and "1-unet (final)" in header
    # the same numbers as the in-memory evaluation at the end of the run (probabilities read back from 16 bits)
    table = [line for line in result.stdout.splitlines() if line.startswith(("DSC", "IoU", "PA"))]
    run_table = [line for line in run_result.stdout.splitlines() if line.startswith(("DSC", "IoU", "PA"))]
    assert table == run_table
    assert "pooled soft" in result.stdout and result.stdout.splitlines()[5].split()[-2] == "-"
    rows = list(csv.DictReader((tmp_path / "scores.csv").open()))
    assert len(rows) == 2 * len(SIZES) and {r["stage"] for r in rows} == {"0-otsu", "1-unet"}
    assert all(0.0 <= float(r["dice"]) <= 1.0 for r in rows)
    assert "DSC 0." in (out / "report.html").read_text()  # --report: a DSC under each overlay


def test_evaluate_reports_unmatched_and_size_mismatched_by_name(tmp_path):
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    square = np.zeros((20, 20), bool)
    square[5:15, 5:15] = True
    for name in ("a", "b", "c"):
        write_mask(truth / f"{name}.png", square)
    write_mask(pred / "a.png", square)
    write_mask(pred / "b.png", square[:10])  # wrong size
    write_mask(pred / "extra.png", square)  # no truth
    result = bootseg("evaluate", pred, truth)
    assert result.returncode == 0, result.stderr
    assert "metric (n=1)" in result.stdout and "1.000 ± 0.000" in result.stdout
    assert "no ground-truth mask of the same name" in result.stderr and "extra" in result.stderr
    assert "have no prediction of the same name" in result.stderr and ": c" in result.stderr
    assert "differ in size" in result.stderr and "b (ground truth 20×20, pred 10×20)" in result.stderr


def test_evaluate_fails_when_nothing_matches(tmp_path):
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    write_mask(pred / "a.png", np.eye(4, dtype=bool))
    write_mask(truth / "b.png", np.eye(4, dtype=bool))
    result = bootseg("evaluate", pred, truth)
    assert result.returncode == 1 and result.stdout == ""
    assert "bootseg: error: no prediction could be scored" in result.stderr


def test_predict_with_a_saved_model(done_run, tmp_path):
    _, _, _, out, _ = done_run
    new = tmp_path / "new"
    new.mkdir()
    image, _ = (a[0] for a in synthetic_spheroids(1, size=40, seed=9))
    write_image(new / "fresh.png", image)
    write_image(new / "fresh16.tif", image.astype(np.uint16) * 200)
    result = bootseg(
        "predict",
        out / "model-1-unet.pt",
        new,
        "--out",
        tmp_path / "pred",
        "--device",
        "cpu",
        "--save-proba",
        "--proba-format",
        "tiff",
    )
    assert result.returncode == 0, result.stderr
    for name in ("fresh", "fresh16"):
        assert read_mask(tmp_path / "pred" / "masks" / f"{name}.png").shape == (40, 40)
        proba = read_image(tmp_path / "pred" / "proba" / f"{name}.tif")
        assert proba.dtype == np.float32 and 0.0 <= proba.min() <= proba.max() <= 1.0
        assert (tmp_path / "pred" / "overlays" / f"{name}.png").is_file()
    assert (tmp_path / "pred" / "report.html").is_file()
    record = json.loads((tmp_path / "pred" / "run.json").read_text())
    assert record["command_name"] == "predict"
    from bootseg.confidence import confidence

    for entry in record["inputs"]:  # the confidence is that of the saved probabilities and the image read
        proba = read_image(tmp_path / "pred" / "proba" / f"{entry['name']}.tif")
        image = read_image(new / Path(entry["file"]).name)
        assert entry["confidence"] == pytest.approx(confidence(proba, image), abs=1e-4)
    # a run folder stands for its last network
    again = bootseg("predict", out, new, "--out", tmp_path / "pred2", "--device", "cpu", "-q")
    assert again.returncode == 0, again.stderr
    # with -q, nothing but the warning that a 1-epoch network segmented nothing, if it did not
    assert all(line.startswith("bootseg: warning: stage model: ") for line in again.stderr.splitlines())
    np.testing.assert_array_equal(
        read_mask(tmp_path / "pred/masks/fresh.png"), read_mask(tmp_path / "pred2/masks/fresh.png")
    )


def test_plugins_lists_the_builtin_stages():
    result = bootseg("plugins")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["kind", "name", "plugin", "distribution", "version"]
    rows = {tuple(line.split()[:2]): line.split() for line in lines[1:] if line.strip()}
    for name in ("otsu", "kmeans", "li", "yen", "triangle", "isodata", "multiotsu", "sauvola", "niblack"):
        assert rows[("annotator", name)][2:4] == ["bootseg.annotators", "bootseg"]
    assert rows[("refiner", "unet")][2:4] == ["bootseg.refiners", "bootseg"]


def test_demo_prints_the_table_and_writes_the_report(tmp_path):
    result = bootseg("demo", "--out", tmp_path / "demo", "--n", "6", "--epochs", "1", "--device", "cpu", "-q")
    assert result.returncode == 0, result.stderr
    # with -q, nothing but the warning that a 1-epoch network segmented nothing, if it did not
    assert all(line.startswith("bootseg: warning: stage 1-unet: ") for line in result.stderr.splitlines())
    assert "0-otsu" in result.stdout and "1-unet (final)" in result.stdout and "no human label" in result.stdout
    run = tmp_path / "demo" / "run"
    assert (run / "report.html").is_file() and len(list((run / "overlays").glob("*.png"))) == 6
    assert len(list((tmp_path / "demo" / "truth").glob("*.png"))) == 6
    assert "Scores against the ground truth" in (run / "report.html").read_text()
    refused = bootseg("demo", "--out", tmp_path / "demo", "--n", "2")
    assert refused.returncode == 2 and "is not empty" in refused.stderr


# ------------------------------------------------------------------------------------------------ errors


def _error(result: subprocess.CompletedProcess, status: int) -> str:
    assert result.returncode == status, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    text = result.stderr.strip()
    assert "bootseg: error: " in text
    return text[text.rindex("bootseg: error: ") :]  # one message, which may list several files on its lines


def test_missing_input_folder(tmp_path):
    message = _error(bootseg("run", tmp_path / "nope", "--out", tmp_path / "out"), 1)
    assert "does not exist" in message and "nope" in message
    assert not (tmp_path / "out").exists()


def test_empty_input_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    message = _error(bootseg("run", tmp_path / "empty", "--out", tmp_path / "out"), 1)
    assert "holds no image file" in message and "empty" in message


def test_a_bad_image_is_named_and_nothing_is_written(tmp_path):
    images, _ = make_data(tmp_path, SIZES[:1])
    write_image(images / "thin.png", np.zeros((1, 8), np.uint8))
    message = _error(bootseg("run", images, "--out", tmp_path / "out", "--chain", "otsu"), 1)
    assert "1 of 2 inputs cannot be used" in message
    assert f"{images / 'thin.png'}: must be at least 2×2 pixels" in message
    assert not (tmp_path / "out").exists()


def test_unknown_stage_name_lists_the_known_ones(tmp_path):
    images, _ = make_data(tmp_path, SIZES[:1])
    message = _error(bootseg("run", images, "--out", tmp_path / "out", "--chain", "otsu,unett"), 2)
    assert "unknown refiner 'unett'" in message and "known refiners: unet" in message
    message = _error(bootseg("run", images, "--out", tmp_path / "out", "--chain", "unet"), 2)
    assert "'unet' is a refiner" in message and "otsu" in message


def test_bad_chain_syntax_and_bad_stage_options(tmp_path):
    images, _ = make_data(tmp_path, SIZES[:1])
    message = _error(bootseg("run", images, "--out", tmp_path / "o", "--chain", "otsu,unet(epochs=3"), 2)
    assert "a '(' is not closed" in message
    message = _error(bootseg("run", images, "--out", tmp_path / "o", "--chain", "otsu,unet(epoch=3)"), 2)
    assert "unknown unet option(s) epoch" in message and "epochs" in message
    message = _error(bootseg("run", images, "--out", tmp_path / "o", "--chain", "otsu(polarity=sideways)"), 2)
    assert "polarity" in message and "sideways" in message


def test_non_empty_out_is_refused_without_overwrite(tmp_path):
    images, _ = make_data(tmp_path, SIZES[:2])
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    (out / "masks").mkdir()
    message = _error(bootseg("run", images, "--out", out, "--chain", "otsu"), 2)
    assert "is not empty" in message and "--overwrite" in message and "keep.txt" in message
    result = bootseg("run", images, "--out", out, "--chain", "otsu", "--overwrite", "-q")
    assert result.returncode == 0, result.stderr
    assert (out / "keep.txt").read_text() == "mine" and len(list((out / "masks").glob("*.png"))) == 2
    run = json.loads((out / "run.json").read_text())
    assert run["device_used"] == "cpu (no network stage)" and run["inputs"][0]["confidence"] is None


def test_out_inside_the_input_folder_is_refused(tmp_path):
    images, _ = make_data(tmp_path, SIZES[:1])
    message = _error(bootseg("run", images, "--out", images / "results"), 2)
    assert "inside the input folder" in message
    message = _error(bootseg("run", images, "--out", images), 2)
    assert "is the input folder" in message


def test_config_file_and_shared_options(tmp_path):
    images, _ = make_data(tmp_path, SIZES[:2])
    config = tmp_path / "chain.toml"
    config.write_text(
        '[[stage]]\nname = "kmeans"\nk = 2\n\n'
        '[[stage]]\nname = "unet"\nsize = 32\nmin_radius = 0\nbase_channels = 4\ndepth = 2\n'
    )
    result = bootseg(
        "run",
        images,
        "--out",
        tmp_path / "out",
        "--config",
        config,
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--no-overlays",
        "-q",
    )
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert [s["key"] for s in run["stages"]] == ["0-kmeans", "1-unet"]
    assert run["stages"][1]["options"]["epochs"] == 1 and run["stages"][1]["options"]["size"] == 32
    assert run["stages"][1]["options"]["min_radius"] == 0
    assert not (tmp_path / "out" / "overlays").exists()
    config.write_text('stages = "otsu"\n')
    message = _error(bootseg("run", images, "--out", tmp_path / "out2", "--config", config), 2)
    assert "unknown top-level key(s) stages" in message


def test_usage_errors_exit_2_with_usage(tmp_path):
    result = bootseg("run", tmp_path)
    assert result.returncode == 2 and "--out OUT is required" in result.stderr
    result = bootseg("run", tmp_path, "--out", tmp_path / "o", "--epochs", "0")
    assert result.returncode == 2 and "must be an integer >= 1" in result.stderr


@pytest.mark.parametrize("command", ["run", "predict", "evaluate", "demo", "plugins"])
def test_every_command_has_complete_help_with_an_example(command, capsys):
    from bootseg.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and f"bootseg {command}" in text


# ------------------------------------------------------------------------------------- in-process helpers


def test_parse_chain_values_and_errors():
    from bootseg.cli.chainspec import parse_chain
    from bootseg.cli.common import UsageError

    assert parse_chain("otsu") == [("otsu", {})]
    assert parse_chain(" kmeans( k=3 , color=TRUE ),unet(lr=1e-3,loss=\"dice\",patience=none, name='a,b')") == [
        ("kmeans", {"k": 3, "color": True}),
        ("unet", {"lr": 1e-3, "loss": "dice", "patience": None, "name": "a,b"}),
    ]
    for bad, message in [
        ("otsu,,unet", "empty stage"),
        ("otsu(k)", "is not key=value"),
        ("otsu(k=1,k=2)", "sets 'k' twice"),
        ("otsu)", "unmatched ')'"),
        ("otsu('a)", "is not closed"),
        ("9otsu", "is not a stage name"),
        ("otsu(k=1)x", "text after its ')'"),
    ]:
        with pytest.raises(UsageError, match=re.escape(message)):
            parse_chain(bad)


def test_streamed_scores_equal_the_metrics_module(spheroids):
    from bootseg.cli.scoring import Scorer
    from bootseg.metrics import pooled_soft_dice, summarize

    _, truth = spheroids
    rng = np.random.default_rng(0)
    probas = [np.clip(t * 0.7 + rng.random(t.shape) * 0.4, 0, 1).astype(np.float32) for t in truth[:10]]
    preds = [p > 0.5 for p in probas]
    scorer = Scorer([("a", "a")])
    for i, (pred, proba, target) in enumerate(zip(preds, probas, truth, strict=False)):
        scorer.add(str(i), target, [pred], [proba])
    column = scorer.result().columns[0].as_dict()
    expected = summarize(preds, truth[:10])
    assert column["dice_mean"] == pytest.approx(expected.dice_mean)
    assert column["iou_std"] == pytest.approx(expected.iou_std)
    assert column["pooled_dice"] == pytest.approx(expected.pooled_dice)
    assert column["pooled_accuracy"] == pytest.approx(expected.pooled_accuracy)
    assert column["pooled_soft_dice"] == pytest.approx(pooled_soft_dice(probas, truth[:10]))


def test_confidence_ranks_sure_masks_above_unsure_ones():
    from bootseg.cli.outputs import confidence

    sure = np.zeros((20, 20), np.float32)
    sure[5:15, 5:15] = 0.99
    blurred = sure.copy()
    blurred[4:16, 4:16] = np.maximum(blurred[4:16, 4:16], 0.4)  # an unsure band around the object
    assert confidence(sure) == pytest.approx(1.0)
    assert confidence(blurred) == pytest.approx(1 - 44 / 144)
    assert confidence(np.zeros((4, 4), np.float32)) == 0.0  # an empty mask: nothing to trust, checked first
    assert confidence(np.full((4, 4), 0.5, np.float32)) == pytest.approx(0.0)


def test_plugins_shows_a_broken_plugin_with_its_error(monkeypatch, capsys):
    import bootseg.plugins
    from bootseg.cli import main
    from bootseg.plugins import BrokenPlugin, Registry, make_plugin_manager

    registry = Registry(make_plugin_manager(load_entrypoints=False))
    registry.broken.append(BrokenPlugin("badplug", "bad-dist", "1.2", "import", "ImportError: no module named x"))
    monkeypatch.setattr(bootseg.plugins, "default_registry", lambda: registry)
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "otsu" in out and "broken plugin" in out
    broken = [line.split() for line in out.splitlines() if line.startswith("badplug")]
    assert broken[0][:4] == ["badplug", "bad-dist", "1.2", "import"] and out.rstrip().endswith("no module named x")


def test_run_json_and_report_show_what_the_auto_first_stage_chose(tmp_path):
    from bootseg.annotators import Auto
    from bootseg.io import list_images

    images, _ = make_data(tmp_path)
    out = tmp_path / "out"
    result = bootseg("run", images, "--out", out, "--chain", "auto", "-q")
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "run.json").read_text())
    choices = record["stages"][0]["choices"]
    expected = Auto().fit([read_image(p) for p in list_images(images)])
    assert choices["classes"] == expected.classes and choices["polarity"] == expected.chosen_polarity
    assert choices["channel"] == expected.chosen_channel == "grey"  # grey PNGs: grey is the only candidate
    assert set(choices["objectness"]) == {"grey, 2 classes", "grey, 3 classes"}
    report = (out / "report.html").read_text()
    assert f"chose channel=&#x27;grey&#x27;, polarity=&#x27;{expected.chosen_polarity}&#x27;" in report
    # a first stage that decides nothing over the set has no choices
    plain = bootseg("run", images, "--out", tmp_path / "plain", "--chain", "otsu(polarity=dark)", "-q")
    assert plain.returncode == 0, plain.stderr
    assert json.loads((tmp_path / "plain" / "run.json").read_text())["stages"][0]["choices"] is None


def test_run_json_and_report_show_the_working_size_the_network_chose(tmp_path):
    from bootseg.refiners.scale import finest_radius

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    for i in range(6):  # dark dots of radius 3: thinner than 4 px at a working size of 32
        mask = np.zeros((64, 64), bool)
        for cy, cx in rng.uniform(6, 58, (8, 2)):
            mask |= np.hypot(yy - cy, xx - cx) <= 3
        write_image(images / f"dots{i}.png", np.where(mask, 50, 200).astype(np.uint8))
    out = tmp_path / "out"
    chain = "otsu(polarity=dark),unet(epochs=1,size=32,base_channels=4,depth=2,batch_size=4)"
    result = bootseg("run", images, "--out", out, "--chain", chain, "--device", "cpu", "--no-overlays", "-q")
    assert result.returncode == 0, result.stderr
    stage = json.loads((out / "run.json").read_text())["stages"][1]
    first = [read_mask(p) for p in sorted((out / "stages" / "0-otsu").glob("*.png"))]
    scale = {key: stage["choices"][key] for key in ("finest_radius", "size", "crop")}
    assert scale == {"finest_radius": round(finest_radius(first), 2), "size": 64, "crop": 32}
    assert stage["choices"]["threads"] == 1  # and why, with the OpenMP wait policy (tests/test_threads.py)
    assert (stage["options"]["size"], stage["options"]["crop"], stage["options"]["min_radius"]) == (64, 32, 8)
    assert "size=64, crop=32" in (out / "report.html").read_text()
