"""``bootseg evaluate`` on folders that do not match: names, sizes, unreadable files; the API raises the same."""

from __future__ import annotations

import csv
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from bootseg.cli import main
from bootseg.cli.evaluate import (
    EvaluationError,
    Source,
    evaluate_folders,
    index_masks,
    match_names,
    score_in_memory,
    score_sources,
)
from bootseg.cli.scoring import SizeMismatch, Unmatched
from bootseg.io import write_mask
from bootseg.runfile import write_runfile


@pytest.fixture(autouse=True)
def restore_logging():
    """The in-process CLI configures the 'bootseg' logger; leave it as found for the tests that follow."""
    logger = logging.getLogger("bootseg")
    saved = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def square(h: int = 20, w: int = 20, top: int = 5, left: int = 5, side: int = 10) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[top : top + side, left : left + side] = True
    return mask


def folders(tmp_path: Path) -> tuple[Path, Path]:
    pred, truth = tmp_path / "pred", tmp_path / "truth"
    pred.mkdir()
    truth.mkdir()
    return pred, truth


def evaluate(capsys, *args) -> tuple[int, str, str]:
    status = main(["evaluate", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def warnings_of(err: str) -> list[str]:
    prefix = "bootseg: warning: "
    return [line[len(prefix) :] for line in err.splitlines() if line.startswith(prefix)]


def error_of(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("bootseg: error: "), err
    return lines[-1][len("bootseg: error: ") :]


def numpy_dice(pred: np.ndarray, truth: np.ndarray) -> float:
    total = pred.sum() + truth.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(pred, truth).sum() / total


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------------------------------ names that differ


def test_unmatched_names_are_listed_and_the_matched_pairs_scored(tmp_path, capsys):
    pred, truth = folders(tmp_path)
    rng = np.random.default_rng(0)
    pairs = {}
    for name in ("a", "b"):
        p, t = rng.random((16, 12)) > 0.5, rng.random((16, 12)) > 0.4
        write_mask(pred / f"{name}.png", p)
        tifffile.imwrite(truth / f"{name}.tif", t.astype(np.uint8) * 255)  # matched without extension
        pairs[name] = (p, t)
    extras = [f"extra{i:02d}" for i in range(14)]
    for name in extras:
        write_mask(pred / f"{name}.png", square())
    write_mask(truth / "c.png", square())
    status, out, err = evaluate(capsys, pred, truth, "--csv", tmp_path / "scores.csv")
    assert status == 0, err
    assert "metric (n=2)" in out
    assert warnings_of(err) == [
        "14 prediction(s) have no ground-truth mask of the same name and are left out: "
        + ", ".join(extras[:12])
        + " and 2 more",
        "1 ground-truth mask(s) have no prediction of the same name and are left out: c",
    ]
    rows = read_csv(tmp_path / "scores.csv")
    scored = {r["name"]: r for r in rows if r["note"] == ""}
    assert set(scored) == {"a", "b"}
    for name, (p, t) in pairs.items():
        assert float(scored[name]["dice"]) == pytest.approx(numpy_dice(p, t), abs=1e-6)
        inter, union = np.logical_and(p, t).sum(), np.logical_or(p, t).sum()
        assert float(scored[name]["iou"]) == pytest.approx(inter / union, abs=1e-6)
        assert float(scored[name]["pixel_accuracy"]) == pytest.approx(np.mean(p == t), abs=1e-6)
    left_out = {(r["name"], r["note"]) for r in rows if r["note"]}
    assert left_out == {(n, "no ground truth") for n in extras} | {("c", "no prediction")}
    assert all(r["dice"] == "" for r in rows if r["note"])


def test_matched_scores_equal_the_numpy_dice_formula(tmp_path):
    pred, truth = folders(tmp_path)
    rng = np.random.default_rng(7)
    expected = {}
    for i in range(4):
        p, t = rng.random((10, 9)) > 0.6, rng.random((10, 9)) > 0.5
        write_mask(pred / f"{i}.png", p)
        write_mask(truth / f"{i}.png", t)
        expected[str(i)] = numpy_dice(p, t)
    write_mask(pred / "lonely.png", square())  # left out, must not change the scores
    evaluation = evaluate_folders(pred, truth, strict=False)
    assert evaluation.names == ["0", "1", "2", "3"]
    assert evaluation.columns[0].dice == pytest.approx([expected[n] for n in evaluation.names], abs=1e-12)
    assert evaluation.as_dict()["columns"][0]["dice_mean"] == pytest.approx(np.mean(list(expected.values())))


def test_nothing_matches_exits_1_naming_both_folders_and_names(tmp_path, capsys):
    pred, truth = folders(tmp_path)
    for name in ("p1", "p2", "p3", "p4", "p5", "p6", "p7"):
        write_mask(pred / f"{name}.png", square())
    for name in ("t1", "t2"):
        write_mask(truth / f"{name}.png", square())
    status, out, err = evaluate(capsys, pred, truth)
    assert status == 1 and out == ""
    expected = (
        f"no prediction could be scored: no file name in '{pred}' (7: p1, p2, p3, p4, p5 and 2 more) matches one in "
        f"'{truth}' (2: t1, t2); names are matched without extension, e.g. 0001.png with 0001.tif"
    )
    assert error_of(err) == expected
    with pytest.raises(EvaluationError, match=re.escape(expected)) as caught:
        evaluate_folders(pred, truth, strict=False)
    assert caught.value.evaluation is None and caught.value.unmatched.no_prediction == ["t1", "t2"]


def test_nothing_matches_in_a_subprocess_has_no_traceback(tmp_path):
    pred, truth = folders(tmp_path)
    write_mask(pred / "a.png", square())
    write_mask(truth / "b.png", square())
    result = subprocess.run(
        [sys.executable, "-m", "bootseg", "evaluate", str(pred), str(truth)],
        capture_output=True,
        text=True,
        env={"BOOTSEG_DISABLE_PLUGINS": "1", "PYTHONWARNINGS": "ignore", "PATH": ""},
        timeout=60,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert re.search(r"no file name in '.*pred' \(1: a\) matches one in '.*truth' \(1: b\)", error_of(result.stderr))


# ------------------------------------------------------------------------------------------ sizes that differ


def test_a_size_mismatch_is_reported_and_left_out(tmp_path, capsys):
    pred, truth = folders(tmp_path)
    write_mask(pred / "ok.png", square())
    write_mask(truth / "ok.png", square(top=6))
    write_mask(pred / "small.png", square()[:10])
    write_mask(truth / "small.png", square())
    status, out, err = evaluate(capsys, pred, truth, "--csv", tmp_path / "s.csv")
    assert status == 0, err
    assert "metric (n=1)" in out
    assert warnings_of(err) == [
        "1 image(s) differ in size from their ground truth and are left out: small (ground truth 20×20, pred 10×20)"
    ]
    rows = read_csv(tmp_path / "s.csv")
    assert [(r["name"], r["note"]) for r in rows] == [
        ("ok", ""),
        ("small", "size mismatch: ground truth 20×20, pred 10×20"),
    ]
    assert float(rows[0]["dice"]) == pytest.approx(numpy_dice(square(), square(top=6)), abs=1e-6)


def test_every_pair_of_another_size_exits_1(tmp_path, capsys):
    pred, truth = folders(tmp_path)
    write_mask(pred / "a.png", square(h=12))
    write_mask(truth / "a.png", square())
    write_mask(pred / "b.png", square(w=30))
    write_mask(truth / "b.png", square())
    status, out, err = evaluate(capsys, pred, truth)
    assert status == 1 and out == ""
    assert error_of(err) == (
        f"no prediction could be scored (predictions in '{pred}', ground truth in '{truth}'): 2 image(s) differ in "
        "size from their ground truth and are left out: a (ground truth 20×20, pred 12×20); "
        "b (ground truth 20×20, pred 20×30)"
    )


# ------------------------------------------------------------------------------------------ unreadable files


def test_unreadable_masks_are_named_and_left_out(tmp_path, capsys):
    pred, truth = folders(tmp_path)
    write_mask(pred / "ok.png", square())
    write_mask(truth / "ok.png", square())
    (pred / "empty.png").write_bytes(b"")  # zero bytes
    write_mask(truth / "empty.png", square())
    write_mask(pred / "text.png", square())
    (truth / "text.png").write_text("not an image")
    status, out, err = evaluate(capsys, pred, truth, "--csv", tmp_path / "s.csv")
    assert status == 0, err
    assert "metric (n=1)" in out and "Traceback" not in err
    (message,) = warnings_of(err)
    assert message.startswith("2 image(s) have a mask file that cannot be read and are left out: ")
    assert f"cannot read '{pred / 'empty.png'}': the file is empty (0 bytes)" in message
    assert re.search(re.escape(f"cannot decode '{truth / 'text.png'}'") + r".*not a valid PNG", message)
    notes = {r["name"]: r["note"] for r in read_csv(tmp_path / "s.csv")}
    assert notes["ok"] == "" and notes["empty"].startswith("unreadable: cannot read") and "text.png" in notes["text"]


def test_only_unreadable_masks_exit_1_naming_the_file(tmp_path, capsys):
    pred, truth = folders(tmp_path)
    (pred / "a.png").write_bytes(b"")
    write_mask(truth / "a.png", square())
    status, out, err = evaluate(capsys, pred, truth)
    assert status == 1 and out == ""
    message = error_of(err)
    assert message.startswith("no prediction could be scored (predictions in ")
    assert message.endswith(f"cannot read '{pred / 'a.png'}': the file is empty (0 bytes)")


def test_an_unreadable_probability_map_is_not_used_and_not_fatal(tmp_path, capsys):
    pred, truth = folders(tmp_path)
    proba = tmp_path / "proba"
    proba.mkdir()
    write_mask(pred / "a.png", square())
    write_mask(truth / "a.png", square())
    (proba / "a.png").write_bytes(b"")
    status, out, err = evaluate(capsys, pred, truth, "--proba", proba)
    assert status == 0, err
    assert re.search(r"probability map '.*a\.png' is not used: cannot read .* the file is empty", err)
    assert out.splitlines()[5].split()[-1] == "-"  # no pooled soft DSC without the map


# ------------------------------------------------------------------------------------------ run folders


def make_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    write_runfile(run, {"stages": [{"key": "0-otsu"}, {"key": "1-unet"}]})
    for key, names in (("0-otsu", ("a", "b", "c")), ("1-unet", ("a", "b"))):
        (run / "stages" / key).mkdir(parents=True)
        for name in names:
            write_mask(run / "stages" / key / f"{name}.png", square())
    return run


def test_a_run_folder_reports_names_missing_in_one_stage(tmp_path, capsys):
    run = make_run(tmp_path)
    truth = tmp_path / "truth"
    truth.mkdir()
    for name in ("a", "b", "c"):
        write_mask(truth / f"{name}.png", square())
    status, out, err = evaluate(capsys, run, truth, "--csv", tmp_path / "s.csv")
    assert status == 0, err
    assert out.splitlines()[0].split()[:3] == ["metric", "(n=2)", "0-otsu"]
    assert warnings_of(err) == ["1-unet lacks 1 mask(s) that other stages have; left out: c"]
    rows = read_csv(tmp_path / "s.csv")
    assert ("c", "1-unet", "not in this stage") in {(r["name"], r["stage"], r["note"]) for r in rows}


# ------------------------------------------------------------------------------------------ the Python API


def test_api_raises_with_the_messages_the_cli_prints(tmp_path, capsys):
    pred, truth = folders(tmp_path)
    write_mask(pred / "a.png", square())
    write_mask(truth / "a.png", square(top=2))
    write_mask(pred / "b.png", square()[:, :8])
    write_mask(truth / "b.png", square())
    write_mask(pred / "x.png", square())
    write_mask(truth / "y.png", square())
    status, _, err = evaluate(capsys, pred, truth)
    assert status == 0
    cli_lines = warnings_of(err)
    assert len(cli_lines) == 3
    with pytest.raises(EvaluationError, match=re.escape(cli_lines[2])) as caught:
        evaluate_folders(pred, truth)
    assert str(caught.value).splitlines() == cli_lines
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.unmatched.no_truth == ["x"] and error.unmatched.no_prediction == ["y"]
    assert error.unmatched.size_mismatch == [SizeMismatch("b", (20, 20), {"pred": (20, 8)})]
    assert error.evaluation.names == ["a"]
    assert error.evaluation.columns[0].dice == [pytest.approx(numpy_dice(square(), square(top=2)))]
    sources = [Source("pred", "pred", pred)]
    with pytest.raises(EvaluationError, match=r"(?m)^1 prediction\(s\) have no ground-truth mask .*: x$"):
        score_sources(sources, index_masks(truth, "ground-truth"))


def test_api_returns_the_unmatched_section_in_json(tmp_path):
    pred, truth = folders(tmp_path)
    write_mask(pred / "a.png", square())
    write_mask(truth / "a.png", square())
    write_mask(pred / "b.png", square()[:5])
    write_mask(truth / "b.png", square())
    (pred / "c.png").write_text("text")
    write_mask(truth / "c.png", square())
    data = json.loads(json.dumps(evaluate_folders(pred, truth, strict=False).as_dict()))
    assert data["n"] == 1 and data["names"] == ["a"]
    unmatched = data["unmatched"]
    assert unmatched["no_truth"] == [] and unmatched["no_prediction"] == [] and unmatched["missing"] == {}
    assert unmatched["size_mismatch"] == [{"name": "b", "truth_shape": [20, 20], "pred_shapes": {"pred": [5, 20]}}]
    (bad,) = unmatched["unreadable"]
    assert bad["name"] == "c" and bad["file"] == str(pred / "c.png") and "c.png" in bad["reason"]


def test_in_memory_scores_report_the_same_reasons(tmp_path, capsys):
    truth = tmp_path / "truth"
    truth.mkdir()
    write_mask(truth / "a.png", square())
    write_mask(truth / "b.png", square())
    (truth / "c.png").write_bytes(b"")
    masks = [square(), square(h=10), square(), square()]
    columns = [("0-otsu", "0-otsu", masks, None)]
    index = index_masks(truth, "ground-truth")
    with pytest.raises(EvaluationError) as caught:
        score_in_memory(["a", "b", "c", "d"], columns, index, strict=True)
    assert str(caught.value).splitlines() == [
        "1 prediction(s) have no ground-truth mask of the same name and are left out: d",
        "1 image(s) differ in size from their ground truth and are left out: b (ground truth 20×20, image 10×20)",
        f"1 image(s) have a mask file that cannot be read and are left out: cannot read '{truth / 'c.png'}': "
        "the file is empty (0 bytes)",
    ]
    evaluation = score_in_memory(["a", "b", "c", "d"], columns, index)  # not strict: the scores of "a"
    assert evaluation.names == ["a"] and evaluation.columns[0].dice == [1.0]
    with pytest.raises(EvaluationError, match=r"no file name of this run \(1: z\) matches one in '.*truth' \(3: a"):
        score_in_memory(["z"], [("0-otsu", "0-otsu", [square()], None)], index)


def test_match_names_splits_both_sides():
    matching = match_names(["b", "q", "a", "p"], {"a": 0, "b": 0, "c": 0})
    assert matching.matched == ["b", "a"]
    assert matching.no_truth == ["q", "p"]
    assert matching.no_prediction == ["c"]
    assert not Unmatched() and Unmatched(no_prediction=["c"])


def _photograph(seed: int = 0) -> np.ndarray:
    """An RGB photograph-like image: smooth colour gradients and noise, thousands of colours."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    channels = [40 + 2 * yy, 60 + xx + yy, 200 - 2 * xx]
    noisy = np.stack(channels, axis=-1) + rng.normal(0, 8, (64, 64, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def test_a_colour_photograph_given_as_a_mask_is_named_and_left_out(tmp_path, capsys):
    from bootseg.io import read_mask, write_image

    pred, truth = folders(tmp_path)
    write_mask(pred / "ok.png", square())
    write_mask(truth / "ok.png", square())
    write_image(pred / "photo.png", _photograph())
    write_mask(truth / "photo.png", np.eye(64, dtype=bool))
    status, _, err = evaluate(capsys, pred, truth, "--csv", tmp_path / "s.csv")
    assert status == 0, err
    (message,) = warnings_of(err)
    assert f"'{pred / 'photo.png'}' looks like a photograph" in message and "not a mask" in message
    # a colour mask saved as JPEG (blurred edges, a few thousand colours) and a colour label map are masks
    colour = np.zeros((64, 64, 3), np.uint8)
    colour[16:48, 16:48] = 255
    write_image(tmp_path / "mask.jpg", colour)
    assert read_mask(tmp_path / "mask.jpg")[32, 32] and not read_mask(tmp_path / "mask.jpg")[2, 2]
    labels = np.zeros((64, 64, 3), np.uint8)
    labels[:32] = (200, 30, 90)
    labels[32:, 32:] = (10, 120, 240)
    write_image(tmp_path / "labels.png", labels)
    assert read_mask(tmp_path / "labels.png").mean() == pytest.approx(0.75)
