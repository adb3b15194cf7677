"""First stages alone on the real datasets: mean DSC per dataset, and what each variant chose.

Each variant is a first stage as ``bootseg run --chain`` names it (``"auto(ridges=false)"``). It is fitted on all
images of a dataset, as the chain fits it, and its masks of the same images are scored against the true masks
(read by the scoring only). Cheap: no network is trained.

    python benchmarks/first_stage.py
    python benchmarks/first_stage.py --variants "auto" "otsu(channel=auto)" --datasets ph2_dermoscopy
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_protocol import dataset_pairs
from _quality_report import markdown_table

from bootseg import get_annotator
from bootseg.cli.chainspec import parse_chain
from bootseg.io import read_image, read_mask
from bootseg.metrics import dice

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"

#: The variants run when none are named: the `auto` stage with its two last rules off, on, and forced.
DEFAULT_VARIANTS = [
    "auto(ridges=false, per_object=false)",
    "auto(per_object=false)",
    "auto(ridges=false)",
    "auto",
    "auto(ridges=true)",
    "auto(per_object=true)",
]
#: The choices shown under each cell, when the stage reports them.
SHOWN = ("ridges", "per_object")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, help="first stages as in --chain")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--datasets", help="comma-separated dataset names (default: every folder under --data)")
    return parser.parse_args(argv)


def score(spec: str, images: list[np.ndarray], truths: list[np.ndarray]) -> tuple[float, dict, float]:
    """Mean DSC of the first stage ``spec`` fitted on ``images``, its choices, and the seconds it took."""
    ((name, options),) = parse_chain(spec)
    stage = get_annotator(name, **options)
    start = time.perf_counter()
    if hasattr(stage, "fit"):
        stage.fit(images)
    masks = [stage.annotate(image) for image in images]
    seconds = time.perf_counter() - start
    choices = stage.choices() if hasattr(stage, "choices") else {}
    return float(np.mean([dice(m, t) for m, t in zip(masks, truths, strict=True)])), choices, seconds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.datasets.split(",") if args.datasets else sorted(p.name for p in args.data.iterdir() if p.is_dir())
    cells: dict[str, list[str]] = {spec: [] for spec in args.variants}
    for dataset in names:
        pairs = dataset_pairs(args.data / dataset)
        images = [read_image(path) for _, path, _ in pairs]
        truths = [read_mask(path) for _, _, path in pairs]
        for spec in args.variants:
            mean, choices, seconds = score(spec, images, truths)
            shown = ", ".join(f"{key}" for key in SHOWN if choices.get(key))
            cells[spec].append(f"{mean:.3f}" + (f" ({shown})" if shown else ""))
            print(f"{dataset} {spec}: {mean:.4f} in {seconds:.1f} s; {choices}", file=sys.stderr, flush=True)
    header = ["first stage", *names]
    print(markdown_table(header, [[f"`{spec}`", *row] for spec, row in cells.items()]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
