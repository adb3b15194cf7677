"""The ``bootseg`` command: ``run``, ``predict``, ``evaluate``, ``demo`` and ``plugins``.

Results (tables, paths) go to stdout, progress bars and log lines to stderr. Exit status: 0 on success, 1 when the
input or the run failed, 2 when the command line is wrong; an expected error is one line,
``bootseg: error: ...``, on stderr (``-v`` adds the traceback).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import BootsegError
from ..threads import prefer_passive_wait
from . import demo, evaluate, listing, predict, run
from .common import UsageError, configure_logging, set_quiet

__all__ = ["build_parser", "main"]

log = logging.getLogger("bootseg.cli")

DESCRIPTION = """\
Segmentation masks for unannotated biomedical images by neural-network bootstrapping: a naive first stage
(Otsu's threshold, k-means, ...) makes noisy masks, and a U-Net trained on them makes better ones. No labels needed.
(Rettenberger, Schilling, Reischl, Current Directions in Biomedical Engineering 8(2), 2022.)"""

EPILOG = """\
examples:
  bootseg demo                                   # the method on synthetic data, in about a minute
  bootseg run images/ --out results/             # otsu → unet on your images
  bootseg evaluate results/ truth/               # scores of every stage, if you have some true masks
  bootseg predict results/ more_images/ --out more_results/
  bootseg plugins                                # the stages you can use in --chain

`bootseg COMMAND --help` describes each command."""


class _Parser(argparse.ArgumentParser):
    """argparse with bootseg's one-line error format (and exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"bootseg: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bootseg`` command."""
    parser = _Parser(
        prog="bootseg", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"bootseg {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (run, predict, evaluate, demo, listing):
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bootseg`` command with ``argv`` (default: ``sys.argv[1:]``) and return its exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    args.argv = ["bootseg", *arguments]
    quiet = bool(getattr(args, "quiet", False))
    configure_logging(quiet=quiet, verbose=getattr(args, "verbose", 0))
    set_quiet(quiet)
    prefer_passive_wait()
    try:
        return int(args.handler(args) or 0)
    except UsageError as exc:
        return _fail(exc, 2)
    except (BootsegError, ValueError, TypeError, OSError) as exc:
        return _fail(exc, 1)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the way out
        print("bootseg: interrupted", file=sys.stderr)
        return 130


def _fail(exc: BaseException, status: int) -> int:
    log.debug("traceback of the error:", exc_info=exc)
    message = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
        message = f"{message}: '{exc.filename}'"
    print(f"bootseg: error: {message}", file=sys.stderr)
    return status
