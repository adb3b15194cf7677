"""Batched, on-device augmentation: every augmentation the paper lists, random per sample.

Images are float ``(B, C, H, W)`` in [0, 1], masks float ``(B, 1, H, W)`` in {0, 1}, both on the training device;
a whole batch is augmented at once, so no CPU worker pool has to feed a GPU. Geometry (flips, rotation, scaling) is
the same for an image and its mask; masks are resampled nearest, so they stay binary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["AugmentConfig", "augment_batch"]


@dataclass(frozen=True)
class AugmentConfig:
    """Probability (``*_p``, per sample) and range of each augmentation.

    Attributes
    ----------
    hflip_p, vflip_p : float
        Horizontal and vertical flip (0.5 each).
    rotate_p, rotate_degrees : float
        Rotation by an angle uniform in ±``rotate_degrees`` (0.5, ±180°: microscopy has no "up").
    scale_p, scale_range : float, (float, float)
        Zoom by a factor uniform in ``scale_range`` (0.5, 0.8–1.2). Rotation and zoom share one resampling,
        with reflection at the borders.
    blur_p, blur_sigma : float, (float, float)
        Gaussian blur with sigma uniform in ``blur_sigma`` pixels (0.3, 0.3–1.5).
    noise_p, noise_std : float, (float, float)
        Additive Gaussian noise with a standard deviation uniform in ``noise_std`` (0.5, 0–0.1 of the range).
        Strong enough that the network cannot learn a first stage's per-pixel speckle from the pixel values.
    brightness_p, brightness : float, (float, float)
        Add a value uniform in ``brightness`` (0.5, ±0.1).
    contrast_p, contrast : float, (float, float)
        Scale the deviation from the image's mean by a factor uniform in ``contrast`` (0.5, 0.8–1.2).

    The result is clipped to [0, 1].
    """

    hflip_p: float = 0.5
    vflip_p: float = 0.5
    rotate_p: float = 0.5
    rotate_degrees: float = 180.0
    scale_p: float = 0.5
    scale_range: tuple[float, float] = (0.8, 1.2)
    blur_p: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.5)
    noise_p: float = 0.5
    noise_std: tuple[float, float] = (0.0, 0.1)
    brightness_p: float = 0.5
    brightness: tuple[float, float] = (-0.1, 0.1)
    contrast_p: float = 0.5
    contrast: tuple[float, float] = (0.8, 1.2)

    @classmethod
    def only(cls, name: str, **ranges: object) -> AugmentConfig:
        """A config where only augmentation ``name`` (``"rotate"``, ``"blur"``, ...) is applied, always.

        >>> AugmentConfig.only("blur").noise_p
        0.0
        """
        fields = {
            f"{n}_p": 0.0 for n in ("hflip", "vflip", "rotate", "scale", "blur", "noise", "brightness", "contrast")
        }
        if f"{name}_p" not in fields:
            raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(k[:-2] for k in fields)}")
        fields[f"{name}_p"] = 1.0
        return cls(**fields, **ranges)  # type: ignore[arg-type]


def _uniform(n: int, bounds: tuple[float, float], gen: torch.Generator, device: torch.device) -> torch.Tensor:
    low, high = bounds
    return low + (high - low) * torch.rand(n, generator=gen, device=device)


def _chance(n: int, p: float, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=device) < p


def _geometry(images, masks, cfg, gen):
    n, device = images.shape[0], images.device
    hflip = _chance(n, cfg.hflip_p, gen, device)
    vflip = _chance(n, cfg.vflip_p, gen, device)
    images = torch.where(hflip[:, None, None, None], images.flip(-1), images)
    masks = torch.where(hflip[:, None, None, None], masks.flip(-1), masks)
    images = torch.where(vflip[:, None, None, None], images.flip(-2), images)
    masks = torch.where(vflip[:, None, None, None], masks.flip(-2), masks)
    rotate = _chance(n, cfg.rotate_p, gen, device)
    scale = _chance(n, cfg.scale_p, gen, device)
    angle = _uniform(n, (-cfg.rotate_degrees, cfg.rotate_degrees), gen, device) * (math.pi / 180)
    zoom = _uniform(n, cfg.scale_range, gen, device)
    warp = rotate | scale
    if not bool(warp.any()):
        return images, masks
    angle = torch.where(rotate, angle, torch.zeros_like(angle))[warp]
    zoom = torch.where(scale, zoom, torch.ones_like(zoom))[warp]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    zeros = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images[warp].shape), align_corners=False)
    images = images.clone()
    masks = masks.clone()
    images[warp] = F.grid_sample(images[warp], grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    masks[warp] = F.grid_sample(masks[warp], grid, mode="nearest", padding_mode="reflection", align_corners=False)
    return images, masks


def _blur(images, cfg, gen):
    n, device = images.shape[0], images.device
    chosen = _chance(n, cfg.blur_p, gen, device)
    sigma = _uniform(n, cfg.blur_sigma, gen, device)
    if not bool(chosen.any()):
        return images
    sub = images[chosen]
    b, c, h, w = sub.shape
    radius = max(1, math.ceil(3 * cfg.blur_sigma[1]))
    radius = min(radius, (min(h, w) - 1) // 2) or 1
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (offsets[None, :] / sigma[chosen][:, None]) ** 2)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (b*c, k)
    flat = sub.reshape(1, b * c, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel[:, None, None, :], groups=b * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel[:, None, :, None], groups=b * c)
    images = images.clone()
    images[chosen] = flat.reshape(b, c, h, w)
    return images


def _photometric(images, cfg, gen):
    n, device = images.shape[0], images.device
    shape = (n, 1, 1, 1)
    noise_on = _chance(n, cfg.noise_p, gen, device)
    std = torch.where(noise_on, _uniform(n, cfg.noise_std, gen, device), torch.zeros(n, device=device))
    if bool(noise_on.any()):
        noise = torch.randn(images.shape, generator=gen, device=device, dtype=images.dtype)
        images = images + noise * std.view(shape).to(images.dtype)
    bright_on = _chance(n, cfg.brightness_p, gen, device)
    shift = torch.where(bright_on, _uniform(n, cfg.brightness, gen, device), torch.zeros(n, device=device))
    contrast_on = _chance(n, cfg.contrast_p, gen, device)
    factor = torch.where(contrast_on, _uniform(n, cfg.contrast, gen, device), torch.ones(n, device=device))
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    images = (images - mean) * factor.view(shape).to(images.dtype) + mean + shift.view(shape).to(images.dtype)
    return images.clamp_(0.0, 1.0)


def augment_batch(
    images: torch.Tensor, masks: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch on its device.

    Parameters
    ----------
    images : (B, C, H, W) float tensor in [0, 1]
    masks : (B, 1, H, W) float tensor in {0, 1}
    cfg : AugmentConfig
    generator : torch.Generator
        On the batch's device; draws every random parameter, so a seed makes a run repeatable.

    Returns
    -------
    images, masks : tensors of the input shapes
        New tensors; the inputs are not modified.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = augment_batch(torch.rand(4, 1, 16, 16), torch.ones(4, 1, 16, 16), AugmentConfig(), g)
    >>> x.shape, bool(((y == 0) | (y == 1)).all())
    (torch.Size([4, 1, 16, 16]), True)
    """
    if images.ndim != 4 or masks.ndim != 4 or images.shape[0] != masks.shape[0]:
        raise ValueError(
            f"images must be (B, C, H, W) and masks (B, 1, H, W) with the same B, got {tuple(images.shape)} "
            f"and {tuple(masks.shape)}"
        )
    images, masks = _geometry(images, masks, cfg, generator)
    images = _blur(images, cfg, generator)
    images = _photometric(images, cfg, generator)
    return images, masks
