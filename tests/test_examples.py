"""Every embedding example in examples/ runs, in a subprocess, with small sizes, and prints what it promises."""

from __future__ import annotations

import ast
import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = ["torch_dataset.py", "skimage_batch.py", "inductive.py"]


def run_example(script: str, *args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "BOOTSEG_DISABLE_PLUGINS": "1"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_has_a_docstring_with_its_command(script):
    doc = ast.get_docstring(ast.parse((EXAMPLES / script).read_text()))
    assert doc and f"python examples/{script}" in doc


def test_torch_dataset(tmp_path):
    out = run_example("torch_dataset.py", "--n", "8", "--size", "32", "--epochs", "2", "--unet-epochs", "1")
    assert re.findall(r"epoch (\d)/2: loss \d+\.\d+", out) == ["1", "2"]
    match = re.search(r"bootseg labels (\d\.\d+), your model trained on them (\d\.\d+)", out)
    assert match and all(0.0 <= float(v) <= 1.0 for v in match.groups())


def test_skimage_batch_prints_a_table_and_writes_csv(tmp_path):
    table = tmp_path / "table.csv"
    out = run_example("skimage_batch.py", "--n", "3", "--size", "48", "--csv", str(table))
    lines = out.strip().splitlines()
    assert lines[0].split() == ["image", "objects", "area", "equivalent_diameter", "eccentricity", "mean_intensity"]
    assert len(lines) == 4
    rows = list(csv.DictReader(table.open()))
    assert [r["image"] for r in rows] == [f"spheroid-00-{i:03d}" for i in range(3)]
    assert all(int(r["objects"]) == 1 and int(r["area"]) > 0 for r in rows)  # largest_component: one object


def test_skimage_batch_on_a_given_folder_with_refinement(tmp_path):
    sys.path.insert(0, str(EXAMPLES))
    try:
        from _data import write_spheroids
    finally:
        sys.path.remove(str(EXAMPLES))
    write_spheroids(tmp_path, 2, size=32, seed=5)
    out = run_example("skimage_batch.py", str(tmp_path), "--refine", "--epochs", "1")
    assert "spheroid-05-000" in out and "spheroid-05-001" in out


def test_inductive(tmp_path):
    out = run_example("inductive.py", "--n", "8", "--new", "3", "--size", "32", "--epochs", "1", "--out", str(tmp_path))
    assert "labelled 3 new ones; wrote 3 masks" in out
    assert "agree on every mask: True" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"spheroid-01-{i:03d}.png" for i in range(3)]
    scores = dict(re.findall(r"mean Dice vs truth, (.+): (\d\.\d+)", out))
    assert set(scores) == {"train (unet)", "new (otsu)", "new (chain.predict)", "new (UNetRefiner.load)"}
