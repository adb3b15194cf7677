"""Built-in later stages (networks), registered through the ``register_refiners`` hook.

Importing this package does not import torch; the network code is imported when a stage is first trained.
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from .memory import DeviceMemoryError
from .refiner import UNetRefiner

__all__ = ["DeviceMemoryError", "UNetRefiner", "register_refiners"]


@hookimpl
def register_refiners(register):
    """Register the built-in refiners: ``unet``.

    >>> names = []
    >>> register_refiners(lambda name, factory: names.append(name))
    >>> names
    ['unet']
    """
    register("unet", UNetRefiner)
