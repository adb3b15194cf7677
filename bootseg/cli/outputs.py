"""Files a run writes per image (masks, probability maps, overlays), and the per-image confidence score."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..confidence import CONFIDENCE_DEFINITION, confidence
from ..runfolder import PROBA_FORMATS, proba_path, read_proba, write_proba
from .common import positive_int

__all__ = [
    "CONFIDENCE_DEFINITION",
    "PROBA_FORMATS",
    "add_output_options",
    "add_report_limit",
    "confidence",
    "proba_path",
    "read_proba",
    "write_confidence_csv",
    "write_proba",
    "write_to_correct",
]


def write_confidence_csv(path: Path, names: list[str], scores: list[float]) -> Path:
    """``name,confidence`` per image, least confident first (the order in which to check the masks), atomically."""
    import csv
    import io

    from ..io import write_bytes_atomic

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "confidence"])
    for score, name in sorted(zip(scores, names, strict=True)):
        writer.writerow([name, f"{score:.4f}"])
    return write_bytes_atomic(path, buffer.getvalue().encode("utf-8"))


def write_to_correct(path: Path, names: list[str], scores: list[float], corrected: list[str]) -> Path:
    """The images to correct next, one name per line, least confident first, without those already corrected,
    atomically.

    >>> import tempfile, pathlib
    >>> path = write_to_correct(pathlib.Path(tempfile.mkdtemp()) / "t.txt", ["a", "b", "c"], [0.9, 0.1, 0.5], ["b"])
    >>> path.read_text().split()
    ['c', 'a']
    """
    from ..io import write_bytes_atomic

    done = set(corrected)
    order = [name for _, name in sorted(zip(scores, names, strict=True)) if name not in done]
    return write_bytes_atomic(path, "".join(f"{name}\n" for name in order).encode("utf-8"))


def add_output_options(parser: argparse.ArgumentParser, *, proba_help: str) -> argparse._ArgumentGroup:
    """The ``output`` options that ``run`` and ``predict`` share; returns the group so a command can add its own."""
    group = parser.add_argument_group("output")
    group.add_argument("--save-proba", action="store_true", help=proba_help)
    group.add_argument(
        "--proba-format",
        choices=tuple(PROBA_FORMATS),
        default="png16",
        help="png16: 16-bit PNG, 0..65535 for 0..1; png8: 8-bit PNG, 0..255; tiff: float32 TIFF (default: png16)",
    )
    group.add_argument(
        "--no-overlays", dest="overlays", action="store_false", help="skip overlays/ (the report then has no pictures)"
    )
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="replace bootseg's results in a non-empty OUT (other files there are kept)",
    )
    return group


def add_report_limit(group: argparse._ArgumentGroup) -> None:
    """``--report-limit N``: at most N overlays in report.html, least confident first."""
    group.add_argument(
        "--report-limit",
        type=positive_int,
        default=300,
        metavar="N",
        help="at most N overlays in report.html, least confident first (default: 300)",
    )
