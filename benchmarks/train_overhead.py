"""Training-loop overhead: bootseg's loop vs a plain hand-written PyTorch loop over the same model, data and steps.

Both loops train the same freshly seeded U-Net on the same uint8 tensors (already on the device), with the same
batch order, the same loss, and one validation pass per epoch; bootseg's loop adds its bookkeeping (best-weights
copy, progress, report). A third row adds bootseg's on-device augmentation, to show what it costs.

    python benchmarks/train_overhead.py --preset fast              # CPU, the fast preset at its working size
    python benchmarks/train_overhead.py --preset paper --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table, timed

from bootseg.datasets import synthetic_spheroids
from bootseg.refiners.augment import AugmentConfig
from bootseg.refiners.config import UNetConfig
from bootseg.refiners.device import resolve_device
from bootseg.refiners.losses import get_loss
from bootseg.refiners.training import autocast_for, split_indices, train_network
from bootseg.refiners.unet import UNet


def make_data(n: int, size: int, channels: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    images, masks = synthetic_spheroids(n, size=size, seed=0)
    x = torch.from_numpy(np.stack(images)[:, None]).repeat(1, channels, 1, 1)
    y = torch.from_numpy(np.stack(masks)[:, None].astype(np.uint8) * 255)
    return x.to(device), y.to(device)


def make_model(cfg: UNetConfig, channels: int, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(cfg.seed)
    model = UNet(channels, base_channels=cfg.base_channels, depth=cfg.depth).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def plain_loop(model, x, y, cfg: UNetConfig, device) -> None:
    """What a person would write by hand: no augmentation, no bookkeeping."""
    train_np, val_np = split_indices(len(x), cfg.val_fraction, cfg.seed)
    train_idx, val_idx = torch.as_tensor(train_np, device=device), torch.as_tensor(val_np, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loss_fn = get_loss(cfg.loss)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    for _ in range(cfg.epochs):
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=gen, device=device)]
        for idx in torch.split(order, cfg.batch_size):
            xb = (x[idx].float() / 255).contiguous(memory_format=fmt)
            with autocast_for(device, cfg.amp):
                loss = loss_fn(model(xb), y[idx].float() / 255)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode(), autocast_for(device, cfg.amp):
            for idx in torch.split(val_idx, cfg.batch_size):
                loss_fn(model((x[idx].float() / 255).contiguous(memory_format=fmt)), y[idx].float() / 255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast", choices=["fast", "paper"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=None, help="training set size (default: 80 CPU, 640 GPU)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="alternating repeats; the best time of each is kept")
    parser.add_argument("--channels", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    n = args.images or (640 if device.type == "cuda" else 80)
    cfg = UNetConfig.from_options(args.preset, epochs=args.epochs, progress=False, device=str(device))
    x, y = make_data(n, cfg.size, args.channels, device)
    runs = {
        "plain PyTorch loop": lambda: plain_loop(make_model(cfg, args.channels, device), x, y, cfg, device),
        "bootseg train_network": lambda: train_network(make_model(cfg, args.channels, device), x, y, cfg),
        "bootseg + augmentation": lambda: train_network(
            make_model(cfg, args.channels, device), x, y, cfg, augment=AugmentConfig()
        ),
    }
    warm = dataclasses.replace(cfg, epochs=1)
    train_network(make_model(warm, args.channels, device), x[: 4 * cfg.batch_size], y[: 4 * cfg.batch_size], warm)
    best = {name: float("inf") for name in runs}
    for _ in range(args.repeat):
        for name, fn in runs.items():
            best[name] = min(best[name], timed(fn, device))
    steps_images = len(split_indices(n, cfg.val_fraction, cfg.seed)[0]) * cfg.epochs
    base = best["plain PyTorch loop"]
    rows = [[name, f"{t:.2f}", f"{steps_images / t:.1f}", f"{t / base:.3f}"] for name, t in best.items()]
    device_name = (
        torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(
        f"preset {args.preset}: size {cfg.size}, base {cfg.base_channels}, batch {cfg.batch_size}, {n} images "
        f"({steps_images // cfg.epochs} trained per epoch), {cfg.epochs} epochs, amp {cfg.amp}, {device_name}, "
        f"torch {torch.__version__}; best of {args.repeat}"
    )
    print(table(["loop", "seconds", "train images/s", "time ratio vs plain"], rows))


if __name__ == "__main__":
    main()
