"""How often ``polarity="auto"`` picks the right class, per data set in ``../shared/data``.

For every image, the "right" polarity is the one whose plain Otsu mask (no clean-up) has the higher Dice with the
ground truth in ``masks/NNNN.png``; the masks are read only for this evaluation. The table shows the share of
images where :func:`bootseg.annotators.polarity.choose_polarity` (as used by ``otsu(polarity="auto")``) agrees,
and the mean Dice of plain Otsu with ``auto``, with each fixed polarity and with the better fixed polarity of the
data set, and of Otsu with its default options (``fill_holes=True``) and ``auto``. The last column is the
polarity a whole-data-set vote picks (the sign of the sum of :func:`bootseg.annotators.polarity_score`).

Run: ``python benchmarks/polarity_check.py [--data DIR] [--limit N]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from skimage import io

from bootseg.annotators import Otsu, polarity_score

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two bool masks; 1.0 when both are empty."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def check_dataset(folder: Path, limit: int | None) -> dict[str, float]:
    """Polarity accuracy and mean Dice figures for one data set folder."""
    plain = {p: Otsu(polarity=p, fill_holes=False) for p in ("auto", "bright", "dark")}
    default_auto = Otsu()
    files = sorted((folder / "images").glob("*.png"))[:limit]
    right, votes, scores = [], [], {"auto": [], "bright": [], "dark": [], "default": []}
    for path in files:
        image = io.imread(path)
        truth = io.imread(folder / "masks" / path.name) > 0
        dsc = {p: dice(annotator.annotate(image), truth) for p, annotator in plain.items()}
        best = "bright" if dsc["bright"] >= dsc["dark"] else "dark"
        chosen = "bright" if np.array_equal(plain["auto"].annotate(image), plain["bright"].annotate(image)) else "dark"
        right.append(chosen == best)
        votes.append(polarity_score(plain["bright"].annotate(image)))
        for p in ("auto", "bright", "dark"):
            scores[p].append(dsc[p])
        scores["default"].append(dice(default_auto.annotate(image), truth))
    means = {p: float(np.mean(v)) for p, v in scores.items()}
    return {
        "n": len(files),
        "correct": float(np.mean(right)),
        **means,
        "best_fixed": max(means["bright"], means["dark"]),
        "best_name": "bright" if means["bright"] >= means["dark"] else "dark",
        "vote": "bright" if sum(votes) >= 0 else "dark",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of data sets (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per data set")
    args = parser.parse_args()
    folders = sorted(p for p in args.data.iterdir() if (p / "images").is_dir() and (p / "masks").is_dir())
    if not folders:
        raise SystemExit(f"no data sets (folders with images/ and masks/) under {args.data}")
    start = time.perf_counter()
    print(
        "| dataset | images | auto right | DSC auto | DSC bright | DSC dark | best fixed | DSC auto, defaults "
        "| data-set vote |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for folder in folders:
        r = check_dataset(folder, args.limit)
        print(
            f"| {folder.name} | {r['n']} | {100 * r['correct']:.1f} % | {r['auto']:.3f} | {r['bright']:.3f} | "
            f"{r['dark']:.3f} | {r['best_fixed']:.3f} ({r['best_name']}) | {r['default']:.3f} | {r['vote']} |"
        )
    print(f"\n{time.perf_counter() - start:.1f} s; Otsu without clean-up unless noted; data: {args.data}")


if __name__ == "__main__":
    main()
