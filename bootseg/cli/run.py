"""``bootseg run IMAGES --out OUT``: a chain on a folder of images, with masks, overlays, models and a report."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..objects import DEFAULT_SPLIT
from .chainspec import StageSpec, load_config, parse_chain
from .common import (
    UsageError,
    add_input_options,
    add_runtime_options,
    add_workers_option,
    positive_int,
)
from .execute import execute, process_rank, world_size
from .objectfiles import ObjectOutputs, add_object_options, object_outputs
from .outputs import add_output_options, add_report_limit
from .runrecord import ADDED_SETTINGS, SETTINGS_KEYS

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
  labels/NAME.tif, rois/NAME.zip the final mask's objects: a label image, an ImageJ/Fiji ROI set (with --labels,
                                 --rois; objects.csv, a row per object, with --objects)
A stack or time series TIFF is segmented plane by plane (NAME_z0003, NAME_t0001_z0004), and its final masks are
also written as one stack, stacks/NAME.tif (with --labels and --rois, stacks/labels/NAME.tif, stacks/rois/NAME.zip);
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
results are those of an uninterrupted run.

Corrections: fix a few masks (to-correct.txt lists the images least confident first), save them in a folder
under their images' names, and run again with --corrections (--again RUN takes the inputs and settings of an
earlier run): the corrections choose the first stage, are the networks' validation set (which chooses how much
of each network's masks to keep) and are those images' masks."""

EPILOG = """\
examples:
  bootseg run images/ --out results/
  bootseg run images/ --out results/ --chain "kmeans(k=3),unet(epochs=30,size=256)" --device cuda
  bootseg run images/ --out results/ --chain "otsu(polarity=dark,median=5),unet,unet" --save-proba
  bootseg run images/ --out results/ --config chain.toml --truth truth/
  bootseg run images/ --out results/ --labels --objects --rois --split watershed   # objects, for Fiji
  bootseg run stacks/ --out results/ --channel 0      # the first channel of multi-channel TIFFs
  bootseg run images/ --out results/ --skip-bad       # leave out unreadable images instead of stopping
  bootseg run --resume results/                       # finish an interrupted run
  bootseg run --again results/ --corrections fixed/ --out results-2/   # the same run, with corrected masks

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
    channel: int | None = None
    labels: bool = False
    objects: bool = False
    rois: bool = False
    split: str = DEFAULT_SPLIT
    workers: int | None = None
    truth: str | None = None
    corrections: str | None = None
    quiet: bool = False
    report_limit: int = 300
    argv: list[str] = field(default_factory=lambda: ["bootseg", *sys.argv[1:]])
    command_name: str = "run"
    resume: bool = False
    rounds: int | None = None

    @property
    def object_outputs(self) -> ObjectOutputs:
        """The object files the run writes (``--labels``, ``--objects``, ``--rois``) and its ``--split``."""
        return ObjectOutputs(self.labels, self.objects, self.rois, self.split)


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
        help="network preset: fast (16-filter U-Net at 128 px, up to 30 epochs; minutes on a CPU) or paper "
        "(the paper's 64-filter U-Net at 256 px, 100 epochs; for a GPU) (default: fast)",
    )
    group.add_argument("--epochs", type=positive_int, metavar="N", help="training epochs of every network stage")
    group.add_argument(
        "--rounds",
        type=positive_int,
        metavar="N",
        help="run the chain's last network stage up to N times, each round trained on the previous round's masks, "
        "and stop after a round that changes the masks by less than 0.01 (mean 1 − Dice); run.json records the "
        "rounds",
    )
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
    parser.add_argument(
        "--again",
        metavar="RUN",
        help="run again with the inputs and settings of the earlier run in RUN (its run.json), into a new --out; "
        "give --corrections (and --truth, runtime options) beside it",
    )
    add_chain_options(parser)
    group = add_output_options(parser, proba_help="also write the last network's probability maps")
    group.add_argument(
        "--truth",
        metavar="GT",
        help="after the run, score every stage against these ground-truth masks (read only then)",
    )
    group.add_argument(
        "--corrections",
        metavar="DIR",
        help="corrected masks of some of the images, named by image (0007.png for 0007.tif; 0/255 or 0/1, the "
        "image's size): they choose the first stage (when it is auto), are the networks' validation set and "
        "are those images' final masks; see docs/corrections.md",
    )
    add_report_limit(group)
    add_object_options(parser)
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
    objects = object_outputs(args)
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
        channel=args.channel,
        labels=objects.labels,
        objects=objects.objects,
        rois=objects.rois,
        split=objects.split,
        workers=args.workers,
        truth=args.truth,
        corrections=args.corrections,
        quiet=args.quiet,
        report_limit=args.report_limit,
        argv=list(getattr(args, "argv", None) or sys.argv),
        rounds=args.rounds,
    )


def command(args: argparse.Namespace) -> int:
    if args.resume is not None and world_size() > 1:
        raise UsageError("--resume runs in one process; start it without torchrun")
    if args.resume is not None:
        if args.again is not None:
            raise UsageError("give --resume OUT or --again RUN, not both")
        settings = resumed_settings(args)
        if settings is None:
            return 0
    elif args.again is not None:
        settings = again_settings(args)
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
    if process_rank() == 0:
        print(outcome.out)
    if world_size() > 1:
        # Under torchrun, a CPU (gloo) process sometimes aborts in PyTorch's own shutdown after its work is done
        # ("terminate called without an active exception"); every output is written, so leave at once.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


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


def _recorded(folder: Path, flag: str, missing: str, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run record in ``folder`` and the settings it stored, as :class:`RunSettings` fields; ``flag``,
    ``missing`` and ``kind`` (the run the flag needs) word the errors."""
    from ..runfile import read_runfile

    if not (folder / "run.json").is_file():
        raise UsageError(f"{flag} '{folder}': no run.json there, so {missing}")
    try:
        record = read_runfile(folder)
    except ValueError as exc:
        raise UsageError(f"{flag} '{folder}': {exc}") from exc
    stored = record.get("settings")
    if not isinstance(stored, dict) or any(key not in stored for key in SETTINGS_KEYS if key not in ADDED_SETTINGS):
        raise UsageError(f"{flag} '{folder}': run.json does not record the settings of {kind}")
    values = {key: stored[key] for key in SETTINGS_KEYS if key in stored}
    values["stages"] = [(name, dict(options)) for name, options in values["stages"]]
    return record, values


def resumed_settings(args: argparse.Namespace) -> RunSettings | None:
    """The settings of the interrupted run in ``args.resume``, or ``None`` (logged) if that run is complete.

    Raises :class:`UsageError` if other inputs or options are given beside ``--resume``, or the folder holds no
    run that can be resumed.
    """
    allowed = ("resume", "quiet", "verbose", "workers", "threads", "help", "handler", "argv")
    given = _options_given(args, allowed=allowed)
    if given:
        raise UsageError(
            f"--resume takes the settings the run was started with; leave out {', '.join(given)} "
            "(or start a new run in another folder)"
        )
    folder = Path(args.resume)
    missing = f"no run to resume; {_no_record_hint(folder)}"
    record, values = _recorded(folder, "--resume", missing, "a resumable run")
    if record.get("status") == "complete":
        log.info("the run in '%s' is complete; nothing to resume", folder)
        print(folder.resolve())
        return None
    values["out"] = str(folder)
    log.info("resuming the run in '%s' (%s)", folder, record.get("command", ""))
    argv = record.get("argv") if isinstance(record.get("argv"), list) else list(args.argv)
    runtime = {key: getattr(args, key, None) for key in ("workers", "threads")}  # this machine's, not the run's
    return RunSettings(**values, overwrite=False, quiet=args.quiet, argv=argv, resume=True, **runtime)


def again_settings(args: argparse.Namespace) -> RunSettings:
    """The settings of the earlier run in ``args.again`` (its ``run.json``), with this command's ``--out``,
    ``--corrections``, ``--truth`` and runtime options; any other input or option is refused (it would be a
    different run, so start it with ``bootseg run IMAGES ...``)."""
    allowed = ("again", "out", "corrections", "truth", "overwrite", "quiet", "verbose", "workers", "threads")
    given = _options_given(args, allowed=(*allowed, "help", "handler", "argv"))
    if given:
        raise UsageError(
            f"--again takes the inputs and settings of the earlier run; leave out {', '.join(given)} (beside "
            "--again give only --out, --corrections, --truth, --overwrite and runtime options)"
        )
    if args.out is None:
        raise UsageError("--again RUN needs --out NEW: the folder of the new run (RUN is left as it is)")
    folder = Path(args.again)
    record, values = _recorded(folder, "--again", "no earlier run to repeat", "a run to repeat")
    values.update(out=args.out, corrections=args.corrections, truth=args.truth)
    runtime = {key: getattr(args, key, None) for key in ("workers", "threads")}
    log.info("running again the run of '%s' (%s) into '%s'", folder, record.get("command", ""), args.out)
    return RunSettings(**values, overwrite=args.overwrite, quiet=args.quiet, argv=list(args.argv), **runtime)


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
