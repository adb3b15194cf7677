"""Segmentation metrics: Dice (DSC), IoU and pixel accuracy, per image and over a dataset.

Every metric is a pure function of arrays first; the aggregates are built from them. Masks may be NumPy arrays
or torch tensors (on any device; torch is never imported by this module) of any of these kinds:

* bool: True is foreground;
* integer (0/1, 0/255, label images): a value **above 0** is foreground;
* float (0/1 masks, probabilities): a value **at or above 0.5** is foreground, so a 0/1 or 0/255 float mask
  and a probability map all binarise as expected. NaN is refused.

Conventions
-----------
* **Both masks empty** (no foreground in prediction nor target) scores **1.0** for Dice and IoU: the
  prediction is exactly right. (scikit-learn returns 0.0 there with a warning; ``zero_division=1.0`` gives
  our value.)
* A per-image function looks at *all* elements of its two arrays, so given stacked ``(N, H, W)`` arrays it
  returns the pooled value over the stack. For per-image statistics use :func:`summarize`.
* Standard deviations are population standard deviations (``ddof=0``) over images, as ``numpy.std``.

The paper's numbers
-------------------
The authors' code reported a *soft* Dice: probabilities (not thresholded masks) multiplied with the targets
and summed over every pixel of every image in a batch, ``(2 Σ p·t + s) / (Σ p + Σ t + s)`` with a smoothing
term ``s``, averaged over batches. :func:`pooled_soft_dice` computes that form, over the whole set or per
batch, so results can be compared with the paper as well as with the per-image standard that
:func:`summarize` reports.
"""

from __future__ import annotations

from .counts import FLOAT_THRESHOLD as FLOAT_THRESHOLD
from .per_image import dice, iou, pixel_accuracy
from .pooled import pooled_dice, pooled_iou, pooled_soft_dice
from .summary import Summary, summarize

__all__ = [
    "Summary",
    "dice",
    "iou",
    "pixel_accuracy",
    "pooled_dice",
    "pooled_iou",
    "pooled_soft_dice",
    "summarize",
]
