from __future__ import annotations

import os

import numpy as np
import pytest

# The number of CPU threads changes a network's results in their last bits, and bootseg chooses it from the cores
# free at the moment (bootseg.threads); tests that compare two runs need the same count in both, so the tests pin
# it here, before torch loads. The rule itself is tested in test_threads.py, with this variable removed.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def spheroids():
    """A small synthetic spheroid set: (images, true masks)."""
    from bootseg.datasets import synthetic_spheroids

    return synthetic_spheroids(48, size=64, seed=0)


@pytest.fixture(scope="session")
def plugin_env(tmp_path_factory):
    """The python of a fresh virtual environment with the example plugin installed (test_example_plugin.py)."""
    from test_example_plugin import make_plugin_env

    return make_plugin_env(tmp_path_factory)


def mean_dice(masks, truths) -> float:
    from bootseg.metrics import dice

    return float(np.mean([dice(m, t) for m, t in zip(masks, truths)]))


@pytest.fixture(autouse=True)
def _restore_bootseg_logging():
    """Tests that call ``bootseg.cli.main`` in this process configure the ``bootseg`` logger; undo it after each."""
    import logging

    loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.startswith("bootseg")]
    loggers.append(logging.getLogger("bootseg"))
    saved = [(lg, lg.level, lg.propagate, list(lg.handlers), lg.disabled) for lg in loggers]
    yield
    for logger, level, propagate, handlers, disabled in saved:
        logger.setLevel(level)
        logger.propagate = propagate
        logger.handlers[:] = handlers
        logger.disabled = disabled
