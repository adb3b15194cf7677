"""``bootseg predict MODEL IMAGES --out OUT``: a trained network on new images, streamed image by image."""

from __future__ import annotations

import argparse
import logging
import time
from collections import deque
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

from ..confidence import Factors, factors, judges_lines_from_radii
from ..degenerate import degenerate_kind, degenerate_warning
from ..runfolder import RunFolder
from ..thickness import MAX_MEASURED_MASKS, class_radii, evenly_spaced
from .common import (
    MAX_BATCH_SIZE,
    UsageError,
    add_input_options,
    add_runtime_options,
    image_source,
    int_between,
    progress,
)
from .objectfiles import ObjectOutputs, ObjectWriter, add_object_options, object_outputs
from .outfolder import check_out, make_out
from .outputs import (
    add_output_options,
    add_report_limit,
    write_confidence_csv,
)
from .runrecord import RunRecord, StageRecord, confidence_record, input_record

__all__ = ["CHUNK", "add_parser", "resolve_model"]

#: Images per ``predict_proba`` call for a network stage that does not stream.
CHUNK = 16

log = logging.getLogger("bootseg.cli")

DESCRIPTION = """\
Label new images with a network trained by `bootseg run` (its OUT/model-<k>-<stage>.pt, or the run folder, which
means its last network). Images are read, predicted and written one batch at a time, so memory does not grow with
their number. OUT receives masks/NAME.png, overlays/NAME.png (final outline), proba/NAME.png with --save-proba,
run.json and report.html (the overlays, least confident first); with --labels, --objects and --rois, the masks'
objects as labels/NAME.tif, objects.csv and rois/NAME.zip, as `bootseg run` writes them."""

EPILOG = """\
examples:
  bootseg predict results/model-1-unet.pt new_images/ --out new_results/
  bootseg predict results/ new_images/ --out new_results/ --device cpu --save-proba --proba-format tiff

exit status: 0 done, 1 bad input or model file, 2 bad command line"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``predict`` sub-command to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "predict",
        help="label new images with a trained network (masks, overlays, report)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a model-<k>-<stage>.pt file, or a `bootseg run` folder")
    parser.add_argument("images", nargs="+", metavar="IMAGES", help="a folder of images, or image files")
    parser.add_argument("-o", "--out", required=True, metavar="OUT", help="output folder (created; must be empty)")
    group = add_output_options(parser, proba_help="also write probability maps")
    group.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="probability above which a pixel is foreground (default: the model's, 0.5)",
    )
    group.add_argument(
        "--batch-size",
        type=int_between(1, MAX_BATCH_SIZE, "MAX_BATCH_SIZE"),
        metavar="N",
        help="images per prediction batch (default: the model's training batch size)",
    )
    add_report_limit(group)
    add_object_options(parser)
    add_input_options(parser)
    add_runtime_options(parser, seed=False)
    parser.set_defaults(handler=command)
    return parser


def resolve_model(model: str) -> Path:
    """A model file, or the last network saved in a run folder."""
    path = Path(model)
    if path.is_dir():
        from ..runfile import is_run_folder, read_runfile

        if not is_run_folder(path):
            raise UsageError(f"MODEL '{model}' is a folder without run.json; give a model-<k>-<stage>.pt file")
        saved = [s["model"] for s in read_runfile(path).get("stages", []) if s.get("model")]
        if not saved:
            raise UsageError(
                f"run folder '{model}' has no saved network: none of its later stages is a network stage with save() "
                "and load() (see the plugin guide)"
            )
        return path / saved[-1]
    if not path.exists():
        raise FileNotFoundError(f"MODEL '{model}' does not exist")
    return path


def _streamed(files: list[Any], kept: deque, max_pixels: int | None, channel: int | None) -> Iterator[np.ndarray]:
    """Each image of each file in turn (every plane of a stack, read once per file), also appended to ``kept``."""
    from ..images import check_image
    from ..io import read_planes

    for file in files:
        planes, _, _ = read_planes(file.path, max_pixels=max_pixels, channel=channel)
        for plane in planes:
            image = check_image(plane, name=f"image '{file.path}'")
            kept.append(image)
            yield image


def _probabilities(stage: Any, images: Iterator[np.ndarray], batch_size: int | None) -> Iterator[np.ndarray]:
    """The network's maps for a stream of images: streamed by a stage that streams (:class:`StreamsProba`), else
    ``batch_size`` images (default :data:`CHUNK`) at a time through ``predict_proba``; memory stays flat either
    way."""
    from ..protocols import StreamsProba

    if isinstance(stage, StreamsProba):
        yield from stage.iter_predict_proba(images, batch_size=batch_size)
        return
    chunk: list[np.ndarray] = []
    for image in images:
        chunk.append(image)
        if len(chunk) >= (batch_size or CHUNK):
            yield from stage.predict_proba(chunk)
            chunk = []
    if chunk:
        yield from stage.predict_proba(chunk)


def command(args: argparse.Namespace) -> int:
    from ..inputs import scan_files
    from ..io import list_images
    from ..stagefile import load_stage
    from .execute import check_device

    start = time.perf_counter()
    if args.threshold is not None and not 0 < args.threshold < 1:
        raise UsageError(f"--threshold must be between 0 and 1, got {args.threshold}")
    model_path = resolve_model(args.model)
    objects = object_outputs(args)
    check_out(args.out, args.images, overwrite=args.overwrite, model=model_path)
    files, skipped = scan_files(
        list_images(image_source(args.images)),
        skip_bad=args.skip_bad,
        max_pixels=args.max_pixels,
        wrap=lambda items: progress(items, desc="checking", total=None),
        channel=args.channel,
    )
    for item in skipped:
        log.warning("skipped %s", item.line())
    names = [name for file in files for name in file.names]
    stacks = [file.stack for file in files if file.stack is not None]
    check_device(args.device)
    # "auto": this machine's best device, not the saved one; threads from this machine's free cores
    stage, header = load_stage(model_path, device=args.device, threads=args.threads)
    threshold = args.threshold if args.threshold is not None else float(stage.threshold)
    out = check_out(args.out, args.images, overwrite=args.overwrite, model=model_path)
    plan = RunFolder(out).predict_plan(
        names,
        overlays=args.overlays,
        proba_format=args.proba_format if args.save_proba else None,
        labels=objects.labels,
        rois=objects.rois,
        objects=objects.objects,
        stacks=[stack.name for stack in stacks],
    )
    manifest = make_out(out, plan, protected=[*args.images, model_path])
    try:
        _predict(args, out, model_path, (stage, header), threshold, files, skipped, start, objects)
    finally:
        with suppress(OSError):  # a full disk must not hide the error itself
            manifest.prune()  # lists only what was written, also when the prediction failed
    print(out)
    return 0


def _predict(
    args, out: Path, model_path: Path, loaded, threshold: float, files, skipped, start, outputs: ObjectOutputs
) -> None:
    """Predict every image (every plane of a stack) in turn and write its mask (and overlay, probabilities,
    objects) and each stack's masks as one file, then objects.csv, run.json and the report."""
    from ..overlay import overlay
    from .execute import stack_record

    folder = RunFolder(out)
    stage, header = loaded
    entries = [(file.path, name, file.stack) for file in files for name in file.names]
    paths = [path for path, _, _ in entries]
    log.info("predicting %d images with %s (%s)", len(paths), model_path, header.stage)
    planes: list[np.ndarray] = []  # the masks of the stack being predicted, written when its last plane is
    kept: deque = deque()
    inputs = []
    # the confidence's form is chosen at the end from the masks, as bootseg run chooses it: keep every image's
    # factors, and the class radii of the masks judges_lines would measure (evenly spaced, a few floats each)
    measured = set(evenly_spaced(list(range(len(paths))), MAX_MEASURED_MASKS))
    scored: list[Factors] = []
    kinds: list[str | None] = []  # which masks are (nearly) empty or full, for one warning at the end
    radii = []
    probas = _probabilities(stage, _streamed(files, kept, args.max_pixels, args.channel), args.batch_size)
    with ObjectWriter(folder, outputs) as objects:
        for index, ((path, name, stack), proba) in enumerate(
            progress(zip(entries, probas, strict=True), desc="predicting", total=len(paths))
        ):
            image = kept.popleft()
            mask = proba > threshold
            scored.append(factors(proba, image))
            kinds.append(degenerate_kind(mask))
            if index in measured:
                radii.append(class_radii(mask))
            folder.write_mask_once(folder.mask(name), mask)
            if args.save_proba:
                folder.write_proba_once(name, proba, args.proba_format)
            if args.overlays:
                folder.write_image_once(folder.overlay(name), overlay(image, mask))
            inputs.append(input_record(path, name, image, objects=objects.add(name, mask, proba)))
            if stack is not None:
                inputs[-1]["stack"] = stack.name
                planes.append(mask)
                if name == stack.names[-1]:
                    folder.write_stacks([stack], stack.names, planes, labels=outputs.labels, rois=outputs.rois)
                    planes = []
    lines = judges_lines_from_radii(radii)
    warnings = [w for w in [degenerate_warning("model", kinds)] if w is not None]
    for warning in warnings:
        log.warning("%s", warning)
    for item, image_factors in zip(inputs, scored, strict=True):
        item["confidence"] = round(image_factors.score(lines), 4)
    seconds = time.perf_counter() - start
    write_confidence_csv(folder.file(folder.CONFIDENCE), [i["name"] for i in inputs], [i["confidence"] for i in inputs])
    stacks = [
        stack_record(folder, file.stack, outputs.labels, outputs.rois) for file in files if file.stack is not None
    ]
    _write_record(
        args, out, model_path, loaded, threshold, inputs, seconds, skipped, lines, warnings, objects, stacks or None
    )
    log.info("done in %.1f s: %d masks in %s", seconds, len(inputs), out / "masks")


def _write_record(
    args,
    out: Path,
    model_path: Path,
    loaded,
    threshold: float,
    inputs,
    seconds,
    skipped,
    lines,
    warnings,
    objects,
    stacks,
) -> None:
    from ..description import describe_stage
    from ..report import write_report

    argv = getattr(args, "argv", None) or ["bootseg", "predict"]
    stage, header = loaded
    described = describe_stage(stage)
    stage_record = StageRecord(
        0, "model", header.stage, "refiner", header.source, described, seconds, str(model_path), has_proba=True
    )
    run = RunRecord(
        command_name="predict",
        argv=list(argv),
        input=", ".join(str(Path(p).resolve()) for p in args.images),
        output=str(out),
        model=str(model_path.resolve()),
        options={
            "device": args.device,
            "threads": args.threads,
            "threshold": threshold,
            "save_proba": args.save_proba,
            "proba_format": args.proba_format,
            "batch_size": args.batch_size,
            "overlays": args.overlays,
            "skip_bad": args.skip_bad,
            "max_pixels": args.max_pixels,
            "channel": args.channel,
            "labels": args.labels,
            "objects": args.objects,
            "rois": args.rois,
            "split": objects.outputs.split,
        },
        skipped=[item.as_dict() for item in skipped],
        warnings=warnings,
        device_used=described.device or "cpu",
        stages=[stage_record],
        timings={"total": seconds},
        overlay_first_stage=False,
        confidence=confidence_record("model", lines),
        inputs=inputs,
        proba={"stage": "model", "folder": "proba", "format": args.proba_format} if args.save_proba else None,
        objects=objects.record("model"),
        stacks=stacks,
    ).to_dict()
    RunFolder(out).write_record(run)
    write_report(run, out, limit=args.report_limit)
