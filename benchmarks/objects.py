"""Objects on the nuclei data sets: object-level F1 and count error of each ``split`` of ``label_objects``.

Beside the splits that ``label_objects`` offers, the column ``neck cut`` labels the masks with the first stages'
neck cut (:func:`bootseg.annotators.necks.split_at_necks`, ``neck=0.5``), the candidate the watershed was chosen
over.

The true objects are the 8-connected components of each true mask (the masks are 0/255, so nuclei that touch in
the truth are one true object there: a split that parts them is counted wrong). For each data set and each split:

* ``truth``: the true masks themselves, labelled with that split: what splitting does to the merged truth
  (``none`` gives the true objects exactly);
* the chain's final masks (by default the first stage ``auto`` alone, fitted on the images as a run fits it),
  labelled with that split.

Each set gives 60 images, evenly spaced over its sorted names (``--limit``).

A predicted and a true object match when their IoU is at least 0.5, one to one (:func:`scipy.optimize.
linear_sum_assignment` on the IoU); F1 = 2 TP / (2 TP + FP + FN) over all images of the set; |Δn| is the mean over
images of the absolute difference between the predicted and the true number of objects. No network is trained
unless ``--chain`` names one.

    python benchmarks/objects.py
    python benchmarks/objects.py --limit 20 --datasets dsb2018_nuclei --chain "auto,unet"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from bootseg import BootstrapChain
from bootseg.annotators.necks import split_at_necks
from bootseg.cli.chainspec import parse_chain
from bootseg.io import list_images, read_image, read_mask
from bootseg.metrics import dice
from bootseg.objects import SPLITS, label_objects
from bootseg.thickness import evenly_spaced

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DATASETS = ("aitslab_nuclei_fluo", "dsb2018_nuclei", "monuseg_he")
#: The columns: each split ``label_objects`` offers, then the neck cut it was chosen over.
CANDIDATES = {
    **{split: lambda mask, split=split: label_objects(mask, split=split) for split in SPLITS},
    "neck cut": lambda mask: split_at_necks(mask, 0.5),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=60, help="N images of each set, evenly spaced (default: 60)")
    parser.add_argument("--chain", default="auto", help='the chain whose masks are labelled (default: "auto")')
    return parser.parse_args(argv)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def matches(predicted: np.ndarray, true: np.ndarray) -> tuple[int, int, int]:
    """``(true positives, predicted objects, true objects)`` of two label images, matched one to one at IoU >= 0.5."""
    n_pred, n_true = int(predicted.max()), int(true.max())
    if n_pred == 0 or n_true == 0:
        return 0, n_pred, n_true
    both = (predicted > 0) & (true > 0)
    pairs = np.bincount(
        predicted[both].astype(np.int64) * (n_true + 1) + true[both], minlength=(n_pred + 1) * (n_true + 1)
    ).reshape(n_pred + 1, n_true + 1)[1:, 1:]
    area_pred = np.bincount(predicted.ravel(), minlength=n_pred + 1)[1:]
    area_true = np.bincount(true.ravel(), minlength=n_true + 1)[1:]
    iou = pairs / (area_pred[:, None] + area_true[None, :] - pairs)
    rows, cols = linear_sum_assignment(-iou)
    return int(np.count_nonzero(iou[rows, cols] >= 0.5)), n_pred, n_true


def score(masks: list[np.ndarray], truths: list[np.ndarray], candidate: str) -> tuple[float, float, float]:
    """F1 over the set, mean |Δn| per image, and seconds spent labelling, of ``masks`` labelled by ``candidate``."""
    tp = n_pred = n_true = 0
    errors = []
    seconds = 0.0
    for mask, truth in zip(masks, truths):
        tic = time.perf_counter()
        labels = CANDIDATES[candidate](mask)
        seconds += time.perf_counter() - tic
        hit, predicted, true = matches(labels, truth)
        tp, n_pred, n_true = tp + hit, n_pred + predicted, n_true + true
        errors.append(abs(predicted - true))
    f1 = 2 * tp / (n_pred + n_true) if n_pred + n_true else 1.0
    return f1, float(np.mean(errors)), seconds


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    header = ["data set (images, true objects)", "masks", "mean DSC", *(f"{c}: F1 / abs Δn" for c in CANDIDATES)]
    rows = []
    timing = dict.fromkeys(CANDIDATES, 0.0)
    for dataset in args.datasets.split(","):
        paths = evenly_spaced(list_images(args.data / dataset / "images"), args.limit)
        images = [read_image(p) for p in paths]
        masks = [read_mask(args.data / dataset / "masks" / p.name) for p in paths]
        truths = [label_objects(m, split="none") for m in masks]
        count = sum(int(t.max()) for t in truths)
        tic = time.perf_counter()
        chain = BootstrapChain(parse_chain(args.chain), progress=False)
        made = chain.run(images).masks
        chain_seconds = time.perf_counter() - tic
        for what, given in (("truth", masks), (args.chain, made)):
            cells = []
            for candidate in CANDIDATES:
                f1, count_error, seconds = score(given, truths, candidate)
                timing[candidate] += seconds
                cells.append(f"{f1:.3f} / {count_error:.1f}")
            dsc = np.mean([dice(m, t) for m, t in zip(given, masks)])
            rows.append([f"{dataset} ({len(paths)}, {count})", what, f"{dsc:.3f}", *cells])
        print(f"{dataset}: {args.chain} took {chain_seconds:.1f} s", file=sys.stderr)
    print(markdown_table(header, rows))
    spent = ", ".join(f"{split} {seconds:.1f} s" for split, seconds in timing.items())
    print(f"\nlabelling time over all masks: {spent}; total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
