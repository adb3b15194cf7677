"""The network stage's constants, each chosen leave-one-dataset-out.

Scores complete ``benchmarks/confident.py --out`` folders: the default chain's (one per seed) and, for each
constant, runs of the same chain with that one constant changed (the same seeds and images). For every constant
and dataset it prints the chain's mean Dice over the seeds at each value tried, then, for each dataset left out,
the value picked on the other datasets and that value's Dice on the one left out. The chain is scored at the
default ``confident`` level of this version whatever level the runs were made with: a run's saved probabilities
give its masks at every level, and the level changes no training.

The pick: the value with the highest mean chain Dice over the other datasets, unless the plainest value (the one
that does least: no enlarging of the working size, hard targets, no augmentation, the paper's rate, every pixel
the network's; see ``PLAINEST``) is within ``--margin`` of it, in which case the plainest is picked.

``confident`` is scored from the runs' saved probabilities, which give the chain's masks at every level. With
``--start``, runs of other first stages (``kmeans,unet``, ``otsu,unet``: what a first stage that misfires on new
images leaves the network) join the default chain's there: a level is then picked on the other datasets of every
start together.

    python benchmarks/network_constants.py --default /tmp/conf-b8cos30-s0 \\
        --variant min_radius=0 /tmp/conf-mr0-s0 --variant label_sigma=0 /tmp/conf-ls0-s0 \\
        --variant lr=0.003 /tmp/conf-lr3e-3-s0 --variant lr=0.0003 /tmp/conf-lr3e-4-s0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_report import markdown_table
from confident import DEFAULT_DATA, LEVELS, dataset_names, require_complete, scores, spaced_images

from bootseg.cli.chainspec import parse_value
from bootseg.refiners.config import UNetConfig

#: Marks a constant with no plainest value.
NO_PLAINEST = object()

#: The value of each constant that does least; picked whenever it is within the margin of the best. ``patience``:
#: None, every epoch trained. Constants not named here (``loss``, ``depth``) have none: the best mean is picked.
PLAINEST: dict[str, Any] = {
    "min_radius": 0.0,
    "label_sigma": 0.0,
    "lr": 1e-3,
    "confident": 0.5,
    "size": 128,
    "augment": 0.0,
    "patience": None,
    "val_fraction": 0.2,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--default", type=Path, nargs="+", required=True, metavar="OUT", help="one per seed")
    parser.add_argument(
        "--variant",
        nargs="+",
        action="append",
        default=[],
        metavar=("NAME=VALUE", "OUT"),
        help="a constant's value and its run folders, one per seed in the order of --default (repeatable)",
    )
    parser.add_argument(
        "--start",
        nargs="+",
        action="append",
        default=[],
        metavar=("CHAIN", "OUT"),
        help="runs of another first stage's chain (e.g. kmeans,unet), one per seed: `confident` is then picked over "
        "every start's datasets together (repeatable)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--datasets", help="comma-separated dataset names (default: every folder under --data)")
    parser.add_argument("--limit", type=int, default=60, help="images per dataset, evenly spaced (default: 60)")
    parser.add_argument("--margin", type=float, default=0.002, help="the plainest value's allowance (default: 0.002)")
    args = parser.parse_args(argv)
    variants: dict[str, dict[Any, list[Path]]] = {}
    for spec, *folders in args.variant:
        name, _, value = spec.partition("=")
        if not value or not hasattr(UNetConfig(), name):
            parser.error(f"--variant {spec!r}: give NAME=VALUE with NAME a unet option, e.g. lr=0.003")
        if len(folders) != len(args.default):
            parser.error(f"--variant {spec}: give {len(args.default)} folder(s), one per --default folder")
        variants.setdefault(name, {})[key_of(parse_value(value))] = [Path(f) for f in folders]
    args.variants = variants
    args.starts = {chain: [Path(f) for f in folders] for chain, *folders in args.start}
    return args


def key_of(value: Any) -> Any:
    """A constant's value as a table key: numbers and booleans as floats (so that ``augment=false`` is the default's
    0.0), None and text as they are."""
    return value if value is None or isinstance(value, str) else float(value)


def shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def chain_scores(folder: Path, truth: Path, stems: list[str]) -> dict[str, float]:
    """The chain's mean Dice at the default ``confident`` level (``"chain"``) and at every level of :data:`LEVELS`,
    from the run's saved probabilities (the level changes no training)."""
    row = scores(folder, truth, stems)
    found = {f"confident={level}": row[i] for i, level in enumerate(LEVELS)}
    found["chain"] = row[LEVELS.index(UNetConfig().confident)]
    return found


def pick(table: dict[Any, dict[Any, float]], others: list[Any], plainest: Any, margin: float) -> Any:
    """The value with the highest mean over ``others``; the plainest when it is within ``margin`` of that
    (``plainest`` is ``NO_PLAINEST`` for a constant that has none)."""
    means = {value: np.mean([row[name] for name in others]) for value, row in table.items()}
    best = max(means, key=means.get)
    if plainest is not NO_PLAINEST and plainest in means and means[plainest] >= means[best] - margin:
        return plainest
    return best


def label(value: Any, default: Any) -> str:
    return shown(value) + (" (default)" if value == default else "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = dataset_names(args.data, args.datasets)
    folders = [*args.default, *(f for runs in args.variants.values() for fs in runs.values() for f in fs)]
    require_complete([*folders, *(f for outs in args.starts.values() for f in outs)], names)
    stems = {n: [f.stem for f in files] for n, files in spaced_images(args.data, names, args.limit).items()}

    def mean_over_seeds(runs: list[Path]) -> dict[str, dict[str, float]]:
        per_seed = [{n: chain_scores(out / n, args.data / n / "masks", stems[n]) for n in names} for out in runs]
        return {n: {key: float(np.mean([s[n][key] for s in per_seed])) for key in per_seed[0][n]} for n in names}

    default = mean_over_seeds(args.default)
    defaults = UNetConfig()
    starts = {"default": default, **{start: mean_over_seeds(outs) for start, outs in args.starts.items()}}
    keys = [(start, n) for start in starts for n in names]  # confident: every first stage's runs together
    tables: dict[str, dict[float, dict[tuple[str, str], float]]] = {
        "confident": {level: {(st, n): starts[st][n][f"confident={level}"] for st, n in keys} for level in LEVELS}
    }
    for constant, runs in args.variants.items():
        tables[constant] = {key_of(getattr(defaults, constant)): {("default", n): default[n]["chain"] for n in names}}
        for value, outs in runs.items():
            scored = mean_over_seeds(outs)
            tables[constant][value] = {("default", n): scored[n]["chain"] for n in names}
    print(f"{len(args.default)} seed(s); default runs {', '.join(map(str, args.default))}; margin {args.margin}\n")
    summary = []
    for constant, table in tables.items():
        values = sorted(table, key=lambda v: (isinstance(v, str), v is None, v if isinstance(v, float) else 0, str(v)))
        current = key_of(getattr(defaults, constant))
        plainest = PLAINEST.get(constant, NO_PLAINEST)
        rows, held = [], []
        picks = {}
        for name in names:
            others = [key for key in table[current] if key[1] != name]
            picks[name] = pick(table, others, plainest, args.margin)
        for key in table[current]:
            chosen = picks[key[1]]
            held.append(table[chosen][key])
            where = key[1] if key[0] == "default" else f"{key[1]} (`{key[0]}` start)"
            rows.append([where, *(f"{table[v][key]:.3f}" for v in values), shown(chosen), f"{table[chosen][key]:.3f}"])
        means = [np.mean(list(table[v].values())) for v in values]
        rows.append(["**mean**", *(f"{m:.3f}" for m in means), "", f"**{np.mean(held):.3f}**"])
        header = ["dataset", *(label(v, current) for v in values), "picked without it", "its DSC left out"]
        print(f"`{constant}` (plainest: {'none' if plainest is NO_PLAINEST else shown(plainest)}):\n")
        print(markdown_table(header, rows))
        print()
        chosen = list(picks.values())
        counts = ", ".join(f"{shown(v)} ×{chosen.count(v)}" for v in values if v in chosen)
        summary.append(
            [
                constant,
                ", ".join(shown(v) for v in values),
                shown(current),
                counts,
                f"{np.mean(held):.3f}",
                f"{np.mean(list(table[current].values())):.3f}",
            ]
        )
    header = ["constant", "values tried", "default", "picks over the folds", "left out: mean DSC", "default: mean DSC"]
    print(markdown_table(header, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
