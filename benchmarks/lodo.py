"""Leave-one-dataset-out for the first stage's rules and constants: is each default chosen without the data it is
scored on?

Each rule of the default first stage (``auto``) is a list of settings, the default first. A setting is a first
stage as ``bootseg run --chain`` names it, optionally followed by ``|`` and module constants to set for it
(``"auto | bootseg.annotators.channels.TEXTURE_WINDOW=11"``). Every setting is fitted on the images of every
dataset in ``../shared/data`` and scored against the true masks (read by the scoring only), as
``benchmarks/first_stage.py`` does. Then, for each rule and each dataset D, the setting with the highest mean DSC
over the *other* datasets is the one leave-one-dataset-out picks, and its DSC on D is the rule's held-out score
there. A rule earns its default when the held-out pick is the default on every fold (or, where the folds
disagree, when the default does no harm on the datasets the other settings won).

The table also shows the plain first stages (Otsu bright, Otsu dark, the paper's k-means; no post-processing) and
the best of them with hindsight: the floor the default must not fall below.

    python benchmarks/lodo.py --limit 60 --json /tmp/bootseg-lodo.json            # every rule
    python benchmarks/lodo.py --rules channel --datasets monuseg_he,ph2_dermoscopy
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_protocol import PLAIN_STAGES, dataset_pairs
from _quality_report import markdown_table, short_name
from first_stage import score as first_stage_score

from bootseg.io import read_image, read_mask
from bootseg.metrics import dice

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"

_CH = "bootseg.annotators.channels"
_BASE = "bootseg.annotators.base"
_CAND = "bootseg.annotators.candidates"
_KINDS = "bootseg.annotators.kinds"
_TWO = "bootseg.annotators.two_sided"

#: Each rule of the default first stage: its settings, the default first.
RULES: dict[str, list[str]] = {
    "AGREEMENT_FLOOR (a colour channel's evidence)": [
        "auto",
        f"auto | {_CAND}.AGREEMENT_FLOOR=0.0",
        f"auto | {_CAND}.AGREEMENT_FLOOR=0.75",
        "auto(channel=grey)",
    ],
    "per_object": ["auto", "auto(per_object=auto)"],
    "ridges": ["auto", "auto(ridges=false)"],
    "largest_component (one object)": ["auto", "auto(largest_component=false)"],
    "CENTRED_SHARE (one-object trigger)": [
        "auto",
        f"auto | {_BASE}.CENTRED_SHARE=0.5",
        f"auto | {_BASE}.CENTRED_SHARE=0.9",
    ],
    "neck": ["auto", "auto(neck=0)"],
    "FALLBACK_MARGIN (the plainest candidate kept when the best is close to it)": [
        "auto",
        f"auto | {_CAND}.FALLBACK_MARGIN=0.05",
        f"auto | {_CAND}.FALLBACK_MARGIN=0.1",
        f"auto | {_CAND}.FALLBACK_MARGIN=0.2",
    ],
    "fill_holes": ["auto", "auto(fill_holes=false)"],
    "kinds (a plan per kind of image)": [
        "auto",
        "auto(kinds=false)",
        f"auto | {_KINDS}.SEPARATION=4.0",
        f"auto | {_KINDS}.SEPARATION=12.0",
    ],
    "two_sided (texture where objects are brighter and darker than the background)": [
        "auto",
        f"auto | {_TWO}.SHARE=1.01",
        f"auto | {_TWO}.SHARE=0.1",
        f"auto | {_TWO}.SHARE=0.9",
        f"auto | {_TWO}.BALANCE=0.15",
        f"auto | {_TWO}.BALANCE=0.6",
        f"auto | {_TWO}.SIGMAS=2.0",
        f"auto | {_TWO}.SIGMAS=4.0",
    ],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--datasets", help="comma-separated dataset names (default: every folder under --data)")
    parser.add_argument("--rules", help="comma-separated rule names, or parts of them (default: every rule)")
    parser.add_argument("--limit", type=int, help="at most N images per dataset, evenly spaced (default: all)")
    parser.add_argument("--json", type=Path, help="cache of the scores: a run started again goes on where it stopped")
    return parser.parse_args(argv)


def _value(text: str) -> Any:
    import ast

    return ast.literal_eval(text.strip())


@contextmanager
def constants(assignments: str):
    """Set ``module.NAME=value`` constants (comma-free values, or tuples) for the block, then restore them."""
    saved = []
    try:
        for item in filter(None, (part.strip() for part in assignments.split(";"))):
            target, value = item.split("=", 1)
            module_name, attribute = target.strip().rsplit(".", 1)
            module = importlib.import_module(module_name)
            saved.append((module, attribute, getattr(module, attribute)))
            setattr(module, attribute, _value(value))
        yield
    finally:
        for module, attribute, old in reversed(saved):
            setattr(module, attribute, old)


def score(setting: str, images: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, Any]:
    """Mean DSC of one setting fitted on ``images`` (as the chain fits its first stage), its choices, seconds."""
    spec, _, assignments = setting.partition("|")
    with constants(assignments):
        mean, choices, seconds = first_stage_score(spec.strip(), images, truths)
    return {"dice": mean, "choices": _plain(choices), "seconds": round(seconds, 2)}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    return value


def evenly(items: list, limit: int | None) -> list:
    if limit is None or len(items) <= limit:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, limit).round().astype(int)]


def held_out(scores: dict[str, dict[str, float]], settings: list[str], datasets: list[str]) -> dict[str, str]:
    """For each dataset, the setting with the highest mean DSC over the other datasets (ties keep the earlier)."""
    picks = {}
    for left in datasets:
        others = [name for name in datasets if name != left]
        picks[left] = max(settings, key=lambda s: np.mean([scores[name][s] for name in others]))
    return picks


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.datasets.split(",") if args.datasets else sorted(p.name for p in args.data.iterdir() if p.is_dir())
    rules = {
        rule: settings
        for rule, settings in RULES.items()
        if not args.rules or any(part in rule for part in args.rules.split(","))
    }
    plain = [f"plain:{key}" for key in PLAIN_STAGES]
    wanted = list(dict.fromkeys([*plain, *(s for settings in rules.values() for s in settings)]))
    cache: dict[str, dict[str, Any]] = json.loads(args.json.read_text()) if args.json and args.json.exists() else {}
    for dataset in names:
        pairs = evenly(dataset_pairs(args.data / dataset), args.limit)
        images = [read_image(path) for _, path, _ in pairs]
        truths = [read_mask(path) > 0 for _, _, path in pairs]
        for setting in wanted:
            key = f"{dataset} :: {setting} :: {args.limit}"
            if key in cache:
                continue
            if setting.startswith("plain:"):
                stage = PLAIN_STAGES[setting[6:]][1]()
                dsc = [dice(stage.annotate(image), truth) for image, truth in zip(images, truths, strict=True)]
                cache[key] = {"dice": float(np.mean(dsc)), "choices": {}, "seconds": 0.0}
            else:
                cache[key] = score(setting, images, truths)
            print(f"{dataset} {setting}: {cache[key]['dice']:.4f} {cache[key]['choices']}", file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps(cache, indent=1))
    scores = {d: {s: cache[f"{d} :: {s} :: {args.limit}"]["dice"] for s in wanted} for d in names}
    short = [short_name(name, names) for name in names]
    best_plain = {d: max(scores[d][p] for p in plain) for d in names}
    print(f"First-stage mean DSC per dataset ({args.limit or 'all'} images each, evenly spaced).\n")
    print(
        markdown_table(
            ["setting", *short, "mean"],
            [
                [
                    "best plain (hindsight)",
                    *(f"{best_plain[d]:.3f}" for d in names),
                    f"{np.mean(list(best_plain.values())):.3f}",
                ],
                *(
                    [f"`{p}`", *(f"{scores[d][p]:.3f}" for d in names), f"{np.mean([scores[d][p] for d in names]):.3f}"]
                    for p in plain
                ),
            ],
        )
    )
    for rule, settings in rules.items():
        picks = held_out(scores, settings, names)
        rows = [
            [
                f"`{s.strip()}`" + (" (default)" if i == 0 else ""),
                *(f"{scores[d][s]:.3f}" for d in names),
                f"{np.mean([scores[d][s] for d in names]):.3f}",
            ]
            for i, s in enumerate(settings)
        ]
        lodo = [scores[d][picks[d]] for d in names]
        rows.append(["**left out: the pick's DSC**", *(f"{v:.3f}" for v in lodo), f"{np.mean(lodo):.3f}"])
        rows.append(["left out: the pick", *(str(settings.index(picks[d])) for d in names), ""])
        print(f"\n### {rule}\n")
        print(markdown_table(["setting", *short, "mean"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
