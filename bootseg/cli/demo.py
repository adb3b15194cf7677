"""``bootseg demo``: the whole method on synthetic spheroid images with known truth, in about a minute on a CPU."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .common import UsageError, add_runtime_options, positive_int

__all__ = ["DEMO_UNET", "add_parser"]

log = logging.getLogger("bootseg.cli")

#: The demo's data: this many synthetic images of this side (see bootseg.datasets.synthetic_spheroids).
DEMO_N = 64
DEMO_SIZE = 64
#: The demo's network: the fast preset, made smaller to fit the small images and a few minutes of CPU, and with
#: every pixel the network's (``confident=0.5``), as in the paper: on these images the first stage's errors vary
#: from image to image, and the network's majority vote over them is what the demo shows.
DEMO_UNET = {"size": 64, "base_channels": 8, "depth": 3, "batch_size": 8, "epochs": 60, "confident": 0.5}

DESCRIPTION = f"""\
Show the method end to end, with nothing to download: make {DEMO_N} synthetic bright-field images of spheroids in
droplets ({DEMO_SIZE}×{DEMO_SIZE} px) with their true masks, segment them without labels (Otsu's threshold, then a
U-Net trained on Otsu's masks: the fast preset, shrunk to the small images, every pixel its own as in the
paper), score both stages against the truth
and print the comparison (the paper's Table 1 layout). Writes DIR/images, DIR/truth and the run in DIR/run
(masks, overlays, probability maps, model, run.json, report.html). About a minute on 2 CPU cores (README)."""

EPILOG = """\
examples:
  bootseg demo                          # writes ./bootseg-demo
  bootseg demo --out /tmp/demo --quiet
  bootseg evaluate bootseg-demo/run bootseg-demo/truth    # the same table again, from the files

exit status: 0 done, 1 failed, 2 bad command line (e.g. DIR not empty without --overwrite)"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``demo`` sub-command to ``subparsers`` and return its parser."""
    parser = subparsers.add_parser(
        "demo",
        help="the method on synthetic data with known truth: table, overlays, report",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-o",
        "--out",
        default="bootseg-demo",
        metavar="DIR",
        help="folder for the demo's data and results (default: ./bootseg-demo)",
    )
    parser.add_argument(
        "--n", type=positive_int, default=DEMO_N, metavar="N", help=f"number of synthetic images (default: {DEMO_N})"
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=DEMO_UNET["epochs"],
        metavar="N",
        help=f"training epochs of the U-Net (default: {DEMO_UNET['epochs']})",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo in DIR")
    add_runtime_options(parser)
    parser.set_defaults(handler=command)
    return parser


def _prepare(folder: Path, overwrite: bool, n: int) -> None:
    """Check DIR and list the data the demo writes in its manifest; ``overwrite`` removes an earlier demo's files."""
    from .outfolder import OutputPlan, make_out

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out '{folder}' is a file; give a folder")
    entries = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if entries and not overwrite:
        raise UsageError(
            f"demo folder '{folder}' is not empty (it holds {', '.join(entries[:6])}); choose another "
            "--out or pass --overwrite to replace an earlier demo there"
        )
    files = [f"{kind}/{i:04d}.png" for kind in ("images", "truth") for i in range(n)]
    make_out(folder.resolve(), OutputPlan(files=files, folders=["images", "truth"]))


def _write_data(folder: Path, n: int, seed: int) -> None:
    from ..datasets import synthetic_spheroids
    from ..io import write_image, write_mask
    from .common import progress

    images, masks = synthetic_spheroids(n, size=DEMO_SIZE, seed=seed)
    (folder / "images").mkdir(exist_ok=True)
    (folder / "truth").mkdir(exist_ok=True)
    for i in progress(range(n), desc="making data", total=n):
        write_image(folder / "images" / f"{i:04d}.png", images[i])
        write_mask(folder / "truth" / f"{i:04d}.png", masks[i])


def command(args: argparse.Namespace) -> int:
    from .evaluate import print_evaluation
    from .run import RunSettings, execute

    folder = Path(args.out)
    _prepare(folder, args.overwrite, args.n)
    _write_data(folder, args.n, args.seed)
    unet = {**DEMO_UNET, "epochs": args.epochs}
    chain_text = "otsu,unet(" + ",".join(f"{k}={v}" for k, v in unet.items()) + ")"
    log.info("demo: %d synthetic images in %s; running %s", args.n, folder / "images", chain_text)
    settings = RunSettings(
        inputs=[str(folder / "images")],
        out=str(folder / "run"),
        stages=[("otsu", {}), ("unet", unet)],
        chain_text=chain_text,
        preset="fast",
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        save_proba=True,
        truth=str(folder / "truth"),
        overwrite=args.overwrite,  # DIR/run: only what an earlier demo's run wrote there is removed
        quiet=args.quiet,
        argv=getattr(args, "argv", None) or list(sys.argv),
        command_name="demo",
    )
    outcome = execute(settings)
    evaluation = outcome.evaluation
    print_evaluation(evaluation)
    first, last = evaluation.columns[0], evaluation.columns[-1]
    first_dsc, last_dsc = float(sum(first.dice) / first.n), float(sum(last.dice) / last.n)
    verdict = "better than" if last_dsc > first_dsc else "NOT better than"
    print(
        f"\nThe U-Net trained only on Otsu's masks scores DSC {last_dsc:.3f}, {verdict} Otsu itself "
        f"({first_dsc:.3f}, {last_dsc - first_dsc:+.3f}); no human label was used."
    )
    print(f"report:   {outcome.out / 'report.html'}")
    print(f"overlays: {outcome.out / 'overlays'}  (red: U-Net, blue: Otsu)")
    return 0
