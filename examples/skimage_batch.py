"""A bootseg chain inside a scikit-image / NumPy batch script: segment, label objects, measure, print a table.

python examples/skimage_batch.py --n 6 --size 96            # Otsu alone, instant
python examples/skimage_batch.py --n 6 --refine --epochs 2  # Otsu, then a small U-Net
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np
from _data import write_spheroids
from skimage import measure

from bootseg import BootstrapChain
from bootseg.io import read_images

COLUMNS = ("image", "objects", "area", "equivalent_diameter", "eccentricity", "mean_intensity")


def measure_masks(names: list[str], images: list[np.ndarray], masks: list[np.ndarray]) -> list[dict[str, object]]:
    """One row per image: the number of objects and the largest one's properties (scikit-image regionprops)."""
    rows = []
    for name, image, mask in zip(names, images, masks, strict=True):
        labels = measure.label(mask, connectivity=1)
        regions = measure.regionprops(labels, intensity_image=image)
        row: dict[str, object] = {"image": name, "objects": len(regions)}
        if regions:
            largest = max(regions, key=lambda r: r.area)
            row.update(
                area=int(largest.area),
                equivalent_diameter=round(float(largest.equivalent_diameter_area), 2),
                eccentricity=round(float(largest.eccentricity), 3),
                mean_intensity=round(float(np.mean(largest.intensity_mean)), 1),
            )
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, object]]) -> None:
    """Print the rows as an aligned text table."""
    widths = {c: max(len(c), *(len(str(r.get(c, "-"))) for r in rows)) for c in COLUMNS}
    print("  ".join(c.ljust(widths[c]) for c in COLUMNS))
    for row in rows:
        print("  ".join(str(row.get(c, "-")).ljust(widths[c]) for c in COLUMNS))


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    """Segment a folder, measure every mask, print the table (and write it as CSV with ``--csv``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="a folder of images (default: synthetic spheroids)")
    parser.add_argument("--n", type=int, default=6, help="synthetic images to make when no folder is given")
    parser.add_argument("--size", type=int, default=96, help="their side in pixels")
    parser.add_argument("--refine", action="store_true", help="add a U-Net stage after Otsu")
    parser.add_argument("--epochs", type=int, default=2, help="U-Net epochs with --refine")
    parser.add_argument("--csv", type=Path, help="also write the table to this CSV file")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder) if args.folder else Path(tmp) / "images"
        if not args.folder:
            write_spheroids(folder, args.n, size=args.size)
        stages: list = [("otsu", {"polarity": "dark", "median": 5, "largest_component": True})]
        if args.refine:
            stages.append(("unet", {"size": 64, "base_channels": 8, "epochs": args.epochs}))
        result = BootstrapChain(stages, device="cpu", progress=False).run(folder)
        images, _ = read_images(folder)

    rows = measure_masks(result.names, images, result.masks)
    print_table(rows)
    if args.csv:
        with args.csv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, restval="")
            writer.writeheader()
            writer.writerows(rows)
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
