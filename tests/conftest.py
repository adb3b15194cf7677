from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def spheroids():
    """A small synthetic spheroid set: (images, true masks)."""
    from bootseg.datasets import synthetic_spheroids

    return synthetic_spheroids(48, size=64, seed=0)


def mean_dice(masks, truths) -> float:
    from bootseg.metrics import dice

    return float(np.mean([dice(m, t) for m, t in zip(masks, truths)]))
