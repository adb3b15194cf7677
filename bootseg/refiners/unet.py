"""The U-Net of Ronneberger et al. (2015), as Rettenberger et al. (2022) used it, with depth and width configurable.

Double 3×3 convolution + BatchNorm + ReLU blocks, max-pool down, transposed-convolution (or bilinear) up, skip
concatenation, a 1×1 head with one foreground logit. ``UNet(3)`` with the defaults is the paper's network:
filters 64-128-256-512-1024, about 31 M parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNet"]


class DoubleConv(nn.Sequential):
    """(3×3 conv → BatchNorm → ReLU) × 2."""

    def __init__(self, in_channels: int, out_channels: int, *, batchnorm: bool = True) -> None:
        layers: list[nn.Module] = []
        for i in range(2):
            layers.append(
                nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1, bias=not batchnorm)
            )
            if batchnorm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class Up(nn.Module):
    """Upsample ×2, concatenate the skip connection, double conv."""

    def __init__(self, in_channels: int, out_channels: int, *, upsampling: str, batchnorm: bool) -> None:
        super().__init__()
        if upsampling == "transpose":
            self.up: nn.Module = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, 1),
            )
        self.conv = DoubleConv(2 * out_channels, out_channels, batchnorm=batchnorm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """A U-Net with one foreground logit per pixel.

    Parameters
    ----------
    in_channels : int
        Channels of the input (1 for grey, 3 for RGB).
    base_channels : int
        Filters of the first level; level ``i`` has ``base_channels * 2**i`` (paper: 64).
    depth : int
        Number of down-sampling steps (paper: 4, so the bottleneck has 1024 filters).
    upsampling : {"transpose", "bilinear"}
        Transposed 2×2 convolution (paper) or bilinear upsampling followed by a 1×1 convolution.
    batchnorm : bool
        BatchNorm after each convolution (paper: yes).

    Notes
    -----
    Inputs of any height and width are accepted: they are padded (reflect) up to a multiple of ``2**depth`` and
    the output is cropped back, so the logits always have the input's size.

    Examples
    --------
    >>> net = UNet(1, base_channels=4, depth=2)
    >>> net(torch.zeros(2, 1, 30, 45)).shape
    torch.Size([2, 1, 30, 45])
    """

    def __init__(
        self,
        in_channels: int,
        *,
        base_channels: int = 64,
        depth: int = 4,
        upsampling: str = "transpose",
        batchnorm: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if base_channels < 1:
            raise ValueError(f"base_channels must be >= 1, got {base_channels}")
        if not 1 <= depth <= 8:
            raise ValueError(f"depth must be between 1 and 8, got {depth}")
        if upsampling not in ("transpose", "bilinear"):
            raise ValueError(f"upsampling must be 'transpose' or 'bilinear', got {upsampling!r}")
        self.depth = depth
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.inc = DoubleConv(in_channels, widths[0], batchnorm=batchnorm)
        self.downs = nn.ModuleList(DoubleConv(widths[i], widths[i + 1], batchnorm=batchnorm) for i in range(depth))
        self.ups = nn.ModuleList(
            Up(widths[i + 1], widths[i], upsampling=upsampling, batchnorm=batchnorm) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        multiple = 2**self.depth
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2)))
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.head(x)[..., :height, :width]
