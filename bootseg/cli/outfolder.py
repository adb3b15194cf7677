"""The output folder of ``run`` and ``predict``: refused overlaps, the files a run will write, ``--overwrite``.

Before a run writes anything, it lists the files it will write in OUT's manifest (the layout and the plan are
:class:`bootseg.runfolder.RunFolder`'s)
(:class:`bootseg.manifest.Manifest`); ``--overwrite`` removes only what an earlier run listed there. An OUT that
holds or lies inside an input, ``--truth`` or the model ``predict`` reads is refused, and so is a file that bootseg
did not write where this run would write one: a run never replaces or removes a file that is not its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from ..manifest import MANIFEST, Manifest
from ..runfolder import OutputPlan
from .common import UsageError, input_folders

__all__ = ["OutputPlan", "check_out", "make_out", "resume_out"]

log = logging.getLogger("bootseg.cli")


def _overlap(path: Path, other: Path) -> str | None:
    """How OUT ``path`` and ``other`` overlap: ``"is"``, ``"holds"``, ``"inside"``, or ``None``."""
    if path == other:
        return "is"
    if path in other.parents:
        return "holds"
    if other in path.parents:
        return "inside"
    return None


def check_out(
    out: str,
    inputs: Sequence[str],
    *,
    overwrite: bool,
    truth: str | None = None,
    model: str | Path | None = None,
    corrections: str | None = None,
) -> Path:
    """Refuse an OUT that overlaps an input, ``truth`` or ``model``, or that holds results without ``overwrite``.

    Changes nothing; :func:`make_out` creates OUT once the inputs were read.
    """
    path = Path(out).resolve()
    for folder in input_folders(inputs):
        if path == folder or folder in path.parents:
            raise UsageError(
                f"--out '{out}' is {'the input folder' if path == folder else 'inside the input folder'} "
                f"'{folder}'; choose a folder outside it (e.g. '{folder.parent / (folder.name + '-bootseg')}') so "
                "that results are never read as inputs"
            )
    for source in inputs:
        if _overlap(path, Path(source).resolve()) == "holds":
            raise UsageError(
                f"--out '{out}' holds the input '{source}'; choose an --out that neither holds an input nor lies "
                "inside one, so that bootseg never writes over or removes its inputs"
            )
    kept = {
        "--truth": "keep the ground truth in a folder apart from --out, so that results are never scored against "
        "themselves and the truth is never replaced",
        "--corrections": "keep the corrected masks in a folder apart from --out (e.g. a copy of an earlier run's "
        "masks you edited), so that a run never replaces them",
    }
    for flag, folder in (("--truth", truth), ("--corrections", corrections)):
        how = None if folder is None else _overlap(path, Path(folder).resolve())
        if how is not None:
            where = {"is": "is", "holds": "holds", "inside": "is inside"}[how]
            raise UsageError(f"--out '{out}' {where} {flag} '{folder}'; {kept[flag]}")
    if model is not None and _overlap(path, Path(model).resolve()) == "holds":
        raise UsageError(
            f"--out '{out}' holds the model '{model}' that predict reads; choose another --out (e.g. "
            f"'{path.parent / (path.name + '-predict')}')"
        )
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out '{out}' is a file; give a folder")
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir()) if path.is_dir() else []
    if entries and not overwrite:
        shown = ", ".join(entries[:6]) + (f" and {len(entries) - 6} more" if len(entries) > 6 else "")
        raise UsageError(
            f"output folder '{out}' is not empty (it holds {shown}); choose a new --out, or pass --overwrite to "
            "replace bootseg's results there"
        )
    return path


def make_out(path: Path, plan: OutputPlan, *, protected: Sequence[str | Path] = ()) -> Manifest:
    """Create OUT for ``plan``, first removing the files an earlier run listed in its manifest; return the new one.

    A file that bootseg did not write where ``plan`` would write one is refused (:class:`UsageError`, before
    anything is removed). An OUT without a manifest keeps everything. ``protected`` paths are never removed.
    """
    old = Manifest.read(path) if path.is_dir() else None
    ours = old.files if old is not None else set()
    _refuse_foreign(path, plan, ours, has_manifest=old is not None)
    kept_folders: list[str] = []
    if old is not None:
        removed = old.remove(protected=protected)
        kept_folders = sorted(old.folders)
        if removed:
            log.info("--overwrite: removed %d files and folders that bootseg wrote in '%s'", len(removed), path)
    elif path.is_dir() and any(p.name != MANIFEST for p in path.iterdir()):
        log.warning(
            "--overwrite: '%s' has no %s (its files were written by an older bootseg, or not by bootseg), so "
            "nothing there was removed",
            path,
            MANIFEST,
        )
    manifest = Manifest(path, folders=kept_folders)
    manifest.add(plan.files, folders=[f for f in plan.folders if not (path / f).exists()])
    return manifest


def resume_out(path: Path, plan: OutputPlan) -> Manifest:
    """The manifest of the interrupted run in ``path``, with ``plan`` added (a run from before manifests gets one)."""
    manifest = Manifest.read(path) or Manifest(path)
    manifest.add(plan.files, folders=[f for f in plan.folders if not (path / f).exists()])
    left = manifest.remove_leftovers()
    if left:
        log.info("removed %d temporary files that the interrupted run left in '%s'", len(left), path)
    return manifest


def _refuse_foreign(path: Path, plan: OutputPlan, ours: set[str], *, has_manifest: bool) -> None:
    """Refuse when a file bootseg did not write (not in ``ours``) is where ``plan`` would write one."""
    if not path.is_dir():
        return
    foreign = [f for f in plan.files if f not in ours and ((path / f).exists() or (path / f).is_symlink())]
    if not foreign:
        return
    shown = ", ".join(f"'{path / f}'" for f in foreign[:3]) + (f" and {len(foreign) - 3} more" if foreign[3:] else "")
    why = f"not listed in its {MANIFEST}" if has_manifest else f"'{path}' has no {MANIFEST}"
    raise UsageError(
        f"--overwrite: {shown} {'is' if len(foreign) == 1 else 'are'} in --out but bootseg did not write "
        f"{'it' if len(foreign) == 1 else 'them'} ({why}), and this run would replace "
        f"{'it' if len(foreign) == 1 else 'them'}; move {'it' if len(foreign) == 1 else 'them'} away (remove an "
        "older bootseg's results yourself), or choose another --out"
    )
