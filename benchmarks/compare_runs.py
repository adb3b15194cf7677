"""Two chains against each other over several seeds: Dice and time to masks, per dataset.

Scores complete ``benchmarks/confident.py --out`` folders of a reference chain and of a variant (one folder per
seed, paired in the order given) on the same images: the first stage, the network alone and the chain (at the
network's own ``confident`` level), the mean over the seeds and the variant's worst seed against the reference.

Time: each run's training is its epochs times its mean epoch time, the rest (reading, first stage, prediction,
writing) is measured. Ratios are estimated on the *variant's own* run, so that what else the machine was doing
while the two runs were made does not count: the variant's time over the same run had it trained as many epochs
as the reference's run did, and over it had it trained ``--fixed-epochs`` (default 75: every epoch of the
version before the stopping rule).

With ``--plain``, the plain first stages (Otsu bright, Otsu dark, the paper's k-means; no post-processing) are run
on the same images too, and the best of them with hindsight is shown beside the variant's chain.

The last rows are leave-one-dataset-out: for each dataset left out, the variant is picked when, over the other
datasets, its chain is within ``--mean-tolerance`` (0.002) of the reference's on average and within
``--worst-tolerance`` (0.01) on each; the row shows the left-out dataset's chain Dice under that pick.

    python benchmarks/compare_runs.py --reference /tmp/conf-auto-s0 /tmp/conf-auto-s1 /tmp/conf-auto-s2 \\
        --variant /tmp/conf-cos30-s0 /tmp/conf-cos30-s1 /tmp/conf-cos30-s2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_protocol import PLAIN_STAGES
from _quality_report import markdown_table
from confident import DEFAULT_DATA, LEVELS, dataset_names, require_complete, scores, spaced_images

from bootseg.io import read_image, read_mask
from bootseg.metrics import dice


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", type=Path, nargs="+", required=True, metavar="OUT", help="one per seed")
    parser.add_argument("--variant", type=Path, nargs="+", required=True, metavar="OUT", help="the same seeds")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--datasets", help="comma-separated dataset names (default: every folder under --data)")
    parser.add_argument("--limit", type=int, default=60, help="images per dataset, evenly spaced (default: 60)")
    parser.add_argument("--fixed-epochs", type=int, default=75, help="the epochs of the earlier time (default: 75)")
    parser.add_argument("--plain", action="store_true", help="also the best plain first stage on the same images")
    parser.add_argument("--mean-tolerance", type=float, default=0.002)
    parser.add_argument("--worst-tolerance", type=float, default=0.01)
    args = parser.parse_args(argv)
    if len(args.reference) != len(args.variant):
        parser.error(f"give as many --variant folders as --reference ones ({len(args.reference)}), one per seed")
    return args


def run_record(folder: Path) -> dict:
    """The network stage's level, epochs run and times of one complete run folder."""
    run = json.loads((folder / "run.json").read_text())
    network = run["stages"][-1]
    training = network["training"]
    epochs = training["epochs_run"]
    return {
        "confident": network["options"]["confident"],
        "epochs": epochs,
        "epoch_seconds": training["seconds"] / epochs,
        "other_seconds": run["timings"]["total"] - training["seconds"],
    }


def chain_dice(folder: Path, truth: Path, names: list[str], confident: float) -> tuple[float, float, float]:
    """Mean Dice of the first stage, the network alone and the chain at ``confident``."""
    row = scores(folder, truth, names)
    return row[-1], row[0], row[LEVELS.index(confident)]


def best_plain(images: list[Path], truth: Path) -> tuple[float, str]:
    """The highest mean Dice of the plain first stages on ``images``, and which stage it was."""
    truths = [read_mask(truth / f"{path.stem}.png") > 0 for path in images]
    pixels = [read_image(path) for path in images]
    found = []
    for key, (_, make) in PLAIN_STAGES.items():
        stage = make()
        found.append((float(np.mean([dice(stage.annotate(im), t) for im, t in zip(pixels, truths, strict=True)])), key))
    return max(found)


def table_row(
    label: str, s: np.ndarray, delta: float, worst: float, plain: tuple[float, str] | None, mean: bool = False
) -> list[str]:
    """One row of the table from a dataset's (or the mean's) seed-averaged figures, with the best plain stage's Dice
    and name when given; the mean row's key figures bold."""
    bold = (lambda text: f"**{text}**") if mean else (lambda text: text)
    return [
        label,
        f"{s[0]:.3f}",
        f"{s[1]:.3f} / {s[4]:.3f}",
        bold(f"{s[2]:.3f} / {s[5]:.3f}"),
        bold(f"{delta:+.3f}"),
        f"{worst:+.3f}",
        f"{s[6]:.0f} / {s[7]:.0f}",
        f"{s[8]:.2f}",
        bold(f"{s[9]:.2f}"),
        *(
            [f"{plain[0]:.3f}" + (f" ({plain[1]})" if plain[1] else ""), bold(f"{s[5] - plain[0]:+.3f}")]
            if plain is not None
            else []
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = dataset_names(args.data, args.datasets)
    require_complete([*args.reference, *args.variant], names)
    images = spaced_images(args.data, names, args.limit)
    stats, deltas, plain = {}, {}, {}
    for name in names:
        files = images[name]
        stems = [f.stem for f in files]
        truth = args.data / name / "masks"
        if args.plain:
            plain[name] = best_plain(files, truth)
        rows = []
        for ref_out, var_out in zip(args.reference, args.variant, strict=True):
            ref, var = run_record(ref_out / name), run_record(var_out / name)
            ref_dice = chain_dice(ref_out / name, truth, stems, ref["confident"])
            var_dice = chain_dice(var_out / name, truth, stems, var["confident"])
            own = var["other_seconds"] + var["epochs"] * var["epoch_seconds"]
            as_ref = var["other_seconds"] + ref["epochs"] * var["epoch_seconds"]
            fixed = var["other_seconds"] + args.fixed_epochs * var["epoch_seconds"]
            rows.append([*ref_dice, *var_dice, ref["epochs"], var["epochs"], own / as_ref, own / fixed])
        rows = np.array(rows)
        deltas[name] = rows[:, 5] - rows[:, 2]
        stats[name] = rows.mean(axis=0)
    table = [table_row(name, stats[name], deltas[name].mean(), deltas[name].min(), plain.get(name)) for name in names]
    means = np.mean([stats[name] for name in names], axis=0)
    plain_mean = (float(np.mean([p[0] for p in plain.values()])), "") if plain else None
    delta_mean, delta_worst = np.mean([deltas[n].mean() for n in names]), min(deltas[n].min() for n in names)
    table.append(table_row("**mean**", means, delta_mean, delta_worst, plain_mean, mean=True))
    header = [
        "dataset",
        "first stage",
        "network alone: reference / variant",
        "chain: reference / variant",
        "chain Δ",
        "worst seed",
        "epochs run",
        "time / reference",
        f"time / {args.fixed_epochs} epochs",
        *(["best plain (hindsight)", "variant − best plain"] if plain else []),
    ]
    print(
        f"{len(args.reference)} seeds; reference {', '.join(map(str, args.reference))}; variant "
        f"{', '.join(map(str, args.variant))}:\n"
    )
    print(markdown_table(header, table))
    print()
    held = []
    for name in names:
        others = [deltas[other].mean() for other in names if other != name]
        pick = np.mean(others) >= -args.mean_tolerance and min(others) >= -args.worst_tolerance
        chosen = stats[name][5] if pick else stats[name][2]
        held.append([name, "variant" if pick else "reference", f"{chosen:.3f}"])
    print(markdown_table(["left out", "picked on the other datasets", "its chain DSC on the one left out"], held))
    return 0


if __name__ == "__main__":
    sys.exit(main())
