"""Ablation of the chain on the real datasets: one row per chain, transductive DSC per dataset, the gap closed.

Each variant is a ``bootseg run --chain`` string, built exactly as ``bootseg run`` builds it, run on all images
of a dataset and scored on the same images (the transductive use, which is what a user does). The gap closed is
``(variant − baseline) / (U-Net(human) − baseline)`` with the baseline (best plain first stage, hindsight) and the
U-Net(human) DSC taken from the quality benchmark's cache (``benchmarks/quality.py --json``), so both tables
share one reference. The true masks are read only by the scoring.

    python benchmarks/ablation.py --quality-json quality.json --json ablation.json --write   # every default row
    python benchmarks/ablation.py --variants "auto,unet" "auto,unet(tta=true)" --datasets ph2_dermoscopy

The confidence table ranks candidate per-image confidence scores for the last row (the default chain).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_protocol import Settings, combined_confidence, confidence_factors, dataset_pairs
from _quality_report import _spearman, markdown_table, summarize_dataset

from bootseg.cli.execute import build_chain
from bootseg.confidence import SOLIDITY_POWER
from bootseg.io import atomic_write, read_image, read_mask
from bootseg.metrics import dice

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- ablation:begin -->", "<!-- ablation:end -->"

#: The variants run when none are named: what each tries, as a ``bootseg run --chain`` string.
DEFAULT_VARIANTS = [
    # first stages alone
    "auto(largest_component=false)",
    "auto(neck=0)",
    "auto",
    "auto(largest_component=true)",
    # networks
    "auto,unet(size=256,crop=128)",
    "auto,unet",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, help="bootseg run --chain strings")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--datasets", help="comma-separated dataset names (default: every folder under --data)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default: %(default)s)")
    parser.add_argument("--quality-json", type=Path, help="quality.py cache giving each dataset's baseline and human")
    parser.add_argument("--json", type=Path, default=Path("/tmp/bootseg-ablation.json"), help="cache of results")
    parser.add_argument("--also", type=Path, nargs="*", default=[], help="more caches to read (e.g. of parallel runs)")
    parser.add_argument("--write", action="store_true", help="write the table into --doc between the markers")
    parser.add_argument("--no-run", action="store_true", help="only render what the caches hold (– where missing)")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="page --write updates (default: %(default)s)")
    return parser.parse_args(argv)


def run_variant(folder: Path, chain_text: str, seed: int) -> dict[str, Any]:
    """The chain on every image of ``folder``, scored on the same images; DSC per image, ρ, seconds."""
    pairs = dataset_pairs(folder)
    names = [name for name, _, _ in pairs]
    images = [read_image(path) for _, path, _ in pairs]
    truths = [read_mask(path) for _, _, path in pairs]
    settings = Settings(chain_text, None, None, None, None, "auto", 2, None)
    chain, _, _ = build_chain(settings.run_settings(seed))
    start = time.perf_counter()
    result = chain.run(images, names=names)
    seconds = time.perf_counter() - start
    scores = [dice(m, t) for m, t in zip(result.masks, truths, strict=True)]
    first = [dice(m, t) for m, t in zip(result.stages[0].masks, truths, strict=True)]
    final = result.stages[len(result.stages) - 1]
    rho, confidences, factors, flips = None, None, {}, None
    if final.proba is not None:
        factors = confidence_factors(final.proba, images)
        confidences = combined_confidence(factors)
        rho = _spearman(confidences, scores)
    if hasattr(final.stage, "predict"):
        flips = flip_agreement(final.stage, images, result.masks)
    return {
        "dice": float(np.mean(scores)),
        "first": float(np.mean(first)),
        "rho": rho,
        "seconds": seconds,
        "per_image": {
            "names": names,
            "dice": scores,
            "first_dice": first,
            "confidence": confidences,
            "sureness": factors.get("sureness"),
            "stage_agreement": [dice(a, b) for a, b in zip(result.stages[0].masks, result.masks, strict=True)],
            "flip_agreement": flips,
            "solidity": factors.get("solidity"),
            "edge_fit": factors.get("edge_fit"),
        },
    }


def flip_agreement(stage: Any, images: list[np.ndarray], masks: list[np.ndarray]) -> list[float]:
    """Per image, the mean Dice between its mask and the network's masks of the image flipped left-right,
    top-bottom and both (flipped back): how much the mask depends on the image's orientation."""
    totals = np.zeros(len(images))
    for axes in ((1,), (0,), (0, 1)):
        flipped = stage.predict([np.ascontiguousarray(np.flip(image, axes)) for image in images])
        totals += [dice(mask, np.flip(f, axes)) for mask, f in zip(masks, flipped, strict=True)]
    return (totals / 3).tolist()


def references(path: Path | None, seeds: list[int]) -> dict[str, tuple[float, float]]:
    """Per dataset, (baseline DSC, U-Net(human) DSC) from the quality benchmark's cache, over ``seeds``."""
    if path is None or not path.exists():
        return {}
    cache = json.loads(path.read_text())
    by_dataset: dict[str, list[dict[str, Any]]] = {}
    for run in cache.get("runs", {}).values():
        for entry in run.get("results", {}).values():
            if entry["seed"] in seeds:
                by_dataset.setdefault(entry["dataset"], []).append(entry)
    refs = {}
    for name, results in by_dataset.items():
        summary = summarize_dataset(results)
        refs[name] = (summary.baseline.dice, summary.rows["human"].dice)
    return refs


def table(results: dict[str, Any], variants: list[str], datasets: list[str], refs: dict[str, Any]) -> str:
    header = ["chain", *datasets, "min gap", "s per 100 images"]
    rows = []
    for variant in variants:
        cells = [f"`{variant}`"]
        gaps, per_100 = [], []
        for dataset in datasets:
            runs = [r for key, r in results.items() if key.startswith(f"{variant}|{dataset}|")]
            if not runs:
                cells.append("–")
                continue
            value = float(np.mean([r["dice"] for r in runs]))
            per_100.append(float(np.mean([r["seconds"] * 100 / r["images"] for r in runs])))
            text = f"{value:.3f}"
            if dataset in refs:
                base, human = refs[dataset]
                gap = 1.0 if value >= human - 0.02 else (value - base) / (human - base)
                gaps.append(gap)
                text += f" ({gap:+.2f})" if gap >= -1 else " (< −1)"
            cells.append(text)
        low = min(gaps) if len(gaps) == len(datasets) else None
        cells.append("–" if low is None else f"{low:+.2f}" if low >= -1 else "< −1")
        cells.append(f"{np.mean(per_100):.0f}" if per_100 else "–")
        rows.append(cells)
    return markdown_table(header, rows)


#: Candidate confidence scores, from what ``run_variant`` (or the quality benchmark's transductive run) keeps per
#: image; no ground truth in any of them. A candidate a cached run lacks is left out.
SCORES = {
    "sureness (network; the first confidence)": lambda r: r.get("sureness"),
    "solidity of the mask": lambda r: r.get("solidity"),
    "sureness × solidity (the confidence before this change)": lambda r: _product(r.get("sureness"), r.get("solidity")),
    "edge fit of the outline": lambda r: r.get("edge_fit"),
    "sureness × solidity × edge fit": lambda r: _powered(r, 1),
    "sureness × solidity² × edge fit": lambda r: _powered(r, 2),
    f"sureness × solidity^{SOLIDITY_POWER} × edge fit (`bootseg.confidence`, the default)": combined_confidence,
    "agreement of first stage and last stage (Dice)": lambda r: r.get("stage_agreement"),
    "sureness × stage agreement": lambda r: _product(r.get("sureness"), r.get("stage_agreement")),
    "agreement with the flipped predictions (Dice)": lambda r: r.get("flip_agreement"),
}


def _powered(r: dict[str, Any], power: int) -> list[float] | None:
    """sureness × solidity ** power × edge fit, per image, where the run kept all three."""
    if any(r.get(key) is None for key in ("sureness", "solidity", "edge_fit")):
        return None
    parts = zip(r["sureness"], r["solidity"], r["edge_fit"], strict=True)
    return [sure * solid**power * edge for sure, solid, edge in parts]


def _product(a: list[float] | None, b: list[float] | None) -> list[float] | None:
    return None if a is None or b is None else [x * y for x, y in zip(a, b, strict=True)]


def confidence_table(results: dict[str, Any], variant: str, datasets: list[str]) -> str:
    """Spearman ρ between each candidate score and the true per-image DSC of ``variant``, per dataset."""
    per_dataset = {
        dataset: [r["per_image"] for key, r in results.items() if key.startswith(f"{variant}|{dataset}|")]
        for dataset in datasets
    }
    return _rho_table(per_dataset, datasets)


def quality_candidates(path: Path, seeds: list[int]) -> dict[str, list[dict[str, Any]]]:
    """Per dataset, the transductive runs' per-image candidates and true DSC from a quality benchmark cache, one
    entry per seed in ``seeds``."""
    cache = json.loads(path.read_text())
    found: dict[str, list[dict[str, Any]]] = {}
    for run in cache.get("runs", {}).values():
        for entry in run.get("results", {}).values():
            row, candidates = entry["rows"].get("transductive"), entry.get("candidates")
            if row is None or not candidates or entry["seed"] not in seeds:
                continue
            order = {name: i for i, name in enumerate(row["names"])}
            found.setdefault(entry["dataset"], []).append(
                {"dice": [row["dice"][order[name]] for name in entry["names"]], **candidates}
            )
    return found


def _rho_table(per_dataset: dict[str, list[dict[str, Any]]], datasets: list[str]) -> str:
    rows = []
    for label, score in SCORES.items():
        cells = [label]
        for dataset in datasets:
            rhos = [_spearman(score(r), r["dice"]) for r in per_dataset.get(dataset, []) if score(r) is not None]
            cells.append(f"{np.mean(rhos):.2f}" if rhos else "–")
        rows.append(cells)
    rows = [row for row in rows if any(cell != "–" for cell in row[1:])]
    return markdown_table(["score", *datasets], rows)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    names = args.datasets.split(",") if args.datasets else sorted(p.name for p in args.data.iterdir() if p.is_dir())
    seeds = [int(s) for s in args.seeds.split(",")]
    cache: dict[str, Any] = json.loads(args.json.read_text()) if args.json.exists() else {}
    known = dict(cache)
    for extra in args.also:
        known.update(json.loads(extra.read_text()))
    for variant in args.variants:
        for name in names:
            for seed in seeds:
                key = f"{variant}|{name}|{seed}"
                if key in known or args.no_run:
                    continue
                result = run_variant(args.data / name, variant, seed)
                result["images"] = len(dataset_pairs(args.data / name))
                cache[key] = result
                with atomic_write(args.json, "w", encoding="utf-8") as handle:
                    json.dump(cache, handle, indent=1)
                first, seconds = result["first"], result["seconds"]
                print(f"{key}: DSC {result['dice']:.3f} (first stage {first:.3f}) in {seconds:.0f} s", flush=True)
    refs = references(args.quality_json, seeds)
    everything = {**known, **cache}
    text = table(everything, args.variants, names, refs)
    found = quality_candidates(args.quality_json, seeds) if args.quality_json and args.quality_json.exists() else {}
    if found:
        text += "\n\nρ of candidate confidence scores with the true DSC, on the quality benchmark's transductive runs "
        text += f"of the default chain (`{args.quality_json.name}`, seeds {args.seeds}; the mean over the seeds):\n\n"
        text += _rho_table(found, names)
    else:
        text += f"\n\nρ of candidate confidence scores with the true DSC, chain `{args.variants[-1]}`:\n\n"
        text += confidence_table(everything, args.variants[-1], names)
    command = "python benchmarks/ablation.py " + shlex.join(sys.argv[1:])
    print(text)
    if args.write:
        doc = args.doc.read_text()
        body = f"{BEGIN}\n    {command}\n\n{text}\n{END}"
        if BEGIN in doc:
            head, rest = doc.split(BEGIN, 1)
            doc = head + body + rest.split(END, 1)[1]
        else:
            doc = doc.rstrip("\n") + "\n\n" + body + "\n"
        with atomic_write(args.doc, "w", encoding="utf-8") as handle:
            handle.write(doc)


if __name__ == "__main__":
    main()
