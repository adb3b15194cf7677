"""An example bootseg plugin: one first stage and one later stage, registered through bootseg's hooks.

* ``colour_distance`` (:class:`ColourDistance`, an annotator): foreground is every pixel far, in CIE Lab colour,
  from the image's background colour. Stained tissue and bright-field images often differ from their background in
  hue and saturation more than in brightness, where a grey-level threshold fails.
* ``morph_cleanup`` (:class:`MorphCleanup`, a refiner): a non-network later stage that cleans each mask with a
  morphological opening and closing, hole filling and small-object removal.
* ``tiny_fcn`` (:class:`TinyFCN`, a network stage): a small fully convolutional network trained on whole images at
  their own size; it can be saved, resumed and used by ``bootseg predict`` like the built-in ``unet``.

bootseg finds this module through the entry point in ``pyproject.toml``::

    [project.entry-points.bootseg]
    example = "bootseg_example_plugin"

and then both stages are used by name::

    from bootseg import BootstrapChain
    BootstrapChain(["colour_distance", "morph_cleanup"]).run(images)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bootseg

from .annotator import ColourDistance
from .network import TinyFCN
from .refiner import MorphCleanup

__all__ = ["ColourDistance", "MorphCleanup", "TinyFCN", "register_annotators", "register_refiners"]
__version__ = "0.1.0"


@bootseg.hookimpl
def register_annotators(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register the ``colour_distance`` first stage."""
    register("colour_distance", ColourDistance)


@bootseg.hookimpl
def register_refiners(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register the ``morph_cleanup`` and ``tiny_fcn`` later stages."""
    register("morph_cleanup", MorphCleanup)
    register("tiny_fcn", TinyFCN)
