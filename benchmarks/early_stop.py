"""Fixed epochs against a stopping rule: mean DSC and training time of the default chain on every real dataset.

For every dataset in ``../shared/data`` the chain of ``bootseg run`` (``auto,unet`` unless ``--chain``; built by
:func:`bootseg.cli.execute.build_chain` exactly as the command builds it) runs once, transductively: the network
trains on every image's first-stage mask and predicts the same images, which are then scored against the true
masks (only the scoring reads them). Training runs every epoch of the preset while the validation curve, each
epoch's wall time and the weights of every new lowest validation loss are recorded. Training is seeded and
repeatable, so a run that a stopping rule ends after epoch E is this run's first E epochs, with the weights of
the lowest validation loss among them: replaying the rule on the recorded curve gives its DSC and time without
training again (the weights it would keep are scored by predicting with them).

The rule's constants are chosen by leave-one-dataset-out: for each dataset, a rule of the grid is chosen on the
nine others (:func:`choose`: DSC within ``--tolerance`` of the fixed epochs on average and ``--worst`` on any one,
then the plainest of those within 10 % of the fewest epochs) and scored on the dataset left out.

With ``--budgets`` the same recordings answer another question: how many epochs at most (``BUDGETS``, with the
preset's patience) the default chain needs. Each budget is replayed as above and scored twice: the chain's masks
(the network's where it is sure, its first stage's elsewhere: :func:`bootseg.stagework.network_masks`) and the
network's own masks (what ``bootseg predict`` gives on new images). The budget is chosen leave-one-dataset-out
(:func:`choose_budget`: the fewest epochs within ``--tolerance`` on average and ``--worst`` on each dataset, over
the mean of each dataset's seeds). ``--seeds`` records several seeds; ``--even`` takes ``--limit`` images evenly
spaced by name; ``--json`` may be a pattern (``'/tmp/es_*.json'``) to analyse the files of parallel processes.

    python benchmarks/early_stop.py --limit 60 --even --seeds 0,1,2 --epochs 75 --budgets --json /tmp/es_a.json
    python benchmarks/early_stop.py --seeds 0,1,2 --json '/tmp/es_*.json' --analyse --budgets
    python benchmarks/early_stop.py --limit 70 --epochs 75 --json /tmp/early_stop.json   # record (resumable)
    python benchmarks/early_stop.py --json /tmp/early_stop.json --analyse --write     # table into the docs
    python benchmarks/early_stop.py --smoke                                          # plumbing only
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_protocol import Settings, dataset_pairs

import bootseg.refiners.training as training
from bootseg.cli.execute import build_chain
from bootseg.cli.run import DEFAULT_CHAIN
from bootseg.io import atomic_write, read_image, read_mask
from bootseg.metrics import dice
from bootseg.refiners.config import PRESETS
from bootseg.refiners.stopping import stop_epoch
from bootseg.stagework import network_masks
from bootseg.thickness import evenly_spaced

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- early-stop:begin -->", "<!-- early-stop:end -->"

#: The grid the constants are chosen from.
PATIENCE = (5, 8, 10, 15, 20)
MIN_DELTA = (0.0, 0.005, 0.01, 0.02)
MIN_EPOCHS = (10, 20, 30)
#: The epoch budgets (``epochs``, with the preset's patience) the ``--budgets`` table replays.
BUDGETS = (10, 15, 20, 25, 30, 40, 50, 60, 75)
#: The ``fast`` preset's patience, which the budgets keep.
DEFAULT_PATIENCE = PRESETS["fast"]["patience"]


class _Recorder:
    """Stands in for :class:`bootseg.refiners.stopping.EarlyStopping`: never stops, records the curve, the time of
    every epoch and the weights of every new lowest validation loss."""

    current: Any = None  # the model being trained, set by the patched train_network

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.losses: list[float] = []
        self.times: list[float] = []
        self.snapshots: dict[int, dict[str, Any]] = {}
        self.reason = None
        self.last = time.perf_counter()
        _Recorder.latest = self

    def update(self, val_loss: float) -> bool:
        now = time.perf_counter()
        self.times.append(now - self.last)
        if not self.losses or val_loss < min(self.losses):
            state = _Recorder.current.state_dict()
            self.snapshots[len(self.losses) + 1] = {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
        self.losses.append(float(val_loss))
        self.last = time.perf_counter()
        return False


def _patch() -> None:
    original = training.train_network

    def train_network(model, *args, **kwargs):
        _Recorder.current = model
        return original(model, *args, **kwargs)

    training.train_network = train_network
    training.EarlyStopping = _Recorder


def best_epoch(losses: list[float], stop: int) -> int:
    """The epoch (from 1) of the lowest loss among the first ``stop``, the earliest on ties (as the loop keeps)."""
    return int(np.argmin(losses[:stop])) + 1


def record(folder: Path, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    pairs = dataset_pairs(folder)
    pairs = evenly_spaced(pairs, args.limit) if args.even and args.limit else pairs[: args.limit]
    images = [read_image(path) for _, path, _ in pairs]
    truths = [read_mask(path) for _, _, path in pairs]
    settings = Settings(args.chain, None, args.epochs, args.size, args.base_channels, "cpu", 2, args.limit)
    chain, _, _ = build_chain(settings.run_settings(seed))
    start = time.perf_counter()
    result = chain.run(images, names=[name for name, _, _ in pairs])
    total = time.perf_counter() - start
    rec = _Recorder.latest
    stage = result.stages[1].stage
    teacher = result.stages[0].masks
    report = stage.report
    first = [dice(m, t) for m, t in zip(teacher, truths, strict=True)]
    fixed = [dice(m, t) for m, t in zip(result.stages[1].masks, truths, strict=True)]
    needed = sorted({best_epoch(rec.losses, e) for e in range(1, len(rec.losses) + 1)})
    scored: dict[str, float] = {}
    alone: dict[str, float] = {}
    predict_seconds = []
    for epoch in needed:
        stage.model.load_state_dict(rec.snapshots[epoch])
        begin = time.perf_counter()
        proba = stage.predict_proba(images)
        predict_seconds.append(time.perf_counter() - begin)
        masks = [network_masks(stage, p, m) for p, m in zip(proba, teacher, strict=True)]
        scored[str(epoch)] = float(np.mean([dice(m, t) for m, t in zip(masks, truths, strict=True)]))
        bare = [p > stage.config.threshold for p in proba]
        alone[str(epoch)] = float(np.mean([dice(m, t) for m, t in zip(bare, truths, strict=True)]))
    check = scored[str(best_epoch(rec.losses, len(rec.losses)))]
    if abs(check - float(np.mean(fixed))) > 1e-6:
        raise RuntimeError(f"{folder.name}: the replayed best weights give DSC {check}, the run {np.mean(fixed)}")
    return {
        "dataset": folder.name,
        "seed": seed,
        "images": len(images),
        "threads": torch.get_num_threads(),
        "size": stage.config.size,
        "losses": rec.losses,
        "epoch_seconds": rec.times,
        "dice_at_best": scored,
        "alone_at_best": alone,
        "first_stage_dice": float(np.mean(first)),
        "fixed_dice": float(np.mean(fixed)),
        "train_seconds": report.seconds,
        "chain_seconds": total,
        "predict_seconds": float(np.median(predict_seconds)),
    }


def replay(
    run: dict[str, Any], rule: tuple[int, float, int] | None, budget: int | None = None, key: str = "dice_at_best"
) -> tuple[float, int, float]:
    """(mean DSC, epochs trained, estimated chain seconds) of ``run`` under ``rule`` (None: every epoch), training
    at most ``budget`` epochs; ``key`` picks the masks scored (the chain's, or the network's alone)."""
    losses = run["losses"][:budget] if budget else run["losses"]
    stop = len(losses) if rule is None else stop_epoch(losses, rule[0], min_delta=rule[1], min_epochs=rule[2])
    score = run[key][str(best_epoch(losses, stop))]
    seconds = run["chain_seconds"] - run["train_seconds"] + float(np.median(run["epoch_seconds"])) * stop
    return score, stop, seconds


def choose(runs: list[dict[str, Any]], tolerance: float, worst: float, slack: float = 0.1) -> tuple[int, float, int]:
    """A rule of the grid whose DSC over ``runs`` stays within the bounds of the fixed run: the plainest (no
    ``min_delta``, then the lowest ``min_epochs``, then the largest patience) among those that train at most
    ``1 + slack`` times the epochs of the cheapest; the most patient rule when none stays within the bounds."""
    feasible = []
    for rule in itertools.product(PATIENCE, MIN_DELTA, MIN_EPOCHS):
        replays = [replay(run, rule) for run in runs]
        drops = [run["fixed_dice"] - score for run, (score, _, _) in zip(runs, replays, strict=True)]
        if np.mean(drops) <= tolerance and max(drops) <= worst:
            feasible.append((sum(epochs for _, epochs, _ in replays), rule))
    if not feasible:
        return (max(PATIENCE), 0.0, max(MIN_EPOCHS))
    cheapest = min(epochs for epochs, _ in feasible)
    near = [rule for epochs, rule in feasible if epochs <= (1 + slack) * cheapest]
    return min(near, key=lambda rule: (rule[1] > 0, rule[2], rule[1], -rule[0]))


def _rule_text(rule: tuple[int, float, int]) -> str:
    return f"patience {rule[0]}, min_delta {rule[1]:g}, min_epochs {rule[2]}"


def analyse(runs: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    lines = [
        f"`{command}`",
        "",
        f"| dataset | images | first stage DSC | {len(runs[0]['losses'])} epochs: DSC | s | rule chosen without it: "
        "DSC | epochs | s | time ratio | rule chosen without it |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    held = []
    for run in runs:
        others = [r for r in runs if r is not run]
        rule = choose(others, args.tolerance, args.worst)
        fixed = replay(run, None)
        stopped = replay(run, rule)
        held.append((fixed, stopped))
        lines.append(
            f"| {run['dataset']} | {run['images']} | {run['first_stage_dice']:.3f} | {fixed[0]:.3f} | {fixed[2]:.0f} "
            f"| {stopped[0]:.3f} | {stopped[1]} | {stopped[2]:.0f} | {stopped[2] / fixed[2]:.2f} | {_rule_text(rule)} |"
        )
    final = choose(runs, args.tolerance, args.worst)
    mean_fixed = np.mean([f[0] for f, _ in held])
    mean_stop = np.mean([s[0] for _, s in held])
    ratio = sum(s[2] for _, s in held) / sum(f[2] for f, _ in held)
    lines += [
        f"| **mean** | | | **{mean_fixed:.3f}** | | **{mean_stop:.3f}** | "
        f"{np.mean([s[1] for _, s in held]):.0f} | | **{ratio:.2f}** | |",
        "",
        f"Chosen on all datasets: {_rule_text(final)}. On the recorded curves it stops after "
        + ", ".join(f"{run['dataset']} {replay(run, final)[1]}" for run in runs)
        + " epochs.",
    ]
    return "\n".join(lines)


def _mean_replay(runs: list[dict[str, Any]], budget: int | None, key: str = "dice_at_best") -> tuple[float, float]:
    """Mean DSC and summed estimated seconds of ``runs`` (one dataset's seeds) under the preset's patience and
    ``budget`` epochs at most."""
    replays = [replay(run, (DEFAULT_PATIENCE, 0.0, 0), budget, key) for run in runs]
    return float(np.mean([score for score, _, _ in replays])), float(sum(seconds for _, _, seconds in replays))


def choose_budget(groups: dict[str, list[dict[str, Any]]], tolerance: float, worst: float) -> int:
    """The fewest epochs of :data:`BUDGETS` whose chain DSC over ``groups`` stays within ``tolerance`` of every
    epoch on average and within ``worst`` on each dataset (the largest budget when none does)."""
    for budget in BUDGETS:
        drops = [_mean_replay(runs, None)[0] - _mean_replay(runs, budget)[0] for runs in groups.values()]
        if np.mean(drops) <= tolerance and max(drops) <= worst:
            return budget
    return max(BUDGETS)


def analyse_budgets(runs: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    """The ``--budgets`` tables: per dataset (mean over its seeds) the first stage, the network alone and the chain
    at each epoch budget, and the budget chosen without the dataset with its DSC and time ratio; then, for every
    budget, the chain's and the network's DSC change against every epoch and the time ratio over all datasets."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(run["dataset"], []).append(run)
    budgets = (*BUDGETS, None)
    # (chain DSC, seconds) and the network's own DSC of every dataset at every budget (None: every epoch).
    chain = {name: {b: _mean_replay(group, b) for b in budgets} for name, group in groups.items()}
    alone = {name: {b: _mean_replay(group, b, "alone_at_best")[0] for b in budgets} for name, group in groups.items()}
    shown = (10, 20, 30, 40, 50)
    lines = [
        f"`{command}` (seeds {', '.join(str(seed) for seed in sorted({run['seed'] for run in runs}))})",
        "",
        "| dataset | first stage | "
        + " | ".join(f"{b} ep.: alone / chain" for b in shown)
        + f" | {len(runs[0]['losses'])} ep.: alone / chain | budget chosen without it | chain DSC | Δ "
        "| network alone Δ | time ratio |",
        "|---|---|" + "---|" * (len(shown) + 6),
    ]
    held = []
    for name, group in groups.items():
        budget = choose_budget({other: g for other, g in groups.items() if other != name}, args.tolerance, args.worst)
        (full, full_s), (cut, cut_s) = chain[name][None], chain[name][budget]
        held.append((full, cut, full_s, cut_s, alone[name][budget] - alone[name][None]))
        cells = [f"{alone[name][b]:.3f} / {chain[name][b][0]:.3f}" for b in (*shown, None)]
        first = np.mean([run["first_stage_dice"] for run in group])
        lines.append(
            f"| {name} | {first:.3f} | " + " | ".join(cells) + f" | {budget} | "
            f"{cut:.3f} | {cut - full:+.3f} | {held[-1][4]:+.3f} | {cut_s / full_s:.2f} |"
        )
    means = [
        f"{np.mean([alone[n][b] for n in groups]):.3f} / {np.mean([chain[n][b][0] for n in groups]):.3f}"
        for b in (*shown, None)
    ]
    lines += [
        f"| **mean** | {np.mean([np.mean([r['first_stage_dice'] for r in g]) for g in groups.values()]):.3f} | "
        + " | ".join(means)
        + f" | | **{np.mean([h[1] for h in held]):.3f}** | {np.mean([h[1] - h[0] for h in held]):+.3f} | "
        f"{np.mean([h[4] for h in held]):+.3f} | **{sum(h[3] for h in held) / sum(h[2] for h in held):.2f}** |",
        "",
        f"Chosen on all datasets: {choose_budget(groups, args.tolerance, args.worst)} epochs.",
        "",
        "| budget | chain Δ: mean | chain Δ: worst | network alone Δ: mean | network alone Δ: worst | time ratio |",
        "|---|---|---|---|---|---|",
    ]
    for b in BUDGETS:
        drops = [chain[n][b][0] - chain[n][None][0] for n in groups]
        own = [alone[n][b] - alone[n][None] for n in groups]
        ratio = sum(chain[n][b][1] for n in groups) / sum(chain[n][None][1] for n in groups)
        lines.append(
            f"| {b} | {np.mean(drops):+.3f} | {min(drops):+.3f} | {np.mean(own):+.3f} | {min(own):+.3f} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def write_doc(text: str, doc: Path) -> None:
    content = doc.read_text()
    if BEGIN in content:
        head, rest = content.split(BEGIN, 1)
        content = head + BEGIN + "\n" + text + "\n" + END + rest.split(END, 1)[1]
    else:
        content = content.rstrip("\n") + "\n\n" + BEGIN + "\n" + text + "\n" + END + "\n"
    with atomic_write(doc, "w") as handle:
        handle.write(content)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--datasets", help="comma-separated dataset names (default: every folder under --data)")
    parser.add_argument("--limit", type=int, help="only the first N images of each dataset (by name)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    parser.add_argument("--even", action="store_true", help="--limit images evenly spaced by name, not the first")
    parser.add_argument("--budgets", action="store_true", help="analyse epoch budgets, not stopping rules")
    parser.add_argument("--chain", default=DEFAULT_CHAIN)
    parser.add_argument("--epochs", type=int, help="as bootseg run --epochs (default: the preset's)")
    parser.add_argument("--size", type=int)
    parser.add_argument("--base-channels", type=int)
    parser.add_argument("--threads", type=int, default=1, help="torch threads while recording (default: 1)")
    parser.add_argument("--json", type=Path, default=Path("/tmp/bootseg-early-stop.json"))
    parser.add_argument("--analyse", action="store_true", help="only replay the rules on the recorded runs")
    parser.add_argument("--tolerance", type=float, default=0.002, help="largest mean DSC drop allowed")
    parser.add_argument("--worst", type=float, default=0.01, help="largest DSC drop allowed on any one dataset")
    parser.add_argument("--write", action="store_true", help="put the table into docs/benchmarks.md")
    parser.add_argument("--smoke", action="store_true", help="8 images, 24 epochs, a 32-px base-4 U-Net")
    args = parser.parse_args(argv)
    if args.smoke:
        args.limit, args.epochs, args.size, args.base_channels = 8, 24, 32, 4
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.datasets.split(",") if args.datasets else None
    folders = sorted(p for p in args.data.iterdir() if p.is_dir() and (names is None or p.name in names))
    seeds = [int(seed) for seed in args.seeds.split(",")]
    cache: dict[str, Any] = {}
    for path in args.json.parent.glob(args.json.name):
        cache.update(json.loads(path.read_text()))
    if not args.analyse:
        _patch()
        for seed in seeds:
            for folder in folders:
                key = f"{folder.name}@{seed}"
                if key in cache:
                    continue
                begin = time.perf_counter()
                cache[key] = record(folder, args, seed)
                with atomic_write(args.json, "w") as handle:
                    json.dump(cache, handle)
                print(f"{key}: {time.perf_counter() - begin:.0f} s", flush=True)
    runs = [cache[f"{f.name}@{seed}"] for seed in seeds for f in folders if f"{f.name}@{seed}" in cache]
    command = "python benchmarks/early_stop.py " + " ".join(argv if argv is not None else sys.argv[1:])
    table = analyse_budgets(runs, args, command) if args.budgets else analyse(runs, args, command)
    print(table)
    if args.write:
        write_doc(table, DEFAULT_DOC)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
