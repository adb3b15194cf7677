"""``run.json``'s content, typed: the settings (to resume), the stages, the inputs, the timings, for ``bootseg run``
and ``bootseg predict``."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..description import StageDescription, describe_stage
from .outputs import CONFIDENCE_DEFINITION

if TYPE_CHECKING:
    from .run import RunSettings

__all__ = [
    "ADDED_SETTINGS",
    "SETTINGS_KEYS",
    "RunRecord",
    "StageRecord",
    "confidence_record",
    "input_record",
    "run_record",
    "settings_record",
    "started_record",
]


SETTINGS_KEYS = (
    "inputs", "out", "stages", "chain_text", "preset", "epochs", "size", "device", "seed", "save_proba",
    "proba_format", "overlays", "skip_bad", "max_pixels", "truth", "report_limit", "channel", "labels", "objects",
    "rois", "split", "corrections", "rounds",
)  # fmt: skip
#: The settings an earlier bootseg did not record: a run it left unfinished is resumed with their defaults.
ADDED_SETTINGS = ("channel", "labels", "objects", "rois", "split", "corrections", "rounds")


def settings_record(settings: RunSettings) -> dict[str, Any]:
    """The settings a resumed run needs, with absolute paths."""
    record = {key: getattr(settings, key) for key in SETTINGS_KEYS}
    record["inputs"] = [str(Path(p).resolve()) for p in settings.inputs]
    record["out"] = str(Path(settings.out).resolve())
    record["stages"] = [[name, dict(options)] for name, options in settings.stages]
    for key in ("truth", "corrections"):
        if getattr(settings, key) is not None:
            record[key] = str(Path(getattr(settings, key)).resolve())
    return record


def started_record(settings: RunSettings, out: Path, skipped: list[dict[str, str]]) -> dict[str, Any]:
    """The first ``run.json``: status ``running`` and the settings, so that an interrupted run can be resumed."""
    from ..runfile import now_iso

    return {
        "status": "running",
        "command_name": settings.command_name,
        "command": shlex.join(["bootseg", *settings.argv[1:]]),
        "argv": list(settings.argv),
        "created": now_iso(),
        "output": str(out),
        "settings": settings_record(settings),
        "skipped": skipped,
    }


def input_record(
    path: Path, name: str, image: Any, confidence: float | None = None, objects: int | None = None
) -> dict[str, Any]:
    """One input's entry in ``run.json``: its name, file, shape, the confidence of its final mask and, where they
    were counted (``--labels``, ``--objects``, ``--rois``), the number of its objects."""
    record = {
        "name": name,
        "file": str(path.resolve()),
        "height": int(image.shape[0]),
        "width": int(image.shape[1]),
        "channels": 1 if image.ndim == 2 else int(image.shape[2]),
        "dtype": str(image.dtype),
        "confidence": None if confidence is None else round(float(confidence), 4),
    }
    if objects is not None:
        record["objects"] = int(objects)
    return record


@dataclass(frozen=True)
class StageRecord:
    """One stage's entry in ``run.json``: who it is, what it says of itself, its time and its files."""

    index: int
    key: str
    name: str
    kind: str
    source: str
    described: StageDescription
    seconds: float
    model: str | None
    has_proba: bool
    given_options: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able entry (``given_options`` only where the stage was given options by a chain)."""
        record: dict[str, Any] = {
            "index": self.index,
            "key": self.key,
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "options": dict(self.described.options),
        }
        if self.given_options is not None:
            record["given_options"] = dict(self.given_options)
        record |= {
            "device": self.described.device,
            "seconds": self.seconds,
            "model": self.model,
            "has_proba": self.has_proba,
            "training": None if self.described.training is None else self.described.training.to_dict(),
            "choices": dict(self.described.choices) or None,
        }
        return record


@dataclass(frozen=True)
class RunRecord:
    """The whole ``run.json`` of ``bootseg run`` or ``bootseg predict`` (the entries the report reads).

    ``status`` and ``settings`` are ``run``'s (what ``--resume`` needs), ``model`` is ``predict``'s; ``objects``
    says which object files were written, from whose masks, with which split, and how many objects they hold;
    entries that are None are left out of the file.
    """

    command_name: str
    argv: list[str]
    input: str
    output: str
    options: Mapping[str, Any]
    stages: list[StageRecord]
    inputs: list[dict[str, Any]]
    timings: Mapping[str, float]
    confidence: Mapping[str, Any]
    overlay_first_stage: bool
    device_used: str
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    proba: Mapping[str, Any] | None = None
    objects: Mapping[str, Any] | None = None
    status: str | None = None
    settings: Mapping[str, Any] | None = None
    model: str | None = None
    resumed: bool | None = None
    constant_images: list[str] | None = None
    evaluation: Mapping[str, Any] | None = None
    truth: str | None = None
    corrections: Mapping[str, Any] | None = None
    stacks: list[dict[str, Any]] | None = None
    rounds: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able record, with the time it was made and the versions of this installation."""
        from ..runfile import now_iso, versions

        record: dict[str, Any] = {
            "status": self.status,
            "settings": self.settings,
            "command_name": self.command_name,
            "command": shlex.join(["bootseg", *self.argv[1:]]),
            "argv": list(self.argv),
            "created": now_iso(),
            "input": self.input,
            "output": self.output,
            "model": self.model,
            "options": dict(self.options),
            "skipped": list(self.skipped),
            "warnings": list(self.warnings),
            "device_used": self.device_used,
            "versions": versions(),
            "stages": [stage.to_dict() for stage in self.stages],
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "overlay_first_stage": self.overlay_first_stage,
            "confidence": dict(self.confidence),
            "inputs": self.inputs,
            "proba": self.proba,
            "objects": self.objects,
            "constant_images": self.constant_images,
            "resumed": self.resumed,
            "evaluation": self.evaluation,
            "truth": self.truth,
            "corrections": self.corrections,
            "stacks": self.stacks,
            "rounds": self.rounds,
        }
        return {key: value for key, value in record.items() if value is not None}


def confidence_record(stage_key: str | None, lines: bool) -> dict[str, Any]:
    """``run.json``'s ``confidence`` entry: which stage's maps it judges, how, and as objects or lines."""
    if stage_key is None:
        return {"stage": None, "definition": None, "judged": None}
    return {"stage": stage_key, "definition": CONFIDENCE_DEFINITION, "judged": "lines" if lines else "objects"}


def run_record(
    settings, out, registry, specs, stages, paths, names, images, scores, models, timings, lines, objects=None
) -> RunRecord:
    """``bootseg run``'s :class:`RunRecord`: settings, options, stages with their training, inputs, timings;
    ``objects`` is the :class:`~bootseg.cli.objectfiles.ObjectWriter` that wrote the object files, if any."""
    stage_records = [
        StageRecord(
            stage.index,
            stage.key,
            stage.name,
            stage.kind,
            registry.info(stage.kind, stage.name).source,
            describe_stage(stage.stage, given),
            stage.seconds,
            models.get(stage.key),
            stage.proba is not None,
            given_options=given,
        )
        for stage, (_, given) in zip(stages, [specs[stage.index] for stage in stages], strict=True)
    ]
    devices = sorted({s.described.device for s in stage_records if s.described.device})
    final = stages[-1]
    counts = objects.counts if objects is not None and objects.counts else [None] * len(names)
    inputs = [
        input_record(path, name, image, None if scores is None else scores[i], counts[i])
        for i, (path, name, image) in enumerate(zip(paths, names, images, strict=True))
    ]
    return RunRecord(
        status="complete",
        settings=settings_record(settings),
        command_name=settings.command_name,
        argv=list(settings.argv),
        input=", ".join(str(Path(p).resolve()) for p in settings.inputs),
        output=str(out),
        options={
            "chain": settings.chain_text,
            "preset": settings.preset,
            "epochs": settings.epochs,
            "size": settings.size,
            "device": settings.device,
            "threads": settings.threads,
            "seed": settings.seed,
            "save_proba": settings.save_proba,
            "proba_format": settings.proba_format,
            "overlays": settings.overlays,
            "overwrite": settings.overwrite,
            "skip_bad": settings.skip_bad,
            "max_pixels": settings.max_pixels,
            "channel": settings.channel,
            "labels": settings.labels,
            "objects": settings.objects,
            "rois": settings.rois,
            "split": settings.split,
            "workers": settings.workers,
            "truth": settings.truth,
            "corrections": settings.corrections,
            "rounds": settings.rounds,
        },
        device_used=", ".join(devices) if devices else "cpu (no network stage)",
        stages=stage_records,
        timings=timings,
        overlay_first_stage=len(stages) > 1,
        confidence=confidence_record(final.key if scores is not None else None, lines),
        inputs=inputs,
        proba=(
            {"stage": final.key, "folder": "proba", "format": settings.proba_format}
            if settings.save_proba and final.proba is not None
            else None
        ),
        objects=None if objects is None else objects.record(final.key),
    )
