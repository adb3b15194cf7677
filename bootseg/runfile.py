"""``run.json``: what a ``bootseg run`` (or ``predict``) did, written beside its outputs.

The file records the command, every option after presets, the versions of bootseg and its main dependencies, the
device each network used, the timings, the inputs and the training summaries, so a run can be understood and
repeated without the console log. It is plain JSON, written atomically.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .io import atomic_write

__all__ = ["FORMAT_VERSION", "RUNFILE", "is_run_folder", "read_runfile", "versions", "write_runfile"]

#: The file name inside an output folder.
RUNFILE = "run.json"
#: Bumped when a field changes meaning; readers check it.
FORMAT_VERSION = 1

_PACKAGES = ("bootseg", "torch", "numpy", "opencv-python-headless", "scikit-image", "pluggy")


def versions() -> dict[str, str | None]:
    """Versions of Python, bootseg and its main dependencies (from package metadata; imports nothing).

    >>> "python" in versions()
    True
    """
    found: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    torch = sys.modules.get("torch")  # the exact build (e.g. "+cu121") when torch was used
    if torch is not None:
        found["torch"] = str(torch.__version__)
    return found


def now_iso() -> str:
    """The current time as an ISO 8601 string with the local UTC offset, to the second."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def _jsonable(value: Any) -> Any:
    """Plain JSON values: tuples to lists, paths and devices to strings, NaN/inf to None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return _jsonable(value.item())
    return str(value)


def write_runfile(folder: str | os.PathLike, data: Mapping[str, Any]) -> Path:
    """Write ``data`` (plus the format version) as ``folder/run.json``, atomically; return the path.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_runfile(folder, {"command": ["bootseg", "run"]}).name
    'run.json'
    >>> is_run_folder(folder), read_runfile(folder)["command"]
    (True, ['bootseg', 'run'])
    """
    path = Path(folder) / RUNFILE
    payload = {"format": "bootseg.run", "format_version": FORMAT_VERSION, **_jsonable(data)}
    with atomic_write(path, "w") as handle:
        json.dump(payload, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    return path


def is_run_folder(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds a ``run.json`` written by bootseg.

    >>> is_run_folder("/nonexistent-folder")
    False
    """
    return (Path(folder) / RUNFILE).is_file()


def read_runfile(folder: str | os.PathLike) -> dict[str, Any]:
    """Read ``folder/run.json``; a file that is not bootseg's raises ``ValueError`` naming it.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = write_runfile(folder, {"inputs": ["a.png"]})
    >>> read_runfile(folder)["inputs"]
    ['a.png']
    """
    path = Path(folder) / RUNFILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"'{path}' is not valid JSON ({exc}); it was not written by bootseg or is damaged") from exc
    if not isinstance(data, dict) or data.get("format") != "bootseg.run":
        raise ValueError(f'\'{path}\' is not a bootseg run file (no "format": "bootseg.run")')
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"'{path}' has run-file format version {data.get('format_version')!r}; this bootseg reads {FORMAT_VERSION}"
        )
    return data
