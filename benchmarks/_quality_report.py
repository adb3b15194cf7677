"""Tables of the quality benchmark: per-dataset Table-1 layout, the summary with the gap closed and the confidence ρ."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from _quality_protocol import PLAIN_STAGES, combined_confidence

__all__ = ["DatasetSummary", "markdown_table", "summarize_dataset"]

#: A chain this close to U-Net(human) in mean DSC closes the gap, whatever the ratio says.
WITHIN = 0.02

METRICS = (("dice", "DSC"), ("iou", "IoU"), ("accuracy", "PA"))


@dataclass
class RowSummary:
    """One row over seeds: per-image mean and std of each metric (both averaged over seeds), seconds per seed."""

    key: str
    label: str
    images: int
    mean: dict[str, float]
    std: dict[str, float]
    seed_means: list[float]
    seconds: float

    @property
    def dice(self) -> float:
        return self.mean["dice"]


@dataclass
class DatasetSummary:
    """Everything the tables show for one dataset."""

    dataset: str
    seeds: list[int]
    images: int
    folds: int
    rows: dict[str, RowSummary]
    rho: list[float]
    minutes: float
    device: str
    first_stage: str
    training: list[dict[str, Any]] = field(default_factory=list)
    #: The confidence's form per seed (``objects``, ``lines``; ``objects (no form kept)`` for older caches).
    forms: list[str] = field(default_factory=list)
    #: Mean DSC of the mask that labels every pixel foreground (``all_foreground_dice``), when known.
    all_foreground: float | None = None

    @property
    def baseline(self) -> RowSummary:
        """The best plain first stage by mean DSC, chosen with hindsight."""
        return max((self.rows[key] for key in PLAIN_STAGES if key in self.rows), key=lambda row: row.dice)

    def gap(self, key: str) -> float | None:
        """``(row − baseline) / (U-Net(human) − baseline)`` in mean DSC; None without a positive denominator."""
        if key not in self.rows or "human" not in self.rows:
            return None
        room = self.rows["human"].dice - self.baseline.dice
        return None if room <= 1e-9 else (self.rows[key].dice - self.baseline.dice) / room

    def within(self, key: str) -> bool:
        return key in self.rows and "human" in self.rows and self.rows["human"].dice - self.rows[key].dice <= WITHIN


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y).statistic)


def _rho(result: dict[str, Any]) -> float:
    """Spearman ρ between the transductive chain's confidence and its true per-image DSC, for one seed.

    Where the run kept the confidence's factors per image, the score is combined from them by this version's
    :func:`bootseg.confidence.combine`, so a cache made before the formula last changed is scored as it is now.
    """
    conf = result.get("confidence")
    row = result["rows"].get("transductive")
    if not conf or row is None:
        return math.nan
    dsc = dict(zip(row["names"], row["dice"], strict=True))
    values = combined_confidence(result.get("candidates") or {}) or conf["values"]  # both in conf["names"] order
    return _spearman(values, [dsc[name] for name in conf["names"]])


def _form(result: dict[str, Any]) -> str:
    """The form the run's confidence was judged in (:func:`bootseg.confidence.judges_lines`)."""
    lines = (result.get("candidates") or {}).get("lines")
    return "objects (no form kept)" if lines is None else ("lines" if lines else "objects")


def _row(key: str, per_seed: list[dict[str, Any]]) -> RowSummary:
    mean = {m: float(np.mean([np.mean(r[m]) for r in per_seed])) for m, _ in METRICS}
    std = {m: float(np.mean([np.std(r[m]) for r in per_seed])) for m, _ in METRICS}
    return RowSummary(
        key=key,
        label=per_seed[0]["label"],
        images=len(per_seed[0]["names"]),
        mean=mean,
        std=std,
        seed_means=[float(np.mean(r["dice"])) for r in per_seed],
        seconds=float(np.mean([r["seconds"] for r in per_seed])),
    )


def summarize_dataset(results: list[dict[str, Any]]) -> DatasetSummary:
    """Combine the (dataset, seed) results of one dataset."""
    results = sorted(results, key=lambda r: r["seed"])
    keys = [key for key in results[0]["rows"] if all(key in r["rows"] for r in results)]
    order = [*PLAIN_STAGES, "chain-0", *(k for k in keys if k.startswith("chain-") and k != "chain-0"), "chain"]
    order += ["human", "transductive"]
    rows = {key: _row(key, [r["rows"][key] for r in results]) for key in order if key in keys}
    return DatasetSummary(
        dataset=results[0]["dataset"],
        seeds=[r["seed"] for r in results],
        images=len(results[0]["names"]),
        folds=len(results[0]["folds"]),
        rows=rows,
        rho=[_rho(r) for r in results],
        forms=[_form(r) for r in results],
        minutes=sum(r["seconds"] for r in results) / 60.0,
        device=results[0].get("device", "?"),
        first_stage=results[0].get("chain", {}).get("first", "?"),
        training=[t for r in results for t in r.get("training", [])],
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def _pm(mean: float, std: float) -> str:
    return f"{mean:.3f} ± {std:.3f}"


def _over_seeds(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.3f} (1 seed)"
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def dataset_table(summary: DatasetSummary) -> str:
    """The paper's Table 1 for one dataset: one row per method, per-image mean ± std DSC, IoU and PA."""
    header = ["row", *(name for _, name in METRICS), "DSC over seeds", "s per seed"]
    rows = []
    for row in summary.rows.values():
        cells = [_pm(row.mean[m], row.std[m]) for m, _ in METRICS]
        marker = " **(baseline)**" if row is summary.baseline else ""
        rows.append([row.label + marker, *cells, _over_seeds(row.seed_means), f"{row.seconds:.1f}"])
    seeds = ",".join(map(str, summary.seeds))
    title = (
        f"**{summary.dataset}**: {summary.images} images, {summary.folds} folds, seeds {seeds}; "
        f"chain's first stage `{summary.first_stage}`"
    )
    return f"{title}\n\n{markdown_table(header, rows)}"


def _gap_text(summary: DatasetSummary, key: str) -> str:
    if key not in summary.rows or "human" not in summary.rows:
        return "-"
    gap = summary.gap(key)
    if gap is None:
        return "n/a: U-Net(human) ≤ baseline"
    return f"{gap:.2f} (within {WITHIN})" if summary.within(key) else f"{gap:.2f}"


def _rho_text(values: list[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "n/a"
    if len(values) == 1:
        return f"{finite[0]:.2f}"
    return f"{np.mean(finite):.2f} (min {min(finite):.2f})"


def _dice(summary: DatasetSummary, key: str) -> str:
    return f"{summary.rows[key].dice:.3f}" if key in summary.rows else "-"


def summary_table(summaries: list[DatasetSummary]) -> str:
    header = [
        "dataset",
        "baseline",
        "baseline DSC",
        "chain DSC, inductive",
        "chain DSC, transductive",
        "U-Net(human) DSC",
        "all-foreground DSC",
        "gap closed, inductive",
        "gap closed, transductive",
        "ρ(confidence, DSC)",
        "ρ form",
        "minutes",
    ]
    rows = []
    for s in summaries:
        base = s.baseline
        rows.append(
            [
                s.dataset,
                base.key,
                f"{base.dice:.3f}",
                _dice(s, "chain"),
                _dice(s, "transductive"),
                _dice(s, "human"),
                "-" if s.all_foreground is None else f"{s.all_foreground:.3f}",
                _gap_text(s, "chain"),
                _gap_text(s, "transductive"),
                _rho_text(s.rho),
                ", ".join(sorted(set(s.forms))) or "-",
                f"{s.minutes:.1f}",
            ]
        )
    return markdown_table(header, rows)


EXPLANATION = f"""\
Per dataset and seed, the images are split by the seed into k folds; each fold is the test set once and the other
folds are its train set, so every image is tested once per seed. The plain first stages and the chain's first stage
are scored on the test fold. The chain is built as `bootseg run` builds it (`bootseg.cli.execute.build_chain`): it runs
on the train images (first stage, then each network trained on the previous stage's masks) and its trained last
network labels the test fold (`chain.predict`); every network row is scored on the test fold. U-Net(human) is the
chain's network configuration trained on the train images' true masks. The transductive row runs the chain on all
images and scores the same images, as a user runs it. The true masks are read by the scoring and by U-Net(human)
only.

Cells: per-image mean ± std over all test images of all folds, averaged over seeds; "DSC over seeds": mean ± std
of the per-seed mean DSC; "s per seed": wall time of the row for one seed, summed over the folds (a network row
includes the chain's first stage and training). Baseline: the best plain first stage by mean DSC, chosen with
hindsight. All-foreground DSC: the score of the trivial mask that labels every pixel foreground, the floor a DSC
is read against (high where the objects cover most of the image). Gap closed = (chain − baseline) /
(U-Net(human) − baseline) in mean DSC; a chain within {WITHIN} of U-Net(human) counts as closing it. ρ: Spearman's
rank correlation, per seed, between the per-image confidence score that `bootseg run` reports
(`bootseg.confidence.confidence` on the last network's probabilities and the image, no ground truth, in the form
`bootseg.confidence.judges_lines` picks from the chain's final masks; put together from the factors each run kept
per image by this version's `bootseg.confidence.combine`) and the true per-image DSC of the transductive chain;
mean over seeds (and the lowest seed). "ρ form": the form each seed's run judged in (objects; lines, for objects
packed edge to edge)."""


def render(summaries: list[DatasetSummary], *, command: str, machine: str, date: str, settings: str) -> str:
    """The Markdown of the whole benchmark: command, machine, summary and one table per dataset."""
    parts = [
        f"    {command}",
        f"{settings}. Machine: {machine}; {date}.",
        summary_table(summaries),
        EXPLANATION,
        *(dataset_table(s) for s in summaries),
    ]
    return "\n\n".join(parts)


def short_name(name: str, names: list[str]) -> str:
    """The dataset's name up to its first underscore, or up to its second where two names share the first part."""
    first = name.split("_")[0]
    return first if sum(n.split("_")[0] == first for n in names) == 1 else "_".join(name.split("_")[:2])
