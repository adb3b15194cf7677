"""One (dataset, seed) of the quality benchmark: the folds, every row of the table, the per-image scores.

The chain is built by :func:`bootseg.cli.execute.build_chain` from the same settings ``bootseg run`` makes from its
command line, so the chain rows are exactly what ``bootseg run IMAGES --chain CHAIN`` computes. The true masks
are read here, but only the scoring and the U-Net(human) row use them; no chain sees them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bootseg.annotators import KMeans, Otsu
from bootseg.cli.chainspec import parse_chain
from bootseg.cli.execute import build_chain
from bootseg.cli.run import RunSettings
from bootseg.confidence import Factors, edge_fit, judges_lines, solidity, sureness
from bootseg.io import list_images, read_image, read_mask
from bootseg.metrics import dice, iou, pixel_accuracy

__all__ = [
    "PLAIN_STAGES",
    "Settings",
    "all_foreground_dice",
    "dataset_pairs",
    "fold_indices",
    "refresh_confidence",
    "run_task",
    "task_units",
]

#: The plain first stages the baseline is chosen from with hindsight (no post-processing at all).
PLAIN_STAGES: dict[str, tuple[str, Callable[[], Any]]] = {
    "otsu-bright": ("Otsu, bright = fg (plain)", lambda: Otsu(polarity="bright", fill_holes=False)),
    "otsu-dark": ("Otsu, dark = fg (plain)", lambda: Otsu(polarity="dark", fill_holes=False)),
    "kmeans": (
        "k-means, k=2, largest cluster = bg (paper, plain)",
        lambda: KMeans(k=2, polarity="largest", fill_holes=False),
    ),
}


@dataclass(frozen=True)
class Settings:
    """What a benchmark run holds fixed over datasets and seeds (the cache key of its results)."""

    chain: str
    preset: str | None
    epochs: int | None
    size: int | None
    base_channels: int | None
    device: str
    folds: int
    limit: int | None

    def run_settings(self, seed: int) -> RunSettings:
        """The settings ``bootseg run IMAGES --chain CHAIN [--preset/--epochs/--size] --seed SEED`` makes."""
        stages = parse_chain(self.chain)
        if self.base_channels is not None:
            for name, options in stages[1:]:
                if name == "unet":
                    options.setdefault("base_channels", self.base_channels)
        return RunSettings(
            inputs=[],
            out="",
            stages=stages,
            chain_text=self.chain,
            preset=self.preset,
            epochs=self.epochs,
            size=self.size,
            device=self.device,
            seed=seed,
            quiet=True,
            argv=["bootseg", "run"],
        )


def dataset_pairs(folder: Path, limit: int | None = None) -> list[tuple[str, Path, Path]]:
    """``(name, image path, mask path)`` for every image of ``folder/images`` with its mask in ``folder/masks``."""
    images = list_images(folder / "images")
    masks = {path.stem: path for path in list_images(folder / "masks")}
    missing = [path.name for path in images if path.stem not in masks]
    if missing:
        raise FileNotFoundError(f"{folder / 'masks'} has no mask for {len(missing)} image(s): {', '.join(missing[:5])}")
    pairs = [(path.stem, path, masks[path.stem]) for path in images]
    return pairs[:limit] if limit is not None else pairs


def all_foreground_dice(folder: Path, limit: int | None = None) -> float:
    """Mean DSC of the trivial mask that labels every pixel foreground: the floor a DSC is read against.

    Where the objects cover most of the image (the cell interiors of an EM section), this floor is high: the DSC
    of the foreground alone then rewards a mask that misses the thin background.
    """
    truths = [read_mask(path) for _, _, path in dataset_pairs(folder, limit)]
    return float(np.mean([dice(np.ones_like(truth), truth) for truth in truths]))


def fold_indices(n: int, folds: int, seed: int) -> list[list[int]]:
    """``folds`` disjoint test folds covering ``range(n)``, from a permutation drawn with ``seed``."""
    if not 2 <= folds <= n:
        raise ValueError(f"folds must be between 2 and the number of images ({n}), got {folds}")
    order = np.random.default_rng(seed).permutation(n)
    return [sorted(int(i) for i in part) for part in np.array_split(order, folds)]


def task_units(n: int, folds: int, networks: int) -> int:
    """Training images a (dataset, seed) passes through networks per epoch: the cost model of the estimate.

    Per fold the chain's networks and U-Net(human) train on the train fold; the transductive chain's networks
    train once on every image.
    """
    return n * (folds - 1) * (networks + 1) + n * networks


def _scores(masks: Sequence[np.ndarray], truths: Sequence[np.ndarray]) -> dict[str, list[float]]:
    pairs = list(zip(masks, truths, strict=True))
    return {
        "dice": [dice(m, t) for m, t in pairs],
        "iou": [iou(m, t) for m, t in pairs],
        "accuracy": [pixel_accuracy(m, t) for m, t in pairs],
    }


class _Rows:
    """Per-image scores and wall time of every row, accumulated over the folds."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def add(
        self,
        key: str,
        label: str,
        names: Sequence[str],
        masks: Sequence[np.ndarray],
        truths: Sequence[np.ndarray],
        seconds: float,
    ) -> None:
        row = self.rows.setdefault(
            key, {"label": label, "names": [], "dice": [], "iou": [], "accuracy": [], "seconds": 0.0}
        )
        row["names"].extend(names)
        for metric, values in _scores(masks, truths).items():
            row[metric].extend(values)
        row["seconds"] += seconds


def confidence_factors(probas: list[np.ndarray], images: list[np.ndarray]) -> dict[str, list[float]]:
    """Per image, the factors of :func:`bootseg.confidence.confidence` (the objects' and the background's sureness,
    solidity and edge fit of the mask ``p > 0.5`` it judges), kept so that candidates and later formulas can be
    scored again without the maps."""
    masks = [p > 0.5 for p in probas]
    return {
        "sureness": [sureness(p) for p in probas],
        "background_sureness": [sureness(1.0 - p) for p in probas],
        "solidity": [solidity(m) for m in masks],
        "edge_fit": [edge_fit(image, m) for image, m in zip(images, masks, strict=True)],
    }


def chain_candidates(result: Any, images: list[np.ndarray]) -> dict[str, Any] | None:
    """The confidence's factors for a finished transductive chain, the form ``bootseg run`` judges it in
    (``lines``: :func:`bootseg.confidence.judges_lines` of the final masks) and the agreement of the first and
    last stages; None when the last stage gives no probabilities. None of them reads a true mask."""
    final = result.stages[len(result.stages) - 1]
    if final.proba is None:
        return None
    candidates: dict[str, Any] = confidence_factors(final.proba, images)
    candidates["lines"] = judges_lines(result.masks)
    candidates["stage_agreement"] = [dice(a, b) for a, b in zip(result.stages[0].masks, result.masks, strict=True)]
    return candidates


def combined_confidence(factors: dict[str, Any]) -> list[float] | None:
    """Each image's confidence put together from stored factors by this version's
    :class:`bootseg.confidence.Factors` (equal to ``confidence(proba, image, lines=...)``); None when a factor is
    missing. Runs that kept no ``lines`` (made before the lines form) are put together in the objects' form."""
    lines = bool(factors.get("lines"))
    needed = ("background_sureness", "edge_fit") if lines else ("sureness", "solidity", "edge_fit")
    if not all(factors.get(key) for key in needed):
        return None
    count = len(factors["edge_fit"])

    def column(key: str) -> list[float]:  # a factor the form does not use may be missing from older runs
        return factors.get(key) or [math.nan] * count

    parts = zip(column("sureness"), column("background_sureness"), column("solidity"), factors["edge_fit"], strict=True)
    return [Factors(*part).score(lines) for part in parts]


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def _report(stage: Any) -> dict[str, Any] | None:
    report = getattr(stage, "report", None)
    if report is None:
        return None
    return {
        "best_epoch": report.best_epoch,
        "epochs": len(report.history),
        "best_val_loss": report.best_val_loss,
        "train_images": report.train_images,
        "val_images": report.val_images,
        "seconds": report.seconds,
        "images_per_second": report.images_per_second,
    }


def _human_network(stage: Any) -> Any:
    """An untrained network with the configuration of the chain's first network stage."""
    config = getattr(stage, "config", None)
    if config is None or not callable(getattr(config, "to_dict", None)) or not callable(getattr(stage, "fit", None)):
        raise TypeError(f"U-Net(human) copies the chain's first network stage, but {stage!r} has no config or fit()")
    return type(stage)(preset=None, **config.to_dict())


def _labels(names: Sequence[str], chain: str) -> list[str]:
    """Row labels of the chain's stages: ``otsu``, ``U-Net(otsu)``, ``U-Net(U-Net(otsu))``, the last one the chain."""
    labels = [f"{names[0]} (the chain's first stage)"]
    inner = names[0]
    for name in names[1:]:
        inner = f"{'U-Net' if name == 'unet' else name}({inner})"
        labels.append(inner)
    if len(names) > 1:
        labels[-1] = f"{labels[-1]} = chain `{chain}`, inductive"
    return labels


def _annotate(annotator: Any, images: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [annotator.annotate(image) for image in images]


@dataclass
class _Data:
    names: list[str]
    images: list[np.ndarray]
    truths: list[np.ndarray]

    def take(self, indices: Sequence[int]) -> _Data:
        return _Data(
            [self.names[i] for i in indices], [self.images[i] for i in indices], [self.truths[i] for i in indices]
        )


def _fold(data: _Data, test: list[int], settings: Settings, seed: int, rows: _Rows) -> list[dict[str, Any]]:
    """Every inductive row for one test fold; returns the training reports of its networks."""
    held = set(test)
    train, tested = data.take([i for i in range(len(data.names)) if i not in held]), data.take(test)
    for key, (label, make) in PLAIN_STAGES.items():
        masks, seconds = _timed(_annotate, make(), tested.images)
        rows.add(key, label, tested.names, masks, tested.truths, seconds)

    chain, _, _ = build_chain(settings.run_settings(seed))
    labels = _labels(chain.stage_names, settings.chain)
    result = chain.run(train.images, names=train.names)
    timings = list(result.timings.values())
    masks, seconds = _timed(_annotate, chain.stages[0], tested.images)
    rows.add("chain-0", labels[0], tested.names, masks, tested.truths, seconds)
    reports = []
    last = len(chain.stage_names) - 1
    for index in range(1, last + 1):
        stage = result.stages[index].stage
        masks, seconds = _timed(chain.predict if index == last else stage.predict, tested.images)
        key = "chain" if index == last else f"chain-{index}"
        rows.add(key, labels[index], tested.names, masks, tested.truths, sum(timings[: index + 1]) + seconds)
        reports.append({"row": key, **(_report(stage) or {})})
    if last >= 1:
        human = _human_network(chain.stages[1])
        _, fit_seconds = _timed(human.fit, train.images, train.truths)
        masks, seconds = _timed(human.predict, tested.images)
        rows.add("human", "U-Net(human), inductive", tested.names, masks, tested.truths, fit_seconds + seconds)
        reports.append({"row": "human", **(_report(human) or {})})
    return reports


def run_task(folder: str, seed: int, settings: Settings) -> dict[str, Any]:
    """Every row of one dataset with one seed: k folds, then the transductive chain on all images."""
    start = time.perf_counter()
    pairs = dataset_pairs(Path(folder), settings.limit)
    data = _Data(
        [name for name, _, _ in pairs],
        [read_image(path) for _, path, _ in pairs],
        [read_mask(path) for _, _, path in pairs],
    )
    folds = fold_indices(len(data.names), settings.folds, seed)
    rows = _Rows()
    training = []
    for fold, test in enumerate(folds):
        training += [{"fold": fold, **report} for report in _fold(data, test, settings, seed, rows)]

    chain, _, specs = build_chain(settings.run_settings(seed))
    result, seconds = _timed(chain.run, data.images, names=data.names)
    label = f"chain `{settings.chain}`, transductive (all images)"
    rows.add("transductive", label, data.names, result.masks, data.truths, seconds)
    for index in range(1, len(result.stages)):
        training.append({"row": "transductive", "stage": index, **(_report(result.stages[index].stage) or {})})
    candidates = chain_candidates(result, data.images)
    scores = None if candidates is None else combined_confidence(candidates)
    return {
        "dataset": Path(folder).name,
        "seed": seed,
        "names": data.names,
        "folds": [[data.names[i] for i in test] for test in folds],
        "rows": rows.rows,
        "confidence": None if scores is None else {"names": data.names, "values": scores},
        "candidates": candidates,
        "training": training,
        "chain": {"stages": [[name, dict(options)] for name, options in specs], "first": repr(chain.stages[0])},
        "device": str(getattr(chain.stages[-1], "device", settings.device)),
        "seconds": time.perf_counter() - start,
        "units": task_units(len(data.names), settings.folds, len(chain.stage_names) - 1),
    }


def refresh_confidence(folder: str, seed: int, settings: Settings, cached: dict[str, Any]) -> dict[str, Any]:
    """``cached`` (one (dataset, seed) of an earlier run) with this version's confidence factors.

    Only the transductive chain runs again, with the cached run's torch threads. Its masks must be the cached
    ones: a per-image DSC that differs by more than 1e-9 from the cached transductive row raises ValueError, and
    nothing is replaced. Every other row is kept as it was.
    """
    import torch

    start = time.perf_counter()
    torch.set_num_threads(int(cached.get("environment", {}).get("threads") or torch.get_num_threads()))
    pairs = dataset_pairs(Path(folder), settings.limit)
    names = [name for name, _, _ in pairs]
    if names != cached["names"]:
        raise ValueError(
            f"{folder}: the images are not those of the cached run ({len(names)} against {len(cached['names'])})"
        )
    images = [read_image(path) for _, path, _ in pairs]
    truths = [read_mask(path) for _, _, path in pairs]
    chain, _, _ = build_chain(settings.run_settings(seed))
    result = chain.run(images, names=names)
    row = cached["rows"]["transductive"]
    dices = dict(zip(row["names"], row["dice"], strict=True))
    again = _scores(result.masks, truths)["dice"]
    worst = max(abs(value - dices[name]) for name, value in zip(names, again, strict=True))
    if worst > 1e-9:
        raise ValueError(
            f"{folder} seed {seed}: the transductive chain did not give the cached masks again "
            f"(per-image DSC differs by up to {worst:.3g}); run the dataset afresh instead"
        )
    candidates = chain_candidates(result, images)
    scores = None if candidates is None else combined_confidence(candidates)
    return {
        **cached,
        "confidence": None if scores is None else {"names": names, "values": scores},
        "candidates": candidates,
        "refreshed": {"seconds": time.perf_counter() - start, "largest_dice_difference": worst},
    }
