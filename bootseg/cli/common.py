"""What every sub-command shares: errors, logging, progress bars, shared options, the inputs' paths."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import BootsegError

__all__ = [
    "UsageError",
    "add_runtime_options",
    "configure_logging",
    "progress",
    "progress_bar",
]

log = logging.getLogger("bootseg.cli")

T = TypeVar("T")


class UsageError(BootsegError):
    """The command line is wrong (bad option, unknown stage, refused output folder): exit status 2."""


# ------------------------------------------------------------------------------------------------- logging


class _Formatter(logging.Formatter):
    """``bootseg: message``, ``bootseg: warning: message``; debug lines name their logger; tracebacks follow."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            line = f"bootseg: {record.levelname.lower()}: {message}"
        elif record.levelno <= logging.DEBUG:
            line = f"bootseg: debug: [{record.name}] {message}"
        else:
            line = f"bootseg: {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _TqdmHandler(logging.StreamHandler):
    """Writes log lines through ``tqdm.write`` so that they do not break a progress bar on the terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def configure_logging(*, quiet: bool = False, verbose: int = 0) -> None:
    """Send bootseg's log to stderr: INFO by default, WARNING with ``--quiet``, DEBUG with ``-v``."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    root = logging.getLogger("bootseg")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = _TqdmHandler()
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Switch every progress bar of this process off (``--quiet``)."""
    global _QUIET
    _QUIET = quiet


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "image") -> Iterable[T]:
    """A tqdm bar on stderr, shown only on a terminal and never with ``--quiet``."""
    if _QUIET:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, disable=None, leave=False)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(*, total: int | None, desc: str, unit: str = "image") -> Any:
    """A manual tqdm bar (``update``/``close``), or one that does nothing with ``--quiet``."""
    if _QUIET:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=None, leave=False)


# ------------------------------------------------------------------------------------------------- options


def add_runtime_options(parser: argparse.ArgumentParser, *, seed: bool = True) -> None:
    """``--device``, ``--threads``, ``--seed``, ``--quiet`` and ``-v``, the same on every sub-command that computes."""
    group = parser.add_argument_group("runtime")
    group.add_argument(
        "--device",
        default="auto",
        metavar="D",
        help="where networks run: auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps (default: auto)",
    )
    group.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="CPU threads of the networks (default: the cores this process may use, less those other processes "
        "keep busy when training starts; recorded in run.json)",
    )
    if seed:
        group.add_argument(
            "--seed",
            type=non_negative_int,
            default=0,
            metavar="N",
            help="seed of every random choice (split, weights, augmentation); the same seed and --threads repeat a "
            "CPU run (default: 0)",
        )
    add_verbosity(group)


#: bootseg.inputs.DEFAULT_MAX_PIXELS, without importing NumPy for ``--help``.
DEFAULT_MAX_PIXELS = 2**26


def add_input_options(parser: argparse.ArgumentParser) -> None:
    """``--channel``, ``--skip-bad`` and ``--max-pixels``, the same on ``run`` and ``predict``."""
    group = parser.add_argument_group("inputs")
    group.add_argument(
        "--channel",
        type=channel_number,
        default=None,
        metavar="N",
        help="segment channel N of every input, counted from 0: one stain of a multi-channel TIFF, (H, W, C) or "
        "(C, H, W), or R, G, B = 0, 1, 2 of a colour image; picked when the file is read, before any stage sees "
        "it (default: auto, each image whole: grey as grey, colour as colour, for the first stage to choose from)",
    )
    group.add_argument(
        "--skip-bad",
        action="store_true",
        help="leave out inputs that cannot be used (listed in the log and run.json) instead of stopping",
    )
    group.add_argument(
        "--max-pixels",
        type=positive_int,
        default=DEFAULT_MAX_PIXELS,
        metavar="N",
        help=f"refuse images of more than N pixels (height × width) (default: {DEFAULT_MAX_PIXELS:,}, 8192²)",
    )


#: The first stage runs in a process pool from this many images on (below it, starting workers costs more).
POOL_MIN_IMAGES = 256
#: A first stage that makes choices over the set (``auto``: eight candidates, each fitted whole on up to 200
#: images) runs in the pool from this many pixels on (64 images of 128²): the candidates' fits then outweigh
#: the workers' start.
FIT_POOL_MIN_PIXELS = 64 * 128 * 128


def available_cores() -> int:
    """The CPU cores this process may use (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def first_stage_pool(workers: int | None, images: Sequence[Any], first_stage: Any = None) -> Any:
    """A process pool for the first stage, or ``None`` to run it in this process.

    ``workers=None`` (the default, "auto"): every available core, when there are at least
    :data:`POOL_MIN_IMAGES` images, or when ``first_stage``'s ``fit`` fits several candidates whole
    (``fits_candidates()``, as ``auto`` does) and the images hold at least :data:`FIT_POOL_MIN_PIXELS`
    pixels. Workers start with ``forkserver`` (``spawn`` where there is none), so they never inherit the state
    of threads running in this process.
    """
    count = workers if workers is not None else (available_cores() if _pool_pays(images, first_stage) else 1)
    count = min(count, len(images))
    if count <= 1:
        return None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    log.info("first stage: %d worker processes", count)
    return ProcessPoolExecutor(count, mp_context=multiprocessing.get_context(method))


def _pool_pays(images: Sequence[Any], first_stage: Any) -> bool:
    if len(images) >= POOL_MIN_IMAGES:
        return True
    from ..protocols import FitsCandidates

    if not (isinstance(first_stage, FitsCandidates) and first_stage.fits_candidates()):
        return False
    return sum(int(image.shape[0]) * int(image.shape[1]) for image in images) >= FIT_POOL_MIN_PIXELS


#: The most ``--workers`` processes.
MAX_WORKERS = 1024
#: bootseg.refiners.config.MAX_BATCH_SIZE, without importing torch for ``--help``.
MAX_BATCH_SIZE = 4096


def int_between(low: int, high: int, bound_name: str) -> Any:
    """An argparse type: an integer from ``low`` to ``high``; the error names the bound ``bound_name``."""

    def parse(text: str) -> int:
        value = _int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"must be an integer between {low} and {high} ({bound_name}), got {text!r}"
            )
        return value

    return parse


def add_workers_option(parser: Any) -> None:
    """``--workers``."""
    parser.add_argument(
        "--workers",
        type=int_between(1, MAX_WORKERS, "MAX_WORKERS"),
        metavar="N",
        help=(
            f"processes for the first stage (default: every core from {POOL_MIN_IMAGES} images on, or from 64 "
            "images of 128² in pixels when the first stage fits candidates, as auto does; else 1)"
        ),
    )


def add_verbosity(parser: Any) -> None:
    """``--quiet`` and ``-v/--verbose``."""
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars and no log, only results and errors"
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log (debug messages, tracebacks of errors)"
    )


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def channel_number(text: str) -> int | None:
    """argparse type for ``--channel``: an integer >= 0, or ``auto`` (``None``: each image whole)."""
    if text == "auto":
        return None
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a channel number from 0 (the first channel), or auto, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


# ------------------------------------------------------------------------------------------- inputs, outputs


def input_folders(sources: Sequence[str]) -> list[Path]:
    """The folders among the positional inputs (resolved)."""
    return [Path(s).resolve() for s in sources if Path(s).is_dir()]


def image_source(sources: Sequence[str]) -> str | list[str]:
    """One folder or file as it is, several files as a list (for :func:`bootseg.io.list_images`)."""
    if len(sources) == 1:
        return sources[0]
    folders = [s for s in sources if Path(s).is_dir()]
    if folders:
        raise UsageError(f"give one folder or a list of image files, not a folder among several inputs: {folders[0]}")
    return list(sources)
