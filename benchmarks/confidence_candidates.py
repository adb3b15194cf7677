"""How well per-image confidence candidates rank the masks of finished ``bootseg run`` folders: Spearman's ρ.

Each folder must come from ``bootseg run IMAGES --out RUN --save-proba --truth GT``: the last network's
probabilities (``proba/``), the images (their paths are in ``run.json``) and the true per-image Dice of the final
masks (``evaluation.csv``). For each candidate score, computed from the probabilities and the image alone, the
table gives ρ with the true Dice, one column per run. The confidence that ``bootseg run`` reports is one row; the
others are its factors, its two forms (objects, lines) on every run, other powers of the solidity, the edge fit
looking further along the normal and the network's expected Dice.

    for d in aitslab_nuclei_fluo wbc_cellavision_brightfield; do
        bootseg run ../shared/data/$d/images --out runs/$d --save-proba --truth ../shared/data/$d/masks --seed 0 -q
    done
    python benchmarks/confidence_candidates.py runs/*
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_report import _spearman, markdown_table

from bootseg.cli.outputs import proba_path, read_proba
from bootseg.confidence import SOLIDITY_POWER, confidence, edge_fit, judges_lines, solidity, sureness
from bootseg.io import read_image, read_mask


def _expected_dice(p: np.ndarray) -> float:
    """Soft Dice of the probabilities against their own mask ``p > 0.5``: the Dice the mask would score against a
    truth drawn pixel by pixel from the probabilities."""
    m = p > 0.5
    denominator = float(p.sum() + m.sum())
    return 1.0 if denominator == 0 else float(2 * p[m].sum() / denominator)


def _objects_form(p: np.ndarray, image: np.ndarray, reach: int = 1, power: int = SOLIDITY_POWER) -> float:
    return sureness(p) * solidity(p > 0.5) ** power * edge_fit(image, p > 0.5, reach=reach)


#: Candidate scores: name -> f(proba, image); none reads a true mask.
CANDIDATES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "sureness (of the objects)": lambda p, image: sureness(p),
    "sureness of the background, `sureness(1 - p)`": lambda p, image: sureness(1.0 - p),
    "solidity": lambda p, image: solidity(p > 0.5),
    "edge fit (reach 1, the default)": lambda p, image: edge_fit(image, p > 0.5),
    "edge fit, reach 3": lambda p, image: edge_fit(image, p > 0.5, reach=3),
    "expected Dice (soft Dice of p against p > 0.5)": lambda p, image: _expected_dice(p),
    "sureness × solidity (the confidence before edge fit)": lambda p, image: sureness(p) * solidity(p > 0.5),
    "sureness × solidity × edge fit": lambda p, image: _objects_form(p, image, power=1),
    "sureness × solidity × edge fit, reach 3": lambda p, image: _objects_form(p, image, reach=3, power=1),
    "sureness × solidity² × edge fit": lambda p, image: _objects_form(p, image, power=2),
    f"objects form: sureness × solidity^{SOLIDITY_POWER} × edge fit": lambda p, image: confidence(p, image),
    "lines form: sureness of the background × edge fit": lambda p, image: confidence(p, image, lines=True),
    "expected Dice × solidity^3 × edge fit": lambda p, image: (
        _expected_dice(p) * solidity(p > 0.5) ** 3 * edge_fit(image, p > 0.5)
    ),
    "lower of the two sureness × solidity^3 × edge fit": lambda p, image: (
        min(sureness(p), sureness(1.0 - p)) * solidity(p > 0.5) ** 3 * edge_fit(image, p > 0.5)
    ),
}

#: The row of the score ``bootseg run`` reports: the form :func:`bootseg.confidence.judges_lines` picks for the run.
AS_RUN = "`bootseg.confidence.confidence`, in the form `judges_lines` picks from the run's masks"


def run_scores(folder: Path) -> tuple[list[float], dict[str, list[float]]]:
    """The true Dice of each image's final mask, and every candidate's score, from one run folder."""
    record = json.loads((folder / "run.json").read_text())
    if not record.get("proba") or not (folder / "evaluation.csv").is_file():
        raise SystemExit(f"{folder}: not a run made with --save-proba and --truth (no proba/ or evaluation.csv)")
    final = record["stages"][-1]["key"]
    with open(folder / "evaluation.csv", newline="") as handle:
        truth = {row["name"]: float(row["dice"]) for row in csv.DictReader(handle) if row["stage"] == final}
    fmt = record["proba"]["format"]
    entries = [entry for entry in record["inputs"] if entry["name"] in truth]
    lines = judges_lines([read_mask(folder / "masks" / f"{entry['name']}.png") for entry in entries])
    dices: list[float] = []
    scores: dict[str, list[float]] = {name: [] for name in [*CANDIDATES, AS_RUN]}
    for entry in entries:
        proba = read_proba(proba_path(folder / record["proba"]["folder"], entry["name"], fmt))
        image = read_image(entry["file"])
        dices.append(truth[entry["name"]])
        for name, score in CANDIDATES.items():
            scores[name].append(score(proba, image))
        scores[AS_RUN].append(confidence(proba, image, lines=lines))
    return dices, scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="bootseg run output folders")
    args = parser.parse_args(argv)
    labels = [folder.name for folder in args.runs]
    if len(set(labels)) < len(labels):  # runs of one dataset from several parents: name the parent too
        labels = [f"{folder.parent.name}/{folder.name}" for folder in args.runs]
    columns = {label: run_scores(folder) for label, folder in zip(labels, args.runs, strict=True)}
    rows = []
    for name in [*CANDIDATES, AS_RUN]:
        rows.append([name, *(f"{_spearman(scores[name], dices):.2f}" for dices, scores in columns.values())])
    header = ["score", *(f"{run} (n={len(dices)})" for run, (dices, _) in columns.items())]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
