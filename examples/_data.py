"""Shared by the examples: write the synthetic spheroid set to a folder of PNG files, as a microscope would."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bootseg.datasets import synthetic_spheroids
from bootseg.io import write_image


def write_spheroids(folder: Path, n: int, *, size: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Write ``n`` synthetic images as ``folder/spheroid-XXX.png``; return the true masks by file stem."""
    folder.mkdir(parents=True, exist_ok=True)
    images, truths = synthetic_spheroids(n, size=size, seed=seed)
    stems = {}
    for i, (image, truth) in enumerate(zip(images, truths, strict=True)):
        stem = f"spheroid-{seed:02d}-{i:03d}"
        write_image(folder / f"{stem}.png", image)
        stems[stem] = truth
    return stems
