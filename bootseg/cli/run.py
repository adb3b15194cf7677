"""``bootseg run IMAGES --out OUT``: a chain on a folder of images, with masks, overlays, models and a report."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import shlex
import sys
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..confidence import judges_lines
from ..degenerate import stage_warnings
from .chainspec import StageSpec, apply_shared_options, load_config, parse_chain
from .common import (
    UsageError,
    add_input_options,
    add_runtime_options,
    add_workers_option,
    first_stage_pool,
    image_source,
    positive_int,
    progress,
)
from .outfolder import check_out, make_out, resume_out, run_outputs
from .outputs import (
    PROBA_FORMATS,
    add_output_options,
    add_report_limit,
    confidence,
    proba_path,
    write_confidence_csv,
    write_proba,
)
from .runrecord import SETTINGS_KEYS, run_record, started_record

__all__ = ["RunSettings", "add_parser", "execute", "resumed_settings"]

log = logging.getLogger("bootseg.cli")

DEFAULT_CHAIN = "auto,unet"

DESCRIPTION = """\
Segment a folder of images without labels: a first stage (a threshold such as Otsu) makes noisy masks, and a
network trained on them gives better ones. For every input NAME.ext, OUT receives:

  masks/NAME.png                 final mask, 0/255, the input's size
  stages/<k>-<stage>/NAME.png    every stage's mask (0-otsu, 1-unet, ...)
  overlays/NAME.png              the image with the final outline (red) and the first stage's (blue)
  proba/NAME.png                 the last network's probabilities (with --save-proba)
and once: model-<k>-<stage>.pt (each trained network, for `bootseg predict`), run.json (command, every option
after presets, versions, device, timings, inputs, training summaries, per-image confidence) and report.html
(options, timings and the overlays, least confident first). With --truth: evaluation.csv (per-image scores).

Stage options go in --chain as name(key=value, ...) or in a TOML file (--config); --preset, --epochs and --size
apply to every network stage that does not set them itself.

Every input is read and checked first: if any cannot be used (unreadable, truncated, NaN values, too large, a
name another input has) the run lists them all and stops before writing anything, unless --skip-bad leaves them
out (they are listed in the log, run.json and the report). Each stage's masks and each trained network are
written as soon as they are done, so an interrupted run (Ctrl-C, a killed process) is finished by
`bootseg run --resume OUT`: finished work is kept, trained networks are loaded instead of retrained, and the
results are those of an uninterrupted run."""

EPILOG = """\
examples:
  bootseg run images/ --out results/
  bootseg run images/ --out results/ --chain "kmeans(k=3),unet(epochs=30,size=256)" --device cuda
  bootseg run images/ --out results/ --chain "otsu(polarity=dark,median=5),unet,unet" --save-proba
  bootseg run images/ --out results/ --config chain.toml --truth truth/
  bootseg run images/ --out results/ --skip-bad       # leave out unreadable images instead of stopping
  bootseg run --resume results/                       # finish an interrupted run

chain.toml:
  [[stage]]
  name = "otsu"
  polarity = "dark"

  [[stage]]
  name = "unet"
  epochs = 30

exit status: 0 done, 1 bad input or failed run, 2 bad command line (unknown stage, bad option, OUT refused)"""


@dataclass
class RunSettings:
    """Everything a run needs, from the command line (or from ``bootseg demo``)."""

    inputs: list[str]
    out: str
    stages: list[StageSpec]
    chain_text: str
    preset: str | None = None
    epochs: int | None = None
    size: int | None = None
    device: str = "auto"
    threads: int | None = None
    seed: int = 0
    save_proba: bool = False
    proba_format: str = "png16"
    overlays: bool = True
    overwrite: bool = False
    skip_bad: bool = False
    max_pixels: int | None = None
    workers: int | None = None
    truth: str | None = None
    quiet: bool = False
    report_limit: int = 300
    argv: list[str] = field(default_factory=lambda: ["bootseg", *sys.argv[1:]])
    command_name: str = "run"
    resume: bool = False


def add_chain_options(parser: argparse.ArgumentParser) -> None:
    """``--chain``/``--config`` and the options shared by every network stage."""
    group = parser.add_argument_group("chain")
    which = group.add_mutually_exclusive_group()
    which.add_argument(
        "--chain",
        metavar="SPEC",
        help=f'stages in order, with options: "kmeans(k=3,color=true),unet(epochs=30)" (default: {DEFAULT_CHAIN}); '
        "values are true/false, numbers, or (quoted) text",
    )
    which.add_argument("--config", metavar="FILE.toml", help="stages from a TOML file of [[stage]] tables (see below)")
    group.add_argument(
        "--preset",
        choices=("fast", "paper"),
        help="network preset: fast (16-filter U-Net at 128 px, up to 75 epochs; minutes on a CPU) or paper "
        "(the paper's 64-filter U-Net at 256 px, 100 epochs; for a GPU) (default: fast)",
    )
    group.add_argument("--epochs", type=positive_int, metavar="N", help="training epochs of every network stage")
    group.add_argument(
        "--size",
        type=positive_int,
        metavar="N",
        help="working size of every network stage: images are resized to N×N (a multiple of 16)",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``run`` sub-command to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "run",
        help="segment a folder of images: first stage, then network(s); masks, overlays, report",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "images",
        nargs="*",
        metavar="IMAGES",
        help="a folder of images (PNG, TIFF, JPEG, BMP; 8/16-bit, grey or colour) or image files",
    )
    parser.add_argument("-o", "--out", metavar="OUT", help="output folder (created; must be empty)")
    parser.add_argument(
        "--resume",
        metavar="OUT",
        help="finish the interrupted run in OUT with the settings it was started with (give no other input or "
        "option); what it finished is kept",
    )
    add_chain_options(parser)
    group = add_output_options(parser, proba_help="also write the last network's probability maps")
    group.add_argument(
        "--truth",
        metavar="GT",
        help="after the run, score every stage against these ground-truth masks (read only then)",
    )
    add_report_limit(group)
    add_input_options(parser)
    add_runtime_options(parser)
    add_workers_option(parser._action_groups[-1])
    parser.set_defaults(handler=command)
    return parser


def settings_from_args(args: argparse.Namespace) -> RunSettings:
    if not args.images:
        raise UsageError("give a folder of images (or image files) and --out OUT, or --resume OUT")
    if args.out is None:
        raise UsageError("--out OUT is required: the folder that receives the results")
    if args.config:
        stages, text = load_config(args.config), f"--config {args.config}"
    else:
        text = args.chain if args.chain is not None else DEFAULT_CHAIN
        stages = parse_chain(text)
    return RunSettings(
        inputs=list(args.images),
        out=args.out,
        stages=stages,
        chain_text=text,
        preset=args.preset,
        epochs=args.epochs,
        size=args.size,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        save_proba=args.save_proba,
        proba_format=args.proba_format,
        overlays=args.overlays,
        overwrite=args.overwrite,
        skip_bad=args.skip_bad,
        max_pixels=args.max_pixels,
        workers=args.workers,
        truth=args.truth,
        quiet=args.quiet,
        report_limit=args.report_limit,
        argv=list(getattr(args, "argv", None) or sys.argv),
    )


def command(args: argparse.Namespace) -> int:
    if args.resume is not None and _world_size() > 1:
        raise UsageError("--resume runs in one process; start it without torchrun")
    if args.resume is not None:
        settings = resumed_settings(args)
        if settings is None:
            return 0
    else:
        settings = settings_from_args(args)
    try:
        outcome = execute(settings, resume=settings.resume)
    except OSError as exc:
        raise _resumable(exc, settings.out) from exc
    except KeyboardInterrupt:
        if (Path(settings.out) / "run.json").is_file():
            print(
                f"bootseg: finished work is kept in '{settings.out}'; finish the run with: "
                f"bootseg run --resume {shlex.quote(settings.out)}",
                file=sys.stderr,
            )
        raise
    if outcome.evaluation is not None:
        from .evaluate import print_evaluation

        print_evaluation(outcome.evaluation)
    if _process_rank() == 0:
        print(outcome.out)
    if _world_size() > 1:
        # Under torchrun, a CPU (gloo) process sometimes aborts in PyTorch's own shutdown after its work is done
        # ("terminate called without an active exception"); every output is written, so leave at once.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


# ------------------------------------------------------------------------------------------------ the run


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

    registry = default_registry()
    shared = {"preset": settings.preset, "epochs": settings.epochs, "size": settings.size}
    specs = apply_shared_options(settings.stages, registry, shared, annotator_shared={"seed": settings.seed})
    try:
        chain = BootstrapChain(
            specs,
            device=settings.device,
            threads=settings.threads,
            seed=settings.seed,
            progress=not settings.quiet and sys.stderr.isatty(),  # bars only on a terminal
            registry=registry,
        )
    except (UnknownStageError, ValueError, TypeError) as exc:
        raise UsageError(str(exc)) from exc
    _say_unused_shared(specs, shared)
    if _world_size() > 1:
        _refuse_plugin_networks_under_torchrun(chain)
    if len(specs) > 1:
        _check_device(settings.device)
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


def _check_device(device: str) -> None:
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
    from ..runfile import write_runfile

    start = time.perf_counter()
    rank = _process_rank()
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
        else check_out(settings.out, settings.inputs, overwrite=settings.overwrite, truth=settings.truth)
    )
    timings: dict[str, float] = {}

    tic = time.perf_counter()
    inputs = load_inputs(
        paths,
        skip_bad=settings.skip_bad,
        max_pixels=settings.max_pixels,
        wrap=lambda items: progress(items, desc="reading", total=len(paths)),
    )
    timings["read"] = time.perf_counter() - tic
    skipped = [item.as_dict() for item in inputs.skipped]
    for item in inputs.skipped:
        log.warning("skipped %s", item.line())
    names, images = inputs.names, inputs.images
    manifest = _prepare_out(out, settings, chain.stage_names, names, resume=resume)
    if not resume:
        write_runfile(out, started_record(settings, out, skipped))
    paths = [Path(source) for source in inputs.sources]
    log.info(
        "read %d images from %s%s; running %s",
        len(images),
        ", ".join(settings.inputs),
        f" ({len(skipped)} skipped)" if skipped else "",
        " → ".join(chain.stage_names),
    )
    try:
        pool = first_stage_pool(settings.workers, images, chain.stages[0])
        try:
            result = chain.run(images, names=names, max_pixels=None, checkpoint_dir=out, executor=pool)
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
        _write_images(out, settings, names, images, stages)
        if scores is not None:
            write_confidence_csv(out / "confidence.csv", names, scores)
        models = _save_models(out, stages, chain)
        timings["write"] = time.perf_counter() - tic

        evaluation = None
        if truth is not None:
            from .evaluate import score_in_memory

            tic = time.perf_counter()
            columns = [(s.key, f"{s.key} (final)" if s is final else s.key, s.masks, s.proba) for s in stages]
            evaluation = score_in_memory(names, columns, truth)
            evaluation.write_csv(out / "evaluation.csv")
            timings["evaluate"] = time.perf_counter() - tic
        timings["total"] = time.perf_counter() - start

        run = run_record(settings, out, registry, specs, stages, paths, names, images, scores, models, timings, lines)
        run["skipped"] = skipped
        run["warnings"] = stage_warnings(stages)
        run["constant_images"] = result.constant
        run["resumed"] = resume
        if evaluation is not None:
            run["evaluation"] = evaluation.as_dict()
            run["truth"] = str(Path(settings.truth).resolve())  # type: ignore[arg-type]
        from ..report import write_report

        write_report(
            run, out, evaluation=evaluation.as_dict(per_image=True) if evaluation else None, limit=settings.report_limit
        )
        manifest.prune()  # the manifest lists only what was written
        write_runfile(out, run)  # last: a run.json with status "complete" marks a finished run
        log.info(
            "done in %.1f s: %d masks in %s, report %s",
            timings["total"],
            len(names),
            out / "masks",
            out / "report.html",
        )
        return Outcome(out, run, evaluation)
    except BaseException:
        with suppress(OSError):  # a full disk must not hide the error itself
            manifest.prune()  # also when the run failed or was interrupted
        raise


def _prepare_out(out: Path, settings: RunSettings, stage_names: list[str], names: list[str], *, resume: bool):
    """List what the run will write in OUT's manifest; a new run first removes what an earlier one listed."""
    plan = run_outputs(
        names,
        [f"{i}-{name}" for i, name in enumerate(stage_names)],
        overlays=settings.overlays,
        proba_suffix=PROBA_FORMATS[settings.proba_format] if settings.save_proba else None,
        truth=settings.truth is not None,
    )
    if resume:
        return resume_out(out, plan)
    return make_out(out, plan, protected=[*settings.inputs, *([settings.truth] if settings.truth else [])])


def _world_size() -> int:
    """How many processes were launched together (``torchrun`` sets ``WORLD_SIZE``); 1 otherwise."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def _process_rank() -> int:
    """This process's rank when several were launched together (``torchrun``), else 0."""
    try:
        return int(os.environ.get("RANK", "0")) if _world_size() > 1 else 0
    except ValueError:
        return 0


def _secondary(settings: RunSettings, rank: int) -> Outcome:
    """A torchrun process other than the first: the same inputs and stages, its share of training, no writes."""
    from ..inputs import load_inputs
    from ..io import list_images

    logging.getLogger("bootseg").setLevel(logging.WARNING)
    chain, _, _ = build_chain(settings)
    inputs = load_inputs(
        list_images(image_source(settings.inputs)), skip_bad=settings.skip_bad, max_pixels=settings.max_pixels
    )
    chain.run(inputs.images, names=inputs.names, max_pixels=None)
    return Outcome(Path(settings.out).resolve(), {"rank": rank})


# ------------------------------------------------------------------------------------------------ resuming


def _options_given(args: argparse.Namespace, *, allowed: tuple[str, ...]) -> list[str]:
    """The ``run`` options in ``args`` that differ from their defaults, by flag, except the ``allowed`` ones."""
    parser = argparse.ArgumentParser(add_help=False)
    actions = add_parser(parser.add_subparsers())._actions
    given = []
    for action in actions:
        if action.dest in allowed or not hasattr(args, action.dest):
            continue
        value = getattr(args, action.dest)
        if value == action.default or (not action.option_strings and value in ([], None)):
            continue
        given.append(action.option_strings[-1] if action.option_strings else action.metavar or action.dest)
    return given


def resumed_settings(args: argparse.Namespace) -> RunSettings | None:
    """The settings of the interrupted run in ``args.resume``, or ``None`` (logged) if that run is complete.

    Raises :class:`UsageError` if other inputs or options are given beside ``--resume``, or the folder holds no
    run that can be resumed.
    """
    from ..runfile import read_runfile

    allowed = ("resume", "quiet", "verbose", "workers", "threads", "help", "handler", "argv")
    given = _options_given(args, allowed=allowed)
    if given:
        raise UsageError(
            f"--resume takes the settings the run was started with; leave out {', '.join(given)} "
            "(or start a new run in another folder)"
        )
    folder = Path(args.resume)
    if not (folder / "run.json").is_file():
        raise UsageError(f"--resume '{folder}': no run.json there, so no run to resume; {_no_record_hint(folder)}")
    try:
        record = read_runfile(folder)
    except ValueError as exc:
        raise UsageError(f"--resume '{folder}': {exc}") from exc
    if record.get("status") == "complete":
        log.info("the run in '%s' is complete; nothing to resume", folder)
        print(folder.resolve())
        return None
    stored = record.get("settings")
    if not isinstance(stored, dict) or any(key not in stored for key in SETTINGS_KEYS):
        raise UsageError(f"--resume '{folder}': run.json does not record the settings of a resumable run")
    values = {key: stored[key] for key in SETTINGS_KEYS}
    values["stages"] = [(name, dict(options)) for name, options in values["stages"]]
    values["out"] = str(folder)
    log.info("resuming the run in '%s' (%s)", folder, record.get("command", ""))
    argv = record.get("argv") if isinstance(record.get("argv"), list) else list(args.argv)
    runtime = {key: getattr(args, key, None) for key in ("workers", "threads")}  # this machine's, not the run's
    return RunSettings(**values, overwrite=False, quiet=args.quiet, argv=argv, resume=True, **runtime)


def _resumable(exc: OSError, out: str) -> OSError:
    """``exc``, with how to finish the run once the disk has room again when it is a full disk."""
    if exc.errno != errno.ENOSPC or not (Path(out) / "run.json").is_file():
        return exc
    where = f": '{exc.filename}'" if exc.filename else ""
    return OSError(
        exc.errno,
        f"{exc.strerror}{where}; free some space, then finish the run with: bootseg run --resume {shlex.quote(out)}",
    )


def _no_record_hint(folder: Path) -> str:
    from ..manifest import MANIFEST

    if (folder / MANIFEST).is_file():  # a run began here, and was stopped in its first write of run.json
        return f"the run was stopped before it recorded its settings: start it again with --out {folder} --overwrite"
    return "start one with --out"


def _write_images(out: Path, settings: RunSettings, names, images, stages) -> None:
    from ..io import write_image, write_mask
    from ..overlay import overlay

    final, first = stages[-1], stages[0]
    folders = {s.key: out / "stages" / s.key for s in stages}
    for folder in (out / "masks", *folders.values()):
        folder.mkdir(parents=True, exist_ok=True)
    if settings.overlays:
        (out / "overlays").mkdir(exist_ok=True)
    proba_dir = None
    if settings.save_proba:
        if final.proba is None:
            log.warning("--save-proba: the last stage %s gives no probability maps; none written", final.key)
        else:
            proba_dir = out / "proba"
            proba_dir.mkdir(exist_ok=True)
    for i in progress(range(len(names)), desc="writing", total=len(names)):
        name = names[i]  # each file is written once; a resumed run keeps those an earlier try wrote
        if not (target := out / "masks" / f"{name}.png").exists():
            write_mask(target, final.masks[i])
        for stage in stages:
            if not (target := folders[stage.key] / f"{name}.png").exists():
                write_mask(target, stage.masks[i])
        if proba_dir is not None and not (target := proba_path(proba_dir, name, settings.proba_format)).exists():
            write_proba(target, final.proba[i], settings.proba_format)
        if settings.overlays and not (target := out / "overlays" / f"{name}.png").exists():
            first_mask = first.masks[i] if len(stages) > 1 else None
            write_image(target, overlay(images[i], final.masks[i], first_mask))


def _save_models(out: Path, stages, chain) -> dict[str, str]:
    """Each network stage's file (:mod:`bootseg.stagefile`), by stage key; the chain saved it right after training."""
    from ..protocols import Network
    from ..stagefile import save_stage

    models = {}
    for stage in stages:
        if isinstance(stage.stage, Network):
            path = out / f"model-{stage.key}.pt"
            if not path.exists():
                save_stage(stage.stage, path, chain.header(stage.index))
            models[stage.key] = path.name
    return models
