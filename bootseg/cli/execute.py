"""What ``bootseg run`` does once its arguments are read: build the chain, run it, write every output.

:func:`execute` reads and checks the inputs, lists what it will write in OUT's manifest, runs the chain with OUT as
its checkpoint folder (so that ``--resume`` keeps finished work), and writes through :class:`RunFolder`:
masks, stage masks, probabilities, overlays, confidence, the trained networks, ``run.json`` and the report.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..confidence import judges_lines
from ..degenerate import stage_warnings
from ..runfolder import RunFolder
from .chainspec import StageSpec, apply_shared_options
from .common import UsageError, first_stage_pool, image_source, progress
from .objectfiles import ObjectWriter
from .outfolder import check_out, make_out, resume_out
from .outputs import confidence, write_confidence_csv, write_to_correct
from .runrecord import run_record, started_record

if TYPE_CHECKING:
    from .run import RunSettings

__all__ = ["Outcome", "build_chain", "check_device", "execute", "process_rank", "world_size"]

log = logging.getLogger("bootseg.cli")


@dataclass
class Outcome:
    """What :func:`execute` returns: the output folder, the run record and the scores (with ``truth``)."""

    out: Path
    run: dict[str, Any]
    evaluation: Any = None


def build_chain(settings: RunSettings) -> tuple[Any, Any, list[StageSpec]]:
    """The chain for ``settings`` (names checked, shared options filled in); usage errors as :class:`UsageError`."""
    from ..chain import BootstrapChain
    from ..errors import UnknownStageError
    from ..plugins import default_registry
    from ..rounds import STABLE

    registry = default_registry()
    shared = {"preset": settings.preset, "epochs": settings.epochs, "size": settings.size}
    stages = list(settings.stages)
    if settings.rounds is not None:
        if len(stages) < 2:
            raise UsageError(
                f"--rounds repeats the chain's last network stage, and the chain {settings.chain_text!r} has none; "
                "add one, e.g. --chain auto,unet"
            )
        stages += [stages[-1]] * (settings.rounds - 1)
    specs = apply_shared_options(stages, registry, shared, annotator_shared={"seed": settings.seed})
    try:
        chain = BootstrapChain(
            specs,
            device=settings.device,
            threads=settings.threads,
            seed=settings.seed,
            progress=not settings.quiet and sys.stderr.isatty(),  # bars only on a terminal
            registry=registry,
            stable=None if settings.rounds is None else STABLE,
        )
    except (UnknownStageError, ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc
    _say_unused_shared(specs, shared)
    if world_size() > 1:
        _refuse_plugin_networks_under_torchrun(chain)
    if len(specs) > 1:
        check_device(settings.device)
    return chain, registry, specs


def _say_unused_shared(specs: list[StageSpec], shared: dict[str, Any]) -> None:
    """A warning for each shared option given (``--preset``, ``--epochs``, ``--size``) that a later stage does not
    take, so that it is never dropped without a word."""
    given = {key for key, value in shared.items() if value is not None}
    for name, options in specs[1:]:
        missing = sorted(key for key in given if key not in options)
        if missing:
            flags = ", ".join(f"--{key}" for key in missing)
            log.warning(
                "stage %r takes no %s option; %s not passed to it",
                name,
                flags,
                "it is" if len(missing) == 1 else "they are",
            )


def _refuse_plugin_networks_under_torchrun(chain: Any) -> None:
    """Under torchrun only the built-in unet shares its training between the processes; any other network would
    train on the whole set in every process."""
    from ..refiners import UNetRefiner

    others = [
        name for name, obj in zip(chain.stage_names[1:], chain.stages[1:], strict=True) if type(obj) is not UNetRefiner
    ]
    if others:
        raise UsageError(
            f"under torchrun only the built-in unet splits its training between the processes; stage(s) "
            f"{', '.join(map(repr, others))} would train on every process; run this chain without torchrun"
        )


def check_device(device: str) -> None:
    from ..refiners.device import resolve_device

    try:
        resolve_device(device)
    except ValueError as exc:
        raise UsageError(f"--device: {exc}") from exc


def execute(settings: RunSettings, *, resume: bool = False) -> Outcome:
    """Run the chain of ``settings`` on its inputs and write every output; see the module's description.

    With ``resume``, ``settings.out`` holds an interrupted run of the same settings: what it finished is kept.
    """
    from ..inputs import load_inputs
    from ..io import list_images

    start = time.perf_counter()
    rank = process_rank()
    if rank > 0:  # under torchrun: every process trains its share; the first one alone writes
        return _secondary(settings, rank)
    chain, registry, specs = build_chain(settings)
    paths = list_images(image_source(settings.inputs))
    truth = None
    if settings.truth is not None:
        from .evaluate import index_masks

        truth = index_masks(settings.truth, "--truth")
    out = (
        Path(settings.out).resolve()
        if resume
        else check_out(
            settings.out,
            settings.inputs,
            overwrite=settings.overwrite,
            truth=settings.truth,
            corrections=settings.corrections,
        )
    )
    timings: dict[str, float] = {}

    tic = time.perf_counter()
    inputs = load_inputs(
        paths,
        skip_bad=settings.skip_bad,
        max_pixels=settings.max_pixels,
        wrap=lambda items: progress(items, desc="reading", total=len(paths)),
        channel=settings.channel,
    )
    timings["read"] = time.perf_counter() - tic
    skipped = [item.as_dict() for item in inputs.skipped]
    for item in inputs.skipped:
        log.warning("skipped %s", item.line())
    names, images = inputs.names, inputs.images
    if truth is not None and inputs.stacks:
        from ..stacks import expand_truth

        try:
            truth = expand_truth(truth, inputs.stacks)
        except ValueError as exc:
            raise UsageError(f"--truth: {exc}") from exc
    corrections = None
    if settings.corrections is not None:  # read and checked before OUT is touched
        from ..corrections import check_corrections, read_corrections

        corrections = read_corrections(settings.corrections, names)
        check_corrections(corrections, names, images)
        log.info("read %d corrected mask(s) from %s", len(corrections), settings.corrections)
    folder = RunFolder(out)
    manifest = _prepare_out(out, settings, chain.stage_names, names, resume=resume, stacks=inputs.stacks)
    if not resume:
        folder.write_record(started_record(settings, out, skipped))
    paths = [Path(source) for source in inputs.sources]
    planes = sum(len(stack.names) for stack in inputs.stacks)
    log.info(
        "read %d images%s from %s%s; running %s",
        len(images),
        f" ({planes} planes of {len(inputs.stacks)} stacks)" if inputs.stacks else "",
        ", ".join(settings.inputs),
        f" ({len(skipped)} skipped)" if skipped else "",
        " → ".join(chain.stage_names),
    )
    try:
        pool = first_stage_pool(settings.workers, images, chain.stages[0])
        try:
            result = chain.run(
                images, names=names, max_pixels=None, checkpoint_dir=out, executor=pool, corrections=corrections
            )
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        timings.update(result.timings)

        tic = time.perf_counter()
        stages = list(result.stages.values())
        final = stages[-1]
        scores, lines = None, False
        if final.proba is not None:
            lines = judges_lines(final.masks)  # one form for the whole set: objects, or thin lines between them
            scores = [confidence(p, image, lines=lines) for p, image in zip(final.proba, images, strict=True)]
        objects = _write_images(folder, settings, names, images, stages)
        folder.write_stacks(inputs.stacks, names, final.masks, labels=settings.labels, rois=settings.rois)
        if scores is not None:
            write_confidence_csv(folder.file(folder.CONFIDENCE), names, scores)
            write_to_correct(folder.file(folder.TO_CORRECT), names, scores, result.corrected)
        models = _models(folder, stages)
        timings["write"] = time.perf_counter() - tic

        evaluation = None
        if truth is not None:
            from .evaluate import score_in_memory

            tic = time.perf_counter()
            columns = [(s.key, f"{s.key} (final)" if s is final else s.key, s.masks, s.proba) for s in stages]
            evaluation = score_in_memory(names, columns, truth)
            evaluation.write_csv(folder.file(folder.EVALUATION))
            timings["evaluate"] = time.perf_counter() - tic
        timings["total"] = time.perf_counter() - start

        record = run_record(
            settings, out, registry, specs, stages, paths, names, images, scores, models, timings, lines, objects
        )
        corrected = set(result.corrected)
        in_stack = {name: stack.name for stack in inputs.stacks for name in stack.names}
        for item in record.inputs:
            if item["name"] in corrected:
                item["corrected"] = True
            if item["name"] in in_stack:
                item["stack"] = in_stack[item["name"]]
        record = replace(
            record,
            skipped=skipped,
            warnings=stage_warnings(stages),
            constant_images=result.constant,
            resumed=resume,
            evaluation=None if evaluation is None else evaluation.as_dict(),
            truth=None if evaluation is None else str(Path(settings.truth).resolve()),  # type: ignore[arg-type]
            corrections=corrections_record(settings, result),
            stacks=[stack_record(folder, stack, settings.labels, settings.rois) for stack in inputs.stacks] or None,
            rounds=None if result.rounds is None else result.rounds.as_dict(),
        )
        run = record.to_dict()
        from ..report import write_report

        write_report(
            run, out, evaluation=evaluation.as_dict(per_image=True) if evaluation else None, limit=settings.report_limit
        )
        manifest.prune()  # the manifest lists only what was written
        folder.write_record(run)  # last: a run.json with status "complete" marks a finished run
        log.info(
            "done in %.1f s: %d masks in %s, report %s",
            timings["total"],
            len(names),
            out / folder.MASKS,
            folder.file(folder.REPORT),
        )
        return Outcome(out, run, evaluation)
    except BaseException:
        with suppress(OSError):  # a full disk must not hide the error itself
            manifest.prune()  # also when the run failed or was interrupted
        raise


def _prepare_out(
    out: Path, settings: RunSettings, stage_names: list[str], names: list[str], *, resume: bool, stacks=()
):
    """List what the run will write in OUT's manifest; a new run first removes what an earlier one listed."""
    plan = RunFolder(out).run_plan(
        names,
        [f"{i}-{name}" for i, name in enumerate(stage_names)],
        overlays=settings.overlays,
        proba_format=settings.proba_format if settings.save_proba else None,
        truth=settings.truth is not None,
        labels=settings.labels,
        rois=settings.rois,
        objects=settings.objects,
        stacks=[stack.name for stack in stacks],
    )
    if resume:
        return resume_out(out, plan)
    protected = [*settings.inputs, *(p for p in (settings.truth, settings.corrections) if p is not None)]
    return make_out(out, plan, protected=protected)


def world_size() -> int:
    """How many processes were launched together (``torchrun`` sets ``WORLD_SIZE``); 1 otherwise."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def process_rank() -> int:
    """This process's rank when several were launched together (``torchrun``), else 0."""
    try:
        return int(os.environ.get("RANK", "0")) if world_size() > 1 else 0
    except ValueError:
        return 0


def _secondary(settings: RunSettings, rank: int) -> Outcome:
    """A torchrun process other than the first: the same inputs and stages, its share of training, no writes."""
    from ..inputs import load_inputs
    from ..io import list_images

    logging.getLogger("bootseg").setLevel(logging.WARNING)
    chain, _, _ = build_chain(settings)
    inputs = load_inputs(
        list_images(image_source(settings.inputs)),
        skip_bad=settings.skip_bad,
        max_pixels=settings.max_pixels,
        channel=settings.channel,
    )
    corrections = None
    if settings.corrections is not None:  # the same trusted labels on every process
        from ..corrections import read_corrections

        corrections = read_corrections(settings.corrections, inputs.names)
    chain.run(inputs.images, names=inputs.names, max_pixels=None, corrections=corrections)
    return Outcome(Path(settings.out).resolve(), {"rank": rank})


def _write_images(folder: RunFolder, settings: RunSettings, names, images, stages) -> ObjectWriter:
    """Every image's final mask, stage masks, probabilities, overlay and objects; what an earlier try wrote is kept.
    Returns the writer of the object files (it holds the objects' counts)."""
    from ..overlay import overlay

    final, first = stages[-1], stages[0]
    proba = final.proba if settings.save_proba else None
    if settings.save_proba and final.proba is None:
        log.warning("--save-proba: the last stage %s gives no probability maps; none written", final.key)
    with ObjectWriter(folder, settings.object_outputs) as objects:
        for i in progress(range(len(names)), desc="writing", total=len(names)):
            name = names[i]
            folder.write_mask_once(folder.mask(name), final.masks[i])
            for stage in stages:
                folder.write_mask_once(folder.stage_mask(stage.key, name), stage.masks[i])
            if proba is not None:
                folder.write_proba_once(name, proba[i], settings.proba_format)
            if settings.overlays and not folder.overlay(name).exists():
                first_mask = first.masks[i] if len(stages) > 1 else None
                folder.write_image_once(folder.overlay(name), overlay(images[i], final.masks[i], first_mask))
            objects.add(name, final.masks[i], None if final.proba is None else final.proba[i])
    return objects


def stack_record(folder: RunFolder, stack: Any, labels: bool, rois: bool = False) -> dict[str, Any]:
    """``run.json``'s entry for a stack: :meth:`bootseg.stacks.Stack.as_dict` and the files of its masks (and of
    its label images and ROI set, where written), relative to the run's folder."""
    record = {**stack.as_dict(), "masks": folder.stack(stack.name).relative_to(folder.root).as_posix()}
    if labels:
        record["labels"] = folder.stack(stack.name, labels=True).relative_to(folder.root).as_posix()
    if rois:
        record["rois"] = folder.stack_rois(stack.name).relative_to(folder.root).as_posix()
    return record


def _models(folder: RunFolder, stages) -> dict[str, str]:
    """Each network stage's file (:mod:`bootseg.stagefile`), by stage key: the chain saved it in OUT, its
    checkpoint folder, right after training (or found it there on ``--resume``)."""
    from ..protocols import Network

    return {s.key: folder.model(s.key).name for s in stages if isinstance(s.stage, Network)}


def corrections_record(settings: RunSettings, result: Any) -> dict[str, Any] | None:
    """``run.json``'s ``corrections``: the folder, the images corrected and how they chose the first stage."""
    if settings.corrections is None:
        return None
    choice = result.first_stage_choice
    return {
        "folder": str(Path(settings.corrections).resolve()),
        "images": list(result.corrected),
        "first_stage": None if choice is None else {**choice.to_dict(), "summary": choice.summary()},
    }
