"""Which files are images (by extension), the error for one that cannot be decoded, and the path checks that
reading and writing share."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import BootsegError

__all__ = ["IMAGE_SUFFIXES", "ImageReadError"]

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""File extensions read as images (compared case-insensitively)."""

TIFF_SUFFIXES = (".tif", ".tiff")
OPENCV_WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

PathLike = str | os.PathLike


class ImageReadError(BootsegError, ValueError):
    """A file that exists but cannot be decoded as an image; the message names the file and the reason.

    >>> import tempfile, pathlib
    >>> from bootseg.io import read_image
    >>> bad = pathlib.Path(tempfile.mkdtemp()) / "notes.png"
    >>> _ = bad.write_text("not an image")
    >>> try:
    ...     read_image(bad)
    ... except ImageReadError as exc:
    ...     print("notes.png" in str(exc))
    True
    """


def _as_path(path: Any, name: str = "path") -> Path:
    if isinstance(path, Path):
        return path
    if isinstance(path, (str, os.PathLike)):
        return Path(path)
    raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__} {path!r}")


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _check_suffix(path: Path, allowed: tuple[str, ...], action: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        shown = repr(path.suffix) if path.suffix else "'(none)'"
        raise ValueError(f"cannot {action} '{path}': extension {shown} is not one of {', '.join(allowed)}")
    return suffix
