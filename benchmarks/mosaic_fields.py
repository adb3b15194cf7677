"""Larger fields of the same objects: the network's working size (``min_radius``) where it matters.

The benchmark sets are 256² or smaller, so the working size's rule (``min_radius``: enlarge the working size until
the masks' finest structures keep that radius) barely fires on them. Here each image is a mosaic of ``g × g``
images of one dataset (evenly spaced, their true masks likewise), so that the objects keep their size in a field
``g`` times wider, as on a camera with a larger sensor. ``bootseg run`` (one torch thread, ``--save-proba``) with
each chain on the mosaics, scored against the mosaics' true masks: the first stage, the network alone and the chain
at the default ``confident`` level.

    python benchmarks/mosaic_fields.py --datasets aitslab_nuclei_fluo,dsb2018_nuclei --grid 2 --limit 60 \\
        --chains "auto,unet" "auto,unet(min_radius=0)" --out /tmp/mosaic
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_report import markdown_table
from confident import DEFAULT_DATA, LEVELS, evenly_spaced, run, scores

from bootseg.io import read_image, read_mask, write_image, write_mask
from bootseg.refiners.config import UNetConfig


def mosaics(dataset: Path, grid: int, limit: int, out: Path) -> list[Path]:
    """``limit // grid²`` mosaics of ``grid × grid`` evenly spaced images and of their masks, written under ``out``
    (``images/`` and ``masks/``); the mosaics' image files."""
    files = evenly_spaced(sorted((dataset / "images").glob("*.png")), limit)
    per = grid * grid
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    written = []
    for m in range(len(files) // per):
        group = files[m * per : (m + 1) * per]
        images = [read_image(f) for f in group]
        masks = [read_mask(dataset / "masks" / f.name) for f in group]
        if len({im.shape for im in images}) != 1:
            raise SystemExit(f"{dataset.name}: mosaic {m} mixes image sizes {sorted({im.shape for im in images})}")
        rows = [np.concatenate(images[r * grid : (r + 1) * grid], axis=1) for r in range(grid)]
        mask_rows = [np.concatenate(masks[r * grid : (r + 1) * grid], axis=1) for r in range(grid)]
        name = f"mosaic{m:03d}.png"
        write_image(out / "images" / name, np.concatenate(rows, axis=0))
        write_mask(out / "masks" / name, np.concatenate(mask_rows, axis=0) > 0)
        written.append(out / "images" / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--datasets", required=True, help="comma-separated dataset names (images of one size)")
    parser.add_argument("--grid", type=int, default=2, help="images per mosaic side (default: 2)")
    parser.add_argument("--limit", type=int, default=60, help="images per dataset, evenly spaced (default: 60)")
    parser.add_argument("--chains", nargs="+", default=["auto,unet", "auto,unet(min_radius=0)"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="mosaics and run folders go here")
    args = parser.parse_args(argv)
    level = LEVELS.index(UNetConfig().confident)
    rows = []
    for name in args.datasets.split(","):
        fields = args.out / f"{name}-g{args.grid}"
        files = mosaics(args.data / name, args.grid, args.limit, fields)
        stems = [f.stem for f in files]
        side = read_image(files[0]).shape[0]
        for i, chain in enumerate(args.chains):
            folder = args.out / f"{name}-g{args.grid}-chain{i}-s{args.seed}"
            run(chain, files, folder, args.seed)
            found = scores(folder, fields / "masks", stems)
            network = json.loads((folder / "run.json").read_text())["stages"][-1]
            size = network.get("choices", {}).get("size", network["options"].get("size"))
            rows.append(
                [
                    name,
                    f"{len(files)} of {side}²",
                    f"`{chain}`",
                    str(size),
                    f"{found[-1]:.3f}",
                    f"{found[0]:.3f}",
                    f"{found[level]:.3f}",
                ]
            )
    header = ["dataset", "mosaics", "chain", "working size", "first stage", "network alone", "chain"]
    print(f"{args.grid} × {args.grid} mosaics of {args.limit} images, seed {args.seed}:\n")
    print(markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
