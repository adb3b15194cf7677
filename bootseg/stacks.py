"""Stacks and time series: one file of many planes, segmented plane by plane and written back as a stack.

A Z-stack or time series TIFF (:func:`bootseg.io.read_planes`) enters a run as its planes, each an image of its
own with a name made from the file's stem and the plane's place (``cells_z0003``, ``movie_t0012_z0002``; pages
the file does not name are ``_p0003``). Every stage sees the planes as it sees any other images of the set, so
one first stage and one network serve the whole set, and every per-image output (masks, overlays, confidence,
objects) is per plane. The final masks of a stack's planes are also written back as one stack of the same axes
(:func:`write_stack`), which ImageJ/Fiji opens as a hyperstack over the input, with the input's pixel size where
its file states one (:func:`read_calibration`: OME-TIFF's ``PhysicalSize``, ImageJ's resolution and spacing).
"""

from __future__ import annotations

import functools
import io
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("bootseg.inputs")

__all__ = [
    "InputFile",
    "MaskPlane",
    "Stack",
    "encode_stack",
    "expand_truth",
    "plane_names",
    "plane_places",
    "read_calibration",
    "read_input_file",
    "read_mask_plane",
    "stack_labels",
    "stack_masks",
    "stacks_of_record",
    "write_stack",
]

#: The plane axes named in the planes' names, with the letter used there; any other layout is numbered flat.
_NAMED = {"Z": "z", "T": "t"}

#: The spellings of micrometres: OME's (micro sign or Greek mu) and ImageJ's.
_MICRONS = ("µm", "μm", "micron", "microns", "um", "\\u00B5m")

#: The plane axes in the order ImageJ's hyperstacks hold them; a stack of other axes is written as tifffile's own.
_IMAGEJ_AXES = ("Z", "T", "TZ")


@dataclass(frozen=True)
class Stack:
    """One input file read as planes.

    Attributes
    ----------
    name : str
        The file's stem: the name of its stack of masks (``stacks/NAME.tif``).
    source : str
        The file.
    axes : str
        The plane axes in the file's order (``"Z"``, ``"TZ"``; ``"Q"`` or ``"I"`` for unnamed pages).
    shape : tuple of int
        Their lengths.
    names : list of str
        The planes' names, in the file's order (see :func:`plane_names`).
    calibration : dict
        The pixel size the file states (:func:`read_calibration`), ``{}`` if none.

    Examples
    --------
    >>> Stack("cells", "cells.tif", "Z", (2,), ["cells_z0000", "cells_z0001"]).as_dict()["planes"]
    2
    """

    name: str
    source: str
    axes: str
    shape: tuple[int, ...]
    names: list[str]
    calibration: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """``run.json``'s record of the stack: its file, axes, shape and planes."""
        return {
            "name": self.name,
            "source": str(Path(self.source).resolve()),
            "axes": self.axes,
            "shape": list(self.shape),
            "planes": len(self.names),
            "first": self.names[0],
            "last": self.names[-1],
            **({"calibration": dict(self.calibration)} if self.calibration else {}),
        }


def plane_names(stem: str, axes: str, shape: Sequence[int]) -> list[str]:
    """The names of a stack's planes, in the file's order: the stem, then each named axis's letter and index
    (zero-padded to at least four digits), or ``_p`` and the flat index for axes the file does not name.

    >>> plane_names("cells", "Z", (3,))
    ['cells_z0000', 'cells_z0001', 'cells_z0002']
    >>> " ".join(plane_names("movie", "TZ", (2, 2))[1:3])
    'movie_t0000_z0001 movie_t0001_z0000'
    >>> plane_names("pages", "Q", (2,))
    ['pages_p0000', 'pages_p0001']
    """
    if len(set(axes)) == len(axes) and all(axis in _NAMED for axis in axes):
        widths = [max(4, len(str(n - 1))) for n in shape]
        return [
            stem + "".join(f"_{_NAMED[axis]}{i:0{w}d}" for axis, i, w in zip(axes, index, widths, strict=True))
            for index in np.ndindex(*shape)
        ]
    count = math.prod(shape)
    width = max(4, len(str(count - 1)))
    return [f"{stem}_p{i:0{width}d}" for i in range(count)]


@dataclass(frozen=True)
class InputFile:
    """One usable input file: its path, the names of its images (one, or one per plane of a stack), and the
    stack it is (``None`` for a 2D image).

    >>> InputFile(Path("a.png"), ["a"]).stack is None
    True
    """

    path: Path
    names: list[str]
    stack: Stack | None = None


def read_input_file(path: Path, limit: int | None, channel: int | None) -> tuple[InputFile, list[np.ndarray]]:
    """An input file and its images, checked (:func:`bootseg.images.check_image`): one, or one per plane of a
    stack, whose errors name the plane; a stack is logged with its planes and axes.

    >>> import tempfile, tifffile
    >>> path = Path(tempfile.mkdtemp()) / "z.tif"
    >>> tifffile.imwrite(path, np.zeros((2, 4, 4), np.uint8), imagej=True, metadata={"axes": "ZYX"})
    >>> file, images = read_input_file(path, None, None)
    >>> file.names, file.stack.axes, len(images)
    (['z_z0000', 'z_z0001'], 'Z', 2)
    """
    from .images import check_image
    from .io import read_planes
    from .tiff import channel_hint

    planes, axes, shape = read_planes(path, max_pixels=limit, channel=channel)
    if not axes:
        return InputFile(path, [path.stem]), [check_image(planes[0], name="")]
    names = plane_names(path.stem, axes, shape)
    images = []
    for name, plane in zip(names, planes, strict=True):
        try:
            images.append(check_image(plane, name=f"plane {name.removeprefix(path.stem + '_')}"))
        except ValueError as exc:
            raise ValueError(f"{exc} (a stack of {len(names)} planes, axes {axes})") from None
    stack = Stack(path.stem, str(path), axes, shape, names, read_calibration(path))
    log.info(
        "%s: a stack of %d planes (axes %s), segmented one by one%s",
        path,
        len(names),
        axes,
        channel_hint(axes, len(names)),
    )
    return InputFile(path, names, stack), images


def plane_places(stack: Stack) -> list[dict[str, int]]:
    """Each plane's place in its stack, in the file's order: ``{"t": 1, "z": 4}`` for named axes (0-based), ``{}``
    for pages the file does not name (their order is their place).

    >>> plane_places(Stack("m", "m.tif", "TZ", (2, 2), plane_names("m", "TZ", (2, 2))))[1]
    {'t': 0, 'z': 1}
    """
    if len(set(stack.axes)) == len(stack.axes) and all(axis in _NAMED for axis in stack.axes):
        return [
            {_NAMED[axis]: int(i) for axis, i in zip(stack.axes, index, strict=True)}
            for index in np.ndindex(*stack.shape)
        ]
    return [{} for _ in stack.names]


def stack_masks(stack: Stack, masks: Sequence[np.ndarray]) -> np.ndarray:
    """A stack's masks as one uint8 array, 0/255, of the stack's plane shape followed by ``(H, W)``.

    >>> stack = Stack("s", "s.tif", "TZ", (1, 2), ["s_t0000_z0000", "s_t0000_z0001"])
    >>> stack_masks(stack, [np.eye(2, dtype=bool)] * 2).shape
    (1, 2, 2, 2)
    """
    if len(masks) != len(stack.names):
        raise ValueError(f"stack '{stack.name}' has {len(stack.names)} planes, got {len(masks)} masks")
    planes = np.stack([np.asarray(mask, dtype=bool) for mask in masks]).astype(np.uint8) * 255
    return planes.reshape((*stack.shape, *planes.shape[1:]))


def stack_labels(stack: Stack, labels: Sequence[np.ndarray]) -> np.ndarray:
    """A stack's label images (each plane's objects numbered 1..N on their own) as one array of the stack's plane
    shape followed by ``(H, W)``: uint16, or uint32 where a plane holds more than 65535 objects.

    >>> stack = Stack("s", "s.tif", "Z", (2,), ["s_z0000", "s_z0001"])
    >>> stack_labels(stack, [np.array([[0, 1], [2, 2]])] * 2).dtype
    dtype('uint16')
    """
    if len(labels) != len(stack.names):
        raise ValueError(f"stack '{stack.name}' has {len(stack.names)} planes, got {len(labels)} label images")
    planes = np.stack([np.asarray(plane) for plane in labels])
    dtype = np.uint16 if not planes.size or int(planes.max()) <= np.iinfo(np.uint16).max else np.uint32
    return planes.astype(dtype).reshape((*stack.shape, *planes.shape[1:]))


def encode_stack(stack: Stack, masks: Sequence[np.ndarray], *, labels: bool = False) -> bytes:
    """The TIFF bytes of a stack's masks (or, with ``labels``, of its label images, :func:`stack_labels`): an
    ImageJ hyperstack for ``Z``, ``T`` and ``TZ`` stacks, otherwise a TIFF whose description names the axes for
    ``tifffile``; both read back with the input's axes. ImageJ holds no 32-bit integers: a label stack of more
    than 65535 objects in a plane is written as ``tifffile``'s own."""
    import tifffile

    array = stack_labels(stack, masks) if labels else stack_masks(stack, masks)
    buffer = io.BytesIO()
    if stack.axes in _IMAGEJ_AXES and array.dtype != np.uint32:
        size = stack.calibration
        metadata: dict[str, Any] = {"axes": stack.axes + "YX"}
        if "z" in size:
            metadata["spacing"] = size["z"]
        if "unit" in size:  # ImageJ's description is ASCII: its own word for µm
            metadata["unit"] = (
                "micron" if size["unit"] in _MICRONS else size["unit"].encode("ascii", "replace").decode()
            )
        resolution = (1 / size["x"], 1 / size["y"]) if "x" in size and "y" in size else None
        tifffile.imwrite(buffer, array, imagej=True, metadata=metadata, resolution=resolution)
    else:
        tifffile.imwrite(buffer, array, photometric="minisblack", metadata={"axes": stack.axes + "YX"})
    return buffer.getvalue()


def write_stack(path: Path, stack: Stack, masks: Sequence[np.ndarray], *, labels: bool = False) -> Path:
    """Write a stack's masks (or label images) to ``path`` (a ``.tif``) at once: the whole file or none
    (:func:`bootseg.io.atomic_write`).

    >>> import tempfile, tifffile
    >>> stack = Stack("s", "s.tif", "Z", (2,), ["s_z0000", "s_z0001"])
    >>> path = write_stack(Path(tempfile.mkdtemp()) / "s.tif", stack, [np.eye(3, dtype=bool)] * 2)
    >>> with tifffile.TiffFile(path) as tiff:
    ...     tiff.series[0].axes, tiff.series[0].shape
    ('ZYX', (2, 3, 3))
    """
    from .io import write_bytes_atomic

    return write_bytes_atomic(path, encode_stack(stack, masks, labels=labels))


def read_calibration(path: Path) -> dict[str, Any]:
    """The pixel size a TIFF states: ``x``, ``y`` (and ``z`` between planes) in ``unit``; ``{}`` if it states none.

    Read from OME-TIFF's ``PhysicalSizeX``/``Y``/``Z`` (unit ``PhysicalSizeXUnit``, µm by the OME schema's default)
    or from an ImageJ file's resolution tags, ``spacing`` and ``unit``; a file that is neither, or whose
    resolution is the default 1 pixel per unit, states none.

    >>> import tempfile, tifffile
    >>> path = Path(tempfile.mkdtemp()) / "z.tif"
    >>> tifffile.imwrite(path, np.zeros((2, 4, 4), np.uint8), imagej=True, resolution=(4.0, 4.0),
    ...                  metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"})
    >>> read_calibration(path)
    {'x': 0.25, 'y': 0.25, 'z': 2.0, 'unit': 'µm'}
    """
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        if tiff.is_ome and tiff.ome_metadata:
            return _ome_calibration(tiff.ome_metadata)
        if tiff.is_imagej:
            return _imagej_calibration(tiff.imagej_metadata or {}, tiff.pages[0].resolution)
    return {}


def _ome_calibration(xml: str) -> dict[str, Any]:
    import tifffile

    image = tifffile.xml2dict(xml).get("OME", {}).get("Image", {})
    pixels = (image[0] if isinstance(image, list) else image).get("Pixels", {})
    found = {axis.lower(): float(pixels[f"PhysicalSize{axis}"]) for axis in "XYZ" if f"PhysicalSize{axis}" in pixels}
    if found:
        found["unit"] = str(pixels.get("PhysicalSizeXUnit", "µm"))
    return found


def _imagej_calibration(metadata: dict[str, Any], resolution: tuple[float, float]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if resolution and all(r > 0 for r in resolution) and tuple(resolution) != (1.0, 1.0):
        found.update(x=1 / float(resolution[0]), y=1 / float(resolution[1]))
    if "spacing" in metadata:
        found["z"] = float(metadata["spacing"])
    if found and "unit" in metadata:
        found["unit"] = "µm" if str(metadata["unit"]) in _MICRONS else str(metadata["unit"])
    return found


@dataclass(frozen=True)
class MaskPlane:
    """One plane of a stack of masks (ground truth given as a stack), read with :func:`read_mask_plane`.

    >>> plane = MaskPlane(Path("truth/cells.tif"), 3, 30)
    >>> plane.name, str(plane)
    ('cells.tif, plane 3 of 30', 'truth/cells.tif[3]')
    """

    path: Path
    index: int
    count: int

    @property
    def name(self) -> str:
        """The file's name and the plane, for messages."""
        return f"{self.path.name}, plane {self.index} of {self.count}"

    def __str__(self) -> str:
        return f"{self.path}[{self.index}]"


def read_mask_plane(plane: MaskPlane) -> np.ndarray:
    """The bool mask of one plane of a stack of masks (foreground above 0, or at least 0.5 in a float file, as
    :func:`bootseg.io.read_mask`). The stack is read once for all its planes: the last two stacks read are kept."""
    stat = plane.path.stat()
    return _mask_stack(str(plane.path), stat.st_mtime_ns, stat.st_size)[plane.index]


@functools.lru_cache(maxsize=2)
def _mask_stack(path: str, mtime: int, size: int) -> np.ndarray:
    from .io.reading import as_mask, read_planes

    planes, _, _ = read_planes(Path(path))
    return np.stack([as_mask(array, f"'{path}' plane {i}") for i, array in enumerate(planes)])


def expand_truth(truth: Mapping[str, Any], stacks: Sequence[Stack]) -> dict[str, Any]:
    """Ground truth by image name, with each input stack's truth stack split into its planes.

    ``truth`` holds mask files by stem (:func:`bootseg.io.index_by_stem`). Where an input stack ``NAME`` has a
    truth file ``NAME.tif`` of as many planes, that file stands for the planes' names (:class:`MaskPlane`, in
    the file's order, whatever its axes are called); a truth file of one plane, or any other name, is left as it
    is. A truth stack of another number of planes is an error that names both counts.

    >>> import tempfile, tifffile
    >>> folder = Path(tempfile.mkdtemp())
    >>> tifffile.imwrite(folder / "s.tif", np.zeros((2, 4, 4), np.uint8), photometric="minisblack")
    >>> stack = Stack("s", "in/s.tif", "Z", (2,), ["s_z0000", "s_z0001"])
    >>> sorted(expand_truth({"s": folder / "s.tif"}, [stack]))
    ['s_z0000', 's_z0001']
    """
    expanded = dict(truth)
    for stack in stacks:
        path = truth.get(stack.name)
        if path is None or Path(path).suffix.lower() not in (".tif", ".tiff"):
            continue
        count = _plane_count(Path(path))
        if count == 1:
            continue
        if count != len(stack.names):
            raise ValueError(
                f"ground-truth stack '{path}' holds {count} planes but the input stack '{stack.source}' has "
                f"{len(stack.names)}; give one truth plane per input plane, in the same order"
            )
        del expanded[stack.name]
        expanded.update({name: MaskPlane(Path(path), i, count) for i, name in enumerate(stack.names)})
    return expanded


def _plane_count(path: Path) -> int:
    """How many planes the TIFF at ``path`` holds, from its header (1 for a 2D image or one it cannot read)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            series = tiff.series[0]
            return math.prod(n for n, axis in zip(series.shape, series.axes, strict=True) if axis not in "YXSC")
    except Exception:  # an unreadable file is reported when it is read
        return 1


def stacks_of_record(record: Mapping[str, Any]) -> list[Stack]:
    """The input stacks a run's ``run.json`` lists (``"stacks"``), with their planes' names.

    >>> record = {"stacks": [{"name": "a", "source": "a.tif", "axes": "Z", "shape": [2]}]}
    >>> " ".join(stacks_of_record(record)[0].names)
    'a_z0000 a_z0001'
    """
    return [
        Stack(
            item["name"],
            item["source"],
            item["axes"],
            tuple(item["shape"]),
            plane_names(item["name"], item["axes"], item["shape"]),
        )
        for item in record.get("stacks") or []
    ]
