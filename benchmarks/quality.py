"""The paper's protocol on every real dataset in ``../shared/data``: Table 1 per dataset, the gap closed, ρ.

For every dataset and seed the images are split into k folds (each image is tested once per seed). Rows: the
plain first stages (Otsu bright, Otsu dark, the paper's k-means) and the chain's first stage on the test fold;
the chain (by default ``bootseg run``'s ``auto,unet``, built exactly as ``bootseg run`` builds it) run on the train
fold and predicting the test fold; U-Net(human), the same network trained on the train fold's true masks; and the
transductive chain, run on all images and scored on them. Per-image mean ± std DSC, IoU and PA, the wall time of
each row, the gap closed ``(chain − baseline) / (U-Net(human) − baseline)`` against the best plain first stage,
and Spearman's ρ between ``bootseg run``'s per-image confidence and the true DSC. The true masks are read only by
the scoring and by U-Net(human).

Results are cached per (dataset, seed) in the ``--json`` file, so an interrupted run goes on where it stopped
when started again with the same options; the file also keeps every per-image score.

    python benchmarks/quality.py --smoke                       # 8 images per dataset, tiny network: plumbing
    python benchmarks/quality.py --json quality.json --write   # the full protocol, 3 seeds, 2 folds
    python benchmarks/quality.py --datasets wbc_tecom_brightfield --seeds 0 --json quality.json
    python benchmarks/quality.py --json quality.json --refresh-confidence --jobs 2   # new confidence factors

``--refresh-confidence`` runs only the transductive chain of every cached (dataset, seed) again, checks that it
gives the cached masks (same per-image DSC), and keeps this version's confidence factors; the other rows stay.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quality_protocol import Settings, all_foreground_dice, dataset_pairs, refresh_confidence, run_task, task_units
from _quality_report import render, summarize_dataset

from bootseg.cli.chainspec import parse_chain
from bootseg.cli.run import DEFAULT_CHAIN
from bootseg.io import atomic_write

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_DOC = ROOT / "docs" / "benchmarks.md"
DEFAULT_JSON = Path(tempfile.gettempdir()) / "bootseg-quality.json"
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"

#: ``--smoke``: enough to run every line of the protocol in about a minute on 2 CPU cores.
SMOKE = {"limit": 8, "seeds": "0", "folds": 2, "epochs": 1, "size": 32, "base_channels": 4}
FULL = {"limit": None, "seeds": "0,1,2", "folds": 2, "epochs": None, "size": None, "base_channels": None}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of datasets (default: %(default)s)")
    parser.add_argument("--datasets", help="comma-separated dataset names (default: every folder under --data)")
    parser.add_argument("--seeds", help=f"comma-separated seeds (default: {FULL['seeds']})")
    parser.add_argument("--folds", type=int, help=f"k of the k-fold split (default: {FULL['folds']})")
    parser.add_argument("--chain", default=DEFAULT_CHAIN, help="as bootseg run --chain (default: %(default)s)")
    parser.add_argument("--preset", choices=("fast", "paper"), help="as bootseg run --preset (default: its default)")
    parser.add_argument("--epochs", type=int, help="as bootseg run --epochs (default: the preset's)")
    parser.add_argument("--size", type=int, help="as bootseg run --size (default: the preset's)")
    parser.add_argument("--base-channels", type=int, help="base_channels of every unet stage (default: the preset's)")
    parser.add_argument("--limit", type=int, help="only the first N images of each dataset (by name)")
    parser.add_argument("--device", default="auto", help="as bootseg run --device (default: %(default)s)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="8 images per dataset, seed 0, 2 folds, 1 epoch, a 32-px U-Net of base 4: checks the plumbing only",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="(dataset, seed) tasks run at once in worker processes, each with cores/jobs torch threads (default: 1)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help="per-image results, also the cache that makes a run resumable (default: %(default)s)",
    )
    parser.add_argument(
        "--refresh-confidence",
        action="store_true",
        help="run the cached tasks' transductive chain again and keep this version's confidence factors",
    )
    parser.add_argument("--write", action="store_true", help="write the tables into --doc between the quality markers")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="the page --write updates (default: %(default)s)")
    args = parser.parse_args(argv)
    defaults = SMOKE if args.smoke else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.seed_list = [int(s) for s in str(args.seeds).split(",") if s.strip()]
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    return args


def find_datasets(data: Path, names: str | None) -> list[Path]:
    folders = sorted(p for p in data.iterdir() if (p / "images").is_dir() and (p / "masks").is_dir())
    if not folders:
        raise SystemExit(f"no datasets (folders with images/ and masks/) under {data}")
    if names is None:
        return folders
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {p.name: p for p in folders}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise SystemExit(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in wanted]


# ------------------------------------------------------------------------------------------------ the cache


def signature(settings: Settings) -> str:
    text = json.dumps(dataclasses.asdict(settings), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def load_cache(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"runs": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def save_cache(path: Path, cache: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(cache, handle)


def environment() -> dict[str, Any]:
    import torch

    import bootseg

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "bootseg": getattr(bootseg, "__version__", "?"),
        "torch": torch.__version__,
        "commit": commit,
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "machine": platform.platform(),
    }


# ------------------------------------------------------------------------------------------------ running


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run(folder: str, seed: int, settings: Settings) -> dict[str, Any]:
    result = run_task(folder, seed, settings)
    result["environment"] = environment()
    return result


def _refresh(folder: str, seed: int, settings: Settings, cached: dict[str, Any]) -> dict[str, Any]:
    result = refresh_confidence(folder, seed, settings, cached)
    result["refreshed"]["environment"] = environment()
    return result


class Progress:
    """Prints each finished task and the estimated time left, from the wall time per training image so far."""

    def __init__(self, units: dict[tuple[str, int], int], todo: list[tuple[str, int]]) -> None:
        self.units = units
        self.left = set(todo)
        self.total = len(todo)
        self.first = todo[0][0] if todo else None
        self.done_units = 0
        self.start = time.perf_counter()

    def finished(self, task: tuple[str, int], seconds: float) -> None:
        self.left.discard(task)
        self.done_units += self.units[task]
        elapsed = time.perf_counter() - self.start
        remaining = elapsed / max(self.done_units, 1) * sum(self.units[t] for t in self.left)
        print(
            f"[{self.total - len(self.left)}/{self.total}] {task[0]} seed {task[1]}: {seconds / 60:.1f} min; "
            f"elapsed {elapsed / 60:.1f} min, about {remaining / 60:.1f} min left",
            file=sys.stderr,
            flush=True,
        )
        if self.first is not None and self.left and not any(name == self.first for name, _ in self.left):
            print(
                f"estimate after the first dataset ({self.first}): this run takes about "
                f"{(elapsed + remaining) / 60:.1f} min in all, {remaining / 60:.1f} min of it still to come "
                "(from the wall time per training image so far)",
                file=sys.stderr,
                flush=True,
            )
            self.first = None


def run_tasks(
    todo: list[tuple[str, int]],
    folders: dict[str, Path],
    settings: Settings,
    jobs: int,
    keep: Any,
    progress: Progress,
    cached: dict[str, Any] | None = None,
) -> None:
    """Run each (dataset, seed) of ``todo``, or with ``cached`` (their cached results by ``dataset/seed``)
    refresh their confidence factors (:func:`_quality_protocol.refresh_confidence`)."""

    def call(submit: Any, name: str, seed: int) -> Any:
        if cached is None:
            return submit(_run, str(folders[name]), seed, settings)
        return submit(_refresh, str(folders[name]), seed, settings, cached[f"{name}/{seed}"])

    if jobs == 1:
        for name, seed in todo:
            result = call(lambda fn, *args: fn(*args), name, seed)
            keep(result)
            progress.finished((name, seed), result["refreshed"]["seconds"] if cached else result["seconds"])
        return
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(threads,)) as pool:
        pending: dict[Future, tuple[str, int]] = {call(pool.submit, name, seed): (name, seed) for name, seed in todo}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                task = pending.pop(future)
                result = future.result()
                keep(result)
                progress.finished(task, result["refreshed"]["seconds"] if cached else result["seconds"])


# ------------------------------------------------------------------------------------------------ output


def machine_text(results: list[dict[str, Any]]) -> str:
    env = results[0].get("environment", {})
    devices = sorted({r.get("device", "?") for r in results})
    return (
        f"{env.get('cores', os.cpu_count())} CPU cores ({platform.machine()}), torch {env.get('torch', '?')} "
        f"with {env.get('threads', '?')} threads, device {', '.join(devices)}"
    )


def settings_text(settings: Settings, seeds: list[int], smoke: bool) -> str:
    network = ", ".join(
        f"{key} {value}"
        for key, value in (
            ("preset", settings.preset or "default (fast)"),
            ("epochs", settings.epochs),
            ("size", settings.size),
            ("base_channels", settings.base_channels),
            ("images per dataset", settings.limit),
        )
        if value is not None
    )
    return f"Chain `{settings.chain}` ({network}); {settings.folds} folds; seeds {','.join(map(str, seeds))}" + (
        "; smoke settings, a check of the plumbing, not a result" if smoke else ""
    )


def write_doc(path: Path, body: str) -> None:
    block = f"{BEGIN}\n## Quality on the real datasets (the paper's protocol)\n\n{body}\n{END}"
    text = path.read_text(encoding="utf-8")
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = Settings(
        chain=args.chain,
        preset=args.preset,
        epochs=args.epochs,
        size=args.size,
        base_channels=args.base_channels,
        device=args.device,
        folds=args.folds,
        limit=args.limit,
    )
    datasets = find_datasets(args.data, args.datasets)
    folders = {p.name: p for p in datasets}
    networks = len(parse_chain(args.chain)) - 1
    units = {
        (p.name, seed): task_units(len(dataset_pairs(p, args.limit)), args.folds, networks)
        for p in datasets
        for seed in args.seed_list
    }
    cache = load_cache(args.json)
    section = cache["runs"].setdefault(signature(settings), {"settings": dataclasses.asdict(settings), "results": {}})
    results = section["results"]
    todo = [task for task in units if f"{task[0]}/{task[1]}" not in results]
    kept = len(units) - len(todo)
    print(
        f"{len(units)} (dataset, seed) tasks, {kept} already in {args.json}, {len(todo)} to run; {settings}",
        file=sys.stderr,
        flush=True,
    )

    def keep(result: dict[str, Any]) -> None:
        results[f"{result['dataset']}/{result['seed']}"] = result
        save_cache(args.json, cache)

    run_tasks(todo, folders, settings, args.jobs, keep, Progress(units, todo))
    if args.refresh_confidence:
        stale = [
            task
            for task in units
            if "background_sureness" not in (results[f"{task[0]}/{task[1]}"].get("candidates") or {})
        ]
        print(f"refreshing the confidence factors of {len(stale)} cached task(s)", file=sys.stderr, flush=True)
        run_tasks(stale, folders, settings, args.jobs, keep, Progress(units, stale), cached=results)

    summaries = [summarize_dataset([results[f"{p.name}/{seed}"] for seed in args.seed_list]) for p in datasets]
    for folder, summary in zip(datasets, summaries, strict=True):
        summary.all_foreground = all_foreground_dice(folder, args.limit)
    chosen = [results[f"{name}/{seed}"] for name, seed in units]
    command = "python benchmarks/quality.py" + (" " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "")
    body = render(
        summaries,
        command=command,
        machine=machine_text(chosen),
        date=datetime.date.today().isoformat(),
        settings=settings_text(settings, args.seed_list, args.smoke),
    )
    print(body)
    print(f"\nper-image results: {args.json}", file=sys.stderr)
    if args.write:
        write_doc(args.doc, body)
        print(f"written to {args.doc}", file=sys.stderr)


if __name__ == "__main__":
    main()
