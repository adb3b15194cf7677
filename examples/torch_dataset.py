"""bootseg's masks as a ``torch.utils.data.Dataset`` inside a plain PyTorch training loop.

bootseg labels a folder of unannotated images (Otsu, then a small U-Net trained on Otsu's masks); the masks
become the targets of *your own* model and training loop, here a tiny fully convolutional network trained with
binary cross-entropy. Nothing of bootseg is needed after the labelling step.

    python examples/torch_dataset.py --n 32 --size 64 --epochs 3
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from _data import write_spheroids
from torch import nn
from torch.utils.data import DataLoader, Dataset

from bootseg import BootstrapChain
from bootseg.metrics import dice


class BootsegMasks(Dataset):
    """(image, mask) pairs from a bootseg result: float32 ``(1, H, W)`` image in [0, 1], float32 ``(1, H, W)`` mask."""

    def __init__(self, images: list[np.ndarray], masks: list[np.ndarray]) -> None:
        if len(images) != len(masks):
            raise ValueError(f"got {len(images)} images but {len(masks)} masks")
        self.images = images
        self.masks = masks

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = torch.from_numpy(self.images[index].astype(np.float32) / 255.0)[None]
        mask = torch.from_numpy(self.masks[index].astype(np.float32))[None]
        return image, mask


def tiny_net() -> nn.Module:
    """A small fully convolutional network: the model *you* would train."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2),
        nn.ReLU(),
        nn.Conv2d(8, 1, 1),
    )


def main(argv: list[str] | None = None) -> float:
    """Label, train, report; returns the trained model's mean Dice against the true masks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="number of images")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of your training loop")
    parser.add_argument("--unet-epochs", type=int, default=3, help="epochs of bootseg's U-Net stage")
    args = parser.parse_args(argv)
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        truth = write_spheroids(folder, args.n, size=args.size)
        # 1. bootseg labels the folder: no human annotation.
        chain = BootstrapChain(
            ["otsu", ("unet", {"size": args.size, "base_channels": 8, "epochs": args.unet_epochs})],
            device="cpu",
            progress=False,
        )
        result = chain.run(folder)
        from bootseg.io import read_images

        images, _ = read_images(folder)

    # 2. Its masks feed an ordinary Dataset / DataLoader / training loop.
    dataset = BootsegMasks(images, result.masks)
    loader = DataLoader(dataset, batch_size=8, shuffle=True)
    model = tiny_net()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.BCEWithLogitsLoss()
    for epoch in range(args.epochs):
        total = 0.0
        for x, y in loader:
            optimiser.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(x)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(dataset):.4f}")

    # 3. Score both against the true masks (which neither ever saw).
    model.eval()
    with torch.inference_mode():
        predicted = [(model(dataset[i][0][None])[0, 0] > 0).numpy() for i in range(len(dataset))]
    truths = [truth[name] for name in result.names]
    bootseg_dice = float(np.mean([dice(m, t) for m, t in zip(result.masks, truths, strict=True)]))
    model_dice = float(np.mean([dice(m, t) for m, t in zip(predicted, truths, strict=True)]))
    print(f"mean Dice vs truth: bootseg labels {bootseg_dice:.3f}, your model trained on them {model_dice:.3f}")
    return model_dice


if __name__ == "__main__":
    main()
