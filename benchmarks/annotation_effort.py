"""Annotation effort: how much k corrected masks lift every other mask, against training on k human masks.

Per dataset (at most ``--limit`` images, evenly spaced) and seed, the default chain (``auto,unet``, built as
``bootseg run`` builds it) runs on every image, transductively, as a user runs it:

* k = 0: no correction. Its confidence ranks the images (least confident first), as ``to-correct.txt`` does.
* (a) k corrections chosen least confident first, (b) k chosen at random (the seed's draw): the true masks of those
  images stand in for a person's corrections (``chain.run(..., corrections=...)``);
* (c) the chain's network trained on the k random images' true masks alone (the supervised alternative), with as
  many optimiser steps and as much patience as on every image;
* (d) U-Net(human): the same network trained on every image's true mask;
* with ``--select``, (s): the same network trained on the k least-confident corrections alone where they say it
  beats the chain: each corrected image scored by a network trained on the other fold's (two folds), against the
  chain's network on the same images, which it held out, at the level they chose; the larger by more than
  ``SELECT_MARGIN`` is taken (``--no-random`` leaves out (b));
* with ``--train``, (a) again with ``unet(corrections=train)``: the corrections are the network's trusted labels
  instead of its validation set (the default, where they also choose its ``confident`` level); ``--no-supervised``
  leaves out (b), (c) and (d), to compare the two uses of the corrections alone.

Every row keeps its per-image Dice, so that each is scored on the images *not* corrected (for (a), those not in
its own k). Results are written to ``--json`` after every row, and a run started again skips the rows there.

    python benchmarks/annotation_effort.py --datasets wbc_cellavision_brightfield --limit 60 --ks 0,1,5,20 --seeds 0 \\
        --json /tmp/effort.json
    python benchmarks/annotation_effort.py --analyse --json /tmp/effort.json [more.json ...] \\
        [--plot docs/images/annotation-effort.png]
    python benchmarks/annotation_effort.py --datasets livecell_phase --limit 60 --ks 5 --train --no-supervised \\
        --json /tmp/uses.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_protocol import Settings, _human_network, dataset_pairs

from bootseg.cli.execute import build_chain
from bootseg.confidence import confidence, judges_lines
from bootseg.corrections import spread_order
from bootseg.io import read_image, read_mask
from bootseg.metrics import dice

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


def evenly_spaced(pairs: list[Any], limit: int | None) -> list[Any]:
    """At most ``limit`` of ``pairs``, evenly spaced over the whole list (all of them without a limit)."""
    if limit is None or len(pairs) <= limit:
        return pairs
    return [pairs[i] for i in np.linspace(0, len(pairs) - 1, limit).round().astype(int)]


def _dice_list(masks: list[np.ndarray], truths: list[np.ndarray]) -> list[float]:
    return [float(dice(m, t)) for m, t in zip(masks, truths, strict=True)]


EPOCHS: int | None = None  # --epochs: fewer than the preset's, for a quick look only
TRAIN = "auto,unet(corrections=train)"  # --train: the corrections as trusted labels, not held out
#: --select: the network on the corrections alone is taken when its two-fold estimate beats the chain's by this.
SELECT_MARGIN = 0.02


def _chain(seed: int, chain: str = "auto,unet"):
    settings = Settings(chain, None, EPOCHS, None, None, "cpu", 2, None)
    chain, _, _ = build_chain(settings.run_settings(seed))
    return chain


def run_rows(
    folder: Path,
    seed: int,
    ks: list[int],
    limit: int | None,
    done: dict[str, Any],
    save,
    spread: bool = False,
    train: bool = False,
    supervised: bool = True,
    select: bool = False,
    random: bool = True,
) -> None:
    """Every row of one dataset and seed not already in ``done`` (a dict this function fills and saves)."""
    pairs = evenly_spaced(dataset_pairs(folder), limit)
    names = [name for name, _, _ in pairs]
    images = [read_image(path) for _, path, _ in pairs]
    truths = [read_mask(path) for _, _, path in pairs]
    done.setdefault("names", names)

    def row(key: str, make) -> dict[str, Any]:
        if key not in done:
            start = time.perf_counter()
            done[key] = {**make(), "seconds": time.perf_counter() - start}
            print(
                f"{folder.name} seed {seed} {key}: mean DSC {np.mean(done[key]['dice']):.3f} "
                f"({done[key]['seconds']:.0f} s)",
                flush=True,
            )
            save()
        return done[key]

    def chain_row(corrected: list[int], chain_text: str = "auto,unet") -> dict[str, Any]:
        chain = _chain(seed, chain_text)
        result = chain.run(images, names=names, corrections={names[i]: truths[i] for i in corrected} or None)
        final = list(result.stages.values())[-1]
        lines = judges_lines(final.masks)
        scores = [confidence(p, im, lines=lines) for p, im in zip(final.proba, images, strict=True)]
        choice = result.first_stage_choice
        held_out = getattr(final.stage, "choices", dict)().get("trusted", {}).get("confident")
        return {
            "confident": None if held_out is None else held_out["chosen"],
            "held_out_scores": None if held_out is None else held_out["scores"],
            "corrected": corrected,
            "dice": _dice_list(result.masks, truths),
            "first_dice": _dice_list(result.stages[0].masks, truths),
            "confidence": scores,
            "first_stage": None if choice is None else choice.to_dict(),
        }

    def trained_on(chosen: list[int]) -> Any:
        """The chain's network trained on the true masks of ``chosen`` alone, with as many steps as on every image."""
        network = _as_many_steps(_human_network(_chain(seed).stages[1]), len(chosen), len(images))
        network.fit([images[i] for i in chosen], [truths[i] for i in chosen])
        return network

    def supervised_row(chosen: list[int]) -> dict[str, Any]:
        return {"corrected": chosen, "dice": _dice_list(trained_on(chosen).predict(images), truths)}

    def select_row(corrected: list[int], chained: dict[str, Any]) -> dict[str, Any]:
        """(s): the network trained on the k corrections alone, or the chain with them, whichever the corrections
        say is better: the supervised network's Dice on each corrected image when trained on the other fold (two
        folds), against the chain's on the same images held out (its network at the level they chose)."""
        folds = [corrected[0::2], corrected[1::2]]
        estimate = []
        for train, test in ((folds[0], folds[1]), (folds[1], folds[0])):
            predicted = trained_on(train).predict([images[i] for i in test])
            estimate += _dice_list(predicted, [truths[i] for i in test])
        alone = supervised_row(corrected)["dice"]
        chain_estimate = chained["held_out_scores"][f"{chained['confident']:g}"]
        picked = "supervised" if float(np.mean(estimate)) > chain_estimate + SELECT_MARGIN else "chain"
        return {
            "corrected": corrected,
            "dice": alone if picked == "supervised" else chained["dice"],
            "picked": picked,
            "supervised_dice": alone,
            "supervised_estimate": float(np.mean(estimate)),
            "chain_estimate": chain_estimate,
        }

    none = row("k0", lambda: chain_row([]))
    if supervised:
        row("human", lambda: supervised_row(list(range(len(images)))))
    order = list(np.argsort(none["confidence"], kind="stable"))
    draw = list(np.random.default_rng(seed).permutation(len(images)))
    for k in ks:
        if k <= 0 or k >= len(images):
            continue
        chained = row(f"a{k}", lambda k=k: chain_row(sorted(int(i) for i in order[:k])))
        if select and k >= 2:
            row(f"s{k}", lambda k=k, chained=chained: select_row(sorted(int(i) for i in order[:k]), chained))
        if train:  # (a) with the corrections as the network's trusted labels
            row(f"t{k}", lambda k=k: chain_row(sorted(int(i) for i in order[:k]), TRAIN))
        if not supervised:
            continue
        if random:
            row(f"b{k}", lambda k=k: chain_row(sorted(int(i) for i in draw[:k])))
        row(f"c{k}", lambda k=k: supervised_row(sorted(int(i) for i in draw[:k])))
        if spread:  # (a'): the least confident of each kind of image first
            row(f"d{k}", lambda k=k: chain_row(sorted(spread_order(images, none["confidence"])[:k])))


def _as_many_steps(network: Any, k: int, n: int) -> Any:
    """The network to train on ``k`` images with as many optimiser steps (and as much patience) as on ``n``: a user
    who trains on a few masks trains until the network has converged, not for the epochs of a large set."""
    import math

    cfg = network.config
    steps = lambda count: math.ceil(max(1, count - round(cfg.val_fraction * count)) / cfg.batch_size)  # noqa: E731
    factor = steps(n) / steps(k)
    if factor <= 1:
        return network
    options = {**cfg.to_dict(), "epochs": math.ceil(cfg.epochs * factor)}
    if cfg.patience is not None:
        options["patience"] = math.ceil(cfg.patience * factor)
    return type(network)(preset=None, **options)


def _mean_without(values: list[float], left_out: list[int]) -> float:
    skip = set(left_out)
    return float(np.mean([v for i, v in enumerate(values) if i not in skip]))


def _shown(row: dict[str, Any] | None) -> str:
    """A row's mean Dice over the images it did not correct, or "–" for a row not run."""
    return "–" if row is None else f"{_mean_without(row['dice'], row['corrected']):.3f}"


def analyse(results: dict[str, Any], plot: Path | None) -> str:
    """The markdown tables of the saved results (and the plot when asked); a row not run shows as "–"."""
    lines = [
        "| dataset | seed | images | k | no correction | (a) first stage | (a) least confident "
        "| (a) trained on them | (a') spread over kinds | (b) random | (c) k human masks alone "
        "| U-Net(human) | gap closed by (a) | first stage chosen by (a) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    curves: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for key in sorted(results):
        dataset, seed = key.rsplit(":", 1)
        rows = results[key]
        if "k0" not in rows:
            continue
        ks = sorted(int(name[1:]) for name in rows if name.startswith("a") and name[1:].isdigit())
        n = len(rows["names"])
        for k in ks:
            a = rows[f"a{k}"]
            base = _mean_without(rows["k0"]["dice"], a["corrected"])
            got = _mean_without(a["dice"], a["corrected"])
            first = _mean_without(a["first_dice"], a["corrected"])
            human = _mean_without(rows["human"]["dice"], a["corrected"]) if "human" in rows else None
            closed = _gap_closed(base, got, human)
            chosen = (a.get("first_stage") or {}).get("chosen", "-")
            level = a.get("confident")  # the confident level the held-out corrections chose
            lines.append(
                f"| {dataset} | {seed} | {n} | {k} | {base:.3f} | {first:.3f} | "
                f"{got:.3f}{'' if level is None else f' (c = {level:g})'} | {_shown(rows.get(f't{k}'))} | "
                f"{_shown(rows.get(f'd{k}'))} | {_shown(rows.get(f'b{k}'))} | {_shown(rows.get(f'c{k}'))} | "
                f"{'–' if human is None else f'{human:.3f}'} | {closed} | `{chosen}` |"
            )
            if any(f"{x}{k}" not in rows for x in "bc") or human is None:
                continue
            curve = curves.setdefault(dataset, {"a": [], "b": [], "c": []})
            for x in "abc":
                row = rows[f"{x}{k}"]
                curve[x].append((k, _mean_without(row["dice"], row["corrected"])))
        if "human" not in rows:
            continue
        curve = curves.setdefault(dataset, {"a": [], "b": [], "c": []})
        for x in "ab":
            curve[x].insert(0, (0, float(np.mean(rows["k0"]["dice"]))))
        curve["human"] = [(n, float(np.mean(rows["human"]["dice"])))]
    if plot is not None and curves:
        _plot({name: curve for name, curve in curves.items() if len(curve["c"])}, plot)
    lines += _selection_table(results)
    lines += ["", "| dataset | bootseg + 5 corrections | human masks the network alone needs to match it | minutes |"]
    lines.append("|---|---|---|---|")
    for dataset, curve in sorted(curves.items()):
        target = dict(curve["a"]).get(5)
        if target is None:
            continue
        minutes = (
            sum(
                row.get("seconds", 0.0)
                for key, rows in results.items()
                if key.startswith(f"{dataset}:")
                for row in rows.values()
                if isinstance(row, dict)
            )
            / 60
        )
        lines.append(f"| {dataset} | {target:.3f} | {_needed(curve, target)} | {minutes:.0f} |")
    return "\n".join(lines)


def _gap_closed(base: float, got: float, human: float | None) -> str:
    """The share of the gap from ``base`` (no correction) to U-Net(human) that ``got`` closed, where it is at least
    0.03; "–" without U-Net(human)."""
    if human is None:
        return "–"
    gap = human - base
    return f"{(got - base) / gap:.2f}" if gap >= 0.03 else f"(gap {gap:.3f} < 0.03)"


def _selection_table(results: dict[str, Any]) -> list[str]:
    """The (s) rows: both estimates on the corrected images, the pick, and each candidate on the other images."""
    lines = [
        "",
        "| dataset | seed | k | no correction | (a) chain + k corrections | network on the k alone "
        "| estimate: chain / network alone | picked | (s) | (c) k random human masks alone | U-Net(human) "
        "| gap closed by (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    found = False
    for key in sorted(results):
        dataset, seed = key.rsplit(":", 1)
        rows = results[key]
        for name in sorted(n for n in rows if n.startswith("s") and n[1:].isdigit()):
            found = True
            k, sel = int(name[1:]), rows[name]
            left = sel["corrected"]
            base = _mean_without(rows["k0"]["dice"], left)
            got = _mean_without(sel["dice"], left)
            human = _mean_without(rows["human"]["dice"], left) if "human" in rows else None
            closed = _gap_closed(base, got, human)
            lines.append(
                f"| {dataset} | {seed} | {k} | {base:.3f} | {_shown(rows[f'a{k}'])} | "
                f"{_mean_without(sel['supervised_dice'], left):.3f} | "
                f"{sel['chain_estimate']:.3f} / {sel['supervised_estimate']:.3f} | {sel['picked']} | **{got:.3f}** | "
                f"{_shown(rows.get(f'c{k}'))} | {'–' if human is None else f'{human:.3f}'} | {closed} |"
            )
    return lines if found else []


def _needed(curve: dict[str, list[tuple[int, float]]], target: float) -> str:
    """How many human masks the network trained on them alone needs to reach ``target``, as a range of the k
    measured (the last point: every image's mask)."""
    points = sorted([*curve["c"], *curve["human"]])
    below = 0
    for k, value in points:
        if value >= target:
            return f"{below + 1}–{k}" if below + 1 < k else f"{k}"
        below = k
    return f"more than {points[-1][0]} (all: {points[-1][1]:.3f})"


def _plot(curves: dict[str, dict[str, list[tuple[int, float]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(curves)
    columns = min(4, count)
    rows = -(-count // columns)
    fig, grid = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    axes = [list(grid.ravel())]
    for ax in axes[0][count:]:
        ax.set_visible(False)
    names = {
        "a": "bootseg + k corrections (least confident)",
        "b": "bootseg + k corrections (random)",
        "c": "network on k human masks alone",
    }
    for ax, (dataset, curve) in zip(axes[0][:count], sorted(curves.items()), strict=True):
        for key, style in (("a", "o-"), ("b", "s--"), ("c", "^:")):
            points = sorted(curve[key])
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], style, label=names[key])
        human = curve["human"][0][1]
        ax.axhline(human, color="grey", lw=1, label="U-Net(human), all masks")
        ax.set_title(dataset, fontsize=8)
        ax.set_xlabel("k corrected / human masks")
        ax.set_ylabel("mean Dice")
        ax.set_ylim(0, 1)
    axes[0][0].legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: all in --data)")
    parser.add_argument("--limit", type=int, default=100, help="at most this many images per dataset")
    parser.add_argument("--ks", default="0,1,5,20")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--json", type=Path, nargs="+", required=True, help="with --analyse: one or more")
    parser.add_argument("--epochs", type=int, default=None, help="the networks' epochs (default: the preset's)")
    parser.add_argument("--analyse", action="store_true", help="print the tables of --json; run nothing")
    parser.add_argument("--spread", action="store_true", help="also (a'): k corrections spread over kinds of image")
    parser.add_argument("--plot", type=Path, default=None, help="with --analyse: write the curves as a PNG")
    parser.add_argument(
        "--train", action="store_true", help=f"also (a) with the corrections trained on: --chain '{TRAIN}'"
    )
    parser.add_argument(
        "--no-supervised", action="store_true", help="only the chain's rows: no (b), (c) nor U-Net(human)"
    )
    parser.add_argument(
        "--select",
        action="store_true",
        help="also (s): the network trained on the k corrections alone where a two-fold estimate on them says it "
        "beats the chain by more than 0.02, else the chain",
    )
    parser.add_argument("--no-random", action="store_true", help="leave out (b), the k random corrections")
    args = parser.parse_args(argv)
    if args.analyse:
        merged: dict[str, Any] = {}
        for path in args.json:
            merged.update(json.loads(path.read_text()))
        print(analyse(merged, args.plot))
        return 0
    if len(args.json) != 1:
        parser.error("give one --json file to run into")
    target = args.json[0]
    results = json.loads(target.read_text()) if target.exists() else {}
    datasets = args.datasets.split(",") if args.datasets else sorted(p.name for p in args.data.iterdir() if p.is_dir())
    ks = [int(k) for k in args.ks.split(",")]
    global EPOCHS
    EPOCHS = args.epochs

    def save() -> None:
        target.write_text(json.dumps(results))

    start = time.perf_counter()
    for seed in (int(s) for s in args.seeds.split(",")):
        for dataset in datasets:
            done = results.setdefault(f"{dataset}:{seed}", {})
            run_rows(
                args.data / dataset,
                seed,
                ks,
                args.limit,
                done,
                save,
                args.spread,
                args.train,
                not args.no_supervised,
                args.select,
                not args.no_random,
            )
    print(f"done in {time.perf_counter() - start:.0f} s")
    print(analyse(results, None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
