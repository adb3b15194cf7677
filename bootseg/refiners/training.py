"""The training loop of the network stage: seeded split, on-device batches, best-validation weights restored.

Running out of device memory halves the batch and restarts the run with the same seed (see :mod:`.memory`); under
``torchrun`` the loop trains with DistributedDataParallel on each process's shard (see :mod:`.distributed`).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .augment import AugmentConfig, augment_batch
from .config import UNetConfig
from .distributed import Distributed, all_reduce_sum, average_buffers, join, rank_seed, shard
from .divergence import check_converged
from .losses import get_loss
from .memory import DeviceMemoryError, halve_batch, out_of_memory_errors, too_large_error
from .stopping import EarlyStopping

__all__ = ["TrainReport", "split_indices", "train_network"]

log = logging.getLogger(__name__)


@dataclass
class TrainReport:
    """What a training run did: per-epoch losses, the epoch whose weights were kept, the batch size, throughput.

    Attributes
    ----------
    history : list of dict
        One entry per epoch: ``epoch``, ``train_loss``, ``val_loss`` and the ``batch_size`` it trained with.
    best_epoch, best_val_loss
        The epoch whose weights were kept, and its validation loss.
    seconds : float
        Wall time of the training run that was kept (a run restarted after running out of memory counts from
        its restart).
    train_images, val_images : int
        Sizes of the training and validation split (of the whole set, over every process).
    stopped_early : bool
        Whether the stopping rule (``patience``, ``min_delta``, ``min_epochs``) ended the run before ``epochs``.
    stop_reason : str or None
        Why it stopped early, in words; ``None`` when it trained every epoch.
    batch_size : int
        The batch size actually used (per process): ``cfg.batch_size``, or less after running out of memory.
    memory_retries : int
        How many times training ran out of memory and restarted with half the batch.
    world_size, rank : int
        Number of training processes (1 without torchrun) and this process's index.
    shard_images : int
        Training images this process saw per epoch: ``train_images`` alone, about ``train_images / world_size``
        under torchrun.

    Examples
    --------
    >>> report = TrainReport(history=[{"epoch": 1}, {"epoch": 2}], seconds=4.0, train_images=10, batch_size=8)
    >>> report.images_per_second
    5.0
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("nan")
    seconds: float = 0.0
    train_images: int = 0
    val_images: int = 0
    stopped_early: bool = False
    stop_reason: str | None = None
    batch_size: int = 0
    memory_retries: int = 0
    world_size: int = 1
    rank: int = 0
    shard_images: int = 0

    @property
    def images_per_second(self) -> float:
        """Training images processed per second (forward and backward), validation excluded from the count."""
        return self.train_images * len(self.history) / self.seconds if self.seconds else float("nan")


def split_indices(
    n: int, val_fraction: float, seed: int, keep: Sequence[int] = (), *, hold_out: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into training and validation indices.

    At least one image is held out when ``val_fraction > 0`` and ``n >= 2``; a single image trains alone. The
    indices in ``keep`` (trusted labels) are always trained on; the others are split as ``range(n)`` is without
    them. With ``hold_out``, ``keep`` is the validation set instead and every other image is trained on.

    >>> train, val = split_indices(10, 0.2, seed=0)
    >>> len(train), len(val), sorted([*train, *val]) == list(range(10))
    (8, 2, True)
    >>> train, val = split_indices(10, 0.2, seed=0, keep=[0, 1])
    >>> {0, 1} <= set(train.tolist()), len(val)
    (True, 2)
    >>> [part.tolist() for part in split_indices(5, 0.2, seed=0, keep=[3], hold_out=True)]
    [[0, 1, 2, 4], [3]]
    """
    if len(keep) and hold_out:
        held = np.unique(np.asarray(keep, dtype=int))
        return np.setdiff1d(np.arange(n), held), held
    if len(keep):
        rest = np.setdiff1d(np.arange(n), np.asarray(keep, dtype=int))
        train, val = split_indices(len(rest), val_fraction, seed)
        return np.sort(np.concatenate([rest[train], np.asarray(keep, dtype=int)])), rest[val]
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


def _loss_sum(model, images, masks, indices, cfg: UNetConfig, device, batch_size: int) -> torch.Tensor:
    """Sum over ``indices`` of the per-batch loss times the batch length, in eval mode, without augmentation."""
    loss_fn = get_loss(cfg.loss)
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device)
    try:
        with torch.inference_mode(), autocast_for(device, cfg.amp):
            for idx in _batches(indices, batch_size):
                x = images[idx].float().div_(255)
                total += loss_fn(model(_layout(x, cfg, device)), masks[idx].float().div_(255)) * len(idx)
    finally:
        model.train(was_training)
    return total


def evaluate_loss(model, images, masks, indices, cfg: UNetConfig, device, *, batch_size: int | None = None) -> float:
    """Mean loss over ``indices`` in eval mode, without augmentation; the model's mode is restored.

    ``batch_size`` defaults to ``cfg.batch_size``.

    >>> from bootseg.refiners.unet import UNet
    >>> cfg = UNetConfig(size=16, base_channels=2, depth=1)
    >>> x, y = torch.zeros(2, 1, 16, 16, dtype=torch.uint8), torch.zeros(2, 1, 16, 16, dtype=torch.uint8)
    >>> loss = evaluate_loss(UNet(1, base_channels=2, depth=1), x, y, torch.arange(2), cfg, torch.device("cpu"))
    >>> loss > 0
    True
    """
    total = _loss_sum(model, images, masks, indices, cfg, device, batch_size or cfg.batch_size)
    return float(total) / len(indices)


def channels_last(cfg: UNetConfig, device: torch.device) -> bool:
    """Whether the network and its batches use the channels-last layout: ``cfg.channels_last`` on a CPU or CUDA
    device (where oneDNN and cuDNN convolve it faster); other devices keep PyTorch's default layout."""
    return cfg.channels_last and device.type in ("cpu", "cuda")


def place(model: torch.nn.Module, cfg: UNetConfig, device: torch.device) -> torch.nn.Module:
    """``model`` on ``device``, in the channels-last layout where :func:`channels_last` says so."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if channels_last(cfg, device) else model


def _layout(x: torch.Tensor, cfg: UNetConfig, device: torch.device) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last(cfg, device) else x


def train_network(
    model: nn.Module,
    images: torch.Tensor,
    masks: torch.Tensor,
    cfg: UNetConfig,
    *,
    augment: AugmentConfig | None = None,
    trusted: Sequence[int] = (),
    trust_weight: float = 1.0,
    hold_out_trusted: bool = False,
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
    trusted : sequence of int
        Images whose masks are trusted (a person's corrections): always trained on, never held out for
        validation, and weighted ``trust_weight`` in the loss (every other image: 1).
    trust_weight : float
    hold_out_trusted : bool
        Validate on the trusted images alone instead (their masks choose the epoch kept and when to stop) and
        train on every other image, with weight 1.

    Returns
    -------
    TrainReport
        The weights of the epoch with the lowest validation loss are loaded back into ``model`` (the last
        epoch's when nothing is held out).

    Raises
    ------
    DeviceMemoryError
        When the device runs out of memory even at batch size 1, or at all under torchrun.
    TrainingDivergedError
        When the validation loss was not finite in any epoch, or the kept weights are not finite
        (:func:`.divergence.check_converged`).

    Notes
    -----
    When the device runs out of memory, the batch size is halved and training restarts from the first epoch with
    the initial weights and the same seed, so the result is the one a run with the smaller ``batch_size`` gives.

    Under a ``torchrun`` launch of several processes (or in a process group of several processes that the caller
    initialised), the model is wrapped in DistributedDataParallel and each process trains on its part of every
    epoch's permutation (``batch_size`` is per process); losses and BatchNorm statistics are averaged over the
    processes, and every process ends with the same weights. Only rank 0 logs and shows progress.

    Examples
    --------
    >>> from bootseg.refiners.unet import UNet
    >>> cfg = UNetConfig(size=16, base_channels=2, depth=1, epochs=2, batch_size=2, progress=False)
    >>> x = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8)
    >>> report = train_network(UNet(1, base_channels=2, depth=1), x, (x > 127).to(torch.uint8) * 255, cfg)
    >>> len(report.history), report.batch_size, report.train_images, report.val_images
    (2, 2, 5, 1)
    """
    context = join(images.device)
    weight = 1.0 if hold_out_trusted else float(trust_weight)
    trust = _Trust(tuple(int(i) for i in trusted), weight, images.shape[0], images.device, hold_out_trusted)
    if context is not None:
        report = _train_distributed(model, images, masks, cfg, augment, context, trust)
    else:
        report = _train_with_retries(model, images, masks, cfg, augment, trust)
    check_converged(report, model, lr=cfg.lr)
    return report


class _Trust:
    """Which images are trusted labels, whether they are the validation set (``hold_out``) rather than trained on,
    and each image's loss weight (``None`` when every weight is 1)."""

    def __init__(
        self, trusted: tuple[int, ...], weight: float, n: int, device: torch.device, hold_out: bool = False
    ) -> None:
        self.trusted = trusted
        self.hold_out = hold_out
        self.weights = None
        if trusted and weight != 1.0:
            self.weights = torch.ones(n, device=device)
            self.weights[list(trusted)] = weight


def _train_with_retries(model, images, masks, cfg: UNetConfig, augment, trust: _Trust) -> TrainReport:
    device = images.device
    initial = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    batch_size, retries = cfg.batch_size, 0
    while True:
        try:
            report = _train(model, images, masks, cfg, augment, batch_size, None, model, trust)
        except out_of_memory_errors() as exc:
            if batch_size <= 1:
                raise too_large_error("training", device, size=cfg.size, base_channels=cfg.base_channels) from exc
        else:
            report.memory_retries = retries
            return report
        model.zero_grad(set_to_none=True)
        batch_size = halve_batch(
            batch_size,
            task="training",
            device=device,
            then="; training restarts from the first epoch with the same seed",
        )
        model.load_state_dict(initial)
        retries += 1


def _train_distributed(
    model, images, masks, cfg: UNetConfig, augment, context: Distributed, trust: _Trust
) -> TrainReport:
    from torch.nn.parallel import DistributedDataParallel

    device = images.device
    # BatchNorm statistics are averaged after every epoch instead of copied from rank 0 before every step
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters:
        options: dict[str, Any] = {"forward_sync_buffers": False}
    else:  # older torch
        options = {"broadcast_buffers": False}
    if device.type == "cuda":
        options["device_ids"] = [device.index if device.index is not None else torch.cuda.current_device()]
    wrapped = DistributedDataParallel(model, **options)
    try:
        return _train(model, images, masks, cfg, augment, cfg.batch_size, context, wrapped, trust)
    except out_of_memory_errors() as exc:
        if cfg.batch_size <= 1:
            raise too_large_error("training", device, size=cfg.size, base_channels=cfg.base_channels) from exc
        raise DeviceMemoryError(
            f"out of memory on {device} while training at batch size {cfg.batch_size} in process {context.rank} "
            f"of {context.world_size}: processes that share every step cannot halve their batch alone, so the run "
            f"stops; set a batch_size of at most {cfg.batch_size // 2} (batch_size is per process), or use a smaller "
            "working size (--size) or network"
        ) from exc


def _train(
    model, images, masks, cfg: UNetConfig, augment, batch_size: int, context, step_model, trust: _Trust
) -> TrainReport:
    """One training run at ``batch_size``; ``context`` is ``None`` in one process, ``step_model`` the DDP wrapper."""
    device = images.device
    rank, world = (context.rank, context.world_size) if context is not None else (0, 1)
    main = rank == 0
    train_np, val_np = split_indices(
        images.shape[0], cfg.val_fraction, cfg.seed, trust.trusted, hold_out=trust.hold_out
    )
    train_idx = torch.as_tensor(train_np, device=device)
    val_idx = torch.as_tensor(val_np, device=device)
    own_val = val_idx[rank::world]
    generator = torch.Generator(device=device).manual_seed(rank_seed(cfg.seed, rank))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    shard_images = math.ceil(len(train_idx) / world)  # each process's share of an epoch
    steps_per_epoch = math.ceil(shard_images / batch_size)
    scheduler = learning_rate_schedule(optimizer, cfg.schedule, cfg.epochs * steps_per_epoch)
    loss_fn = get_loss(cfg.loss)
    if cfg.compile:
        step_model = torch.compile(step_model)
    report = TrainReport(
        train_images=len(train_idx),
        val_images=len(val_idx),
        batch_size=batch_size,
        world_size=world,
        rank=rank,
        shard_images=shard_images,
    )
    best_state: dict[str, torch.Tensor] | None = None
    best = float("inf")
    stopping = EarlyStopping(cfg.patience, min_delta=cfg.min_delta, min_epochs=cfg.min_epochs)
    bar = _progress(cfg) if main else None
    model.train()
    start = time.perf_counter()
    try:
        for epoch in range(1, cfg.epochs + 1):
            if context is None:
                order = train_idx[torch.randperm(len(train_idx), generator=generator, device=device)]
            else:
                order = shard(train_idx, epoch, cfg.seed, context)
            running = torch.zeros((), device=device)
            for idx in _batches(order, batch_size):
                x = images[idx].float().div_(255)
                y = masks[idx].float().div_(255)
                if cfg.crop and cfg.crop < x.shape[-1]:
                    x, y = random_crops(x, y, cfg.crop, generator)
                if augment is not None:
                    x, y = augment_batch(x, y, augment, generator)
                with autocast_for(device, cfg.amp):
                    if trust.weights is None:
                        loss = loss_fn(step_model(_layout(x, cfg, device)), y)
                    else:
                        loss = loss_fn(step_model(_layout(x, cfg, device)), y, weight=trust.weights[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                running += loss.detach() * len(idx)
            if context is not None:
                average_buffers(model, world)
            val_sum = _loss_sum(model, images, masks, own_val, cfg, device, batch_size)
            if context is None:
                train_loss = float(running) / len(train_idx)
                val_loss = float(val_sum) / len(val_idx) if len(val_idx) else train_loss
            else:
                sums = all_reduce_sum(running, torch.tensor(float(len(order)), device=device), val_sum)
                train_loss = float(sums[0] / sums[1])
                val_loss = float(sums[2]) / len(val_idx) if len(val_idx) else train_loss
            report.history.append(
                {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "batch_size": batch_size}
            )
            if val_loss < best:
                best, report.best_epoch = val_loss, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if bar is not None:
                bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", best=report.best_epoch)
                bar.update(1)
            if main:
                log.debug("epoch %d: train loss %.4f, val loss %.4f", epoch, train_loss, val_loss)
            if stopping.update(val_loss) and epoch < cfg.epochs:
                report.stopped_early, report.stop_reason = True, stopping.reason
                if main:
                    log.info("early stop after epoch %d (best %d): %s", epoch, report.best_epoch, stopping.reason)
                break
    finally:
        if bar is not None:
            bar.close()
    report.seconds = time.perf_counter() - start
    if best_state is not None:
        model.load_state_dict(best_state)
    report.best_val_loss = best
    return report


def learning_rate_schedule(optimizer, schedule: str, steps: int):
    """The scheduler of ``schedule`` over ``steps`` optimiser steps, or ``None`` for a constant rate.

    ``"cosine"`` decays every group's rate from its initial value to 0 along a half cosine ending at ``steps``.

    >>> import torch
    >>> opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = learning_rate_schedule(opt, "cosine", 4)
    >>> rates = []
    >>> for _ in range(4):
    ...     opt.step(); sched.step(); rates.append(round(opt.param_groups[0]["lr"], 3))
    >>> rates
    [0.854, 0.5, 0.146, 0.0]
    """
    if schedule == "constant":
        return None
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1), eta_min=0.0)
    raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")


def random_crops(
    images: torch.Tensor, masks: torch.Tensor, side: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random ``side × side`` window per sample of ``(B, C, H, W)`` images and their masks (same window).

    >>> x = torch.arange(2 * 16.0).reshape(2, 1, 4, 4); y = x.clone()
    >>> cx, cy = random_crops(x, y, 2, torch.Generator().manual_seed(0))
    >>> cx.shape, bool(torch.equal(cx, cy))
    (torch.Size([2, 1, 2, 2]), True)
    """
    batch, _, height, width = images.shape
    device = images.device
    top = torch.randint(0, height - side + 1, (batch,), generator=generator, device=device)
    left = torch.randint(0, width - side + 1, (batch,), generator=generator, device=device)
    steps = torch.arange(side, device=device)
    rows = (top[:, None] + steps)[:, None, :, None]  # (B, 1, side, 1)
    cols = (left[:, None] + steps)[:, None, None, :]  # (B, 1, 1, side)
    samples = torch.arange(batch, device=device)[:, None, None, None]

    def window(t: torch.Tensor) -> torch.Tensor:
        channels = torch.arange(t.shape[1], device=device)[None, :, None, None]
        return t[samples, channels, rows, cols]

    return window(images), window(masks)


def _progress(cfg: UNetConfig):
    if not cfg.progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=cfg.epochs, desc="unet", unit="epoch", leave=False)
