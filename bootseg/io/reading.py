"""Reading one image, one mask, or every image a folder or a list of files names, keeping what the file holds."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from ..images import check_channel
from .formats import (
    IMAGE_SUFFIXES,
    TIFF_SUFFIXES,
    ImageReadError,
    PathLike,
    _as_path,
    _check_suffix,
    _is_image_name,
)

__all__ = [
    "as_mask",
    "index_by_stem",
    "list_images",
    "pick_channel",
    "pixel_limit_reason",
    "read_image",
    "read_images",
    "read_mask",
    "read_planes",
]

logger = logging.getLogger("bootseg.io")


def _to_rgb(array: np.ndarray, path: Path, bgr: bool) -> np.ndarray:
    """Normalise a decoded array to (H, W) or (H, W, 3); drop alpha; BGR to RGB where asked."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return array
    if array.ndim != 3 or array.shape[2] not in (2, 3, 4):
        raise ImageReadError(
            f"cannot read '{path}': decoded shape {array.shape} is not a single 2D image "
            "(grey, grey+alpha, RGB or RGBA); multi-page or multi-channel stacks are not supported"
        )
    if array.shape[2] == 2:  # grey + alpha
        return np.ascontiguousarray(array[:, :, 0])
    colour = array[:, :, :3]
    if bgr:
        colour = colour[:, :, ::-1]
    return np.ascontiguousarray(colour)


def _read_tiff(path: Path, max_pixels: int | None = None, channel: int | None = None) -> np.ndarray:
    from ..tiff import read_tiff

    if channel is not None:
        return read_tiff(path, max_pixels, channels=True)
    return _to_rgb(read_tiff(path, max_pixels), path, bgr=False)


def read_planes(
    path: PathLike, *, max_pixels: int | None = None, channel: int | None = None
) -> tuple[list[np.ndarray], str, tuple[int, ...]]:
    """Every 2D image of one file: its planes, the plane axes and their lengths.

    A stack or time series TIFF (:func:`bootseg.tiff.read_tiff_planes`) gives one image per plane, in the file's
    order, with its plane axes (``"Z"``, ``"TZ"``; ``"Q"`` or ``"I"`` for pages the file does not name) and their
    lengths; any other file gives ``([image], "", ())`` as :func:`read_image` reads it. Each plane is what
    :func:`read_image` returns for a 2D file: grey ``(H, W)`` or RGB ``(H, W, 3)``, or the one ``channel``.

    Raises as :func:`read_image`.

    >>> import tempfile, pathlib, tifffile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "z.tif"
    >>> tifffile.imwrite(path, np.arange(24, dtype=np.uint8).reshape(2, 3, 4), imagej=True, metadata={"axes": "ZYX"})
    >>> planes, axes, shape = read_planes(path)
    >>> [p.shape for p in planes], axes, shape
    ([(3, 4), (3, 4)], 'Z', (2,))
    """
    path = _as_path(path)
    if (
        _check_suffix(path, IMAGE_SUFFIXES, "read") not in TIFF_SUFFIXES
        or not path.is_file()
        or not path.stat().st_size
    ):
        return [read_image(path, max_pixels=max_pixels, channel=channel)], "", ()
    from ..tiff import read_tiff_planes

    if channel is not None:
        check_channel(channel)
    stack, axes, shape = read_tiff_planes(path, max_pixels, channels=channel is not None)
    if channel is not None:
        return [pick_channel(plane, channel, f"'{path}'") for plane in stack], axes, shape
    return [_to_rgb(plane, path, bgr=False) for plane in stack], axes, shape


def pick_channel(image: np.ndarray, channel: int, source: str) -> np.ndarray:
    """Channel ``channel`` (0-based) of an ``(H, W)`` or ``(H, W, C)`` image, as ``(H, W)``; a grey image has one.

    Raises :class:`ImageReadError` naming ``source``, the image's channel count and ``channel`` when it has no
    such channel.

    >>> pick_channel(np.dstack([np.zeros((2, 2)), np.ones((2, 2))]), 1, "a.tif").tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    >>> try:
    ...     pick_channel(np.zeros((4, 4, 2)), 2, "'a.tif'")
    ... except ImageReadError as error:
    ...     print(error)
    cannot read 'a.tif': channel 2 is out of range: the image has 2 channels (0 to 1; shape (4, 4, 2))
    """
    check_channel(channel)
    count = 1 if image.ndim == 2 else int(image.shape[2])
    if channel >= count:
        span = "0" if count == 1 else f"0 to {count - 1}"
        raise ImageReadError(
            f"cannot read {source}: channel {channel} is out of range: the image has {count} "
            f"channel{'s' if count > 1 else ''} ({span}; shape {image.shape})"
        )
    return image if image.ndim == 2 else np.ascontiguousarray(image[:, :, channel])


def _decode_opencv(data: bytes, path: Path) -> np.ndarray:
    buffer = np.frombuffer(data, dtype=np.uint8)
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # a bad file is reported below, once
    try:
        array = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if array is None:
        kind = path.suffix.lstrip(".").upper()
        raise ImageReadError(
            f"cannot decode '{path}' ({len(data)} bytes): not a valid {kind} image or the file is truncated"
        )
    if array.ndim == 3 and _is_grey_alpha_png(data):  # OpenCV expands grey+alpha to BGRA
        return np.ascontiguousarray(array[:, :, 0])
    return _to_rgb(array, path, bgr=True)


def _is_grey_alpha_png(data: bytes) -> bool:
    """True for a PNG whose IHDR colour type is 4 (grey + alpha)."""
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 25 and data[25] == 4


def pixel_limit_reason(height: int, width: int, limit: int | None) -> str | None:
    """Why an image of ``height × width`` is refused under ``limit`` pixels, or ``None`` if it is not.

    >>> pixel_limit_reason(10_000, 10_000, 2**26)[:56]
    '10000 × 10000 pixels is above the limit of 67,108,864 pi'
    >>> pixel_limit_reason(100, 100, 2**26) is None
    True
    """
    if limit is None or height * width <= limit:
        return None
    return (
        f"{width} × {height} pixels is above the limit of {limit:,} pixels (max_pixels, --max-pixels); "
        "tile or downscale the image, or raise the limit"
    )


def read_image(path: PathLike, *, max_pixels: int | None = None, channel: int | None = None) -> np.ndarray:
    """Read one image file, keeping its dtype.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.png``, ``.jpg``/``.jpeg``, ``.bmp`` or ``.tif``/``.tiff`` file (extension case-insensitive).
    max_pixels : int, optional
        Refuse an image of more than this many pixels (``H × W``) with an :class:`ImageReadError`; PNG and TIFF
        files are refused from their header, before any memory is spent on decoding them.
    channel : int, optional
        Return this channel alone (0-based, ``(H, W)``): R, G or B (0, 1, 2) of a colour image, 0 of a grey one,
        or any channel of a multi-channel TIFF, channels last ``(H, W, C)`` or first ``(C, H, W)``, which is read
        only so (see :func:`pick_channel`). An alpha channel is dropped first.

    Returns
    -------
    (H, W) or (H, W, 3) ndarray
        Grey images come back 2D; colour as RGB. An alpha channel is dropped (RGBA → RGB, grey+alpha → grey).
        The dtype is the file's: uint8, uint16 (16-bit PNG/TIFF), float32/float64 (float TIFF), ...

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    IsADirectoryError
        If ``path`` is a folder (use :func:`read_images`).
    ValueError
        If the extension is not a supported image type.
    ImageReadError
        If the file cannot be decoded (empty, truncated, not an image) or has no channel ``channel``; a
        ``ValueError`` too.
    TypeError
        If ``path`` is not a str or path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bootseg.io import write_image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_image(folder / "a.png", np.full((4, 6, 3), (255, 0, 0), np.uint8))
    >>> image = read_image(folder / "a.png")
    >>> image.shape, image.dtype, image[0, 0].tolist()
    ((4, 6, 3), dtype('uint8'), [255, 0, 0])
    """
    path = _as_path(path)
    if not path.exists():
        raise FileNotFoundError(f"image file '{path}' does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"'{path}' is a folder, not an image file; use read_images() for folders")
    suffix = _check_suffix(path, IMAGE_SUFFIXES, "read")
    data = path.read_bytes()
    if not data:
        raise ImageReadError(f"cannot read '{path}': the file is empty (0 bytes)")
    from ..headers import header_size

    size = header_size(data)
    if size is not None:
        _check_pixels(path, size, max_pixels)
    if channel is not None:
        check_channel(channel)
    image = _read_tiff(path, max_pixels, channel) if suffix in TIFF_SUFFIXES else _decode_opencv(data, path)
    _check_pixels(path, image.shape[:2], max_pixels)
    return image if channel is None else pick_channel(image, channel, f"'{path}'")


def _check_pixels(path: Path, size: tuple[int, ...], limit: int | None) -> None:
    reason = pixel_limit_reason(int(size[0]), int(size[1]), limit)
    if reason is not None:
        raise ImageReadError(f"cannot read '{path}': {reason}")


def read_mask(path: PathLike) -> np.ndarray:
    """Read a mask file as a bool array.

    A pixel is foreground where its value is above 0 (bool and integer files: 0/1, 0/255, label images) or at
    least 0.5 (float TIFF), in any channel of a colour file. A colour file that looks like a photograph
    (:func:`bootseg.images.photograph_reason`) is refused.

    Parameters
    ----------
    path : str or os.PathLike
        Any file :func:`read_image` reads.

    Returns
    -------
    (H, W) ndarray of bool

    Raises
    ------
    As :func:`read_image`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bootseg.io import write_mask
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "m.png"
    >>> _ = write_mask(target, np.array([[True, False], [False, True]]))
    >>> read_mask(target).tolist()
    [[True, False], [False, True]]
    """
    return as_mask(read_image(path), f"'{path}'")


def as_mask(array: np.ndarray, source: str) -> np.ndarray:
    """A decoded mask file's pixels as a bool ``(H, W)`` mask, as :func:`read_mask` reads it; ``source`` names it
    in the error for a colour picture that looks like a photograph.

    >>> as_mask(np.array([[0, 255], [3, 0]], np.uint8), "a.png").tolist()
    [[False, True], [True, False]]
    """
    from ..images import photograph_reason

    reason = photograph_reason(array)
    if reason is not None:
        raise ImageReadError(f"{source} {reason}")
    mask = array >= 0.5 if array.dtype.kind == "f" else array > 0
    return mask.any(axis=2) if mask.ndim == 3 else mask


def list_images(source: PathLike | Iterable[PathLike]) -> list[Path]:
    """The image files a source names: a folder, one file, or a list of files.

    Parameters
    ----------
    source : str, os.PathLike, or iterable of them
        A folder: its image files (not recursive), sorted by name; other files, sub-folders and hidden files
        are skipped and listed in one log message at INFO level. One file: a list holding it. A list (or other
        iterable) of files: those files, in the given order.

    Returns
    -------
    list of Path
        Image files with an extension in :data:`IMAGE_SUFFIXES` (case-insensitive).

    Raises
    ------
    FileNotFoundError
        If the folder or a named file does not exist.
    ValueError
        If a folder holds no image file, a list is empty, or a named file has an unsupported extension.
    TypeError
        If ``source`` is neither a path nor an iterable of paths.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.png", "a.TIF", "notes.txt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> [p.name for p in list_images(folder)]
    ['a.TIF', 'b.png']
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            return _list_folder(path)
        if not path.exists():
            raise FileNotFoundError(f"image source '{path}' does not exist (neither a folder nor a file)")
        _check_suffix(path, IMAGE_SUFFIXES, "read")
        return [path]
    if isinstance(source, bytes) or not isinstance(source, Iterable):
        raise TypeError(f"source must be a folder, a file or a list of files, got {type(source).__name__} {source!r}")
    paths = [_as_path(item, "each file in source") for item in source]
    if not paths:
        raise ValueError("source is an empty list of files; pass at least one image file")
    for path in paths:
        if path.is_dir():
            raise ValueError(f"'{path}' in the list of files is a folder; pass the folder itself as source")
        if not path.exists():
            raise FileNotFoundError(f"image file '{path}' does not exist")
        _check_suffix(path, IMAGE_SUFFIXES, "read")
    return paths


def _list_folder(folder: Path) -> list[Path]:
    images: list[Path] = []
    skipped: list[str] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith(".") or not entry.is_file() or not _is_image_name(entry):
            skipped.append(entry.name + ("/" if entry.is_dir() else ""))
        else:
            images.append(entry)
    if skipped:
        logger.info("skipped %d non-image entries in '%s': %s", len(skipped), folder, ", ".join(skipped))
    if not images:
        extra = f" ({len(skipped)} other entries)" if skipped else ""
        raise ValueError(
            f"folder '{folder}' holds no image file{extra}; expected extensions {', '.join(IMAGE_SUFFIXES)}"
        )
    return images


def read_images(source: PathLike | Iterable[PathLike]) -> tuple[list[np.ndarray], list[Path]]:
    """Read every image a source names (see :func:`list_images`), each as :func:`read_image` does.

    Parameters
    ----------
    source : str, os.PathLike, or iterable of them
        A folder, one file, or a list of files.

    Returns
    -------
    images : list of (H, W) or (H, W, 3) ndarray
        In the order of ``paths``; sizes and dtypes may differ between files.
    paths : list of Path
        The file each image came from.

    Raises
    ------
    As :func:`list_images` and :func:`read_image`; the message names the file that failed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bootseg.io import write_mask
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_mask(folder / "0001.png", np.eye(3, dtype=bool))
    >>> images, paths = read_images(folder)
    >>> images[0].tolist(), paths[0].name
    ([[255, 0, 0], [0, 255, 0], [0, 0, 255]], '0001.png')
    """
    paths = list_images(source)
    return [read_image(path) for path in paths], paths


def index_by_stem(folder: PathLike, what: str) -> dict[str, Path]:
    """The image files in ``folder`` by file stem (``0001.png`` → ``"0001"``), for masks named by their image.

    ``what`` names the folder in the errors: a missing folder (:class:`FileNotFoundError`), a file where a folder
    was asked for (:class:`NotADirectoryError`), no image file in it or two files of one stem (:class:`ValueError`).

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("0002.tif", "0001.png"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> sorted(index_by_stem(folder, "ground-truth"))
    ['0001', '0002']
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{what} folder '{folder}' does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{what} '{folder}' is not a folder; give the folder that holds the masks")
    index: dict[str, Path] = {}
    for path in list_images(folder):
        if path.stem in index:
            raise ValueError(
                f"{what} folder '{folder}' holds two files named {path.stem!r}: "
                f"{index[path.stem].name} and {path.name}; keep one"
            )
        index[path.stem] = path
    return index
