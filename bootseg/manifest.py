"""``bootseg-manifest.json``: the files and folders bootseg wrote in an output folder, so that it removes no other.

A run lists every file it is about to write in its output folder (and every folder it is about to create) before
writing them, and drops at its end the ones it did not write after all. ``--overwrite`` removes exactly the listed
files that are still there, then the listed folders that are left empty: never a folder with its content, never a
file the list does not name, never a path that leads out of the output folder (``..``, an absolute path, a
symbolic link on the way). A folder without a manifest (an older bootseg's, or a user's) holds nothing provably
bootseg's, so nothing in it is removed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

__all__ = ["MANIFEST", "Manifest"]

log = logging.getLogger(__name__)

#: The file name inside an output folder.
MANIFEST = "bootseg-manifest.json"
_FORMAT = "bootseg.manifest"
_FORMAT_VERSION = 1
#: The temporary file of an atomic write of ``name`` (:func:`bootseg.io.atomic_write`): ``.name.XXXXXXXX.tmp``.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


def _entry(relative: str | os.PathLike) -> str | None:
    """``relative`` as a normalised POSIX path inside a folder, or ``None`` if it could lead out of it."""
    text = str(relative).replace("\\", "/")
    path = PurePosixPath(text)
    if not text or path.is_absolute() or any(part in ("", ".", "..") for part in text.split("/")):
        return None
    return str(path)


class Manifest:
    """The files and folders bootseg wrote in ``folder`` (POSIX paths relative to it).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> manifest = Manifest(folder)
    >>> manifest.add(["masks/a.png"], folders=["masks"])
    >>> (folder / "masks").mkdir(); _ = (folder / "masks" / "a.png").write_bytes(b"x")
    >>> _ = (folder / "mine.txt").write_text("kept")
    >>> Manifest.read(folder).remove()
    ['masks/a.png', 'masks/']
    >>> sorted(p.name for p in folder.iterdir())
    ['bootseg-manifest.json', 'mine.txt']
    """

    def __init__(self, folder: str | os.PathLike, files: Iterable[str] = (), folders: Iterable[str] = ()) -> None:
        self.folder = Path(folder)
        self.files: set[str] = set()
        self.folders: set[str] = set()
        self._update(files, folders)

    @property
    def path(self) -> Path:
        """Where the manifest file is."""
        return self.folder / MANIFEST

    def __repr__(self) -> str:
        return f"Manifest('{self.folder}', {len(self.files)} files, {len(self.folders)} folders)"

    @classmethod
    def read(cls, folder: str | os.PathLike) -> Manifest | None:
        """The manifest of ``folder``, or ``None`` if it has none; a damaged one raises ``ValueError`` naming it."""
        path = Path(folder) / MANIFEST
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"'{path}' cannot be read ({exc}); bootseg does not know which files there it wrote, so it removes "
                "none: remove the results yourself, or choose another --out"
            ) from exc
        if (
            not isinstance(data, dict)
            or data.get("format") != _FORMAT
            or not isinstance(data.get("files"), list)
            or not isinstance(data.get("folders"), list)
            or not all(isinstance(e, str) for e in [*data["files"], *data["folders"]])
        ):
            raise ValueError(
                f'\'{path}\' is not a bootseg manifest (expected {{"format": "{_FORMAT}", "files": [...], '
                '"folders": [...]}); bootseg removes none of the files there: remove them yourself, or choose '
                "another --out"
            )
        if data.get("format_version") != _FORMAT_VERSION:
            raise ValueError(
                f"'{path}' has manifest format version {data.get('format_version')!r}; this bootseg reads "
                f"{_FORMAT_VERSION}"
            )
        return cls(folder, data["files"], data["folders"])

    def _update(self, files: Iterable[str | os.PathLike], folders: Iterable[str | os.PathLike]) -> None:
        for target, entries in ((self.files, files), (self.folders, folders)):
            for entry in entries:
                clean = _entry(entry)
                if clean is None:
                    log.warning("manifest '%s': entry %r leads out of the folder; ignored", self.path, str(entry))
                else:
                    target.add(clean)

    def add(self, files: Iterable[str | os.PathLike], *, folders: Iterable[str | os.PathLike] = ()) -> None:
        """List ``files`` (and ``folders``) as bootseg's, and write the manifest (atomically)."""
        self._update(files, folders)
        self.write()

    def write(self) -> Path:
        """Write the manifest to ``folder/bootseg-manifest.json`` atomically; return its path."""
        from .io import atomic_write

        payload = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "files": sorted(self.files),
            "folders": sorted(self.folders),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.path, "w") as handle:
            json.dump(payload, handle, indent=1, ensure_ascii=False)
            handle.write("\n")
        return self.path

    def prune(self) -> None:
        """Drop the entries bootseg listed but did not write (or that are gone), and write the manifest."""
        self.files = {e for e in self.files if self._regular_file(e) is not None}
        self.folders = {e for e in self.folders if self._real_folder(e) is not None}
        self.write()

    def remove(self, *, protected: Iterable[str | os.PathLike] = ()) -> list[str]:
        """Remove the listed files that are still regular files here, then the listed folders left empty.

        Nothing under a ``protected`` path (an input, the ground truth, a model being read) is touched. Returns
        what was removed (folders with a trailing ``/``); the manifest keeps what is left.
        """
        guarded = [Path(p).resolve() for p in protected]
        removed = self.remove_leftovers()
        for entry in sorted(self.files):
            path = self._regular_file(entry)
            if path is None:
                self.files.discard(entry)
            elif not any(path.resolve() == g or g in path.resolve().parents for g in guarded):
                path.unlink()
                self.files.discard(entry)
                removed.append(entry)
        for entry in sorted(self.folders, key=lambda e: (-e.count("/"), e)):  # the deepest first
            path = self._real_folder(entry)
            if path is None:
                self.folders.discard(entry)
            elif not any(path.iterdir()):
                path.rmdir()
                self.folders.discard(entry)
                removed.append(entry + "/")
        return removed

    def remove_leftovers(self) -> list[str]:
        """Remove the temporary files that an atomic write of a listed file (or of the manifest) left when the
        process was killed midway (``.NAME.XXXXXXXX.tmp`` beside ``NAME``); return them, relative to the folder."""
        names: dict[str, set[str]] = {"": {MANIFEST}}
        for entry in self.files:
            parent, _, name = entry.rpartition("/")
            names.setdefault(parent, set()).add(name)
        removed = []
        for parent, listed in sorted(names.items()):
            probe = self._inside(f"{parent}/_") if parent else self.folder / "_"  # no symbolic link on the way
            if probe is None or not probe.parent.is_dir():
                continue
            folder = probe.parent
            for path in folder.iterdir():
                match = _TEMPORARY.match(path.name)
                if match and match["name"] in listed and stat.S_ISREG(path.lstat().st_mode):
                    path.unlink()
                    removed.append(f"{parent}/{path.name}" if parent else path.name)
        return removed

    def _inside(self, entry: str) -> Path | None:
        """``folder/entry`` if no folder on the way there is a symbolic link (which could lead elsewhere)."""
        path = self.folder
        for part in PurePosixPath(entry).parts[:-1]:
            path = path / part
            if path.is_symlink() or not path.is_dir():
                return None
        return path / PurePosixPath(entry).name

    def _regular_file(self, entry: str) -> Path | None:
        return self._of_kind(entry, stat.S_ISREG)

    def _real_folder(self, entry: str) -> Path | None:
        return self._of_kind(entry, stat.S_ISDIR)

    def _of_kind(self, entry: str, is_kind: Callable[[int], bool]) -> Path | None:
        """The entry's path inside OUT when it is itself (not through a link) of the kind ``is_kind`` tests."""
        path = self._inside(entry)
        try:
            return path if path is not None and is_kind(path.lstat().st_mode) else None
        except OSError:
            return None
