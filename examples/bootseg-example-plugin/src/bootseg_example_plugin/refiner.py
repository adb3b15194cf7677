"""``morph_cleanup``: a later stage that cleans each mask with morphology, no network and no training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from bootseg.images import check_image, check_mask

from ._morphology import clean, open_close
from ._options import check_bool, check_int

__all__ = ["MorphCleanup"]


class MorphCleanup:
    """A non-network refiner: opening, closing, hole filling and small-object removal, image by image.

    A cheap later stage for first-stage masks whose errors are local (salt-and-pepper specks, ragged edges, holes
    in textured objects), or a last polish after a network. It learns nothing, so it has no ``predict``; the images
    are only checked, and their sizes must match the masks.

    Parameters
    ----------
    opening : int, default 1
        Radius in pixels of the disc for the morphological opening, which removes specks and spurs thinner than
        about twice the radius; 0 = off.
    closing : int, default 2
        Radius of the disc for the closing that follows, which bridges gaps narrower than about twice the radius;
        0 = off.
    fill_holes : bool, default True
        Fill holes inside objects after the closing.
    min_size : int, default 16
        Remove objects (4-connected) smaller than this many pixels; 0 = off.
    largest_component : bool, default False
        Keep only the largest object (one-object images: a spheroid, a lesion).

    Raises
    ------
    TypeError, ValueError
        For an option of the wrong type or out of range; the message names the option and the value.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((32, 32), bool); mask[8:24, 8:24] = True
    >>> mask[2, 2] = True                                  # a speck
    >>> mask[15, 15] = False                               # a hole
    >>> [clean] = MorphCleanup().refine([mask.astype(np.uint8)], [mask])
    >>> bool(clean[2, 2]), bool(clean[15, 15]), clean.dtype
    (False, True, dtype('bool'))
    """

    name = "morph_cleanup"

    def __init__(
        self,
        *,
        opening: int = 1,
        closing: int = 2,
        fill_holes: bool = True,
        min_size: int = 16,
        largest_component: bool = False,
    ) -> None:
        self.opening = check_int("opening", opening, minimum=0)
        self.closing = check_int("closing", closing, minimum=0)
        self.fill_holes = check_bool("fill_holes", fill_holes)
        self.min_size = check_int("min_size", min_size, minimum=0)
        self.largest_component = check_bool("largest_component", largest_component)

    def options(self) -> dict[str, Any]:
        """The options as keyword arguments."""
        return {
            "opening": self.opening,
            "closing": self.closing,
            "fill_holes": self.fill_holes,
            "min_size": self.min_size,
            "largest_component": self.largest_component,
        }

    def __repr__(self) -> str:
        return f"MorphCleanup({', '.join(f'{k}={v!r}' for k, v in self.options().items())})"

    def refine(self, images: Sequence[Any], masks: Sequence[Any]) -> list[np.ndarray]:
        """Clean every mask.

        Parameters
        ----------
        images : sequence of (H, W) or (H, W, C) ndarray
            Checked (shape, dtype, finite values) and used for their sizes only.
        masks : sequence of (H, W) ndarray
            Bool, 0/1 or 0/255; one per image, each of its image's size.

        Returns
        -------
        list of (H, W) ndarray of bool
            One cleaned mask per image.

        Raises
        ------
        ValueError
            For no images, a different number of masks than images, a bad image or a mask of the wrong size.
        """
        images = list(images)
        masks = list(masks)
        if not images:
            raise ValueError("morph_cleanup needs at least one image, got none")
        if len(images) != len(masks):
            raise ValueError(f"got {len(images)} images but {len(masks)} masks; give one mask per image")
        refined = []
        for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
            checked = check_image(image, name=f"images[{i}]")
            binary = check_mask(mask, checked.shape, name=f"masks[{i}]")
            binary = open_close(np.ascontiguousarray(binary), opening=self.opening, closing=self.closing)
            refined.append(
                clean(binary, fill_holes=self.fill_holes, min_size=self.min_size, largest=self.largest_component)
            )
        return refined
