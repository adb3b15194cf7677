"""A plugin network stage (the example plugin's ``tiny_fcn``) gets what the built-in ``unet`` gets from the CLI.

``bootseg run``, a run killed (``os._exit``, no clean-up) and resumed byte for byte, ``bootseg predict RUN`` and
``predict MODEL``, probability maps, confidence and the report, its ``threshold`` option, and the refusals that
name what is missing. The plugin is installed in a fresh environment, as in ``test_example_plugin.py``.
"""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from test_resume import KILLER

from bootseg.datasets import synthetic_spheroids
from bootseg.io import read_mask, write_image

CHAIN = "otsu,tiny_fcn(epochs=3,width=4)"


def _bootseg(
    python: Path, *args, kill_after: int = 0, env: dict | None = None, tmp: Path
) -> subprocess.CompletedProcess:
    script = tmp / "killer.py"
    script.write_text(KILLER)
    environ = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "BOOTSEG_DISABLE_PLUGINS"}}
    environ.update(env or {})
    command = [str(python), str(script), str(kill_after), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=environ)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plugin-network") / "images"
    folder.mkdir()
    arrays, _ = synthetic_spheroids(6, size=40, seed=5)
    for i, array in enumerate(arrays):
        write_image(folder / f"cell {i:02d}.png", array)
    return folder


@pytest.fixture(scope="module")
def reference(plugin_env, images, tmp_path_factory) -> tuple[Path, int]:
    """One complete run with probability maps, and the number of file writes it made."""
    tmp = tmp_path_factory.mktemp("reference")
    out = tmp / "run"
    done = _bootseg(plugin_env, "run", images, "--out", out, "--chain", CHAIN, "--save-proba", "-q", tmp=tmp)
    assert done.returncode == 0, done.stderr
    return out, int(done.stderr.split("writes")[-1])


def test_run_records_the_network_like_the_unet(reference):
    out, _ = reference
    run = json.loads((out / "run.json").read_text())
    stage = run["stages"][1]
    assert stage["name"] == "tiny_fcn" and "bootseg-example-plugin" in stage["source"]
    assert stage["options"]["epochs"] == 3 and stage["options"]["width"] == 4 and stage["options"]["threshold"] == 0.5
    assert stage["training"]["epochs_run"] == 3 and len(stage["training"]["history"]) == 3
    assert stage["has_proba"] and stage["model"] == "model-1-tiny_fcn.pt" and stage["device"] == "cpu"
    assert run["confidence"]["stage"] == "1-tiny_fcn"
    assert all(0 <= item["confidence"] <= 1 for item in run["inputs"])
    assert len((out / "confidence.csv").read_text().splitlines()) == 7
    assert len(list((out / "proba").iterdir())) == 6
    assert "tiny_fcn" in (out / "report.html").read_text()
    with zipfile.ZipFile(out / "model-1-tiny_fcn.pt") as archive:  # the file names the stage that wrote it
        header = json.loads(archive.read("bootseg-stage.json"))
    assert header["stage"] == "tiny_fcn" and header["distribution"] == "bootseg-example-plugin"


def test_killed_then_resumed_gives_the_same_files(plugin_env, images, reference, tmp_path):
    first, writes = reference
    for kill_after in (writes // 2, writes - 2):  # after the model is saved, and just before the end
        out = tmp_path / f"killed-{kill_after}"
        killed = _bootseg(plugin_env, "run", images, "--out", out, "--chain", CHAIN, "--save-proba", "-q",
                          kill_after=kill_after, tmp=tmp_path)  # fmt: skip
        assert killed.returncode == 9, killed.stderr
        resumed = _bootseg(plugin_env, "run", "--resume", out, "-q", tmp=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert int(resumed.stderr.split("writes")[-1]) < writes  # the saved network was loaded, not retrained
        compare = filecmp.dircmp(first, out, ignore=["run.json", "report.html"])
        for node in [compare, *compare.subdirs.values()]:
            assert not node.left_only and not node.right_only, (node.left_only, node.right_only)
            _, mismatch, errors = filecmp.cmpfiles(node.left, node.right, node.common_files, shallow=False)
            assert not mismatch and not errors, (node.left, mismatch)


@pytest.mark.parametrize("model", ["run folder", "model file"])
def test_predict_with_the_run_or_its_model_gives_the_runs_masks(plugin_env, images, reference, tmp_path, model):
    run, _ = reference
    source = run if model == "run folder" else run / "model-1-tiny_fcn.pt"
    out = tmp_path / "predicted"
    done = _bootseg(plugin_env, "predict", source, images, "--out", out, "--save-proba", "--proba-format", "tiff",
                    "-q", tmp=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    for path in sorted((run / "masks").iterdir()):
        np.testing.assert_array_equal(read_mask(out / "masks" / path.name), read_mask(path), err_msg=path.name)
    record = json.loads((out / "run.json").read_text())
    assert record["stages"][0]["name"] == "tiny_fcn" and record["stages"][0]["options"]["width"] == 4
    assert (out / "report.html").exists() and len((out / "confidence.csv").read_text().splitlines()) == 7


def test_threshold_option_and_flag_are_honoured(plugin_env, images, tmp_path):
    run = tmp_path / "low"
    chain = "otsu,tiny_fcn(epochs=3,width=4,threshold=0.3)"
    done = _bootseg(plugin_env, "run", images, "--out", run, "--chain", chain, "-q", tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    for flag, threshold in ((), 0.3), (("--threshold", "0.7"), 0.7):
        out = tmp_path / f"predicted-{threshold}"
        done = _bootseg(plugin_env, "predict", run, images, "--out", out, "--save-proba", "--proba-format", "tiff",
                        *flag, "-q", tmp=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        for path in sorted((out / "proba").iterdir()):
            proba = tifffile.imread(path)
            mask = read_mask(out / "masks" / f"{path.stem}.png")
            np.testing.assert_array_equal(mask, proba > threshold, err_msg=path.name)
            if threshold == 0.3:
                np.testing.assert_array_equal(read_mask(run / "masks" / f"{path.stem}.png"), mask)


def test_shared_options_a_network_does_not_take_are_said(plugin_env, images, tmp_path):
    done = _bootseg(plugin_env, "run", images, "--out", tmp_path / "o", "--chain", CHAIN, "--preset", "fast",
                    "--size", "64", tmp=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "stage 'tiny_fcn' takes no --preset, --size option; they are not passed to it" in done.stderr


def test_torchrun_refuses_a_plugin_network(plugin_env, images, tmp_path):
    env = {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}
    done = _bootseg(plugin_env, "run", images, "--out", tmp_path / "o", "--chain", CHAIN, env=env, tmp=tmp_path)
    assert done.returncode == 2
    assert "stage(s) 'tiny_fcn' would train on every process; run this chain without torchrun" in done.stderr
    assert not (tmp_path / "o").exists()


def test_predict_names_a_missing_plugin(reference, tmp_path):
    """This environment has no example plugin: the error names the stage and the distribution to install."""
    run, _ = reference
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    command = ["bootseg", "predict", str(run / "model-1-tiny_fcn.pt"), str(run / "masks"), "--out", str(tmp_path / "p")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1, done.stderr
    assert "stage 'tiny_fcn' from example (bootseg-example-plugin 0.1.0), which is not installed here" in done.stderr
    assert "pip install bootseg-example-plugin" in done.stderr
