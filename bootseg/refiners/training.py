"""The training loop of the network stage: seeded split, on-device batches, best-validation weights restored."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .augment import AugmentConfig, augment_batch
from .config import UNetConfig
from .losses import get_loss

__all__ = ["TrainReport", "split_indices", "train_network"]

log = logging.getLogger(__name__)


@dataclass
class TrainReport:
    """What a training run did: per-epoch losses, the epoch whose weights were kept, throughput."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("nan")
    seconds: float = 0.0
    train_images: int = 0
    val_images: int = 0
    stopped_early: bool = False

    @property
    def images_per_second(self) -> float:
        """Training images processed per second (forward and backward), validation excluded from the count."""
        return self.train_images * len(self.history) / self.seconds if self.seconds else float("nan")


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into training and validation indices.

    At least one image is held out when ``val_fraction > 0`` and ``n >= 2``; a single image trains alone.

    >>> train, val = split_indices(10, 0.2, seed=0)
    >>> len(train), len(val), sorted([*train, *val]) == list(range(10))
    (8, 2, True)
    """
    order = np.random.default_rng(seed).permutation(n)
    n_val = 0 if val_fraction <= 0 or n < 2 else max(1, round(val_fraction * n))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def autocast_for(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when ``amp``; nothing elsewhere."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _batches(indices: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    return list(torch.split(indices, batch_size))


def evaluate_loss(model, images, masks, indices, cfg: UNetConfig, device) -> float:
    """Mean loss over ``indices`` in eval mode, without augmentation; the model's mode is restored."""
    loss_fn = get_loss(cfg.loss)
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device)
    try:
        with torch.inference_mode(), autocast_for(device, cfg.amp):
            for idx in _batches(indices, cfg.batch_size):
                x = images[idx].float().div_(255)
                total += loss_fn(model(_layout(x, device)), masks[idx].float().div_(255)) * len(idx)
    finally:
        model.train(was_training)
    return float(total) / len(indices)


def _layout(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x


def train_network(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    cfg: UNetConfig,
    *,
    augment: AugmentConfig | None = None,
) -> TrainReport:
    """Train ``model`` in place on (image, mask) pairs that already live on the training device.

    Parameters
    ----------
    model : nn.Module
        Maps ``(B, C, S, S)`` float images in [0, 1] to ``(B, 1, S, S)`` logits; on the training device.
    images : (N, C, S, S) uint8 tensor
    masks : (N, 1, S, S) uint8 tensor
        Targets scaled to 0..255 (0/255 for hard masks, in between for soft targets).
    cfg : UNetConfig
        Loss, learning rate, batch size, epochs, validation share, patience, amp, seed, progress.
    augment : AugmentConfig, optional
        Augment every training batch on the device; ``None`` trains on the plain images.

    Returns
    -------
    TrainReport
        The weights of the epoch with the lowest validation loss are loaded back into ``model`` (the last
        epoch's when nothing is held out).
    """
    device = images.device
    n = images.shape[0]
    train_np, val_np = split_indices(n, cfg.val_fraction, cfg.seed)
    train_idx = torch.as_tensor(train_np, device=device)
    val_idx = torch.as_tensor(val_np, device=device)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loss_fn = get_loss(cfg.loss)
    step_model = torch.compile(model) if cfg.compile else model
    report = TrainReport(train_images=len(train_idx), val_images=len(val_idx))
    best_state: dict[str, torch.Tensor] | None = None
    best, since_best = float("inf"), 0
    bar = _progress(cfg)
    model.train()
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        order = train_idx[torch.randperm(len(train_idx), generator=generator, device=device)]
        running = torch.zeros((), device=device)
        for idx in _batches(order, cfg.batch_size):
            x = images[idx].float().div_(255)
            y = masks[idx].float().div_(255)
            if augment is not None:
                x, y = augment_batch(x, y, augment, generator)
            with autocast_for(device, cfg.amp):
                loss = loss_fn(step_model(_layout(x, device)), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.detach() * len(idx)
        train_loss = float(running) / len(train_idx)
        val_loss = evaluate_loss(model, images, masks, val_idx, cfg, device) if len(val_idx) else train_loss
        report.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if val_loss < best:
            best, since_best, report.best_epoch = val_loss, 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
        if bar is not None:
            bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", best=report.best_epoch)
            bar.update(1)
        log.debug("epoch %d: train loss %.4f, val loss %.4f", epoch, train_loss, val_loss)
        if cfg.patience is not None and since_best >= cfg.patience:
            report.stopped_early = True
            log.info("early stop after epoch %d (best %d)", epoch, report.best_epoch)
            break
    report.seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    report.best_val_loss = best
    return report


def _progress(cfg: UNetConfig):
    if not cfg.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=cfg.epochs, desc="unet", unit="epoch", leave=False)
