"""Pairing predicted masks with ground-truth masks by file stem (``0001.png`` with ``0001.tif``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from .common import UsageError

__all__ = ["Matching", "index_masks", "match_names"]


def index_masks(folder: str | Path, what: str) -> dict[str, Path]:
    """Mask files in ``folder`` by file stem; a missing or empty folder or two files of one stem are errors.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("0002.tif", "0001.png"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> sorted(index_masks(folder, "ground-truth"))
    ['0001', '0002']
    """
    from ..io import index_by_stem

    try:
        return index_by_stem(folder, what)
    except NotADirectoryError as exc:
        raise UsageError(str(exc)) from exc


class Matching(NamedTuple):
    """Names split by whether both sides have them: ``matched`` in prediction order, the rest sorted.

    >>> Matching(["a"], ["x"], ["y"]).matched
    ['a']
    """

    matched: list[str]
    no_truth: list[str]
    no_prediction: list[str]


def match_names(pred_names: Sequence[str], truth: Mapping[str, object]) -> Matching:
    """Split prediction names into those with a ground truth of the same name and those without.

    Parameters
    ----------
    pred_names : sequence of str
        Names (file stems) of the predictions.
    truth : mapping
        Ground truth by name (e.g. :func:`index_masks` of the ground-truth folder).

    Returns
    -------
    Matching
        ``matched`` (prediction order), ``no_truth`` (predictions without a ground truth, prediction order)
        and ``no_prediction`` (ground truths without a prediction, sorted).

    Examples
    --------
    >>> match_names(["b", "a", "x"], {"a": 1, "b": 2, "y": 3})
    Matching(matched=['b', 'a'], no_truth=['x'], no_prediction=['y'])
    """
    truth_names = set(truth)
    present = set(pred_names)
    return Matching(
        [name for name in pred_names if name in truth_names],
        [name for name in pred_names if name not in truth_names],
        sorted(truth_names - present),
    )
