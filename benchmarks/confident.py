"""How sure a network must be to change its first stage's masks (the ``unet`` option ``confident``).

For each dataset in ``../shared/data``, ``bootseg run`` with the chain given (one network stage after a first
stage) on N images evenly spaced, with ``--save-proba``; then, from the first stage's masks and the network's
probabilities, the masks at each level ``c``: the first stage's class where ``1 - c < proba < c``, the network's
elsewhere (``c = 0.5``: the network alone; above 1: the first stage alone). Scored against the true masks (read by
the scoring only). The last rows are leave-one-dataset-out: the level with the highest mean over the other
datasets, and its Dice on the one left out.

    python benchmarks/confident.py --chain auto,unet --limit 60 --out /tmp/confident-auto
    python benchmarks/confident.py --chain kmeans,unet --limit 60 --out /tmp/confident-kmeans

``--across OUT1 OUT2 OUT3`` scores complete ``--out`` folders of several seeds and prints each dataset's mean over
them. A run folder already complete under ``--out`` is scored again without running (``bootseg run --resume``
finishes one that was stopped). One thread per run (``--threads 1``), two runs at a time with ``--jobs 2``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_report import markdown_table, short_name

from bootseg.io import read_mask
from bootseg.metrics import dice
from bootseg.runfolder import read_proba
from bootseg.stagework import network_masks

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chain", default="auto,unet", help="first stage and one network (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--datasets", help="comma-separated dataset names (default: every folder under --data)")
    parser.add_argument("--limit", type=int, default=60, help="images per dataset, evenly spaced (default: 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="one run folder per dataset goes here")
    parser.add_argument(
        "--across",
        type=Path,
        nargs="+",
        metavar="OUT",
        help="score these complete --out folders (one per seed) and print each dataset's mean over them: the first "
        "stage, the network alone and the chain at the default level, and the chain's change against its first "
        "stage with its worst seed",
    )
    args = parser.parse_args(argv)
    if (args.out is None) == (args.across is None):
        parser.error("give --out (run and score one seed) or --across OUT... (score complete runs of several seeds)")
    return args


def evenly_spaced(files: list[Path], limit: int) -> list[Path]:
    """``limit`` of ``files`` (sorted) evenly spaced, first and last included; all of them when fewer."""
    if len(files) <= limit:
        return files
    return [files[i * (len(files) - 1) // (limit - 1)] for i in range(limit)]


def dataset_names(data: Path, datasets: str | None) -> list[str]:
    """The comma-separated ``datasets``, or every dataset folder under ``data``."""
    return datasets.split(",") if datasets else sorted(p.name for p in data.iterdir() if p.is_dir())


def spaced_images(data: Path, names: list[str], limit: int) -> dict[str, list[Path]]:
    """Each dataset's ``limit`` images, evenly spaced by name: the images a run folder of this script holds."""
    return {name: evenly_spaced(sorted((data / name / "images").glob("*.png")), limit) for name in names}


def require_complete(folders: list[Path], names: list[str]) -> None:
    """Stop with the folder and datasets named unless every folder holds a complete run of every dataset."""
    for folder in folders:
        missing = [name for name in names if not (folder / name / "masks").is_dir()]
        if missing:
            raise SystemExit(
                f"{folder}: no complete run for {', '.join(missing)}; run it with benchmarks/confident.py --out "
                f"{folder} first"
            )


def run(chain: str, files: list[Path], out: Path, seed: int) -> None:
    """``bootseg run`` on ``files`` into ``out``, unless a complete run is there."""
    if (out / "masks").is_dir():
        return
    command = [sys.executable, "-m", "bootseg", "run", *map(str, files), "--out", str(out), "--chain", chain]
    command += ["--seed", str(seed), "--threads", "1", "--save-proba", "--no-overlays", "-q"]
    subprocess.run(command, check=True)


def scores(run_folder: Path, truth_folder: Path, names: list[str]) -> list[float]:
    """Mean Dice at each of :data:`LEVELS`, then of the first stage alone."""
    first = next(folder for folder in sorted((run_folder / "stages").iterdir()) if folder.name.startswith("0-"))
    rows = []
    for name in names:
        truth = read_mask(truth_folder / f"{name}.png")
        teacher = read_mask(first / f"{name}.png")
        proba = read_proba(run_folder / "proba" / f"{name}.png")
        row = []
        for level in LEVELS:
            network = SimpleNamespace(threshold=0.5, confident=level)
            row.append(dice(network_masks(network, proba, teacher), truth))
        row.append(dice(teacher, truth))
        rows.append(row)
    return np.mean(rows, axis=0).tolist()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = dataset_names(args.data, args.datasets)
    picks = spaced_images(args.data, names, args.limit)
    if args.across:
        return across(args, names, picks)
    args.out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(lambda name: run(args.chain, picks[name], args.out / name, args.seed), names))
    table = {name: scores(args.out / name, args.data / name / "masks", [f.stem for f in picks[name]]) for name in names}
    labels = [f"c = {level}" + (" (network alone)" if level == 0.5 else "") for level in LEVELS]
    labels.append("first stage alone")
    rows = [[label, *(f"{table[name][i]:.3f}" for name in names)] for i, label in enumerate(labels)]
    picked, held = [], []
    for name in names:
        others = [other for other in names if other != name]
        best = max(range(len(LEVELS)), key=lambda i: np.mean([table[other][i] for other in others]))
        picked.append(str(LEVELS[best]))
        held.append(f"{table[name][best]:.3f}")
    rows += [["**left out: the pick's DSC**", *held], ["left out: the pick", *picked]]
    for row in rows[:-1]:
        values = [float(v) for v in row[1:]]
        row.append(f"{np.mean(values):.3f}")
    rows[-1].append("")
    print(f"`{args.chain}`, {args.limit} images per dataset, seed {args.seed}:\n")
    print(markdown_table(["masks", *[short_name(name, names) for name in names], "mean"], rows))
    return 0


def across(args: argparse.Namespace, names: list[str], picks: dict[str, list[Path]]) -> int:
    """The mean over several seeds' complete runs, per dataset, at the network's default ``confident`` level."""
    from bootseg.refiners.config import UNetConfig

    default = UNetConfig().confident
    column = LEVELS.index(default)
    require_complete(args.across, names)
    seeds = []
    for out in args.across:
        seeds.append({n: scores(out / n, args.data / n / "masks", [f.stem for f in picks[n]]) for n in names})
    rows = []
    for name in names:
        first = [seed[name][-1] for seed in seeds]
        alone = [seed[name][0] for seed in seeds]
        chain = [seed[name][column] for seed in seeds]
        changes = [c - f for c, f in zip(chain, first, strict=True)]
        rows.append([name, np.mean(first), np.mean(alone), np.mean(chain), np.mean(changes), min(changes)])
    rows.append(["**mean**", *(np.mean([row[i] for row in rows]) for i in range(1, 6))])
    header = [
        "dataset",
        "first stage",
        "network alone (c = 0.5)",
        f"chain (c = {default})",
        "chain − first stage",
        "worst seed",
    ]
    text = [[row[0], *(f"{v:+.3f}" if i >= 3 else f"{v:.3f}" for i, v in enumerate(row[1:]))] for row in rows]
    folders = ", ".join(map(str, args.across))
    print(f"`{args.chain}`, {args.limit} images per dataset, mean over {len(seeds)} seeds ({folders}):\n")
    print(markdown_table(header, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
