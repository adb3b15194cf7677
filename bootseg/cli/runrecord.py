"""``run.json``'s content for ``bootseg run``: the settings (to resume), the stages, the inputs, the timings."""

from __future__ import annotations

import logging
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .outputs import CONFIDENCE_DEFINITION

if TYPE_CHECKING:
    from .run import RunSettings

__all__ = ["SETTINGS_KEYS", "input_record", "run_record", "settings_record", "started_record"]

log = logging.getLogger("bootseg.cli")

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


def _stage_options(obj: Any, given: dict[str, Any]) -> dict[str, Any]:
    config = getattr(obj, "config", None)
    if config is not None and callable(getattr(config, "to_dict", None)):
        return dict(config.to_dict())
    if callable(getattr(obj, "options", None)):
        try:
            return dict(obj.options())
        except TypeError:
            pass
    return dict(given)


def _training(obj: Any) -> dict[str, Any] | None:
    report = getattr(obj, "report", None)
    history = getattr(report, "history", None)
    if report is None or history is None:
        return None
    return {
        "epochs_run": len(history),
        "best_epoch": getattr(report, "best_epoch", None),
        "best_val_loss": getattr(report, "best_val_loss", None),
        "seconds": getattr(report, "seconds", None),
        "train_images": getattr(report, "train_images", None),
        "val_images": getattr(report, "val_images", None),
        "images_per_second": getattr(report, "images_per_second", None),
        "stopped_early": getattr(report, "stopped_early", None),
        "batch_size": getattr(report, "batch_size", None),
        "memory_retries": getattr(report, "memory_retries", None),
        "world_size": getattr(report, "world_size", None),
        "history": list(history),
    }


def _choices(obj: Any) -> dict[str, Any] | None:
    """What a first stage decided over the whole set in ``fit`` (channel, polarity, classes), if it says."""
    choices = getattr(obj, "choices", None)
    if not callable(choices):
        return None
    try:
        made = dict(choices())
    except Exception as exc:  # a plugin's choices() only informs: say so, and keep the run
        log.warning("stage %r: choices() failed, run.json has no choices for it: %s: %s", obj, type(exc).__name__, exc)
        return None
    return made or None


def _device_of(obj: Any) -> str | None:
    if getattr(obj, "model", None) is None:
        return None
    device = getattr(obj, "device", None)
    return None if device is None else str(device)


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
        obj = stage.stage
        info = registry.info(stage.kind, stage.name)
        stage_records.append(
            {
                "index": stage.index,
                "key": stage.key,
                "name": stage.name,
                "kind": stage.kind,
                "source": info.source,
                "options": _stage_options(obj, given),
                "given_options": given,
                "device": _device_of(obj),
                "seconds": stage.seconds,
                "model": models.get(stage.key),
                "has_proba": stage.proba is not None,
                "training": _training(obj),
                "choices": _choices(obj),
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
