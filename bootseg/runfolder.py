"""The folder a run writes: where every file goes, written once and atomically, and its record.

One type, :class:`RunFolder`, knows the layout that ``bootseg run``, ``bootseg predict``, ``--resume`` and
:meth:`bootseg.BootstrapChain.run` with ``checkpoint_dir`` share::

    masks/NAME.png                  final masks, 0/255
    stages/<k>-<stage>/NAME.png     each stage's masks (kept for --resume as soon as they are done)
    overlays/NAME.png               the image with the final (and first stage's) outline
    proba/NAME.png|.tif             the last network's probabilities
    labels/NAME.tif                 the final mask's objects numbered 1..N (:mod:`bootseg.objects`)
    rois/NAME.zip                   each object's outline, an ImageJ/Fiji ROI set
    stacks/STEM.tif                 the final masks of a stack's planes as one stack (:mod:`bootseg.stacks`)
    stacks/labels/STEM.tif          with labels/, their objects as one stack of label images
    stacks/rois/STEM.zip            with rois/, every plane's ROIs in one set, each on its plane
    model-<k>-<stage>.pt            each trained network (:mod:`bootseg.stagefile`)
    chain-state.json                what the kept work depends on (:mod:`bootseg.resume`)
    run.json, report.html, confidence.csv, evaluation.csv, objects.csv, bootseg-manifest.json

Every image file is written once: a resumed run keeps what an earlier try finished. Every write goes to a temporary
file that is renamed into place, so a run killed at any moment leaves only complete files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PROBA_FORMATS", "OutputPlan", "RunFolder", "proba_path", "read_proba", "write_proba"]

#: ``--proba-format`` choices: file suffix and how [0, 1] maps to the stored values.
PROBA_FORMATS = {"png16": ".png", "png8": ".png", "tiff": ".tif"}


@dataclass
class OutputPlan:
    """The files (and their folders) a run will write in its folder, as POSIX paths relative to it."""

    files: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunFolder:
    """The layout of a run's folder, and its writes.

    Examples
    --------
    >>> folder = RunFolder(Path("out"))
    >>> folder.stage_mask("0-otsu", "cell 1").as_posix(), folder.model("1-unet").name
    ('out/stages/0-otsu/cell 1.png', 'model-1-unet.pt')
    >>> folder.run_plan(["a"], ["0-otsu"], overlays=False, proba_format=None, truth=False).files[:2]
    ['masks/a.png', 'stages/0-otsu/a.png']
    """

    root: Path

    MASKS = "masks"
    STAGES = "stages"
    OVERLAYS = "overlays"
    PROBA = "proba"
    RECORD = "run.json"
    REPORT = "report.html"
    CONFIDENCE = "confidence.csv"
    TO_CORRECT = "to-correct.txt"
    EVALUATION = "evaluation.csv"
    STATE = "chain-state.json"
    LABELS = "labels"
    ROIS = "rois"
    STACKS = "stacks"
    OBJECTS = "objects.csv"

    # -- where each file goes ---------------------------------------------------------------------------------
    def mask(self, name: str) -> Path:
        """The final mask of image ``name``."""
        return self.root / self.MASKS / f"{name}.png"

    def stage_mask(self, key: str, name: str) -> Path:
        """The mask of image ``name`` by stage ``key`` (``"0-otsu"``)."""
        return self.root / self.STAGES / key / f"{name}.png"

    def overlay(self, name: str) -> Path:
        """The overlay picture of image ``name``."""
        return self.root / self.OVERLAYS / f"{name}.png"

    def proba(self, name: str, fmt: str) -> Path:
        """The probability map of image ``name`` in ``--proba-format`` ``fmt``."""
        return proba_path(self.root / self.PROBA, name, fmt)

    def labels(self, name: str) -> Path:
        """The label image of image ``name``."""
        return self.root / self.LABELS / f"{name}.tif"

    def rois(self, name: str) -> Path:
        """The ROI set of image ``name``."""
        return self.root / self.ROIS / f"{name}.zip"

    def stack(self, name: str, *, labels: bool = False) -> Path:
        """The final masks (or, with ``labels``, their label images) of the stack ``name`` (a file's stem), one
        TIFF of the stack's axes."""
        return self.root / self.STACKS / (f"{self.LABELS}/{name}.tif" if labels else f"{name}.tif")

    def stack_rois(self, name: str) -> Path:
        """The ROI set of every plane's objects of the stack ``name``, each ROI on its plane."""
        return self.root / self.STACKS / self.ROIS / f"{name}.zip"

    def model(self, key: str) -> Path:
        """The trained network of stage ``key`` (``"1-unet"``)."""
        return self.root / f"model-{key}.pt"

    def file(self, name: str) -> Path:
        """One of the run's single files (:attr:`RECORD`, :attr:`REPORT`, :attr:`CONFIDENCE`, ...)."""
        return self.root / name

    # -- what a run will write --------------------------------------------------------------------------------
    def run_plan(
        self,
        names: Sequence[str],
        stage_keys: Sequence[str],
        *,
        overlays: bool,
        proba_format: str | None,
        truth: bool,
        labels: bool = False,
        rois: bool = False,
        objects: bool = False,
        stacks: Sequence[str] = (),
    ) -> OutputPlan:
        """What ``bootseg run`` may write (a stage that saves no network, or gives no probabilities, writes less);
        ``labels``, ``rois`` and ``objects`` add ``labels/``, ``rois/`` and ``objects.csv``, and ``stacks`` (the
        stems of the inputs read as stacks) ``stacks/``."""
        folders = {self.MASKS: ".png", **{f"{self.STAGES}/{key}": ".png" for key in stage_keys}}
        plan = self._per_image(names, folders, overlays, proba_format, labels, rois)
        self._add_stacks(plan, stacks, labels, rois)
        plan.files += [self.RECORD, self.REPORT, self.CONFIDENCE, self.TO_CORRECT, self.STATE]
        plan.files += [self.model(key).name for key in stage_keys]
        if truth:
            plan.files.append(self.EVALUATION)
        if objects:
            plan.files.append(self.OBJECTS)
        return plan

    def predict_plan(
        self,
        names: Sequence[str],
        *,
        overlays: bool,
        proba_format: str | None,
        labels: bool = False,
        rois: bool = False,
        objects: bool = False,
        stacks: Sequence[str] = (),
    ) -> OutputPlan:
        """What ``bootseg predict`` writes."""
        plan = self._per_image(names, {self.MASKS: ".png"}, overlays, proba_format, labels, rois)
        self._add_stacks(plan, stacks, labels, rois)
        plan.files += [self.RECORD, self.REPORT, self.CONFIDENCE]
        if objects:
            plan.files.append(self.OBJECTS)
        return plan

    def _add_stacks(self, plan: OutputPlan, stacks: Sequence[str], labels: bool, rois: bool) -> None:
        if stacks:
            plan.files += [f"{self.STACKS}/{name}.tif" for name in stacks]
            plan.folders.append(self.STACKS)
        if stacks and labels:
            plan.files += [f"{self.STACKS}/{self.LABELS}/{name}.tif" for name in stacks]
            plan.folders.append(f"{self.STACKS}/{self.LABELS}")
        if stacks and rois:
            plan.files += [f"{self.STACKS}/{self.ROIS}/{name}.zip" for name in stacks]
            plan.folders.append(f"{self.STACKS}/{self.ROIS}")

    def _per_image(
        self,
        names: Sequence[str],
        folders: dict[str, str],
        overlays: bool,
        proba_format: str | None,
        labels: bool,
        rois: bool,
    ) -> OutputPlan:
        optional = {
            self.OVERLAYS: ".png" if overlays else None,
            self.PROBA: None if proba_format is None else PROBA_FORMATS[proba_format],
            self.LABELS: ".tif" if labels else None,
            self.ROIS: ".zip" if rois else None,
        }
        folders.update({folder: suffix for folder, suffix in optional.items() if suffix is not None})
        plan = OutputPlan()
        for folder, suffix in folders.items():
            plan.files += [f"{folder}/{name}{suffix}" for name in names]
            parts = folder.split("/")
            plan.folders += ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return plan

    # -- writing ----------------------------------------------------------------------------------------------
    @staticmethod
    def write_once(path: Path, write: Callable[[Path], Any]) -> bool:
        """``write(path)`` unless an earlier try wrote ``path`` (its folder made first); whether it wrote. Every
        writer used here writes atomically."""
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        return True

    def write_mask_once(self, path: Path, mask: np.ndarray) -> bool:
        """Write a 0/255 mask at ``path`` unless an earlier try did; whether it wrote."""
        from .io import write_mask

        return self.write_once(path, lambda target: write_mask(target, mask))

    def write_image_once(self, path: Path, image: np.ndarray) -> bool:
        """Write a picture (an overlay) at ``path`` unless an earlier try did; whether it wrote."""
        from .io import write_image

        return self.write_once(path, lambda target: write_image(target, image))

    def write_proba_once(self, name: str, proba: np.ndarray, fmt: str) -> bool:
        """Write the probability map of ``name`` in ``fmt`` unless an earlier try did; whether it wrote."""
        return self.write_once(self.proba(name, fmt), lambda target: write_proba(target, proba, fmt))

    def write_labels_once(self, name: str, labels: np.ndarray) -> bool:
        """Write the label image of ``name`` (:func:`bootseg.objects.write_labels`) unless an earlier try did."""
        from .objects import write_labels

        return self.write_once(self.labels(name), lambda target: write_labels(target, labels))

    def write_rois_once(self, name: str, labels: np.ndarray) -> bool:
        """Write the ROI set of ``name`` (:func:`bootseg.objects.write_rois`) unless an earlier try did."""
        from .objects import write_rois

        return self.write_once(self.rois(name), lambda target: write_rois(target, labels))

    def write_stack_once(self, stack: Any, masks: Sequence[np.ndarray], *, labels: bool = False) -> bool:
        """Write the final masks (or, with ``labels``, the label images) of ``stack`` (a
        :class:`bootseg.stacks.Stack`) as one TIFF unless an earlier try did; whether it wrote."""
        from .stacks import write_stack

        path = self.stack(stack.name, labels=labels)
        return self.write_once(path, lambda target: write_stack(target, stack, masks, labels=labels))

    def write_stacks(
        self,
        stacks: Sequence[Any],
        names: Sequence[str],
        masks: Sequence[np.ndarray],
        *,
        labels: bool,
        rois: bool = False,
    ) -> None:
        """Each stack's final masks as one TIFF, from its planes' masks by name; with ``labels``, its planes'
        label images (read back from ``labels/``) as one TIFF too; with ``rois``, its planes' ROI sets (read back
        from ``rois/``) as one ROI set whose ROIs know their planes."""
        from .objects.rois import write_stack_rois
        from .stacks import plane_places

        where = {name: i for i, name in enumerate(names)}
        for stack in stacks:
            self.write_stack_once(stack, [masks[where[name]] for name in stack.names])
            if labels:
                self.write_stack_once(stack, self.read_labels(stack.names), labels=True)
            if rois:
                sets = [(self.rois(name), place) for name, place in zip(stack.names, plane_places(stack), strict=True)]
                self.write_once(self.stack_rois(stack.name), lambda target, sets=sets: write_stack_rois(target, sets))

    def read_labels(self, names: Sequence[str]) -> list[np.ndarray]:
        """The label images written for ``names`` (``labels/NAME.tif``)."""
        import tifffile

        return [tifffile.imread(self.labels(name)) for name in names]

    def write_record(self, record: Mapping[str, Any]) -> Path:
        """Write ``run.json`` (atomically)."""
        from .runfile import write_runfile

        return write_runfile(self.root, record)

    def read_record(self) -> dict[str, Any]:
        """Read ``run.json``; a file that is not bootseg's raises ``ValueError`` naming it."""
        from .runfile import read_runfile

        return read_runfile(self.root)


def proba_path(folder: Path, name: str, fmt: str) -> Path:
    """Where the probability map of image ``name`` goes."""
    return folder / f"{name}{PROBA_FORMATS[fmt]}"


def write_proba(path: Path, proba: np.ndarray, fmt: str) -> None:
    """Write a [0, 1] probability map: 16-bit PNG (0..65535), 8-bit PNG (0..255) or float32 TIFF."""
    from .io import write_image

    values = np.clip(np.asarray(proba, dtype=np.float32), 0.0, 1.0)
    if fmt == "tiff":
        write_image(path, values)
    elif fmt == "png16":
        write_image(path, np.rint(values * 65535.0).astype(np.uint16))
    elif fmt == "png8":
        write_image(path, np.rint(values * 255.0).astype(np.uint8))
    else:
        raise ValueError(f"proba format must be one of {', '.join(PROBA_FORMATS)}, got {fmt!r}")


def read_proba(path: Path) -> np.ndarray:
    """Read a probability map written by :func:`write_proba` back to float32 [0, 1] by its dtype."""
    from .io import read_image

    array = read_image(path)
    if array.ndim == 3:
        raise ValueError(f"probability map '{path}' has {array.shape[2]} channels; expected one")
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype.kind == "f":
        return np.clip(array.astype(np.float32), 0.0, 1.0)
    raise ValueError(f"probability map '{path}' has dtype {array.dtype}; expected uint8, uint16 or float")
