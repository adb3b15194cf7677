"""What the network stage does when the device runs out of memory: free it, halve the batch, try again.

Training restarts from its first epoch with the same seed at the smaller batch size, so the run stays repeatable;
prediction retries the batch that failed. Below batch size 1 there is nothing left to halve and
:class:`DeviceMemoryError` says what to change instead.

This module does not import torch at import time.
"""

from __future__ import annotations

import gc
import logging
from typing import TYPE_CHECKING, Any

from ..errors import BootsegError

if TYPE_CHECKING:
    import torch

__all__ = ["DeviceMemoryError", "free_device_memory", "halve_batch", "out_of_memory_errors", "too_large_error"]

log = logging.getLogger(__name__)


class DeviceMemoryError(BootsegError, RuntimeError):
    """The network does not fit the device even at batch size 1; the message says what to change.

    Derives from :class:`RuntimeError`, as torch's own out-of-memory error does.

    >>> err = too_large_error("training", "cuda:0", size=256, base_channels=64)
    >>> isinstance(err, RuntimeError), "--device cpu" in str(err)
    (True, True)
    """


def out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """The exception classes torch raises when an allocation on the device fails.

    >>> import torch
    >>> torch.OutOfMemoryError in out_of_memory_errors()
    True
    """
    import torch

    return (getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError),)


def free_device_memory() -> None:
    """Drop unreachable tensors and return CUDA's cached blocks to the driver (the latter only where CUDA is).

    >>> free_device_memory()
    """
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def halve_batch(batch_size: int, *, task: str, device: torch.device | str, then: str = "") -> int:
    """Free device memory and return ``batch_size // 2``, with a WARNING naming both sizes.

    Call it after leaving the ``except`` block that caught the error, so the failed step's tensors (held by the
    traceback) are already released.

    >>> halve_batch(16, task="predicting", device="cpu")
    8
    """
    if batch_size <= 1:
        raise ValueError(f"batch_size {batch_size} cannot be halved; raise too_large_error() instead")
    free_device_memory()
    new = batch_size // 2
    log.warning(
        "out of memory on %s while %s at batch size %d; retrying with batch size %d%s",
        device,
        task,
        batch_size,
        new,
        then,
    )
    return new


def too_large_error(task: str, device: Any, *, size: int, base_channels: int) -> DeviceMemoryError:
    """The error for a network that runs out of memory at batch size 1 (``task``: "training" or "predicting").

    >>> str(too_large_error("predicting", "cuda:0", size=128, base_channels=16)).split(";")[0]
    'out of memory on cuda:0 while predicting even at batch size 1 (working size 128, base_channels 16)'
    """
    return DeviceMemoryError(
        f"out of memory on {device} while {task} even at batch size 1 (working size {size}, base_channels "
        f"{base_channels}); use a smaller working size (--size, or the size option, with min_radius=0 so that "
        "it is not enlarged for fine structures), a smaller network (base_channels, depth), free the device of "
        "other work, or run on the CPU with --device cpu"
    )
