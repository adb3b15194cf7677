"""``bootseg evaluate PRED GT``: score masks against ground truth, one column per stage for a run folder."""

from __future__ import annotations

import argparse
import logging
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BootsegError
from .common import UsageError, add_verbosity, progress
from .outputs import read_proba
from .scoring import FOOTNOTE, Evaluation, Scorer

__all__ = ["Source", "add_parser", "index_masks", "match_names", "print_evaluation", "score_sources"]

log = logging.getLogger("bootseg.cli")

DESCRIPTION = """\
Score predicted masks against ground-truth masks, matched by file name without extension (0001.png ↔ 0001.tif).
Prints DSC (Dice), IoU and pixel accuracy (PA) as mean ± std over images, the pooled DSC, and the paper's pooled
soft DSC where probability maps exist. Files without a partner, and pairs of different sizes, are named on stderr
and left out. When PRED is a `bootseg run` output folder, every stage is scored: one column per stage, as in
the paper's Table 1."""

EPILOG = """\
examples:
  bootseg evaluate results/ truth/                      # a run folder: one column per stage
  bootseg evaluate results/ truth/ --csv scores.csv     # and per-image scores
  bootseg evaluate my_masks/ truth/ --proba my_probs/   # any folder of masks (and probability maps)
  bootseg evaluate results/ truth/ --report             # also put the table into results/report.html

exit status: 0 scored, 1 nothing matched or a folder is missing/empty, 2 bad command line"""


@dataclass
class Source:
    """One column: masks in ``folder``, probability maps (optional) in ``proba``."""

    key: str
    label: str
    folder: Path
    proba: Path | None = None


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` sub-command to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "evaluate",
        help="score masks against ground truth (DSC, IoU, PA; one column per stage)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pred", metavar="PRED", help="a `bootseg run` output folder, or a folder of mask files")
    parser.add_argument("truth", metavar="GT", help="folder of ground-truth masks (foreground > 0)")
    parser.add_argument("--csv", metavar="FILE", help="write per-image, per-stage scores to this CSV file")
    parser.add_argument(
        "--proba",
        metavar="DIR",
        help="probability maps for a plain PRED folder (16/8-bit PNG scaled to [0, 1], or float TIFF), for the "
        "pooled soft DSC; a run folder's own proba/ is found by itself",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="rewrite PRED/report.html with the table and a DSC under each overlay (PRED must be a run folder)",
    )
    add_verbosity(parser)
    parser.set_defaults(handler=command)
    return parser


# ------------------------------------------------------------------------------------------------ matching


def _names_text(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def index_masks(folder: str | Path, what: str) -> dict[str, Path]:
    """Mask files in ``folder`` by file stem; a missing or empty folder or two files of one stem are errors."""
    from ..io import list_images

    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"{what} folder '{folder}' does not exist")
    if not folder.is_dir():
        raise UsageError(f"{what} '{folder}' is not a folder; give the folder that holds the masks")
    index: dict[str, Path] = {}
    for path in list_images(folder):
        if path.stem in index:
            raise ValueError(
                f"{what} folder '{folder}' holds two files named {path.stem!r}: "
                f"{index[path.stem].name} and {path.name}; keep one"
            )
        index[path.stem] = path
    return index


def match_names(pred_names: Sequence[str], truth: Mapping[str, object], *, what: str = "prediction") -> list[str]:
    """The names with both a prediction and a ground truth, in prediction order; the others are reported."""
    truth_names = set(truth)
    matched = [name for name in pred_names if name in truth_names]
    no_truth = [name for name in pred_names if name not in truth_names]
    no_pred = sorted(truth_names - set(pred_names))
    if no_truth:
        log.warning(
            "%d %s(s) have no ground-truth mask of the same name and are left out: %s",
            len(no_truth),
            what,
            _names_text(no_truth),
        )
    if no_pred:
        log.warning(
            "%d ground-truth mask(s) have no %s of the same name and are left out: %s",
            len(no_pred),
            what,
            _names_text(no_pred),
        )
    return matched


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape[:2])


def score_sources(sources: Sequence[Source], truth: Mapping[str, Path]) -> Evaluation:
    """Score every source folder against the ground truth, image by image (streamed)."""
    from ..io import read_mask

    indexes = [index_masks(s.folder, f"prediction ({s.label})") for s in sources]
    proba_indexes = [None if s.proba is None else index_masks(s.proba, f"probability ({s.label})") for s in sources]
    common = [name for name in indexes[0] if all(name in index for index in indexes[1:])]
    for source, index in zip(sources, indexes, strict=True):
        missing = sorted(set().union(*indexes) - set(index))
        if missing:
            log.warning(
                "%s lacks %d mask(s) that other stages have; left out: %s",
                source.label,
                len(missing),
                _names_text(missing),
            )
    matched = match_names(common, truth)
    scorer = Scorer((s.key, s.label) for s in sources)
    mismatched = []
    for name in progress(matched, desc="evaluating", total=len(matched)):
        target = read_mask(truth[name])
        preds = [read_mask(index[name]) for index in indexes]
        bad = [(s.label, p.shape) for s, p in zip(sources, preds, strict=True) if p.shape != target.shape]
        if bad:
            mismatched.append(
                f"{name} (ground truth {_shape_text(target.shape)}, "
                + ", ".join(f"{label} {_shape_text(shape)}" for label, shape in bad)
                + ")"
            )
            continue
        probas = [_proba(index, name, target.shape) for index in proba_indexes]
        scorer.add(name, target, preds, probas)
    _report_mismatched(mismatched)
    return _checked(scorer)


def _proba(index: Mapping[str, Path] | None, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    if index is None or name not in index:
        return None
    path = index[name]
    proba = read_proba(path)
    if proba.shape != shape:
        log.warning(
            "probability map '%s' is %s, its mask %s; not used", path, _shape_text(proba.shape), _shape_text(shape)
        )
        return None
    return proba


def _report_mismatched(mismatched: Sequence[str]) -> None:
    if mismatched:
        log.warning(
            "%d image(s) differ in size from their ground truth and are left out: %s",
            len(mismatched),
            "; ".join(mismatched[:12]) + (" ..." if len(mismatched) > 12 else ""),
        )


def _checked(scorer: Scorer) -> Evaluation:
    evaluation = scorer.result()
    if not evaluation.names:
        raise BootsegError(
            "no prediction could be scored: no file name matched a ground-truth mask of the same "
            "size (names are matched without extension, e.g. 0001.png with 0001.tif)"
        )
    return evaluation


def score_in_memory(
    names: Sequence[str],
    columns: Sequence[tuple[str, str, Sequence[np.ndarray], Sequence[np.ndarray] | None]],
    truth: Mapping[str, Path],
) -> Evaluation:
    """Score stage results held in memory (``key, label, masks, proba``) against ground-truth files."""
    from ..io import read_mask

    position = {name: i for i, name in enumerate(names)}
    matched = match_names(names, truth)
    scorer = Scorer((key, label) for key, label, _, _ in columns)
    mismatched = []
    for name in progress(matched, desc="evaluating", total=len(matched)):
        i = position[name]
        target = read_mask(truth[name])
        preds = [masks[i] for _, _, masks, _ in columns]
        if preds[0].shape != target.shape:
            mismatched.append(f"{name} (ground truth {_shape_text(target.shape)}, image {_shape_text(preds[0].shape)})")
            continue
        scorer.add(name, target, preds, [None if proba is None else proba[i] for _, _, _, proba in columns])
    _report_mismatched(mismatched)
    return _checked(scorer)


def print_evaluation(evaluation: Evaluation) -> None:
    """The table and its footnote, on stdout."""
    print(evaluation.table())
    print(textwrap.fill(FOOTNOTE, width=110))


# ------------------------------------------------------------------------------------------------ command


def run_sources(pred: Path) -> tuple[list[Source], dict | None]:
    """The columns of a run folder (one per stage, from run.json) or of a plain folder of masks."""
    from ..runfile import is_run_folder, read_runfile

    if not is_run_folder(pred):
        return [Source(pred.name or "pred", pred.name or "pred", pred)], None
    run = read_runfile(pred)
    proba = run.get("proba") or {}
    keys = [stage["key"] for stage in run.get("stages", [])]
    present = [key for key in keys if (pred / "stages" / key).is_dir()]
    if not present:
        if not (pred / "masks").is_dir():
            raise FileNotFoundError(f"run folder '{pred}' has neither stages/ nor masks/")
        last = keys[-1] if keys else "final"
        present_sources = [Source(last, f"{last} (final)", pred / "masks")]
    else:
        present_sources = [
            Source(key, f"{key} (final)" if key == keys[-1] else key, pred / "stages" / key) for key in present
        ]
    for source in present_sources:
        if proba.get("stage") == source.key:
            source.proba = pred / proba.get("folder", "proba")
    return present_sources, run


def command(args: argparse.Namespace) -> int:
    pred = Path(args.pred)
    if not pred.exists():
        raise FileNotFoundError(f"PRED folder '{pred}' does not exist")
    truth = index_masks(args.truth, "ground-truth")
    sources, run = run_sources(pred)
    if args.proba:
        if run is not None:
            raise UsageError(
                "--proba is for a plain folder of masks; a run folder's probability maps are found from its run.json"
            )
        proba_dir = Path(args.proba)
        if not proba_dir.is_dir():
            raise FileNotFoundError(f"--proba folder '{proba_dir}' does not exist")
        sources[0].proba = proba_dir
    if args.report and run is None:
        raise UsageError(f"--report needs a `bootseg run` output folder as PRED; '{pred}' has no run.json")
    evaluation = score_sources(sources, truth)
    print_evaluation(evaluation)
    if args.csv:
        path = evaluation.write_csv(args.csv)
        log.info("per-image scores written to %s", path)
    if args.report and run is not None:
        from ..report import write_report

        path = write_report(run, pred, evaluation=evaluation.as_dict(per_image=True))
        log.info("report with scores written to %s", path)
    return 0
