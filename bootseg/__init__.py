"""bootseg: segmentation masks for unannotated biomedical images, by neural-network bootstrapping.

A naive first stage (an :class:`~bootseg.protocols.Annotator` such as Otsu's threshold) makes noisy masks; a
network (a :class:`~bootseg.protocols.Network` such as the U-Net) trained on them generalises past the noise.

>>> from bootseg import BootstrapChain
>>> chain = BootstrapChain(["otsu", "unet"])  # doctest: +SKIP
>>> result = chain.run(images)                # doctest: +SKIP

Importing bootseg loads no third-party plugin and does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import BootsegError, DuplicateStageError, PluginError, TrainingDivergedError, UnknownStageError
from .hookspecs import hookimpl, hookspec
from .plugins import available_annotators, available_refiners, get_annotator, get_refiner
from .protocols import Annotator, Network, Refiner

if TYPE_CHECKING:
    from .chain import BootstrapChain
    from .results import ChainResult, StageResult

__version__ = "0.1.0"

__all__ = [
    "Annotator",
    "BootsegError",
    "BootstrapChain",
    "ChainResult",
    "DuplicateStageError",
    "Network",
    "PluginError",
    "Refiner",
    "StageResult",
    "TrainingDivergedError",
    "UnknownStageError",
    "__version__",
    "available_annotators",
    "available_refiners",
    "get_annotator",
    "get_refiner",
    "hookimpl",
    "hookspec",
]

_LAZY = {"BootstrapChain": "chain", "ChainResult": "results", "StageResult": "results"}
_SUBMODULES = {
    "datasets",
    "metrics",
    "io",
    "chain",
    "plugins",
    "protocols",
    "images",
    "annotators",
    "refiners",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'bootseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names and the submodules reached as attributes, for completion and ``dir(bootseg)``; not the
    helpers this file imports for itself (``Any``, ``import_module``)."""
    return sorted({*__all__, *_SUBMODULES, "__all__", "__doc__", "__file__", "__name__", "__path__"})
