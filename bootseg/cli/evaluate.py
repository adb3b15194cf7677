"""``bootseg evaluate PRED GT``: score masks against ground truth, one column per stage for a run folder."""

from __future__ import annotations

import argparse
import logging
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .common import UsageError, add_verbosity, progress
from .matching import Matching, index_masks, match_names
from .outputs import read_proba
from .scoring import (
    FOOTNOTE,
    Evaluation,
    EvaluationError,
    Scorer,
    SizeMismatch,
    Unmatched,
    Unreadable,
    names_text,
    shape_text,
)

__all__ = [
    "EvaluationError",
    "Matching",
    "Source",
    "add_parser",
    "evaluate_folders",
    "index_masks",
    "match_names",
    "print_evaluation",
    "score_in_memory",
    "score_sources",
]

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
    """One column: masks in ``folder``, probability maps (optional) in ``proba``.

    >>> Source("0-otsu", "0-otsu", Path("run/stages/0-otsu")).proba is None
    True
    """

    key: str
    label: str
    folder: Path
    proba: Path | None = None


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``evaluate`` sub-command to ``subparsers`` and return its parser.

    >>> parser = add_parser(argparse.ArgumentParser().add_subparsers())
    >>> parser.parse_args(["pred", "truth", "--csv", "s.csv"]).csv
    's.csv'
    """
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


def _read(path: Path, name: str, unmatched: Unmatched) -> np.ndarray | None:
    """The mask in ``path``, or None with the reason recorded when it cannot be read."""
    from ..io import read_mask
    from ..stacks import MaskPlane, read_mask_plane

    try:
        return read_mask_plane(path) if isinstance(path, MaskPlane) else read_mask(path)
    except (ValueError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        if str(path) not in reason:
            reason = f"cannot read '{path}': {reason}"
        unmatched.unreadable.append(Unreadable(name, str(path), reason))
        return None


def score_sources(sources: Sequence[Source], truth: Mapping[str, Path], *, strict: bool = True) -> Evaluation:
    """Score every source folder against the ground truth, image by image (streamed).

    Masks are matched by file stem. Predictions without a ground truth (and the reverse), names that only some
    stages have, pairs of different sizes and mask files that cannot be read are left out and recorded in the
    result's ``unmatched``.

    Parameters
    ----------
    sources : sequence of Source
        One per column (stage); every folder must hold mask files.
    truth : mapping of str to Path
        Ground-truth mask files by name, as :func:`index_masks` gives them.
    strict : bool, optional
        True (default): anything left out raises :class:`~bootseg.cli.scoring.EvaluationError`, whose message
        has one line per reason, the same lines ``bootseg evaluate`` prints as warnings; ``error.evaluation``
        holds the scores of the pairs that could be scored. False: each line is logged as a warning and the
        scores are returned (``bootseg evaluate`` does this).

    Returns
    -------
    Evaluation
        The scores of the matched pairs; ``evaluation.unmatched`` says what was left out and why.

    Raises
    ------
    EvaluationError
        When nothing could be scored (even with ``strict=False``): the message names both folders and the
        first names on each side, or gives every reason; with ``strict=True``, also when anything was left out.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bootseg.io import write_mask
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for folder in ("pred", "truth"):
    ...     (root / folder).mkdir()
    >>> square = np.zeros((8, 8), bool)
    >>> square[2:6, 2:6] = True
    >>> for folder, name, mask in [("pred", "a", square), ("pred", "b", square[:4]), ("pred", "extra", square),
    ...                            ("truth", "a", square), ("truth", "b", square), ("truth", "c", square)]:
    ...     _ = write_mask(root / folder / f"{name}.png", mask)
    >>> sources, truth = [Source("pred", "pred", root / "pred")], index_masks(root / "truth", "ground-truth")
    >>> try:
    ...     score_sources(sources, truth)
    ... except EvaluationError as error:
    ...     print(error)
    ...     print(error.evaluation.names, error.evaluation.columns[0].dice)
    1 prediction(s) have no ground-truth mask of the same name and are left out: extra
    1 ground-truth mask(s) have no prediction of the same name and are left out: c
    1 image(s) differ in size from their ground truth and are left out: b (ground truth 8×8, pred 4×8)
    ['a'] [1.0]
    >>> evaluation = score_sources(sources, truth, strict=False)  # the same lines as warnings
    >>> evaluation.names, evaluation.unmatched.no_truth, evaluation.unmatched.no_prediction
    (['a'], ['extra'], ['c'])
    """
    indexes = [index_masks(s.folder, f"prediction ({s.label})") for s in sources]
    proba_indexes = [None if s.proba is None else index_masks(s.proba, f"probability ({s.label})") for s in sources]
    unmatched = Unmatched()
    every = set().union(*indexes)
    for source, index in zip(sources, indexes, strict=True):
        missing = sorted(every - set(index))
        if missing:
            unmatched.missing[source.key] = missing
    common = [name for name in indexes[0] if all(name in index for index in indexes[1:])]
    matching = match_names(common, truth)
    unmatched.no_truth = matching.no_truth
    unmatched.no_prediction = sorted(set(truth) - every)
    scorer = Scorer((s.key, s.label) for s in sources)
    for name in progress(matching.matched, desc="evaluating", total=len(matching.matched)):
        target = _read(truth[name], name, unmatched)
        if target is None:
            continue
        preds = []
        for index in indexes:
            pred = _read(index[name], name, unmatched)
            if pred is None:
                break
            preds.append(pred)
        else:
            bad = {s.key: p.shape for s, p in zip(sources, preds, strict=True) if p.shape != target.shape}
            if bad:
                unmatched.size_mismatch.append(SizeMismatch(name, target.shape, bad))
                continue
            probas = [_proba(index, name, target.shape) for index in proba_indexes]
            scorer.add(name, target, preds, probas)
    folders = _folders_text([s.folder for s in sources])
    return _finish(scorer, unmatched, strict, pred_text=f"in {folders}", pred_names=sorted(every), truth=truth)


def _folders_text(folders: Sequence[Path]) -> str:
    if len(folders) == 1:
        return f"'{folders[0]}'"
    return f"'{Path(os.path.commonpath([str(f) for f in folders]))}'"


def _proba(index: Mapping[str, Path] | None, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    if index is None or name not in index:
        return None
    path = index[name]
    try:
        proba = read_proba(path)
    except (ValueError, OSError) as exc:
        log.warning("probability map '%s' is not used: %s", path, exc)
        return None
    if proba.shape != shape:
        log.warning(
            "probability map '%s' is %s, its mask %s; not used", path, shape_text(proba.shape), shape_text(shape)
        )
        return None
    return proba


def _finish(
    scorer: Scorer,
    unmatched: Unmatched,
    strict: bool,
    *,
    pred_text: str,
    pred_names: Sequence[str],
    truth: Mapping[str, Path],
) -> Evaluation:
    """The evaluation, after reporting (warnings) or raising on what was left out."""
    evaluation = scorer.result(unmatched)
    if not evaluation.names:
        raise EvaluationError(_nothing_scored(unmatched, pred_text, pred_names, truth), unmatched)
    if unmatched:
        messages = unmatched.messages()
        if strict:
            raise EvaluationError("\n".join(messages), unmatched, evaluation)
        for message in messages:
            log.warning("%s", message)
    return evaluation


def _nothing_scored(unmatched: Unmatched, pred_text: str, pred_names: Sequence[str], truth: Mapping[str, Path]) -> str:
    parents = {Path(getattr(path, "path", path)).parent for path in truth.values()}  # a MaskPlane's file
    truth_text = f"'{parents.pop()}'" if len(parents) == 1 else "the ground truth"
    if not set(pred_names) & set(truth):
        return (
            f"no prediction could be scored: no file name {pred_text} ({len(pred_names)}: "
            f"{names_text(pred_names, 5)}) matches one in {truth_text} "
            f"({len(truth)}: {names_text(sorted(truth), 5)}); "
            "names are matched without extension, e.g. 0001.png with 0001.tif"
        )
    reasons = "; ".join(unmatched.messages())
    return f"no prediction could be scored (predictions {pred_text}, ground truth in {truth_text}): {reasons}"


def score_in_memory(
    names: Sequence[str],
    columns: Sequence[tuple[str, str, Sequence[np.ndarray], Sequence[np.ndarray] | None]],
    truth: Mapping[str, Path],
    *,
    strict: bool = False,
) -> Evaluation:
    """Score stage results held in memory (``key, label, masks, proba``) against ground-truth files.

    What cannot be scored is handled as in :func:`score_sources`, except that ``strict`` defaults to False
    (``bootseg run --truth`` warns and goes on).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bootseg.io import write_mask
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_mask(folder / "a.png", np.eye(4, dtype=bool))
    >>> evaluation = score_in_memory(["a", "b"], [("otsu", "otsu", [np.eye(4, dtype=bool)] * 2, None)],
    ...                              index_masks(folder, "ground-truth"))
    >>> evaluation.names, evaluation.columns[0].dice, evaluation.unmatched.no_truth
    (['a'], [1.0], ['b'])
    """
    position = {name: i for i, name in enumerate(names)}
    matching = match_names(names, truth)
    unmatched = Unmatched(no_truth=matching.no_truth, no_prediction=matching.no_prediction)
    scorer = Scorer((key, label) for key, label, _, _ in columns)
    for name in progress(matching.matched, desc="evaluating", total=len(matching.matched)):
        i = position[name]
        target = _read(truth[name], name, unmatched)
        if target is None:
            continue
        preds = [masks[i] for _, _, masks, _ in columns]
        if preds[0].shape != target.shape:
            unmatched.size_mismatch.append(SizeMismatch(name, target.shape, {"image": preds[0].shape}))
            continue
        scorer.add(name, target, preds, [None if proba is None else proba[i] for _, _, _, proba in columns])
    return _finish(scorer, unmatched, strict, pred_text="of this run", pred_names=list(names), truth=truth)


def print_evaluation(evaluation: Evaluation) -> None:
    """The table and its footnote, on stdout.

    >>> scorer = Scorer([("otsu", "otsu")])
    >>> scorer.add("a", np.eye(2, dtype=bool), [np.eye(2, dtype=bool)], [None])
    >>> print_evaluation(scorer.result())  # doctest: +ELLIPSIS
    metric (n=1)               otsu
    DSC  mean ± std   1.000 ± 0.000
    ...
    """
    print(evaluation.table())
    print(textwrap.fill(FOOTNOTE, width=110))


# ------------------------------------------------------------------------------------------------ command


def _usage(function, *args):
    """``function(*args)``, a ``ValueError`` it raises turned into a usage error (exit status 2)."""
    try:
        return function(*args)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


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


def evaluate_folders(
    pred: str | Path, truth: str | Path, *, proba: str | Path | None = None, strict: bool = True
) -> Evaluation:
    """Score a folder of predicted masks, or every stage of a ``bootseg run`` folder, against ground truth.

    What ``bootseg evaluate PRED GT [--proba DIR]`` computes, with the same checks: see :func:`score_sources`
    for matching and for ``strict``.

    Parameters
    ----------
    pred : str or Path
        A ``bootseg run`` output folder (one column per stage) or a folder of mask files.
    truth : str or Path
        The folder of ground-truth masks (foreground > 0).
    proba : str or Path, optional
        Probability maps for a plain ``pred`` folder (for the pooled soft DSC).
    strict : bool, optional
        Raise :class:`~bootseg.cli.scoring.EvaluationError` when anything is left out (default True); False
        logs the same lines as warnings and returns the scores.

    Returns
    -------
    Evaluation

    Raises
    ------
    FileNotFoundError
        If a folder does not exist.
    EvaluationError
        When nothing could be scored, or (``strict``) when anything was left out.
    UsageError
        If ``proba`` is given for a run folder, or a path is a file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from bootseg.io import write_mask
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for folder in ("pred", "truth"):
    ...     (root / folder).mkdir()
    >>> _ = write_mask(root / "pred" / "a.png", np.eye(4, dtype=bool))
    >>> _ = write_mask(root / "truth" / "b.png", np.eye(4, dtype=bool))
    >>> try:
    ...     evaluate_folders(root / "pred", root / "truth")
    ... except EvaluationError as error:
    ...     for part in str(error).replace(str(root), "ROOT").split("; "):
    ...         print(part)
    no prediction could be scored: no file name in 'ROOT/pred' (1: a) matches one in 'ROOT/truth' (1: b)
    names are matched without extension, e.g. 0001.png with 0001.tif
    """
    pred = Path(pred)
    if not pred.exists():
        raise FileNotFoundError(f"PRED folder '{pred}' does not exist")
    truth_index = index_masks(truth, "ground-truth")
    sources, run = run_sources(pred)
    if run is not None and run.get("stacks"):
        from ..stacks import expand_truth, stacks_of_record

        truth_index = _usage(expand_truth, truth_index, stacks_of_record(run))
    if proba is not None:
        if run is not None:
            raise UsageError(
                "--proba is for a plain folder of masks; a run folder's probability maps are found from its run.json"
            )
        proba_dir = Path(proba)
        if not proba_dir.is_dir():
            raise FileNotFoundError(f"--proba folder '{proba_dir}' does not exist")
        sources[0].proba = proba_dir
    return score_sources(sources, truth_index, strict=strict)


def command(args: argparse.Namespace) -> int:
    from ..runfile import is_run_folder, read_runfile

    pred = Path(args.pred)
    if not pred.exists():
        raise FileNotFoundError(f"PRED folder '{pred}' does not exist")
    if args.report and not is_run_folder(pred):
        raise UsageError(f"--report needs a `bootseg run` output folder as PRED; '{pred}' has no run.json")
    evaluation = evaluate_folders(pred, args.truth, proba=args.proba, strict=False)
    print_evaluation(evaluation)
    if args.csv:
        path = evaluation.write_csv(args.csv)
        log.info("per-image scores written to %s", path)
    if args.report:
        from ..report import write_report

        path = write_report(read_runfile(pred), pred, evaluation=evaluation.as_dict(per_image=True))
        log.info("report with scores written to %s", path)
    return 0
