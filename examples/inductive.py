"""Inductive use: train on one folder, then label images that arrive later without training again.

``BootstrapChain.run`` trains the U-Net on the first folder's Otsu masks; ``chain.predict`` labels a second
folder with the trained network; the network is saved and reloaded with ``UNetRefiner.load`` (as a later process
or another machine would) and gives the same masks. The masks of the new images are written as PNG files.

    python examples/inductive.py --n 24 --new 6 --epochs 3
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _data import write_spheroids

from bootseg import BootstrapChain
from bootseg.io import read_images, write_mask
from bootseg.metrics import dice
from bootseg.refiners import UNetRefiner


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train, save, reload, predict; returns the mean Dice of each way of labelling the new images."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="training images")
    parser.add_argument("--new", type=int, default=6, help="newly arriving images")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--epochs", type=int, default=3, help="U-Net epochs")
    parser.add_argument("--out", type=Path, help="folder for the new images' masks (default: a temporary one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train_truth = write_spheroids(tmp / "train", args.n, size=args.size, seed=0)
        new_truth = write_spheroids(tmp / "incoming", args.new, size=args.size, seed=1)  # never seen in training

        # Train on the first folder.
        chain = BootstrapChain(
            ["otsu", ("unet", {"size": args.size, "base_channels": 8, "epochs": args.epochs})],
            device="cpu",
            progress=False,
        )
        result = chain.run(tmp / "train")
        train_dice = np.mean([dice(m, train_truth[n]) for n, m in zip(result.names, result.masks, strict=True)])
        unet: UNetRefiner = result.stages["unet"].stage
        checkpoint = unet.save(tmp / "unet.pt")

        # Label the newly arriving folder: with the chain, and with the network reloaded from its file.
        new_images, paths = read_images(tmp / "incoming")
        from_chain = chain.predict(tmp / "incoming")
        from_file = UNetRefiner.load(checkpoint, device="cpu").predict(new_images)
        first_stage = [chain.stages[0].annotate(image) for image in new_images]
        out = args.out or tmp / "masks"
        out.mkdir(parents=True, exist_ok=True)
        for path, mask in zip(paths, from_file, strict=True):
            write_mask(out / f"{path.stem}.png", mask)
        written = sorted(p.name for p in out.iterdir())

    truths = [new_truth[p.stem] for p in paths]
    scores = {
        "train (unet)": float(train_dice),
        "new (otsu)": float(np.mean([dice(m, t) for m, t in zip(first_stage, truths, strict=True)])),
        "new (chain.predict)": float(np.mean([dice(m, t) for m, t in zip(from_chain, truths, strict=True)])),
        "new (UNetRefiner.load)": float(np.mean([dice(m, t) for m, t in zip(from_file, truths, strict=True)])),
    }
    same = all(np.array_equal(a, b) for a, b in zip(from_chain, from_file, strict=True))
    print(f"trained on {args.n} images, labelled {len(from_file)} new ones; wrote {len(written)} masks")
    print(f"chain.predict and the reloaded network agree on every mask: {same}")
    for key, value in scores.items():
        print(f"mean Dice vs truth, {key}: {value:.3f}")
    return scores


if __name__ == "__main__":
    main()
