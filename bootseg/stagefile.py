"""A trained network stage in one file that names the stage that wrote it, for ``--resume`` and ``bootseg predict``.

A network saves itself however it likes (``save(path)``: a torch file, a joblib file, a folder). ``bootseg run``
wraps what it wrote in a zip archive with a small header, ``bootseg-stage.json``: the stage's registry name and
the plugin and distribution that registered it. :func:`load_stage` reads the header, finds the stage in the
registry (a missing plugin is named in the error), unpacks the stage's own file to a temporary folder and calls
the stage's classmethod ``load(path, device=...)``. The archive is written atomically and with fixed timestamps,
so that the same trained stage always gives the same bytes.

Files of the built-in ``unet`` written before this format (a bare ``bootseg.unet`` checkpoint) still load.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BootsegError, UnknownStageError

__all__ = ["FORMAT", "HEADER", "StageFileError", "StageHeader", "load_stage", "read_header", "save_stage", "unpacked"]

FORMAT = "bootseg.stage"
FORMAT_VERSION = 1
#: The header's name inside the archive.
HEADER = "bootseg-stage.json"
#: Where the stage's own file (or folder) lies inside the archive.
PAYLOAD = "stage"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the same bytes for the same stage


class StageFileError(BootsegError, ValueError):
    """A file that is not a saved bootseg network stage, or names a stage this installation does not have."""


@dataclass(frozen=True)
class StageHeader:
    """Who wrote a stage file: the stage's registry name and where it came from.

    Examples
    --------
    >>> StageHeader("unet", "bootseg.refiners", "bootseg", "0.1.0").source
    'bootseg.refiners (bootseg 0.1.0)'
    """

    stage: str
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def source(self) -> str:
        """``plugin (distribution version)``, as ``bootseg plugins`` shows it."""
        from .plugins import source_text

        return source_text(self.plugin, self.distribution, self.version)


def save_stage(stage: Any, path: str | os.PathLike, header: StageHeader) -> Path:
    """Save the trained ``stage`` (a :class:`~bootseg.protocols.Network`) into one archive at ``path``, atomically.

    The stage writes its own file with ``stage.save(...)`` into a temporary folder next to ``path``; everything
    it wrote there goes into the archive beside the header.
    """
    from .io import write_bytes_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".stage-", dir=path.parent) as tmp:
        inner = Path(tmp) / PAYLOAD
        stage.save(inner)
        written = sorted(p for p in Path(tmp).rglob("*") if p.is_file())
        if not written:
            raise StageFileError(f"stage {header.stage!r} from {header.source}: save({str(inner)!r}) wrote no file")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            record = {"format": FORMAT, "format_version": FORMAT_VERSION, **header.__dict__}
            archive.writestr(zipfile.ZipInfo(HEADER, _EPOCH), json.dumps(record, indent=1, sort_keys=True))
            for file in written:
                archive.writestr(zipfile.ZipInfo(file.relative_to(tmp).as_posix(), _EPOCH), file.read_bytes())
    return write_bytes_atomic(path, buffer.getvalue())


def read_header(path: str | os.PathLike) -> StageHeader | None:
    """The header of a stage file, or None for a file without one (a bare ``unet`` checkpoint, anything else).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    StageFileError
        When the header is there but unreadable or of a format this bootseg does not read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        if HEADER not in archive.namelist():
            return None
        try:
            record = json.loads(archive.read(HEADER))
            if record["format"] != FORMAT or int(record["format_version"]) > FORMAT_VERSION:
                raise ValueError(f"format {record['format']!r} version {record['format_version']}")
            return StageHeader(str(record["stage"]), str(record["plugin"]), record["distribution"], record["version"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StageFileError(
                f"{str(path)!r} has a damaged or newer stage header ({exc}); save it again with this bootseg"
            ) from exc


@contextmanager
def unpacked(path: str | os.PathLike) -> Iterator[Path]:
    """The stage's own file inside a stage archive, unpacked to a temporary folder for the block under the
    archive's own name (so that a stage's error message names the file the user gave); ``path`` itself for a
    file without a header."""
    path = Path(path)
    if read_header(path) is None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="bootseg-stage-") as tmp, zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name == HEADER:
                continue
            relative = path.name + name[len(PAYLOAD) :] if name.split("/")[0] == PAYLOAD else name
            target = (Path(tmp) / relative).resolve()
            if not target.is_relative_to(Path(tmp).resolve()):
                continue  # never write outside the temporary folder
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
        yield Path(tmp) / path.name


def load_stage(
    path: str | os.PathLike, registry: Any = None, *, device: str | None = None, threads: int | None = None
) -> tuple[Any, StageHeader]:
    """Rebuild the network stage saved at ``path`` with the registered stage that wrote it.

    ``device`` and ``threads`` go to the stage's ``load`` where it takes them. A bare ``unet`` checkpoint loads
    as ``unet``.

    Raises
    ------
    StageFileError
        When the stage the file names is not installed (its plugin and distribution named), or is not a network.
    """
    from .plugins import default_registry
    from .protocols import Network, accepts, satisfies

    registry = registry if registry is not None else default_registry()
    header = read_header(path)
    if header is None:
        from .refiners import UNetRefiner

        return UNetRefiner.load(path, device=device, threads=threads), StageHeader(
            "unet", "bootseg.refiners", "bootseg", None
        )
    try:
        factory = registry.info("refiner", header.stage).factory
    except UnknownStageError as exc:
        raise StageFileError(
            f"{str(path)!r} was saved by stage {header.stage!r} from {header.source}, which is not installed here; "
            f"install {header.distribution or header.plugin} (pip install {header.distribution or header.plugin})"
        ) from exc
    if not satisfies(factory, Network):
        raise StageFileError(
            f"stage {header.stage!r} is registered by {header.source} as a class without fit, predict_proba, save "
            f"and a load() classmethod; it cannot be rebuilt from {str(path)!r}"
        )
    load = factory.load
    options = {"device": device} if accepts(load, "device") else {}
    if accepts(load, "threads"):
        options["threads"] = threads
    with unpacked(path) as inner:
        stage = load(inner, **options)
    if not isinstance(stage, Network):
        raise StageFileError(
            f"{type(stage).__qualname__}.load({str(path)!r}) from {header.source} returned an object that is not a "
            "network stage (fit, predict_proba, save, load, threshold, describe)"
        )
    return stage, header
