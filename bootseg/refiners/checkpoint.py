"""Saving and loading a trained network stage in one file that never executes code when loaded.

The file is a ``torch.save`` archive of plain tensors, strings and numbers only, read back with
``torch.load(..., weights_only=True)``: a tampered file cannot run code, and a file that is not a bootseg stage
is refused with a message that says what it is not.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import BootsegError
from ..io import write_bytes_atomic

__all__ = ["FORMAT", "FORMAT_VERSION", "CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT = "bootseg.unet"
FORMAT_VERSION = 1


class CheckpointError(BootsegError, ValueError):
    """A file that is not a readable bootseg network stage."""


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (``state_dict`` plus JSON-able options) to ``path``, atomically.

    The bytes go to a temporary file in the same folder that is renamed into place, so an interruption never
    leaves a half-written checkpoint.
    """
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, buffer)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, *, shown: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; never unpickles arbitrary objects.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    CheckpointError
        When the file is not a torch archive, holds anything but tensors and plain values, is not a bootseg
        network stage of a version this bootseg reads, or holds weights that are not finite.
    """
    path = Path(path)
    name = str(shown if shown is not None else path)  # the file the user gave, where ``path`` is unpacked from it
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {name!r} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refusals and damaged archives raise many kinds
        raise CheckpointError(
            f"{name!r} is not a loadable bootseg checkpoint (only tensors and plain values are accepted; "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{name!r} is a torch file but not a bootseg network stage (expected format {FORMAT!r}); "
            "save one with UNetRefiner.save() or `bootseg run`"
        )
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{name!r} has checkpoint format version {data.get('format_version')!r}; this bootseg reads "
            f"version {FORMAT_VERSION}"
        )
    for key in ("state_dict", "config", "in_channels"):
        if key not in data:
            raise CheckpointError(f"{name!r} is missing {key!r}; the file is damaged or incomplete")
    if not isinstance(data["state_dict"], dict):
        raise CheckpointError(f"{name!r} holds no weights (its state_dict is not a mapping of tensors)")
    from .divergence import non_finite_tensors

    broken = non_finite_tensors(data["state_dict"])
    if broken:
        raise CheckpointError(
            f"{name!r} holds weights that are not finite (NaN or infinite) in {len(broken)} tensors (first: "
            f"{broken[0]}): the network diverged when it was trained; train it again with a lower learning rate"
        )
    return data
