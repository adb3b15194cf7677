"""How two-sided each dataset's images are: the evidence behind the ``auto`` channel's texture rule.

For every image of every dataset in ``../shared/data`` (no masks are read),
:func:`bootseg.annotators.two_sided.two_sidedness` at several noise widths (``SIGMAS``): the median score and
the share of images that reach ``BALANCE``. A set is two-sided, and ``auto`` thresholds its texture, when that
share reaches ``SHARE`` at the default width.

    python benchmarks/two_sided.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_protocol import dataset_pairs

from bootseg.annotators import two_sided
from bootseg.io import read_image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
#: The noise widths shown, the default among them.
WIDTHS = (2.0, 3.0, 4.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--datasets", help="comma-separated dataset names (default: every folder under --data)")
    return parser.parse_args(argv)


def scores(images: list[np.ndarray], width: float) -> np.ndarray:
    """Each image's two-sidedness with the tails ``width`` noise widths from the background's level."""
    default = two_sided.SIGMAS
    two_sided.SIGMAS = width
    try:
        return np.array([two_sided.two_sidedness(image) for image in images])
    finally:
        two_sided.SIGMAS = default


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    names = args.datasets.split(",") if args.datasets else sorted(p.name for p in args.data.iterdir() if p.is_dir())
    header = ["dataset", "images"]
    for width in WIDTHS:
        mark = " (default)" if width == two_sided.SIGMAS else ""
        header += [f"{width:g} σ{mark}: median", f"{width:g} σ{mark}: share ≥ {two_sided.BALANCE}"]
    rows = []
    for name in names:
        images = [read_image(path) for _, path, _ in dataset_pairs(args.data / name)]
        row = [name, str(len(images))]
        for width in WIDTHS:
            values = scores(images, width)
            share = float(np.mean(values >= two_sided.BALANCE))
            fires = width == two_sided.SIGMAS and share >= two_sided.SHARE
            row += [f"{np.median(values):.2f}", f"**{share:.2f}**" if fires else f"{share:.2f}"]
        rows.append(row)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nBold: a two-sided set at the default width (share ≥ {two_sided.SHARE}): `auto` thresholds its texture.")


if __name__ == "__main__":
    main()
