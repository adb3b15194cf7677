"""Reading images and masks from files and folders, and writing results without half-written files.

Reading keeps what the file holds: a uint8 image stays uint8, a 16-bit image stays uint16, a float TIFF
stays float. Colour comes back as RGB (OpenCV's BGR is converted); an alpha channel is dropped, so RGBA
becomes RGB and grey+alpha becomes grey. PNG, JPEG and BMP are decoded by OpenCV from the file's bytes (so
names with spaces or non-ASCII characters work on every platform); TIFF is read by ``tifffile``.

Every write goes through :func:`atomic_write`: the data go to a temporary file in the target's folder, are
flushed to disk, and replace the target in one ``os.replace`` step. A crash or an error leaves either the old
file or the new one, never a truncated one, and no temporary file behind.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from .errors import BootsegError

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "atomic_write",
    "list_images",
    "read_image",
    "read_images",
    "read_mask",
    "write_bytes_atomic",
    "write_image",
    "write_mask",
]

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
"""File extensions read as images (compared case-insensitively)."""

TIFF_SUFFIXES = (".tif", ".tiff")
OPENCV_WRITE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

PathLike = str | os.PathLike


class ImageReadError(BootsegError, ValueError):
    """A file that exists but cannot be decoded as an image; the message names the file and the reason.

    >>> import tempfile, pathlib
    >>> bad = pathlib.Path(tempfile.mkdtemp()) / "notes.png"
    >>> _ = bad.write_text("not an image")
    >>> try:
    ...     read_image(bad)
    ... except ImageReadError as exc:
    ...     print("notes.png" in str(exc))
    True
    """


# -------------------------------------------------------------------------------------------------- helpers


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


def _read_tiff(path: Path, max_pixels: int | None = None) -> np.ndarray:
    from .tiff import read_tiff

    return _to_rgb(read_tiff(path, max_pixels), path, bgr=False)


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


@cache
def _umask() -> int:
    """The process umask (read once; ``os.umask`` can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    if os.name != "posix":
        return
    with suppress(OSError):
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


# --------------------------------------------------------------------------------------------------- reading


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


def read_image(path: PathLike, *, max_pixels: int | None = None) -> np.ndarray:
    """Read one image file, keeping its dtype.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.png``, ``.jpg``/``.jpeg``, ``.bmp`` or ``.tif``/``.tiff`` file (extension case-insensitive).
    max_pixels : int, optional
        Refuse an image of more than this many pixels (``H × W``) with an :class:`ImageReadError`; PNG and TIFF
        files are refused from their header, before any memory is spent on decoding them.

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
        If the file cannot be decoded (empty, truncated, not an image); a ``ValueError`` too.
    TypeError
        If ``path`` is not a str or path.

    Examples
    --------
    >>> import tempfile, pathlib
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
    from .headers import header_size

    size = header_size(data)
    if size is not None:
        _check_pixels(path, size, max_pixels)
    image = _read_tiff(path, max_pixels) if suffix in TIFF_SUFFIXES else _decode_opencv(data, path)
    _check_pixels(path, image.shape[:2], max_pixels)
    return image


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
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "m.png"
    >>> _ = write_mask(target, np.array([[True, False], [False, True]]))
    >>> read_mask(target).tolist()
    [[True, False], [False, True]]
    """
    from .images import photograph_reason

    array = read_image(path)
    reason = photograph_reason(array)
    if reason is not None:
        raise ImageReadError(f"'{path}' {reason}")
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
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_mask(folder / "0001.png", np.eye(3, dtype=bool))
    >>> images, paths = read_images(folder)
    >>> images[0].tolist(), paths[0].name
    ([[255, 0, 0], [0, 255, 0], [0, 0, 255]], '0001.png')
    """
    paths = list_images(source)
    return [read_image(path) for path in paths], paths


# --------------------------------------------------------------------------------------------------- writing


@contextmanager
def atomic_write(path: PathLike, mode: str = "wb", *, encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` only when the ``with`` block ends without error.

    The temporary file lives in the target's folder (so the final ``os.replace`` is atomic on one file
    system), is flushed and fsync'ed before the replace, and is removed if anything fails, so ``path`` holds
    either its old content or the complete new one. The new file gets the usual permissions (0o666 minus the
    umask), not the private ones of a temporary file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    mode : {"wb", "w"}, optional
        Binary (default) or text.
    encoding : str, optional
        Text encoding for ``mode="w"`` (default UTF-8).

    Yields
    ------
    file object
        Write to it inside the ``with`` block.

    Raises
    ------
    FileNotFoundError
        If the target's folder does not exist.
    ValueError
        For a ``mode`` other than ``"wb"`` or ``"w"``, or ``encoding`` with ``"wb"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_write(target, "w") as handle:
    ...     _ = handle.write("done")
    >>> target.read_text()
    'done'
    """
    path = _as_path(path)
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got mode={mode!r}")
    if mode == "wb" and encoding is not None:
        raise ValueError(f"encoding={encoding!r} needs text mode 'w', got mode='wb'")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write '{path}': folder '{folder}' does not exist")
    handle_number, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    text = {"encoding": encoding or "utf-8", "newline": ""} if mode == "w" else {}
    try:
        with os.fdopen(handle_number, mode, **text) as handle:
            os.chmod(temporary, 0o666 & ~_umask())
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        with suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC and not exc.filename:  # name the file
            raise OSError(
                errno.ENOSPC, f"{exc.strerror or 'No space left on device'} while writing", str(path)
            ) from exc
        raise
    _fsync_folder(folder)


def write_bytes_atomic(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    data : bytes or bytearray or memoryview
        The complete content.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "blob.bin"
    >>> write_bytes_atomic(target, b"abc").read_bytes()
    b'abc'
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    path = _as_path(path)
    with atomic_write(path, "wb") as handle:
        handle.write(data)
    return path


def _mask_uint8(mask: Any) -> np.ndarray:
    if isinstance(mask, (str, bytes)) or mask is None or not hasattr(mask, "__array__"):
        raise TypeError(f"mask must be a NumPy array, got {type(mask).__name__}")
    array = np.asarray(mask)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2 or min(array.shape) < 1:
        raise ValueError(f"mask must be a non-empty (H, W) array, got shape {array.shape}")
    if array.dtype == bool:
        binary = array
    elif array.dtype.kind in "ui":
        binary = array > 0
    elif array.dtype.kind == "f":
        if np.isnan(array).any():
            raise ValueError(f"mask has NaN values (shape {array.shape}); a mask must be finite")
        binary = array >= 0.5
    else:
        raise TypeError(f"mask must be bool, integer or float, got dtype {array.dtype}")
    return binary.astype(np.uint8) * np.uint8(255)


def write_mask(path: PathLike, mask: Any) -> Path:
    """Write a mask as a single-channel 8-bit PNG of 0 (background) and 255 (foreground), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target ``.png`` file; its folder must exist. An existing file is replaced.
    mask : (H, W) or (H, W, 1) array_like
        Bool, integer (foreground > 0) or float (foreground >= 0.5) mask.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the extension is not ``.png``, or the mask is not a non-empty 2D array or contains NaN.
    TypeError
        If ``mask`` is not an array of bool, integer or float values.
    FileNotFoundError
        If the target's folder does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "mask.png"
    >>> read_image(write_mask(target, np.array([[0, 1], [1, 0]]))).tolist()
    [[0, 255], [255, 0]]
    """
    path = _as_path(path)
    _check_suffix(path, (".png",), "write a mask to")
    pixels = _mask_uint8(mask)
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 2D array
        raise BootsegError(f"OpenCV could not encode the mask for '{path}'")
    return write_bytes_atomic(path, encoded.tobytes())


def _image_array(array: Any) -> np.ndarray:
    if isinstance(array, (str, bytes)) or array is None or not hasattr(array, "__array__"):
        raise TypeError(f"array must be a NumPy array, got {type(array).__name__}")
    image = np.asarray(array)
    if image.dtype == bool:
        image = image.astype(np.uint8) * np.uint8(255)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)) or min(image.shape[:2]) < 1:
        raise ValueError(f"array must be (H, W), (H, W, 3) or (H, W, 4) and non-empty, got shape {image.shape}")
    return image


def write_image(path: PathLike, array: Any) -> Path:
    """Write an image (probability map, overlay, grey or colour picture) atomically, keeping its dtype.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its folder must exist. The extension picks the format:

        * ``.png``: uint8 or uint16, grey / RGB / RGBA;
        * ``.tif``, ``.tiff``: uint8, uint16, float32 or float64 (e.g. probabilities), grey / RGB / RGBA;
        * ``.jpg``, ``.jpeg``, ``.bmp``: uint8, grey / RGB (lossy for JPEG).
    array : (H, W), (H, W, 3) or (H, W, 4) ndarray
        Colour in RGB(A) order. A bool array is written as uint8 0/255.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        For an unsupported extension, or a dtype or channel count that the format cannot hold (the message
        says which dtypes it can).
    TypeError
        If ``array`` is not an array.
    FileNotFoundError
        If the target's folder does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> probs = np.array([[0.25, 1.0]], np.float32)
    >>> read_image(write_image(folder / "p.tif", probs)).tolist()
    [[0.25, 1.0]]
    >>> read_image(write_image(folder / "d.png", np.array([[0, 4095]], np.uint16))).dtype
    dtype('uint16')
    """
    path = _as_path(path)
    suffix = _check_suffix(path, OPENCV_WRITE_SUFFIXES + TIFF_SUFFIXES, "write an image to")
    image = _image_array(array)
    if suffix in TIFF_SUFFIXES:
        from .tiff import encode_tiff

        return write_bytes_atomic(path, encode_tiff(image, path))
    allowed = ("uint8", "uint16") if suffix == ".png" else ("uint8",)
    if image.dtype.name not in allowed:
        raise ValueError(
            f"cannot write dtype {image.dtype} to '{path}': {suffix} holds {' or '.join(allowed)}; "
            "scale it (e.g. np.round(probs * 255).astype(np.uint8)) or write a .tif to keep floats"
        )
    if image.ndim == 3 and image.shape[2] == 4 and suffix != ".png":
        raise ValueError(f"cannot write 4 channels (RGBA) to '{path}': {suffix} holds grey or RGB; use .png")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, encoded = cv2.imencode(suffix, image)
    if not ok:  # pragma: no cover - the checks above leave only encodable arrays
        raise BootsegError(f"OpenCV could not encode a {image.dtype} {image.shape} image for '{path}'")
    return write_bytes_atomic(path, encoded.tobytes())
