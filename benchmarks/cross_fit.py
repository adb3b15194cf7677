"""Cross-fitting against the chain's one network: does a network that never trained on an image label it better?

The chain's network stage trains on every image's first-stage mask and then labels the same images: where it has
learned a first-stage mistake by heart, it repeats it. Cross-fitting splits the images in two halves by the seed,
trains one network on each half and labels every image with the network of the *other* half, so no image is
labelled by a network that saw its noisy mask. The two halves cost about one training on all images.

For each dataset (``--limit`` images, evenly spaced) and seed, the chain ``FIRST,unet`` runs as ``bootseg run``
builds it; then two copies of its untrained network stage are fitted on the halves. Every set of masks is scored
against the truth (read by the scoring only): the first stage, the network's own (probability > threshold) and the
chain's (the network where it is sure, the first stage elsewhere: ``confident``), for the one network on all
images and for the cross-fitted pair.

    python benchmarks/cross_fit.py --limit 60 --seeds 0 --json /tmp/cross.json
    python benchmarks/cross_fit.py --first kmeans --limit 60 --seeds 0 --json /tmp/cross-kmeans.json
    python benchmarks/cross_fit.py --json /tmp/cross.json --analyse
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_protocol import Settings, dataset_pairs

from bootseg.cli.execute import build_chain
from bootseg.io import atomic_write, read_image, read_mask
from bootseg.metrics import dice
from bootseg.stagework import network_masks
from bootseg.thickness import evenly_spaced

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
#: The masks scored, in the table's order.
COLUMNS = ("first", "one_alone", "one_chain", "cross_alone", "cross_chain")
HEADERS = {
    "first": "first stage",
    "one_alone": "one network: alone",
    "one_chain": "one network: chain",
    "cross_alone": "cross-fitted: alone",
    "cross_chain": "cross-fitted: chain",
}


def halves(n: int, seed: int) -> tuple[list[int], list[int]]:
    """The two halves of ``n`` images, drawn by ``seed``, each in ascending order."""
    order = np.random.default_rng(seed).permutation(n)
    return sorted(order[: n // 2].tolist()), sorted(order[n // 2 :].tolist())


def _mean_dice(masks: list[np.ndarray], truths: list[np.ndarray]) -> float:
    return float(np.mean([dice(m, t) for m, t in zip(masks, truths, strict=True)]))


def record(folder: Path, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    pairs = dataset_pairs(folder)
    pairs = evenly_spaced(pairs, args.limit) if args.limit else pairs
    images = [read_image(path) for _, path, _ in pairs]
    truths = [read_mask(path) for _, _, path in pairs]
    settings = Settings(f"{args.first},unet", None, args.epochs, None, None, "cpu", 2, args.limit)
    chain, _, _ = build_chain(settings.run_settings(seed))
    untrained = copy.deepcopy(chain.stages[1])
    start = time.perf_counter()
    result = chain.run(images, names=[name for name, _, _ in pairs])
    one_seconds = time.perf_counter() - start
    teacher = result.stages[0].masks
    one = result.stages[1].stage
    one_proba = one.predict_proba(images)
    cross_proba: list[np.ndarray | None] = [None] * len(images)
    start = time.perf_counter()
    for train, label in (lambda a, b: ((a, b), (b, a)))(*halves(len(images), seed)):
        network = copy.deepcopy(untrained).fit([images[i] for i in train], [teacher[i] for i in train])
        for i, proba in zip(label, network.predict_proba([images[i] for i in label]), strict=True):
            cross_proba[i] = proba
    cross_seconds = time.perf_counter() - start
    scores = {
        "first": _mean_dice(teacher, truths),
        "one_alone": _mean_dice([p > one.threshold for p in one_proba], truths),
        "one_chain": _mean_dice(result.stages[1].masks, truths),
        "cross_alone": _mean_dice([p > one.threshold for p in cross_proba], truths),
        "cross_chain": _mean_dice(
            [network_masks(one, p, m) for p, m in zip(cross_proba, teacher, strict=True)], truths
        ),
    }
    return {
        "dataset": folder.name,
        "seed": seed,
        "first_spec": args.first,
        "images": len(images),
        "scores": scores,
        "one_seconds": one_seconds,
        "cross_seconds": cross_seconds,
    }


def analyse(runs: list[dict[str, Any]]) -> str:
    """A table per dataset (means over seeds) and the mean over datasets, with the cross-fitted pair's time over
    the chain's."""
    by: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by.setdefault(run["dataset"], []).append(run)
    header = ["dataset", "seeds", *(HEADERS[c] for c in COLUMNS), "cross − one (chain)", "time ratio"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    means = []
    for name in sorted(by):
        group = by[name]
        values = [float(np.mean([r["scores"][c] for r in group])) for c in COLUMNS]
        ratio = float(np.mean([r["cross_seconds"] / r["one_seconds"] for r in group]))
        means.append(values)
        cells = [f"{v:.3f}" for v in values]
        lines.append(
            f"| {name} | {len(group)} | " + " | ".join(cells) + f" | {values[4] - values[2]:+.3f} | {ratio:.2f} |"
        )
    mean = np.mean(means, axis=0)
    lines.append("| **mean** | | " + " | ".join(f"{v:.3f}" for v in mean) + f" | {mean[4] - mean[2]:+.3f} | |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--datasets", help="comma-separated dataset names (default: every folder under --data)")
    parser.add_argument("--first", default="auto", help="the first stage, as in --chain (default: %(default)s)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=60, help="images per dataset, evenly spaced (default: 60)")
    parser.add_argument("--epochs", type=int, help="as bootseg run --epochs (default: the preset's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--json", default="/tmp/bootseg-cross-fit.json", help="the cache; a glob with --analyse")
    parser.add_argument("--analyse", action="store_true", help="print the table from the cache(s) only")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.analyse:
        runs = [run for path in sorted(glob.glob(args.json)) for run in json.loads(Path(path).read_text())]
        if not runs:
            raise SystemExit(f"no runs in {args.json}")
        print(analyse(runs))
        return 0
    names = args.datasets.split(",") if args.datasets else sorted(p.name for p in args.data.iterdir() if p.is_dir())
    cache = Path(args.json)
    runs = json.loads(cache.read_text()) if cache.exists() else []
    done = {(r["dataset"], r["seed"], r["first_spec"]) for r in runs}
    for seed in (int(s) for s in args.seeds.split(",")):
        for name in names:
            if (name, seed, args.first) in done:
                continue
            run = record(args.data / name, args, seed)
            runs.append(run)
            with atomic_write(cache, "w", encoding="utf-8") as file:
                file.write(json.dumps(runs, indent=1))
            print(name, seed, {k: round(v, 3) for k, v in run["scores"].items()}, flush=True)
    print(analyse([r for r in runs if r["first_spec"] == args.first]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
