"""Options of the U-Net stage, its presets, and how explicit options override a preset."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from ..threads import check_threads

__all__ = [
    "LOSSES",
    "MAX_BASE_CHANNELS",
    "MAX_BATCH_SIZE",
    "MAX_EPOCHS",
    "MAX_SIZE",
    "MAX_WIDEST",
    "PRESETS",
    "UNetConfig",
]

#: Values the ``loss`` option accepts.
LOSSES = ("dice", "bce", "bce_dice")

#: The largest working size (and crop): 8192², the default pixel limit of an input (``--max-pixels``).
MAX_SIZE = 8192
#: The most filters of the network's first level (the paper's U-Net has 64).
MAX_BASE_CHANNELS = 256
#: The most filters of the widest level, ``base_channels × 2**depth`` (the paper's U-Net has 1024); with it,
#: a network has at most about 125 M parameters (500 MB of weights), whatever the file or the options say.
MAX_WIDEST = 2048
#: The largest batch.
MAX_BATCH_SIZE = 4096
#: The most training epochs.
MAX_EPOCHS = 100_000

#: The values of the ``normalize`` option: the images as they are, or each stretched between two percentiles.
NORMALIZE = ("none", "percentile")

#: The values of the ``schedule`` option: the learning rate held at ``lr``, or decayed from it to 0 along a half cosine
#: over the epochs' optimiser steps.
SCHEDULES = ("constant", "cosine")

#: The values of the ``corrections`` option: train on the corrected masks, or validate on them.
CORRECTIONS = ("train", "validate")

#: Named starting points; explicit options override them.
#: ``paper``: the network and schedule of Rettenberger et al. (2022) — meant for a GPU.
#: ``fast``: a small network at a small working size that trains a few hundred images in minutes on 2 CPU cores.
#: It trains at most 30 epochs of batches of 8, its learning rate decayed along a half cosine (``schedule``): small
#: batches give the few images of a set more optimiser steps for the same arithmetic, and the decaying rate settles
#: the weights by the last epoch, so the default chain's masks (where the network is sure, over its first stage's)
#: are as good as after longer training at a constant rate, in less time (chosen without each benchmark set in turn).
#: A network meant for ``bootseg predict`` on new images, whose masks are all its own, gains from longer training
#: (``epochs``). Its working size grows past 128 px where the masks' finest structures need it (``min_radius``;
#: :mod:`bootseg.refiners.scale`). It stops earlier when the validation loss has not improved for 20 epochs
#: (``patience``; the best epoch's weights are kept either way); ``paper`` trains every epoch at a constant rate,
#: as the paper did.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {
        "size": 256,
        "base_channels": 64,
        "depth": 4,
        "batch_size": 32,
        "epochs": 100,
        "loss": "dice",
        "label_sigma": 0.0,
        "min_radius": 0.0,
        "patience": None,
        "confident": 0.5,
        "schedule": "constant",
    },
    "fast": {
        "size": 128,
        "min_radius": 8.0,
        "base_channels": 16,
        "depth": 4,
        "batch_size": 8,
        "epochs": 30,
        "patience": 20,
        "schedule": "cosine",
    },
}


#: The learning rate of the training on the corrected images alone (``trusted_epochs``), as a share of ``lr``: small
#: steps from the weights the whole set gave, so that the network keeps what it learned there.
TRUSTED_LR_SCALE = 0.1


@dataclass(frozen=True)
class UNetConfig:
    """Every option of the ``unet`` stage, after the preset was applied.

    Attributes
    ----------
    size : int
        Working size: the images' median longer side is resized to ``size`` pixels, and every image by the same
        factor, its aspect kept, so that a pixel covers the same area in every image (:mod:`bootseg.refiners.tiles`);
        predictions are resized back to each image's own size. With ``min_radius``, the smallest working size.
    min_radius : float
        Enlarge the working size, up to the images' own size, until the thinner class of the masks the stage
        learns from keeps a radius of at least this many working pixels (:mod:`bootseg.refiners.scale`; default
        8); the network then trains on ``size × size`` windows (``crop``) unless ``crop`` is given. 0 keeps
        ``size`` (the ``paper`` preset). Small nuclei in a large field stay several pixels wide instead of
        vanishing; images whose objects are large keep ``size``.
    crop : int
        Train on random ``crop × crop`` windows of the working-size images instead of whole images (0, or any
        value of at least ``size``: whole images); validation and prediction use whole images. With ``size`` at
        the images' own size and a smaller ``crop``, the network learns at full resolution for the cost per step
        of the smaller size: thin structures (EM membranes) survive, at the price of less context per window.
    normalize : {"none", "percentile"}
        How each image's values reach the network: as they are (uint8; other dtypes stretched from their own
        minimum to maximum), or stretched per image so that its 1st and 99th percentiles (all channels together)
        become 0 and 255 (:func:`bootseg.refiners.pixels.stretch`), so that exposure and stain strength that vary
        from image to image do not.
    tile : int
        The largest side, in working pixels, that the network sees at once (default 256). An image larger than
        that at the working size is cut into tiles: side by side for training (each a sample), overlapping by a
        quarter and blended for prediction (:mod:`bootseg.refiners.tiles`), so that memory is bounded by the tile,
        not the image. A multiple of ``2**depth``. Larger tiles give the network more context per pass for more
        memory; images that fit one tile are unaffected.
    base_channels, depth, upsampling, batchnorm
        The network (see :class:`bootseg.refiners.unet.UNet`).
    loss : {"bce", "dice", "bce_dice"}
        Binary cross-entropy (default), soft Dice per image (the paper's, and the ``paper`` preset's), or their sum.
        Cross-entropy is the default because its optimum is the calibrated probability of the noisy label, so
        thresholding at 0.5 takes the majority of the noisy masks; soft Dice rewards covering uncertain pixels and
        learns the first stage's false positives (measured in ``docs/benchmarks.md``).
    lr : float
        Adam learning rate (paper: 1e-3).
    schedule : {"constant", "cosine"}
        The learning rate over training: held at ``lr`` (the paper's), or (the default) decayed after every optimiser
        step from ``lr`` to 0 along a half cosine that ends with the last of ``epochs``
        (:class:`torch.optim.lr_scheduler.CosineAnnealingLR`). The small steps of the last epochs settle the weights
        that a constant rate keeps shaking, so fewer epochs reach the same fit; a run that stops early
        (``patience``) stops part of the way down.
    batch_size, epochs : int
        Mini-batch size and number of passes over the training split.
    val_fraction : float
        Share of the (image, noisy mask) pairs held out, by the seed, to pick the best epoch (paper: 0.2).
    patience : int or None
        Stop when the validation loss has not improved (by ``min_delta``) for this many epochs (default 20; the
        ``paper`` preset: ``None``, every epoch). The weights of the lowest validation loss are kept either way
        (:class:`bootseg.refiners.stopping.EarlyStopping`).
    min_delta : float
        Smallest relative fall of the validation loss that counts as an improvement for ``patience``, in [0, 1).
    min_epochs : int
        Never stop before this many epochs.
    augment : bool
        Apply the paper's augmentations (see :class:`bootseg.refiners.augment.AugmentConfig`) to training batches.
    trusted_epochs : int
        After training on every image, train this many more epochs on the corrected images alone (the ``trusted``
        of :meth:`UNetRefiner.fit`), at a tenth of ``lr`` (:data:`TRUSTED_LR_SCALE`), with nothing held out, so that the
        network takes their rule over a first stage's mistake that is the same on many images. Default 0 (none):
        the few images a person corrected may all be of one kind, and a network trained on them alone can forget
        the rest of the set. Only with corrections.
    corrections : str
        What the network does with a person's corrected masks (the ``trusted`` of :meth:`UNetRefiner.fit`):
        ``"validate"`` (default) holds them out as its validation set, so that they choose the epoch kept, and in
        a chain run also the level ``confident`` (:func:`bootseg.corrections.choose_confident`), on images the
        network never trained on; ``"train"`` trains on them as trusted labels, weighted up
        (:func:`bootseg.corrections.trust_weight`). Validating did better on the benchmark sets
        (``docs/benchmarks.md``).
    label_sigma : float
        Gaussian smoothing (in working-size pixels) of the noisy masks into soft targets (default 1.0; the
        ``paper`` preset: 0, hard targets). Speckle in a first stage's mask becomes a minority vote the network
        does not learn to reproduce; a larger value also erases objects only a few pixels wide.
    threshold : float
        Probability above which a pixel is foreground in :meth:`predict`.
    confident : float
        In a chain run, the stage's masks are its input masks changed only where the network is sure: a pixel
        becomes foreground where the probability is at least ``confident`` and background where it is at most
        ``1 - confident``, and keeps the previous stage's class in between (default 0.8; the ``paper`` preset:
        0.5, every pixel the network's, above ``threshold``). A network trained on a noisy teacher is least sure
        where the teacher was inconsistent; there it has learned nothing better than the teacher, and its guess
        there lost more than it won on the benchmark sets (``docs/benchmarks.md``). New images (``bootseg
        predict``, :meth:`~bootseg.BootstrapChain.predict`) have no input masks: ``threshold`` decides there.
    tta : bool
        Test-time augmentation: predict each image also flipped left-right, top-bottom and both, and average the
        four probability maps (four times the prediction cost).
    device : str
        ``"auto"`` (CUDA, then Apple MPS, then CPU), or any torch device string.
    threads : int or None
        PyTorch's CPU threads for this process while the stage trains and predicts on the CPU; ``None`` (default)
        takes the cores this process may use less those other processes keep busy (:mod:`bootseg.threads`).
        Not kept by :meth:`UNetRefiner.load`, which chooses for the machine it runs on.
    amp : bool
        bf16 autocast on CUDA (ignored on CPU).
    channels_last : bool
        Keep the network and its batches in the channels-last (NHWC) memory layout on CPU and CUDA devices, which
        oneDNN and cuDNN convolve faster than the default layout; the arithmetic is the same, so the results agree
        to rounding (default True; False: PyTorch's default layout).
    compile : bool
        ``torch.compile`` the network (pays on a GPU for long runs).
    seed : int
        Seeds the split, the initial weights, the batch order and the augmentations.
    progress : bool
        Show a progress bar per epoch with the losses.

    Examples
    --------
    >>> cfg = UNetConfig.from_options("fast", epochs=5)
    >>> cfg.size, cfg.epochs, cfg.loss
    (128, 5, 'bce')
    """

    size: int = 128
    min_radius: float = 8.0
    crop: int = 0
    normalize: str = "none"
    tile: int = 256
    base_channels: int = 16
    depth: int = 4
    upsampling: str = "transpose"
    batchnorm: bool = True
    loss: str = "bce"
    lr: float = 1e-3
    schedule: str = "cosine"
    batch_size: int = 8
    epochs: int = 30
    val_fraction: float = 0.2
    patience: int | None = 20
    min_delta: float = 0.0
    min_epochs: int = 0
    augment: bool = True
    trusted_epochs: int = 0
    corrections: str = "validate"
    label_sigma: float = 1.0
    threshold: float = 0.5
    confident: float = 0.8
    tta: bool = False
    device: str = "auto"
    threads: int | None = None
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    seed: int = 0
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # bounds first: nothing is allocated for options (or a checkpoint's fields) beyond them
        _check_int("size", self.size, 16, MAX_SIZE, "MAX_SIZE")
        _check_int("base_channels", self.base_channels, 1, MAX_BASE_CHANNELS, "MAX_BASE_CHANNELS")
        _check_int("depth", self.depth, 1, 8)
        if self.base_channels * 2**self.depth > MAX_WIDEST:
            raise ValueError(
                f"the widest layer, base_channels × 2**depth = {self.base_channels} × {2**self.depth} = "
                f"{self.base_channels * 2**self.depth}, is above the limit of {MAX_WIDEST} (MAX_WIDEST); use fewer "
                f"base_channels (at most {MAX_WIDEST // 2**self.depth} at depth {self.depth}) or a smaller depth"
            )
        _check_int("batch_size", self.batch_size, 1, MAX_BATCH_SIZE, "MAX_BATCH_SIZE")
        _check_int("epochs", self.epochs, 1, MAX_EPOCHS, "MAX_EPOCHS")
        _check_int("seed", self.seed, 0)
        if self.size % 2**self.depth:
            raise ValueError(
                f"size {self.size} is not divisible by 2**depth = {2**self.depth}; use a multiple such as "
                f"{-(-self.size // 2**self.depth) * 2**self.depth}"
            )
        if isinstance(self.min_radius, bool) or not (
            isinstance(self.min_radius, (int, float)) and math.isfinite(self.min_radius) and self.min_radius >= 0
        ):
            raise ValueError(f"min_radius must be a number >= 0 (0 = keep size), got {self.min_radius!r}")
        _check_int("crop", self.crop, 0, MAX_SIZE, "MAX_SIZE")
        if self.crop % 2**self.depth:
            raise ValueError(
                f"crop must be 0 (whole images) or a multiple of 2**depth = {2**self.depth}, got {self.crop}"
            )
        if self.normalize not in NORMALIZE:
            raise ValueError(f"normalize must be one of {', '.join(NORMALIZE)}, got {self.normalize!r}")
        _check_int("tile", self.tile, 16, MAX_SIZE, "MAX_SIZE")
        if self.tile % 2**self.depth:
            raise ValueError(f"tile must be a multiple of 2**depth = {2**self.depth}, got {self.tile}")
        if self.upsampling not in ("transpose", "bilinear"):
            raise ValueError(f"upsampling must be 'transpose' or 'bilinear', got {self.upsampling!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if isinstance(self.lr, bool) or not (
            isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0
        ):
            raise ValueError(f"lr must be a finite number > 0 (the paper's: 1e-3), got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if not (isinstance(self.val_fraction, (int, float)) and 0 <= self.val_fraction < 1):
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.patience is not None:
            _check_int("patience", self.patience, 1)
        if isinstance(self.min_delta, bool) or not (
            isinstance(self.min_delta, (int, float)) and 0 <= self.min_delta < 1
        ):
            raise ValueError(f"min_delta must be a share of the loss in [0, 1), such as 0.01, got {self.min_delta!r}")
        _check_int("min_epochs", self.min_epochs, 0)
        _check_int("trusted_epochs", self.trusted_epochs, 0, MAX_EPOCHS, "MAX_EPOCHS")
        if self.corrections not in CORRECTIONS:
            raise ValueError(f"corrections must be one of {', '.join(CORRECTIONS)}, got {self.corrections!r}")
        if not (
            isinstance(self.label_sigma, (int, float)) and math.isfinite(self.label_sigma) and self.label_sigma >= 0
        ):
            raise ValueError(f"label_sigma must be a number >= 0, got {self.label_sigma!r}")
        if not (isinstance(self.threshold, (int, float)) and 0 < self.threshold < 1):
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold!r}")
        if isinstance(self.confident, bool) or not (
            isinstance(self.confident, (int, float)) and 0.5 <= self.confident <= 1
        ):
            raise ValueError(
                f"confident must be in [0.5, 1] (0.5: every pixel the network's; 1: only certain pixels), "
                f"got {self.confident!r}"
            )
        check_threads(self.threads)
        if not isinstance(self.device, str):
            raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', got {self.device!r}")

    @classmethod
    def from_options(cls, preset: str | None = "fast", **options: Any) -> UNetConfig:
        """Apply ``preset``, then ``options`` on top; unknown options list the valid ones.

        >>> UNetConfig.from_options("paper", epochs=3).base_channels
        64
        """
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(sorted(PRESETS))} or None, got {preset!r}")
        valid = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        unknown = sorted(set(options) - valid)
        if unknown:
            raise TypeError(f"unknown unet option(s) {', '.join(unknown)}; valid options: {', '.join(sorted(valid))}")
        merged = {**(PRESETS[preset] if preset else {}), **options}
        return cls(**merged)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able options (as saved in a checkpoint and in ``run.json``)."""
        data = dataclasses.asdict(self)
        data.pop("extra")
        return data


def _check_int(name: str, value: Any, low: int, high: int | None = None, bound_name: str | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        named = f" ({bound_name})" if bound_name and high is not None and value > high else ""
        raise ValueError(f"{name} must be {bound}{named}, got {value}")
