"""The default chain end to end on a GPU against the same machine's CPU: time to masks and their Dice.

Writes N synthetic spheroid images of SIZE² (:func:`bootseg.datasets.synthetic_spheroids`) with their true masks to
a temporary folder, then runs ``bootseg run IMAGES --out OUT --truth TRUTH --seed 0 -q`` once per device given, with
the chain given (default: the default chain), and prints one row per device: wall time, the stages' times from
``run.json``, the time ratio against the first device, and the final masks' mean Dice against the truth (the run's
own evaluation, recorded in ``run.json``). Meant for a GPU machine
(``benchmarks/gpu_check.sh`` runs it); on a CPU-only machine ``--devices cpu`` checks the script.

    python benchmarks/cuda_run.py --n 200 --size 256 --devices cuda,cpu
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_report import markdown_table

from bootseg.datasets import synthetic_spheroids


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="images (default: %(default)s)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default: %(default)s)")
    parser.add_argument("--devices", default="cuda,cpu", help="comma-separated, the first is the reference")
    parser.add_argument("--chain", default=None, help="chain spec (default: bootseg's default chain)")
    return parser.parse_args(argv)


def run_one(images: Path, truth: Path, out: Path, device: str, chain: str | None) -> list[str]:
    command = [sys.executable, "-m", "bootseg", "run", str(images), "--out", str(out), "--truth", str(truth)]
    command += ["--seed", "0", "-q", "--device", device] + (["--chain", chain] if chain else [])
    tic = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - tic
    record = json.loads((out / "run.json").read_text())
    timings = record.get("timings", {})
    stages = ", ".join(f"{k} {v:.1f}" for k, v in timings.items() if k not in ("evaluate", "total"))
    final = record["evaluation"]["columns"][-1]  # the last stage's masks, the run's final ones
    return [device, f"{wall:.1f}", stages, f"{final['dice_mean']:.3f}"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    devices = args.devices.split(",")
    images, masks = synthetic_spheroids(args.n, size=args.size, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "images").mkdir()
        (root / "truth").mkdir()
        for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
            tifffile.imwrite(root / "images" / f"{i:04d}.tif", image)
            tifffile.imwrite(root / "truth" / f"{i:04d}.tif", mask.astype(np.uint8) * 255)
        rows = [run_one(root / "images", root / "truth", root / f"out-{d}", d, args.chain) for d in devices]
    reference = float(rows[0][1])
    table = [[r[0], r[1], f"{float(r[1]) / reference:.2f}", r[2], r[3]] for r in rows]
    print(f"{args.n} synthetic spheroid images of {args.size}², chain {args.chain or 'default'}, seed 0\n")
    print(markdown_table(["device", "wall s", "ratio", "run.json timings (s)", "final DSC"], table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
