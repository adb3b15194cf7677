"""What the network stage adds on the synthetic spheroid set, and which training choices matter.

Runs ``otsu → unet`` on ``bootseg.datasets.synthetic_spheroids`` and prints per-image mean ± std DSC, IoU and pixel
accuracy of Otsu and of the network for several training configurations (the default; the paper's soft-Dice
loss with hard targets; and each of the default's choices switched off alone). Ground truth is read only here,
for scoring.

    python benchmarks/synthetic_gain.py                  # 48 images of 64², a 3-level 8-filter U-Net, 40 epochs
    python benchmarks/synthetic_gain.py --n 96 --size 128 --fast-preset
    python benchmarks/synthetic_gain.py --n 96 --size 128 --fast-preset --confident 0.5   # the networks' own masks

``--confident 0.5`` scores every pixel as the network's (the paper's chain); by default the network keeps Otsu's
class where it is unsure (the chain's default ``confident``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table

from bootseg import BootstrapChain
from bootseg.datasets import synthetic_spheroids
from bootseg.metrics import summarize

VARIANTS = {
    "default (bce, label_sigma 1, augment)": {},
    "paper loss: dice, hard targets": {"loss": "dice", "label_sigma": 0.0},
    "bce, hard targets": {"label_sigma": 0.0},
    "bce + dice, label_sigma 1": {"loss": "bce_dice"},
    "no augmentation": {"augment": False},
}


def fmt(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fast-preset", action="store_true", help="use the fast preset as it is")
    parser.add_argument("--only-default", action="store_true")
    parser.add_argument("--confident", type=float, help="the unet option confident (default: the stage's default)")
    args = parser.parse_args()
    images, truth = synthetic_spheroids(args.n, size=args.size, seed=args.seed)
    base = (
        {} if args.fast_preset else {"size": args.size, "base_channels": 8, "depth": 3, "epochs": 40, "batch_size": 8}
    )
    if args.confident is not None:
        base["confident"] = args.confident
    rows = []
    otsu_done = False
    variants = {k: v for k, v in VARIANTS.items() if not args.only_default or not v}
    for label, options in variants.items():
        start = time.perf_counter()
        chain = BootstrapChain(["otsu", ("unet", {**base, **options})], device="cpu", seed=args.seed, progress=False)
        result = chain.run(images)
        seconds = time.perf_counter() - start
        if not otsu_done:
            s = summarize(result.stages["otsu"].masks, truth)
            rows.append(
                [
                    "otsu",
                    fmt(s.dice_mean, s.dice_std),
                    fmt(s.iou_mean, s.iou_std),
                    fmt(s.accuracy_mean, s.accuracy_std),
                    "-",
                ]
            )
            otsu_done = True
        s = summarize(result.masks, truth)
        rows.append(
            [
                f"unet: {label}",
                fmt(s.dice_mean, s.dice_std),
                fmt(s.iou_mean, s.iou_std),
                fmt(s.accuracy_mean, s.accuracy_std),
                f"{seconds:.0f}",
            ]
        )
    net = "fast preset" if args.fast_preset else "size {size}, base 8, depth 3, 40 epochs, batch 8".format(**vars(args))
    level = "" if args.confident is None else f", confident {args.confident}"
    print(f"synthetic_spheroids(n={args.n}, size={args.size}, seed={args.seed}); unet: {net}{level}; CPU")
    print(table(["stage", "DSC", "IoU", "PA", "seconds"], rows))


if __name__ == "__main__":
    main()
