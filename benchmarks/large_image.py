"""Large images at their own resolution: time and peak memory per megapixel, and whether tiles leave seams.

A mosaic is a large image with its truth, made of one dataset's 256² images side by side (evenly spaced over the
set, repeated when the mosaic needs more than the set has). Two measurements:

* ``--sizes``: for each size (megapixels, rounded to whole tiles), ``bootseg run`` (the default chain; ``--epochs``
  to bound the time, which the memory does not depend on) and then ``bootseg predict`` with the network it
  trained, each in its own process, with the threads a user gets by default; the table gives wall time, seconds
  per megapixel and the process's peak resident memory (its ``ru_maxrss``), and the Dice of each against the
  truth.
* ``--seams N``: an N × N mosaic of N² distinct images against the same N² images as separate files, each run by
  ``bootseg run`` with the default chain: the Dice of each against the truth, over the whole mosaic, and then the
  network of the mosaic's run predicting each of the separate images alone (``bootseg predict``), so that the
  difference is the tiling alone, the network being the same.

    python benchmarks/large_image.py --sizes 1,4,16,64 --epochs 5 --out /tmp/large
    python benchmarks/large_image.py --seams 8 --out /tmp/seams
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _timing import table

from bootseg.io import list_images, read_image, read_mask, write_image
from bootseg.metrics import dice
from bootseg.thickness import evenly_spaced

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
TILE = 256
#: Runs a command and prints its peak resident memory in KiB (Linux's ``ru_maxrss`` of the waited-for child).
PEAK = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--dataset", default="aitslab_nuclei_fluo", help="its 256² images (default: %(default)s)")
    parser.add_argument("--sizes", default="", help="comma-separated megapixels, e.g. 1,4,16,64")
    parser.add_argument("--seams", type=int, default=0, help="N: an N × N mosaic against its N² images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="the network's epochs in --sizes (default: the preset's)")
    parser.add_argument("--out", type=Path, required=True, help="mosaics and run folders go here")
    return parser.parse_args(argv)


def square_images(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The set's images of TILE × TILE pixels and their truth, in name order."""
    images, masks = [], []
    for path in list_images(folder / "images"):
        image = read_image(path)
        if image.shape[:2] == (TILE, TILE):
            images.append(image)
            masks.append(read_mask(folder / "masks" / path.name))
    if not images:
        raise SystemExit(f"{folder} has no {TILE}² images to make a mosaic of")
    return images, masks


def put(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, image)


def mosaic(parts: list[np.ndarray], side: int) -> np.ndarray:
    """``side × side`` of ``parts`` (repeated in order when there are fewer) side by side."""
    rows = [np.concatenate([parts[(r * side + c) % len(parts)] for c in range(side)], axis=1) for r in range(side)]
    return np.concatenate(rows)


def measured(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident GiB of ``command`` run in its own process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *command], stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds, int(done.stderr.strip().splitlines()[-1]) / 2**20


def bootseg(*args: str) -> list[str]:
    return [sys.executable, "-m", "bootseg", *args, "-q"]


def scored(folder: Path, truth: dict[str, np.ndarray]) -> float:
    """Mean Dice of a run folder's masks against ``truth`` (by file stem)."""
    return float(np.mean([dice(read_mask(folder / "masks" / f"{stem}.png"), t) for stem, t in truth.items()]))


def sizes(args: argparse.Namespace, images: list[np.ndarray], masks: list[np.ndarray]) -> None:
    rows = []
    for megapixels in [float(v) for v in args.sizes.split(",") if v]:
        side = max(1, round(math.sqrt(megapixels * 1e6) / TILE))
        base = args.out / f"mosaic-{side}"
        image, truth = mosaic(images, side), mosaic(masks, side)
        put(base / "images" / "mosaic.png", image)
        mp = image.shape[0] * image.shape[1] / 1e6
        epochs = ["--epochs", str(args.epochs)] if args.epochs else []
        run_s, run_gb = measured(
            bootseg(
                "run",
                str(base / "images"),
                "--out",
                str(base / "run"),
                "--overwrite",
                "--seed",
                str(args.seed),
                *epochs,
            )
        )
        pred_s, pred_gb = measured(
            bootseg("predict", str(base / "run"), str(base / "images"), "--out", str(base / "predict"), "--overwrite")
        )
        truth_by_stem = {"mosaic": truth}
        rows.append(
            [
                f"{image.shape[0]} × {image.shape[1]}",
                f"{mp:.1f}",
                f"{run_s:.0f}",
                f"{run_s / mp:.1f}",
                f"{run_gb:.2f}",
                f"{scored(base / 'run', truth_by_stem):.3f}",
                f"{pred_s:.0f}",
                f"{pred_s / mp:.1f}",
                f"{pred_gb:.2f}",
                f"{scored(base / 'predict', truth_by_stem):.3f}",
            ]
        )
        print(
            table(
                [
                    "image",
                    "MP",
                    "run s",
                    "run s/MP",
                    "run peak GiB",
                    "run DSC",
                    "predict s",
                    "predict s/MP",
                    "predict peak GiB",
                    "predict DSC",
                ],
                rows,
            ),
            flush=True,
        )


def seams(args: argparse.Namespace, images: list[np.ndarray], masks: list[np.ndarray]) -> None:
    n = args.seams
    if n * n > len(images):
        raise SystemExit(f"--seams {n} needs {n * n} distinct images; {args.dataset} has {len(images)} of {TILE}²")
    order = evenly_spaced(list(range(len(images))), n * n)
    base = args.out / f"seams-{n}"
    put(base / "mosaic" / "mosaic.png", mosaic([images[i] for i in order], n))
    parts = {}
    for k, i in enumerate(order):
        put(base / "parts" / f"{k:04d}.png", images[i])
        parts[f"{k:04d}"] = masks[i]
    common = ["--overwrite", "--seed", str(args.seed)]
    for source, folder in (("mosaic", "run-mosaic"), ("parts", "run-parts")):
        if not (base / folder / "run.json").exists():  # a finished run is scored again, not run again
            subprocess.run(bootseg("run", str(base / source), "--out", str(base / folder), *common), check=True)
    for target in ("parts", "mosaic"):  # the mosaic's network alone, on the separate images and on the mosaic
        if not (base / f"net-{target}" / "run.json").exists():
            command = ["predict", str(base / "run-mosaic"), str(base / target), "--out", str(base / f"net-{target}")]
            subprocess.run(bootseg(*command, "--overwrite"), check=True)

    def cut(folder: Path) -> dict[str, np.ndarray]:  # a mosaic's mask back into its parts
        whole = read_mask(folder / "mosaic.png")
        return {
            f"{k:04d}": whole[(k // n) * TILE : (k // n + 1) * TILE, (k % n) * TILE : (k % n + 1) * TILE]
            for k in range(n * n)
        }

    def mean_dice(found: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> float:
        return float(np.mean([dice(found[stem], expected[stem]) for stem in expected]))

    def read(folder: Path) -> dict[str, np.ndarray]:
        return {stem: read_mask(folder / f"{stem}.png") for stem in parts}

    first = next(p.name for p in (base / "run-mosaic" / "stages").iterdir() if p.name.startswith("0-"))
    first_mosaic, first_parts = cut(base / "run-mosaic" / "stages" / first), read(base / "run-parts" / "stages" / first)
    chain_mosaic, chain_parts = cut(base / "run-mosaic" / "masks"), read(base / "run-parts" / "masks")
    net_mosaic, net_parts = cut(base / "net-mosaic" / "masks"), read(base / "net-parts" / "masks")
    rows = [
        [f"its first stage ({first}) on the mosaic", f"{mean_dice(first_mosaic, parts):.4f}"],
        [f"its first stage ({first}) on its parts", f"{mean_dice(first_parts, parts):.4f}"],
        ["bootseg run on the mosaic (one image)", f"{mean_dice(chain_mosaic, parts):.4f}"],
        ["bootseg run on its parts (separate images)", f"{mean_dice(chain_parts, parts):.4f}"],
        ["the mosaic's network on the mosaic, in tiles (bootseg predict)", f"{mean_dice(net_mosaic, parts):.4f}"],
        ["the mosaic's network on each part alone (bootseg predict)", f"{mean_dice(net_parts, parts):.4f}"],
        ["agreement of the two: DSC of one against the other", f"{mean_dice(net_mosaic, net_parts):.4f}"],
    ]
    tiled, whole = whole_against_tiles(base)
    agreement = dice(tiled > 0.5, whole > 0.5)
    difference = np.abs(tiled - whole)
    print(table([f"{n} × {n} {args.dataset} images ({n * TILE}²)", "mean DSC over the parts"], rows))
    print()
    print(
        table(
            ["the mosaic's network on the mosaic: in tiles against whole (one tile)", "value"],
            [
                ["DSC of the masks", f"{agreement:.4f}"],
                ["mean absolute difference of the probabilities", f"{difference.mean():.5f}"],
                ["largest absolute difference", f"{difference.max():.3f}"],
            ],
        )
    )


def whole_against_tiles(base: Path) -> tuple[np.ndarray, np.ndarray]:
    """The mosaic run's network's probabilities of the mosaic in its tiles, and whole (one tile of the working
    size): the seams alone, everything else the same."""
    import dataclasses

    from bootseg.refiners import UNetRefiner

    stage = UNetRefiner.load(next((base / "run-mosaic").glob("model-*unet*.pt")))
    image = read_image(base / "mosaic" / "mosaic.png")
    tiled = stage.predict_proba([image])[0]
    stage.config = dataclasses.replace(stage.config, tile=stage.config.size)
    return tiled, stage.predict_proba([image])[0]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    images, masks = square_images(args.data / args.dataset)
    if args.sizes:
        sizes(args, images, masks)
    if args.seams:
        seams(args, images, masks)


if __name__ == "__main__":
    main()
