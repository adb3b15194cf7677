"""Every input read and checked before any work starts: all bad files reported at once, or skipped on request.

A run over a folder gathered over months should not stop after an hour of training on the one truncated file
it meets at the end, nor stop at the first bad file only to find the next one on the following try. So
:func:`load_inputs` (for folders and lists of files) and :func:`check_inputs` (for arrays) look at every input
first, and either return them all or raise one :class:`BadInputError` that lists each bad input and why. With
``skip_bad=True`` the bad inputs are left out instead and listed in :attr:`Inputs.skipped`.

What counts as bad: a file that cannot be decoded (empty, truncated, not an image, an unsupported TIFF layout),
an image :func:`bootseg.images.check_image` refuses (0 or 1 pixel rows, 2 or more than 4 channels, NaN or
infinite values), an image above ``max_pixels``, and a file whose name (stem) another input already uses, since
both would write the same output file. A constant image is not bad (its mask is empty), but it is listed in
:attr:`Inputs.constant` so that a caller can warn. Images of different sizes, dtypes and channel counts may be
mixed: every stage takes each image as it is, and a network stage repeats grey images on three channels when
the set holds colour images.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BootsegError
from .images import check_channel, check_image
from .stacks import InputFile, Stack, read_input_file

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "BadInput",
    "BadInputError",
    "InputFile",
    "Inputs",
    "check_inputs",
    "gather_inputs",
    "load_inputs",
    "scan_files",
    "scan_inputs",
]

#: The largest image accepted by default: 2**26 pixels (8192 × 8192). Larger images are refused before they are
#: decoded where the file header tells the size (PNG, TIFF); tile or downscale them, or raise the limit.
DEFAULT_MAX_PIXELS = 2**26

_SHOWN = 20  # bad inputs listed in one message

log = logging.getLogger("bootseg.inputs")


@dataclass(frozen=True)
class BadInput:
    """One input that cannot be used: where it came from and why.

    >>> BadInput("scans/a.png", "the file is empty (0 bytes)").line()
    'scans/a.png: the file is empty (0 bytes)'
    """

    source: str
    reason: str

    def line(self) -> str:
        """``"<source>: <reason>"``."""
        return f"{self.source}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        """``{"source": ..., "reason": ...}`` for ``run.json``."""
        return {"source": self.source, "reason": self.reason}


class BadInputError(BootsegError, ValueError):
    """Some inputs cannot be used; the message lists each one and why, and :attr:`bad` holds them.

    >>> error = BadInputError([BadInput("a.png", "the file is empty (0 bytes)")], total=3)
    >>> print(error)
    1 of 3 inputs cannot be used, so nothing was processed:
      - a.png: the file is empty (0 bytes)
    Fix or remove them, or skip them (--skip-bad on the command line, skip_bad=True in Python) to process the other 2
    """

    def __init__(self, bad: Sequence[BadInput], *, total: int) -> None:
        self.bad = list(bad)
        self.total = total
        lines = [f"  - {item.line()}" for item in self.bad[:_SHOWN]]
        if len(self.bad) > _SHOWN:
            lines.append(f"  ... and {len(self.bad) - _SHOWN} more")
        rest = total - len(self.bad)
        advice = (
            "Fix or remove them, or skip them (--skip-bad on the command line, skip_bad=True in Python) to process "
            f"the other {rest}"
            if rest
            else "Fix or remove them; no input is usable"
        )
        super().__init__(
            f"{len(self.bad)} of {total} inputs cannot be used, so nothing was processed:\n"
            + "\n".join(lines)
            + f"\n{advice}"
        )


@dataclass
class Inputs:
    """The usable inputs, in order, and what was left out.

    Attributes
    ----------
    images : list of ndarray
        Checked images (see :func:`bootseg.images.check_image`).
    names : list of str
        One per image: the file stem, or ``"image-0000"`` style for arrays without names.
    sources : list of str
        One per image: the file path (the same for every plane of a stack), or ``"images[3]"`` for arrays.
    skipped : list of BadInput
        Inputs left out with ``skip_bad=True`` (empty otherwise).
    constant : list of str
        Names of the images whose pixels all have one value (kept; their masks come out empty).
    stacks : list of Stack
        The files read as stacks of planes (:mod:`bootseg.stacks`), each plane one of the images above.

    Examples
    --------
    >>> inputs = check_inputs([np.zeros((4, 4)), np.eye(4)])
    >>> inputs.names, inputs.constant
    (['image-0000', 'image-0001'], ['image-0000'])
    """

    images: list[np.ndarray]
    names: list[str]
    sources: list[str]
    skipped: list[BadInput] = field(default_factory=list)
    constant: list[str] = field(default_factory=list)
    stacks: list[Stack] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def log_notes(self, logger: logging.Logger) -> None:
        """Warn of each input left out and, in one line, of the constant images."""
        for item in self.skipped:
            logger.warning("skipped %s", item.line())
        if self.constant:
            logger.warning(
                "%d constant image(s) (every pixel has one value; their masks are empty): %s",
                len(self.constant),
                ", ".join(self.constant[:10]) + (" ..." if len(self.constant) > 10 else ""),
            )


def _pixel_limit(max_pixels: int | None) -> int | None:
    if max_pixels is None:
        return None
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 4:
        raise ValueError(f"max_pixels must be an integer >= 4 (or None for no limit), got {max_pixels!r}")
    return max_pixels


def _too_large(shape: tuple[int, ...], limit: int | None) -> str | None:
    from .io import pixel_limit_reason

    return pixel_limit_reason(shape[0], shape[1], limit)


def _is_constant(image: np.ndarray) -> bool:
    flat = image.reshape(-1)
    return bool(flat.size and (flat == flat[0]).all())


def _finish(
    good: list[tuple[np.ndarray, str, str]],
    bad: list[BadInput],
    total: int,
    skip_bad: bool,
    stacks: Sequence[Stack] = (),
) -> Inputs:
    if bad and not skip_bad:
        raise BadInputError(bad, total=total)
    if not good:
        raise BadInputError(bad, total=total) if bad else ValueError("no input images")
    images = [g[0] for g in good]
    names = [g[1] for g in good]
    constant = [name for image, name, _ in good if _is_constant(image)]
    return Inputs(images, names, [g[2] for g in good], list(bad), constant, list(stacks))


def check_inputs(
    arrays: Iterable[Any],
    names: Sequence[str] | None = None,
    *,
    skip_bad: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    channel: int | None = None,
) -> Inputs:
    """Check every array; raise one :class:`BadInputError` listing each bad one, or leave them out.

    Parameters
    ----------
    arrays : iterable of array_like
        Images as :func:`bootseg.images.check_image` accepts them.
    names : sequence of str, optional
        One per array (default ``"image-0000"`` style).
    skip_bad : bool
        Leave bad arrays out (listed in ``skipped``) instead of raising.
    max_pixels : int or None
        The largest accepted ``H × W``; ``None`` for no limit.
    channel : int, optional
        Keep only this channel (0-based) of each ``(H, W, C)`` array, before any check; an array without it is
        bad. ``None``: each array as it is.

    Examples
    --------
    >>> try:
    ...     check_inputs([np.zeros((4, 4)), np.zeros((1, 9))])
    ... except BadInputError as error:
    ...     print(error.bad[0].line())
    images[1]: must be at least 2×2 pixels, got shape (1, 9) dtype float64
    >>> len(check_inputs([np.zeros((4, 4)), np.zeros((1, 9))], skip_bad=True))
    1
    """
    limit = _pixel_limit(max_pixels)
    if channel is not None:
        check_channel(channel)
    arrays = list(arrays)
    if not arrays:
        raise ValueError("images is empty; give at least one image")
    if names is None:
        names = [f"image-{i:04d}" for i in range(len(arrays))]
    elif len(names) != len(arrays):
        raise ValueError(f"got {len(arrays)} images but {len(names)} names; give one name per image")
    good: list[tuple[np.ndarray, str, str]] = []
    bad: list[BadInput] = []
    for i, (array, name) in enumerate(zip(arrays, names, strict=True)):
        source = f"images[{i}]"
        try:
            if channel is not None:
                array = _channel_of_array(array, channel)
            image = check_image(array, name="")
        except (TypeError, ValueError) as exc:
            bad.append(BadInput(source, str(exc).strip()))
            continue
        reason = _too_large(image.shape, limit)
        if reason:
            bad.append(BadInput(source, reason))
        else:
            good.append((image, str(name), source))
    return _finish(good, bad, len(arrays), skip_bad)


def load_inputs(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    skip_bad: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    wrap: Callable[[Iterable[Path]], Iterable[Path]] | None = None,
    channel: int | None = None,
) -> Inputs:
    """Read and check every image a folder, a file or a list of files names (see :func:`bootseg.io.list_images`).

    Parameters
    ----------
    source : str, os.PathLike, or iterable of them
    skip_bad : bool
        Leave bad files out (listed in ``skipped``) instead of raising :class:`BadInputError`.
    max_pixels : int or None
        The largest accepted ``H × W``, checked from the file header before decoding where the format allows
        (PNG, TIFF); ``None`` for no limit.
    wrap : callable, optional
        Wraps the iteration over the paths (a progress bar).
    channel : int, optional
        Read only this channel (0-based) of every file (:func:`bootseg.io.read_image`): one stain of a
        multi-channel TIFF, ``(H, W, C)`` or ``(C, H, W)``, or R, G or B of a colour image. A file without it is
        bad (its channel count named). ``None``: every image as it is.

    Raises
    ------
    FileNotFoundError, ValueError
        For a source that does not exist or holds no image file (as :func:`bootseg.io.list_images`).
    BadInputError
        Listing every file that cannot be used, unless ``skip_bad``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bootseg.io import write_image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_image(folder / "good.png", np.eye(8, dtype=np.uint8) * 255)
    >>> _ = (folder / "empty.png").write_bytes(b"")
    >>> inputs = load_inputs(folder, skip_bad=True)
    >>> inputs.names, [item.reason for item in inputs.skipped]
    (['good'], ['the file is empty (0 bytes)'])
    """
    items, bad, total = _gather(source, max_pixels, wrap, keep=True, channel=channel)
    good = [
        (image, name, str(file.path)) for file, images in items for image, name in zip(images, file.names, strict=True)
    ]
    stacks = [file.stack for file, _ in items if file.stack is not None]
    return _finish(good, bad, total, skip_bad, stacks)


def scan_inputs(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    skip_bad: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    wrap: Callable[[Iterable[Path]], Iterable[Path]] | None = None,
    channel: int | None = None,
) -> tuple[list[Path], list[BadInput]]:
    """Check every image file as :func:`load_inputs` does, keeping none in memory: the usable paths and the bad.

    For work that streams over a large folder afterwards (prediction): memory stays that of one image.
    ``channel`` as for :func:`load_inputs`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bootseg.io import write_image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_image(folder / "good.png", np.eye(8, dtype=np.uint8) * 255)
    >>> _ = (folder / "notes.png").write_text("not an image")
    >>> paths, bad = scan_inputs(folder, skip_bad=True)
    >>> [p.name for p in paths], bad[0].reason[:17]
    (['good.png'], 'cannot be decoded')
    """
    files, bad = scan_files(source, skip_bad=skip_bad, max_pixels=max_pixels, wrap=wrap, channel=channel)
    return [file.path for file in files], bad


def scan_files(
    source: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    skip_bad: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    wrap: Callable[[Iterable[Path]], Iterable[Path]] | None = None,
    channel: int | None = None,
) -> tuple[list[InputFile], list[BadInput]]:
    """As :func:`scan_inputs`, with each usable file's image names and stack (:class:`InputFile`).

    >>> import tempfile, pathlib, tifffile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> tifffile.imwrite(folder / "z.tif", np.zeros((2, 8, 8), np.uint8), imagej=True, metadata={"axes": "ZYX"})
    >>> files, _ = scan_files(folder)
    >>> files[0].names
    ['z_z0000', 'z_z0001']
    """
    items, bad, total = _gather(source, max_pixels, wrap, keep=False, channel=channel)
    if bad and (not skip_bad or not items):
        raise BadInputError(bad, total=total)
    return [file for file, _ in items], bad


def _gather(
    source: Any,
    max_pixels: int | None,
    wrap: Callable[[Iterable[Path]], Iterable[Path]] | None,
    *,
    keep: bool,
    channel: int | None = None,
) -> tuple[list[tuple[InputFile, list[np.ndarray]]], list[BadInput], int]:
    """``(file, its images or [])`` for each usable file, the bad ones, and the number of files."""
    from .io import list_images

    limit = _pixel_limit(max_pixels)
    if channel is not None:
        check_channel(channel)
    paths = list_images(source)
    items: list[tuple[InputFile, list[np.ndarray]]] = []
    bad: list[BadInput] = []
    for file, images, problem in _each(wrap(paths) if wrap is not None else paths, limit, channel):
        if problem is not None:
            bad.append(problem)
        else:
            items.append((file, images if keep else []))
    return items, bad, len(paths)


def _each(
    paths: Iterable[Path], limit: int | None, channel: int | None = None
) -> Iterable[tuple[Any, list[np.ndarray], BadInput | None]]:
    """``(file, images, None)`` for a usable file, ``(path, [], BadInput)`` for a bad one."""
    seen: dict[str, Path] = {}
    for path in paths:
        label = str(path)
        if path.stem in seen:
            yield path, [], BadInput(label, _clash(path.stem, seen[path.stem]))
            continue
        try:
            file, images = read_input_file(path, limit, channel)
        except (OSError, TypeError, ValueError) as exc:
            yield path, [], BadInput(label, _reason(exc, path))
            continue
        reason = _too_large(images[0].shape, limit)
        if reason:
            yield path, [], BadInput(label, reason)
            continue
        clash = next((name for name in file.names if name in seen), None)
        if clash is not None:
            yield path, [], BadInput(label, _clash(clash, seen[clash], plane=file.stack is not None))
            continue
        seen.update(dict.fromkeys(file.names, path))
        yield file, images, None


def _clash(name: str, other: Path, *, plane: bool = False) -> str:
    """Why a file whose (plane's) name another input already uses cannot be used."""
    what = f"its plane name '{name}'" if plane else f"its name '{name}'"
    return f"{what} is also that of '{other}'; both would write the same output files, so rename one"


def _channel_of_array(array: Any, channel: int) -> Any:
    """Channel ``channel`` of an ``(H, W, C)`` (or ``(H, W)``) array; other shapes are left to the checks."""
    from .io import pick_channel

    if not hasattr(array, "ndim") or array.ndim not in (2, 3):
        return array
    try:
        return pick_channel(array, channel, "it")
    except ValueError as exc:
        raise ValueError(str(exc).removeprefix("cannot read it: ")) from None


def _reason(exc: BaseException, path: Path) -> str:
    """The error message without the file name, which the listing shows once in front."""
    text, quoted = str(exc), f"'{path}'"
    for prefix, replacement in (
        (f"cannot read {quoted}: ", ""),
        (f"cannot read {quoted} as TIFF: ", "not a readable TIFF: "),
        (f"cannot decode {quoted} ", "cannot be decoded "),
    ):
        if text.startswith(prefix):
            return replacement + text[len(prefix) :]
    return text.replace(quoted, "the file").strip()


def gather_inputs(
    images: Any,
    names: Sequence[str] | None,
    *,
    skip_bad: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    channel: int | None = None,
) -> Inputs:
    """The inputs of :meth:`BootstrapChain.run` and ``predict``: a folder (or file list) read with
    :func:`load_inputs`, or arrays checked with :func:`check_inputs`.

    >>> gather_inputs([np.zeros((4, 4), np.uint8)], None).names
    ['image-0000']
    """
    if isinstance(images, (str, os.PathLike)):
        inputs = load_inputs(images, skip_bad=skip_bad, max_pixels=max_pixels, channel=channel)
        if names is not None:
            raise ValueError("names are taken from the file names when images is a folder; leave names out")
        return inputs
    if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype != object:
        raise TypeError(
            f"images must be a list of arrays or a folder path, got one array of shape {images.shape}; "
            "wrap a single image in a list: [image]"
        )
    try:
        arrays = list(images)
    except TypeError as exc:
        raise TypeError(f"images must be a list/iterable of arrays or a folder path, got {images!r}") from exc
    given = None if names is None else [str(n) for n in names]
    return check_inputs(arrays, given, skip_bad=skip_bad, max_pixels=max_pixels, channel=channel)
