"""The network's memory layout on the CPU: channels-last (the default) against PyTorch's default layout.

The same :class:`~bootseg.refiners.UNetRefiner` (the ``fast`` preset) is trained and then predicts with
``channels_last=True`` and ``False`` on the same synthetic images, seed and options, the two interleaved round by
round (medians kept), at the working sizes the default chain uses on the benchmark sets: 128² (the preset), and
176, 240 and 256 px working sizes trained on 128² windows (the working-size rule, ``min_radius``). The last
column is the difference of the two runs' best validation loss: the arithmetic is the same, only the order of
the values in memory differs, so it agrees to rounding.

    python benchmarks/layout.py                  # torch's own thread count (what a user gets)
    python benchmarks/layout.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bootseg.datasets import synthetic_spheroids
from bootseg.refiners import UNetRefiner

#: (working size, training window) pairs; window 0: the whole image.
SIZES = ((128, 0), (176, 128), (240, 128), (256, 128))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=40, help="synthetic images (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per training (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="torch threads (default: bootseg's own choice)")
    return parser.parse_args(argv)


def one(images, masks, size: int, crop: int, layout: bool, args: argparse.Namespace) -> tuple[float, float, float]:
    """Seconds to train, seconds to predict, and the best validation loss, for one layout."""
    stage = UNetRefiner(
        size=size,
        crop=crop,
        min_radius=0,
        epochs=args.epochs,
        patience=None,
        channels_last=layout,
        threads=args.threads,
        device="cpu",
        progress=False,
        seed=0,
    )
    start = time.perf_counter()
    stage.fit(images, masks)
    trained = time.perf_counter() - start
    start = time.perf_counter()
    stage.predict_proba(images)
    return trained, time.perf_counter() - start, stage.report.best_val_loss


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    rows = []
    warm, _ = synthetic_spheroids(4, size=64, seed=1)
    for layout in (False, True):  # the first training of a process pays oneDNN's start-up: not timed
        one(
            warm,
            [image < image.mean() for image in warm],
            64,
            0,
            layout,
            argparse.Namespace(**{**vars(args), "epochs": 1}),
        )
    for size, crop in SIZES:
        images, _ = synthetic_spheroids(args.images, size=size, seed=1)
        masks = [image < image.mean() for image in images]  # a plain threshold's masks, as a first stage gives
        times: dict[bool, list[tuple[float, float, float]]] = {True: [], False: []}
        for _ in range(args.rounds):
            for layout in (False, True):
                times[layout].append(one(images, masks, size, crop, layout, args))
        train = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
        predict = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
        loss = abs(times[True][0][2] - times[False][0][2])
        rows.append((size, crop, train, predict, loss))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {args.images} images, {args.epochs} epochs")
    print()
    print(
        "| working size | window | train s, default layout | train s, channels-last | ratio | "
        "predict s, default layout | predict s, channels-last | ratio | best val loss Δ |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for size, crop, train, predict, loss in rows:
        print(
            f"| {size} | {crop or size} | {train[False]:.2f} | {train[True]:.2f} | {train[True] / train[False]:.2f} | "
            f"{predict[False]:.2f} | {predict[True]:.2f} | {predict[True] / predict[False]:.2f} | {loss:.1e} |"
        )
    ratios = [r[2][True] / r[2][False] for r in rows]
    print(f"\ntraining time ratio, channels-last over default: {np.mean(ratios):.2f} mean")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
