"""``run.json``'s content for ``bootseg run``: the settings (to resume), the stages, the inputs, the timings."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..description import describe_stage
from .outputs import CONFIDENCE_DEFINITION

if TYPE_CHECKING:
    from .run import RunSettings

__all__ = ["SETTINGS_KEYS", "input_record", "run_record", "settings_record", "started_record"]


SETTINGS_KEYS = (
    "inputs", "out", "stages", "chain_text", "preset", "epochs", "size", "device", "seed", "save_proba",
    "proba_format", "overlays", "skip_bad", "max_pixels", "truth", "report_limit",
)  # fmt: skip


def settings_record(settings: RunSettings) -> dict[str, Any]:
    """The settings a resumed run needs, with absolute paths."""
    record = {key: getattr(settings, key) for key in SETTINGS_KEYS}
    record["inputs"] = [str(Path(p).resolve()) for p in settings.inputs]
    record["out"] = str(Path(settings.out).resolve())
    record["stages"] = [[name, dict(options)] for name, options in settings.stages]
    if settings.truth is not None:
        record["truth"] = str(Path(settings.truth).resolve())
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


def input_record(path: Path, name: str, image: Any) -> dict[str, Any]:
    """One input's entry in ``run.json``: its name, file and shape (``run`` and ``predict`` add its confidence)."""
    return {
        "name": name,
        "file": str(path.resolve()),
        "height": int(image.shape[0]),
        "width": int(image.shape[1]),
        "channels": 1 if image.ndim == 2 else int(image.shape[2]),
        "dtype": str(image.dtype),
    }


def run_record(settings, out, registry, specs, stages, paths, names, images, scores, models, timings, lines) -> dict:
    """The complete ``run.json``: settings, options, versions, stages with their training, inputs, timings."""
    from ..runfile import now_iso, versions

    stage_records = []
    for stage, (_, given) in zip(stages, specs, strict=True):
        info = registry.info(stage.kind, stage.name)
        described = describe_stage(stage.stage, given)
        stage_records.append(
            {
                "index": stage.index,
                "key": stage.key,
                "name": stage.name,
                "kind": stage.kind,
                "source": info.source,
                "options": dict(described.options),
                "given_options": given,
                "device": described.device,
                "seconds": stage.seconds,
                "model": models.get(stage.key),
                "has_proba": stage.proba is not None,
                "training": None if described.training is None else described.training.to_dict(),
                "choices": dict(described.choices) or None,
            }
        )
    devices = sorted({r["device"] for r in stage_records if r["device"]})
    inputs = []
    for i, (path, name, image) in enumerate(zip(paths, names, images, strict=True)):
        item = input_record(path, name, image)
        item["confidence"] = None if scores is None else round(float(scores[i]), 4)
        inputs.append(item)
    final = stages[-1]
    run: dict[str, Any] = {
        "status": "complete",
        "settings": settings_record(settings),
        "command_name": settings.command_name,
        "command": shlex.join(["bootseg", *settings.argv[1:]]),
        "argv": list(settings.argv),
        "created": now_iso(),
        "input": ", ".join(str(Path(p).resolve()) for p in settings.inputs),
        "output": str(out),
        "options": {
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
            "workers": settings.workers,
            "truth": settings.truth,
        },
        "device_used": ", ".join(devices) if devices else "cpu (no network stage)",
        "versions": versions(),
        "stages": stage_records,
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "overlay_first_stage": len(stages) > 1,
        "confidence": {
            "stage": final.key if scores is not None else None,
            "definition": CONFIDENCE_DEFINITION if scores is not None else None,
            "judged": None if scores is None else ("lines" if lines else "objects"),
        },
        "inputs": inputs,
    }
    if settings.save_proba and final.proba is not None:
        run["proba"] = {"stage": final.key, "folder": "proba", "format": settings.proba_format}
    return run
