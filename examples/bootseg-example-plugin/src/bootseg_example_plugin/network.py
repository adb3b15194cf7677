"""``tiny_fcn``: a network stage of another kind than bootseg's U-Net, a small fully convolutional network.

It shows the whole network-stage contract (:class:`bootseg.protocols.Network`): ``fit``, ``predict_proba``,
``save`` and the classmethod ``load``, a ``threshold`` and ``describe()``. With it, ``bootseg run`` resumes
without training again, ``bootseg predict`` labels new images with the saved file, and the report shows
probability maps and confidence, exactly as for the built-in ``unet``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from bootseg.description import StageDescription, TrainingSummary
from bootseg.images import check_image, check_mask, luma, to_uint8

from ._options import check_float, check_int

__all__ = ["TinyFCN"]


class TinyFCN:
    """Four convolutions with growing dilation (a 31-pixel field of view), trained on whole images at their own
    size, one image per step.

    No resizing, no tiles: a small network for small images, and an example of a stage that is not bootseg's U-Net.

    Parameters
    ----------
    width : int, default 8
        Channels of the hidden layers.
    epochs : int, default 30
        Passes over the set.
    lr : float, default 0.01
        Adam's learning rate.
    threshold : float, default 0.5
        Probability above which a pixel is foreground.
    seed : int, default 0
        Seeds the weights and the order of the images: two stages with the same options train the same network.
    device : str, default "cpu"
        ``"cpu"``, ``"cuda"``, or ``"auto"`` (CUDA where there is one).
    progress : bool, default False
        Accepted for the chain's shared options; this stage shows no progress bar.

    Examples
    --------
    >>> from bootseg.datasets import synthetic_spheroids
    >>> images, _ = synthetic_spheroids(4, size=32)
    >>> stage = TinyFCN(epochs=2).fit(images, [im > im.mean() for im in images])
    >>> [p.shape for p in stage.predict_proba(images[:1])]
    [(32, 32)]
    """

    name = "tiny_fcn"

    def __init__(
        self,
        *,
        width: int = 8,
        epochs: int = 30,
        lr: float = 0.01,
        threshold: float = 0.5,
        seed: int = 0,
        device: str = "cpu",
        progress: bool = False,
    ) -> None:
        self.width = check_int("width", width, minimum=1)
        self.epochs = check_int("epochs", epochs, minimum=1)
        self.lr = check_float("lr", lr, minimum=0.0, maximum=1.0, open_low=True)
        self.threshold = check_float("threshold", threshold, minimum=0.0, maximum=1.0, open_low=True)
        self.seed = check_int("seed", seed, minimum=0)
        if device not in ("cpu", "cuda", "auto") and not str(device).startswith("cuda:"):
            raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
        self.device = str(device)
        self.progress = bool(progress)
        self.model: Any = None
        self.history: list[dict[str, float]] = []
        self.seconds: float | None = None
        self.train_images: int | None = None

    def __repr__(self) -> str:
        state = "trained" if self.model is not None else "untrained"
        return f"TinyFCN(width={self.width}, epochs={self.epochs}, threshold={self.threshold}, {state})"

    def options(self) -> dict[str, Any]:
        """Every option, as the constructor takes it."""
        return {
            "width": self.width,
            "epochs": self.epochs,
            "lr": self.lr,
            "threshold": self.threshold,
            "seed": self.seed,
            "device": self.device,
        }

    def _torch_device(self):
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _build(self):
        import torch
        from torch import nn

        torch.manual_seed(self.seed)
        w = self.width
        layers = [nn.Conv2d(1, w, 3, padding=1), nn.ReLU()]
        for dilation in (2, 4):
            layers += [nn.Conv2d(w, w, 3, padding=dilation, dilation=dilation), nn.ReLU()]
        layers += [nn.Conv2d(w, 1, 1)]
        return nn.Sequential(*layers).to(self._torch_device())

    def _tensor(self, image: np.ndarray):
        import torch

        grey = to_uint8(image)
        if grey.ndim == 3:
            grey = luma(grey[:, :, :3] if grey.shape[2] >= 3 else grey[:, :, :1].repeat(3, axis=2))
        data = np.ascontiguousarray(grey, dtype=np.float32) / 255.0
        return torch.from_numpy(data)[None, None].to(self._torch_device())

    def fit(self, images: Sequence[Any], masks: Sequence[Any]) -> TinyFCN:
        """Train a new network on (image, mask) pairs of any sizes."""
        import torch

        images, masks = list(images), list(masks)
        if len(images) != len(masks):
            raise ValueError(f"got {len(images)} images but {len(masks)} masks; give one mask per image")
        if not images:
            raise ValueError("fit needs at least one image and its mask, got none")
        checked = [check_image(image, name=f"images[{i}]") for i, image in enumerate(images)]
        targets = [check_mask(m, im.shape, name=f"masks[{i}]") for i, (m, im) in enumerate(zip(masks, checked))]
        start = time.perf_counter()
        model = self._build()
        optimiser = torch.optim.Adam(model.parameters(), lr=self.lr)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        pairs = [
            (self._tensor(im), torch.from_numpy(t.astype(np.float32))[None, None]) for im, t in zip(checked, targets)
        ]
        order = np.random.default_rng(self.seed)
        self.history = []
        for epoch in range(1, self.epochs + 1):
            total = 0.0
            for i in order.permutation(len(pairs)):
                x, y = pairs[i]
                optimiser.zero_grad()
                loss = loss_fn(model(x), y.to(x.device))
                loss.backward()
                optimiser.step()
                total += float(loss.detach())
            self.history.append({"epoch": epoch, "train_loss": total / len(pairs)})
        if not np.isfinite(self.history[-1]["train_loss"]):
            raise RuntimeError(f"training diverged (loss {self.history[-1]['train_loss']}); lower lr (now {self.lr})")
        self.model = model.eval()
        self.seconds = time.perf_counter() - start
        self.train_images = len(pairs)
        return self

    def predict_proba(self, images: Sequence[Any]) -> list[np.ndarray]:
        """One float32 ``(H, W)`` foreground probability map per image, at its own size."""
        import torch

        if self.model is None:
            raise RuntimeError("this tiny_fcn stage is not trained yet; call fit() or refine() first, or load() one")
        maps = []
        with torch.inference_mode():
            for i, image in enumerate(images):
                x = self._tensor(check_image(image, name=f"images[{i}]"))
                maps.append(torch.sigmoid(self.model(x))[0, 0].cpu().numpy().astype(np.float32))
        return maps

    def predict(self, images: Sequence[Any]) -> list[np.ndarray]:
        """Bool masks: probability above :attr:`threshold`."""
        return [p > self.threshold for p in self.predict_proba(images)]

    def refine(self, images: Sequence[Any], masks: Sequence[Any]) -> list[np.ndarray]:
        """Train on the masks, then label the same images."""
        images = list(images)
        return self.fit(images, masks).predict(images)

    def describe(self) -> StageDescription:
        """Options, training summary and device, for ``run.json`` and the report."""
        training = None
        if self.history:
            training = TrainingSummary(
                history=tuple(self.history), seconds=self.seconds, train_images=self.train_images
            )
        device = None if self.model is None else str(self._torch_device())
        return StageDescription(self.options(), {}, training, device)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the weights and options to ``path`` (plain tensors and numbers, read back without pickle)."""
        import torch

        if self.model is None:
            raise RuntimeError("this tiny_fcn stage is not trained yet; nothing to save")
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        torch.save({"tiny_fcn": 1, "options": self.options(), "state": state, "history": self.history}, path)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = None) -> TinyFCN:
        """Rebuild a stage written by :meth:`save`; ``device`` overrides the saved one."""
        import torch

        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, dict) or data.get("tiny_fcn") != 1:
            raise ValueError(f"{str(path)!r} is not a saved tiny_fcn stage")
        options = dict(data["options"])
        if device is not None:
            options["device"] = device
        stage = cls(**options)
        model = stage._build()
        model.load_state_dict(data["state"])
        stage.model = model.eval()
        stage.history = [dict(h) for h in data.get("history", [])]
        return stage
