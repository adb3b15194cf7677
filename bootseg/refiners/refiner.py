"""The ``unet`` stage: a U-Net trained on the previous stage's noisy masks, then used to predict better ones.

This module does not import torch at import time, so the registry can list the stage without loading torch.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..description import StageDescription, TrainingSummary
from ..images import check_image, check_mask, to_uint8
from .config import UNetConfig
from .pixels import adapt_channels, channel_count, resize, stretch, training_tiles
from .tiles import count, overlap_of, scaled_shape, stitch, tile_side, windows

if TYPE_CHECKING:
    import torch

    from ..threads import ThreadChoice
    from .training import TrainReport

__all__ = ["UNetRefiner"]

log = logging.getLogger(__name__)


def _trusted_config(cfg: UNetConfig) -> UNetConfig:
    """The options of the training on the corrected images alone: ``trusted_epochs`` at a tenth of ``lr``, every
    epoch, nothing held out."""
    from .config import TRUSTED_LR_SCALE

    return dataclasses.replace(
        cfg, epochs=cfg.trusted_epochs, lr=cfg.lr * TRUSTED_LR_SCALE, val_fraction=0.0, patience=None, min_epochs=0
    )


class UNetRefiner:
    """A U-Net stage that learns from noisy masks (the :class:`~bootseg.protocols.Refiner` protocol).

    Parameters
    ----------
    preset : {"fast", "paper"} or None
        Starting options: ``"fast"`` (16-filter U-Net at 128², batches of 8, up to 30 epochs: minutes on 2 CPU cores)
        or ``"paper"`` (the paper's 64-filter U-Net at 256², batch 32, 100 epochs: for a GPU).
    **options
        Any field of :class:`~bootseg.refiners.config.UNetConfig` (``epochs``, ``size``, ``loss``, ``device``,
        ``seed``, ...); explicit options override the preset.

    Notes
    -----
    Images are scaled to uint8 (uint8 as is; other dtypes from their own minimum to maximum) and resized by one
    factor for the set, the working size over their median longer side, in tiles of at most ``tile`` working
    pixels (:mod:`bootseg.refiners.tiles`), kept with the masks as one tensor on the training device. The working
    size is ``size``, or larger when the masks' finest structures would be thinner than ``min_radius`` pixels at
    ``size`` (:mod:`bootseg.refiners.scale`; the network then trains on ``size``-pixel windows); :meth:`fit` sets
    :attr:`config` to the options it trained with and :meth:`choices` says what it chose. A set mixing grey and
    colour images is trained in colour (grey repeated on three channels).

    Examples
    --------
    >>> from bootseg.datasets import synthetic_spheroids
    >>> images, _ = synthetic_spheroids(8, size=64)
    >>> noisy = [im < im.mean() for im in images]
    >>> unet = UNetRefiner(size=64, base_channels=4, epochs=1, progress=False)
    >>> masks = unet.refine(images, noisy)
    >>> masks[0].shape, masks[0].dtype
    ((64, 64), dtype('bool'))
    """

    def __init__(self, *, preset: str | None = "fast", **options: Any) -> None:
        self.preset = preset
        self.config = UNetConfig.from_options(preset, **options)
        #: The options as asked for; :meth:`fit` sets :attr:`config` from them with the working size it chose.
        self._requested = self.config
        #: What :meth:`fit` chose (see :meth:`choices`).
        self.scale: dict[str, Any] = {}
        self.model: torch.nn.Module | None = None
        self.in_channels: int | None = None
        self.report: TrainReport | None = None
        #: The training on the corrected images alone (``trusted_epochs``), when :meth:`fit` had any.
        self.trusted_report: TrainReport | None = None
        #: Whether :meth:`fit` held the corrected images out as its validation set (``corrections="validate"``):
        #: its masks of them are then evidence a chain may choose by (:func:`bootseg.corrections.choose_confident`).
        self.validated_on_trusted = False
        self._trusted: dict[str, Any] = {}
        #: The median longer side of the images :meth:`fit` trained on: ``size`` over it is the set's one scale
        #: (None: a network saved before there was one, which squashes every image to ``size × size``).
        self.native: float | None = None
        self._device: torch.device | None = None
        from .device import resolve_device

        resolve_device(self.config.device)  # a device this machine cannot give is refused now, not after stage 0
        #: The CPU thread count chosen when the device was resolved (None on other devices, or before).
        self.threads: ThreadChoice | None = None

    def __repr__(self) -> str:
        state = "trained" if self.model is not None else "untrained"
        return f"UNetRefiner(preset={self.preset!r}, size={self.config.size}, epochs={self.config.epochs}, {state})"

    # -- preparing data ---------------------------------------------------------------------------------------
    def _checked(self, images: Sequence[Any]) -> list[np.ndarray]:
        return [to_uint8(check_image(image, name=f"images[{i}]")) for i, image in enumerate(images)]

    def _working_shape(self, shape: tuple[int, ...]) -> tuple[int, int]:
        """``(h, w)`` of an image of ``shape`` at the set's working scale (:mod:`bootseg.refiners.tiles`)."""
        if self.native is None:  # a network saved before the set had one scale: every image squashed to size²
            return self.config.size, self.config.size
        return scaled_shape(shape, self.config.size / self.native)

    @property
    def _tile(self) -> int:
        """The side of the square tiles the network sees (:func:`bootseg.refiners.tiles.tile_side`)."""
        return tile_side(self.config.size, self.config.tile)

    def _working(self, image: np.ndarray, channels: int) -> np.ndarray:
        """``image`` as ``(h, w, channels)`` uint8 at the set's working scale."""
        height, width = self._working_shape(image.shape)
        if self.config.normalize == "percentile":
            image = stretch(image)
        return resize(adapt_channels(image, channels), (width, height))

    def _target(self, mask: np.ndarray, side: tuple[int, int]) -> np.ndarray:
        """A bool mask → uint8 training target at working size: 0/255, or soft values when ``label_sigma > 0``."""
        import cv2

        target = resize(mask.view(np.uint8) * np.uint8(255), side, nearest=True)
        if self.config.label_sigma > 0:
            target = cv2.GaussianBlur(target, (0, 0), self.config.label_sigma, borderType=cv2.BORDER_REFLECT)
        return target

    @property
    def device(self) -> torch.device:
        """The device the network trains and predicts on (resolved from the ``device`` option on first use)."""
        if self._device is None:
            from .device import resolve_device

            self._device = resolve_device(self.config.device)
            if self._device.type == "cpu":
                from ..threads import apply_threads

                self.threads = apply_threads(self.config.threads)
        return self._device

    # -- training ---------------------------------------------------------------------------------------------
    def fit(self, images: Sequence[Any], masks: Sequence[Any], *, trusted: Sequence[int] = ()) -> UNetRefiner:
        """Train a new network on (image, mask) pairs.

        Parameters
        ----------
        images : sequence of (H, W) or (H, W, C) ndarray
            Any numeric dtype; sizes may differ.
        masks : sequence of (H, W) ndarray
            Bool, 0/1 or 0/255; each of its image's size.
        trusted : sequence of int
            Indices of the images whose masks a person corrected. With the ``corrections`` option ``"validate"``
            (default) the validation set, never trained on (when every image is corrected, they are trained on as
            with ``"train"``, and the log says so); with ``"train"`` always trained on, never held out for
            validation, and weighted up in the loss (:func:`bootseg.corrections.trust_weight`).

        Returns
        -------
        UNetRefiner
            ``self``, trained, with the training report in :attr:`report`.
        """
        import torch

        from ..corrections import trust_weight
        from .augment import AugmentConfig
        from .training import place, train_network
        from .unet import UNet

        images = list(images)
        masks = list(masks)
        if not images:
            raise ValueError("fit needs at least one image, got none")
        if len(images) != len(masks):
            raise ValueError(f"got {len(images)} images but {len(masks)} masks; give one mask per image")
        checked = self._checked(images)
        bool_masks = [
            check_mask(m, im.shape, name=f"masks[{i}]") for i, (m, im) in enumerate(zip(masks, checked, strict=True))
        ]
        trusted = sorted({int(i) for i in trusted})
        if trusted and not (trusted[0] >= 0 and trusted[-1] < len(images)):
            raise ValueError(f"trusted holds image indices outside 0..{len(images) - 1}: {trusted}")
        self.config = self._scaled_config(checked, bool_masks)
        cfg = self.config
        self.native = float(np.median([max(im.shape[:2]) for im in checked]))
        self.in_channels = max(channel_count(im) for im in checked)
        x, y, owners = self._samples(checked, bool_masks)
        trusted_images, trusted = trusted, np.flatnonzero(np.isin(owners, trusted)).tolist()  # → tile indices
        device = self.device
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = UNet(
                self.in_channels,
                base_channels=cfg.base_channels,
                depth=cfg.depth,
                upsampling=cfg.upsampling,
                batchnorm=cfg.batchnorm,
            )
        model = place(model, cfg, device)
        augment = AugmentConfig() if cfg.augment else None
        hold_out = bool(trusted) and cfg.corrections == "validate"
        if hold_out and len(trusted_images) == len(images):
            log.warning("unet: every image is corrected, so none is left to train on: trained on the corrections")
            hold_out = False
        weight = 1.0 if hold_out else trust_weight(len(trusted), len(owners))
        self.report = train_network(
            model, x, y, cfg, augment=augment, trusted=trusted, trust_weight=weight, hold_out_trusted=hold_out
        )
        self.trusted_report = None
        self.validated_on_trusted = hold_out
        self._trusted = {}
        if trusted:
            use = "validate" if hold_out else "train"
            self._trusted = {"images": len(trusted_images), "use": use, "weight": weight, "epochs": cfg.trusted_epochs}
        if trusted and not hold_out and cfg.trusted_epochs > 0:  # then the corrected images alone, in small steps
            self.trusted_report = train_network(model, x[trusted], y[trusted], _trusted_config(cfg), augment=augment)
        self.model = model.eval()  # once, here: prediction never switches modes, so threads may share it
        if self.report.rank == 0:  # one process logs under torchrun
            log.info(
                "unet trained on %d images (%d held out) on %s: best epoch %d of %d, val loss %.4f, %.1f images/s",
                self.report.train_images,
                self.report.val_images,
                device,
                self.report.best_epoch,
                len(self.report.history),
                self.report.best_val_loss,
                self.report.images_per_second,
            )
        return self

    def _samples(self, images: list[np.ndarray], masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The training tiles of ``images`` and ``masks`` at the working scale, and the image of each tile."""
        scaled = [self._working(image, self.in_channels or 1) for image in images]
        targets = [self._target(m, (s.shape[1], s.shape[0])) for m, s in zip(masks, scaled, strict=True)]
        x, y, owners = training_tiles(scaled, targets, self._tile)
        if len(owners) > len(images):
            self.scale["tiles"] = {"side": self._tile, "count": len(owners)}
            log.info("unet: %d images cut into %d training tiles of %d² pixels", len(images), len(owners), self._tile)
        return x, y, owners

    def _scaled_config(self, images: list[np.ndarray], masks: list[np.ndarray]) -> UNetConfig:
        """The requested options with the working size (and crop) chosen for these masks (``min_radius``)."""
        from .scale import finest_radius, working_size

        requested = self._requested
        self.scale = {}
        if requested.min_radius <= 0:
            return requested
        radius = finest_radius(masks)
        size = working_size(
            [max(im.shape[:2]) for im in images],
            radius,
            size=requested.size,
            min_radius=requested.min_radius,
            multiple=2**requested.depth,
        )
        crop = requested.size if size > requested.size and requested.crop == 0 else requested.crop
        self.scale = {"finest_radius": None if radius is None else round(radius, 2), "size": size, "crop": crop}
        if size != requested.size:
            log.info(
                "unet: the masks' finest structures have a radius of %.1f px; working size %d (not %d) so that they "
                "keep %g px, training on %d² windows",
                radius,
                size,
                requested.size,
                requested.min_radius,
                crop or size,
            )
        return dataclasses.replace(requested, size=size, crop=crop)

    def choices(self) -> dict[str, Any]:
        """What :meth:`fit` chose for its set: the masks' finest radius, the working size and the crop (with
        ``min_radius`` > 0), with corrections how many it trusted, their weight and the epochs on them alone, and
        on the CPU the threads it trained with and why (empty before :meth:`fit`)."""
        made = dict(self.scale)
        if self._trusted:
            made["trusted"] = {k: v for k, v in self._trusted.items() if k != "summary"}
            if "summary" in self._trusted:  # the report's first lines show it
                made["summary"] = self._trusted["summary"]
        if self.threads is not None:
            made["threads"], made["threads_reason"] = self.threads.threads, self.threads.reason
            made["omp_wait_policy"] = self.threads.wait_policy
        return made

    @property
    def threshold(self) -> float:
        """The probability above which a pixel is foreground (the ``threshold`` option)."""
        return self.config.threshold

    @property
    def confident(self) -> float:
        """How sure the network must be to change its input mask in a chain run (the ``confident`` option)."""
        return self.config.confident

    def choose_confident(self, level: float, scores: dict[str, float], summary: str = "") -> None:
        """Take ``level`` as the ``confident`` option from now on (a chain chose it on the corrected images, which
        this network held out), and keep ``scores`` (each level's mean Dice on them) and ``summary`` (one sentence
        for the report) for :meth:`choices`."""
        self.config = dataclasses.replace(self.config, confident=level)
        self._trusted["confident"] = {"chosen": level, "scores": {k: round(v, 4) for k, v in scores.items()}}
        if summary:
            self._trusted["summary"] = summary

    def describe(self) -> StageDescription:
        """The options it trained with, what it chose, its training summary and its device (for ``run.json``)."""
        report = self.report
        training = None
        if report is not None:
            training = TrainingSummary(
                history=tuple(report.history),
                best_epoch=report.best_epoch,
                best_val_loss=report.best_val_loss,
                seconds=report.seconds,
                train_images=report.train_images,
                val_images=report.val_images,
                stopped_early=report.stopped_early,
                batch_size=report.batch_size,
                memory_retries=report.memory_retries,
                world_size=report.world_size,
            )
        device = None if self.model is None else str(self.device)
        return StageDescription(self.config.to_dict(), self.choices(), training, device)

    # -- prediction -------------------------------------------------------------------------------------------
    def iter_predict_proba(self, images: Iterable[Any], *, batch_size: int | None = None) -> Iterator[np.ndarray]:
        """Yield one float32 ``(H, W)`` foreground probability map per image, at the image's own size.

        Images are read from ``images`` lazily, ``batch_size`` at a time, so memory stays flat over a long stream.
        When the device runs out of memory, the batch size is halved (with a warning) and the failed batch is
        retried, for the rest of the stream; the maps are those a run at the smaller ``batch_size`` gives. At
        batch size 1 a :class:`~bootseg.refiners.DeviceMemoryError` says what to change.
        """
        bad = isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1
        if batch_size is not None and bad:
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        model = self._trained()
        batch = [int(batch_size or max(self.config.batch_size, 1))]  # shrinks when the device runs out of memory
        if model.training:  # a network set from outside; fit and load leave it in eval mode, never switched back
            model.eval()
        chunk: list[np.ndarray] = []
        tiles = 0
        for i, image in enumerate(images):
            chunk.append(to_uint8(check_image(image, name=f"images[{i}]")))
            tiles += count(self._working_shape(chunk[-1].shape), self._tile, overlap_of(self._tile))
            if tiles >= batch[0]:
                yield from self._predict_chunk(chunk, model, batch)
                chunk, tiles = [], 0
        if chunk:
            yield from self._predict_chunk(chunk, model, batch)

    def _predict_chunk(self, chunk: list[np.ndarray], model, batch: list[int]) -> Iterator[np.ndarray]:
        """Maps of the images of ``chunk``: their tiles, ``batch[0]`` per forward pass, blended back together."""
        side = self._tile
        overlap = overlap_of(side)
        channels = self.in_channels or 1
        cut = []
        for image in chunk:
            scaled = self._working(image, channels)
            cut.append((*windows(scaled, side, overlap), scaled.shape[:2]))
        maps = self._forward_tiles([tile for tiles, _, _ in cut for tile in tiles], model, batch)
        done = 0
        for image, (tiles, corners, shape) in zip(chunk, cut, strict=True):
            prob = stitch(maps[done : done + len(tiles)], corners, shape, overlap)
            done += len(tiles)
            height, width = image.shape[:2]
            yield np.clip(resize(prob, (width, height)), 0.0, 1.0).astype(np.float32, copy=False)

    def _forward_tiles(self, tiles: list[np.ndarray], model, batch: list[int]) -> list[np.ndarray]:
        """The network's map of each tile, ``batch[0]`` tiles per pass; halves ``batch[0]`` when out of memory."""
        from .memory import halve_batch, out_of_memory_errors, too_large_error

        maps: list[np.ndarray] = []
        while len(maps) < len(tiles):
            size = min(batch[0], len(tiles) - len(maps))
            try:
                maps.extend(self._forward_proba(tiles[len(maps) : len(maps) + size], model))
            except out_of_memory_errors() as exc:
                if size <= 1:
                    raise too_large_error(
                        "predicting", self.device, size=self._tile, base_channels=self.config.base_channels
                    ) from exc
                batch[0] = halve_batch(size, task="predicting", device=self.device)
        return maps

    def _forward_proba(self, tiles: list[np.ndarray], model) -> np.ndarray:
        """``(B, T, T)`` float32 probabilities of a batch of ``(T, T, C)`` uint8 tiles."""
        import torch

        from .training import _layout, autocast_for

        device = self.device
        x = torch.from_numpy(np.ascontiguousarray(np.stack(tiles).transpose(0, 3, 1, 2))).to(device)
        flips: list[tuple[int, ...]] = [()]
        if self.config.tta:
            flips += [(-1,), (-2,), (-2, -1)]
        with torch.inference_mode(), autocast_for(device, self.config.amp):
            x = _layout(x.float().div_(255), self.config, device)
            prob = torch.zeros((x.shape[0], 1, *x.shape[2:]), device=device)
            for dims in flips:
                flipped = x.flip(dims) if dims else x
                out = torch.sigmoid(model(flipped).float())
                prob += out.flip(dims) if dims else out
        return (prob[:, 0] / len(flips)).cpu().numpy()

    def predict_proba(self, images: Iterable[Any], *, batch_size: int | None = None) -> list[np.ndarray]:
        """Foreground probability maps, float32 ``(H, W)`` in [0, 1], one per image at its own size."""
        return list(self.iter_predict_proba(images, batch_size=batch_size))

    def predict(self, images: Iterable[Any], *, batch_size: int | None = None) -> list[np.ndarray]:
        """Bool ``(H, W)`` masks: probability above the ``threshold`` option (0.5)."""
        return [p > self.config.threshold for p in self.iter_predict_proba(images, batch_size=batch_size)]

    def refine(self, images: Sequence[Any], masks: Sequence[Any]) -> list[np.ndarray]:
        """Train on ``(images, masks)`` and return the network's masks for the same images."""
        images = list(images)
        self.fit(images, masks)
        return self.predict(images)

    def _trained(self):
        if self.model is None:
            raise RuntimeError("this unet stage is not trained yet; call fit() or refine() first, or load() one")
        return self.model

    # -- saving -----------------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Save the trained network and every option needed to rebuild it, in one file (atomically)."""
        from .checkpoint import save_checkpoint

        model = self._trained()
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        return save_checkpoint(
            path,
            {
                "state_dict": state,
                "config": self.config.to_dict(),
                "in_channels": self.in_channels,
                "preset": self.preset or "",
                "native": self.native,  # the set's one scale is size / native
                # what fit and a chain chose with corrections (run.json of a resumed run says it again)
                "trusted": dict(self._trusted),
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None, threads: int | None = None) -> UNetRefiner:
        """Rebuild a stage saved with :meth:`save`, ready to :meth:`predict`; never runs code from the file.

        ``device`` overrides the saved device option (a network trained on a GPU can predict on a CPU).
        ``threads`` is this machine's CPU thread count (None: chosen from its free cores); the saved one is not
        kept, since it described the machine that trained.
        """
        from ..stagefile import unpacked
        from .checkpoint import CheckpointError, load_checkpoint
        from .training import place
        from .unet import UNet

        with unpacked(path) as inner:  # a stage file written by ``bootseg run`` holds the checkpoint
            data = load_checkpoint(inner, shown=path)
        options, native = dict(data["config"]), data.get("native")
        if native is None:  # saved before the set had one scale and tiles: squash every image to size², whole
            options.setdefault("tile", options.get("size", UNetConfig.size))
        options = {"normalize": "none", "schedule": "constant", **options}  # saved before these options: as then
        if device is not None:
            options["device"] = device
        options["threads"] = threads
        try:
            stage = cls(preset=None, **options)
            cfg = stage.config
            if native is not None and not (isinstance(native, (int, float)) and 0 < native < float("inf")):
                raise ValueError(f"its native side must be a number > 0, got {native!r}")
            model = UNet(
                int(data["in_channels"]),
                base_channels=cfg.base_channels,
                depth=cfg.depth,
                upsampling=cfg.upsampling,
                batchnorm=cfg.batchnorm,
            )
            model.load_state_dict(data["state_dict"])
        except (TypeError, ValueError, RuntimeError, KeyError) as exc:
            raise CheckpointError(f"{str(path)!r} does not describe a valid unet stage: {exc}") from exc
        stage.preset = data.get("preset") or None
        stage.in_channels = int(data["in_channels"])
        stage.native = None if native is None else float(native)
        stage._trusted = dict(data.get("trusted") or {})
        stage.validated_on_trusted = stage._trusted.get("use") == "validate"
        stage.model = place(model, cfg, stage.device).eval()
        return stage
