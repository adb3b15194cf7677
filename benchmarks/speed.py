"""bootseg's speed against plain references, in one table: every ratio is measured in the same run as its reference.

Rows:

a. every built-in annotator against the raw scikit-image call it wraps, on 256² grey and RGB images: the annotator
   set up to do the same work (``polarity="bright"``, no median, no clean-up, the same grey conversion, written out
   by hand for the reference), then with its default options (``polarity="auto"``, ``fill_holes=True``) to show
   what they cost; both against the same raw call. (``kmeans`` wraps no library call: see c.)
b. the first stage over a folder with every core, ``BootstrapChain([name]).run(folder, executor=...)`` with a
   ``ProcessPoolExecutor`` of ``os.cpu_count()`` workers (``forkserver``, as ``bootseg run`` starts them), against
   one process (no executor); the stage's own time. ``otsu`` has no set-level fit; ``auto`` (the default first
   stage) fits its eight candidates as eight tasks, then annotates.
c. ``kmeans`` against ``cv2.kmeans`` called as the paper called it (``kmeans_speed.py``).
d. U-Net training against a hand-written PyTorch loop over the same model and data (``train_overhead.py``): the
   fast preset at 128², the paper network at 256²; augmentation's cost as its own row.
e. prediction streamed from a generator through ``UNetRefiner.iter_predict_proba`` against a hand-written torch
   loop doing the same resize, scaling and forward pass: images/s and peak resident memory, each count in fresh
   subprocesses (four per loop, alternating, medians: a 200-image loop lasts a fifth of a second, and one slow
   process moved the median of two by a tenth).
f. ``bootseg run`` end to end on a folder: each phase's share of the wall time.

Repeats are interleaved (each round runs every variant once; in a, per image) and medians are kept.

``--quick`` (about 10 minutes on 2 quiet CPU cores): 200 images per kind in a, 20 per row in c, 10 images and
batch 4 for the paper network in d (two steps), 64² images and a tiny U-Net in e, ``--epochs 5`` in f, and one
torch thread in d and e (on a shared 2-core machine two threads that wait on each other make timings erratic).
Without it: 1,000 images in a, 50 in c, 72 images at the paper's batch 32 in d, 256² images and the fast preset's
network in e, the preset's own epochs in f (75), torch's own thread count.

    python benchmarks/speed.py --quick            # about 10 minutes on 2 CPU cores
    python benchmarks/speed.py                    # the full sizes
    python benchmarks/speed.py --quick --write    # also put the table in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _timing import interleaved, interleaved_calls, replace_block, table  # noqa: E402

DATA = HERE.parents[1] / "shared" / "data"
DOC = HERE.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- speed:begin -->", "<!-- speed:end -->"
HEADER = ["row", "case", "bootseg", "reference", "ratio", "goal", "met"]


@dataclass(frozen=True)
class Plan:
    """What one run measures; ``--quick`` shrinks it to fit about 10 minutes on 2 CPU cores."""

    annotator_images: int
    repeat: int
    folder: Path
    kmeans_images: int
    fast_images: int
    paper_images: int
    paper_batch: int
    predict_counts: tuple[int, ...]
    predict_size: int
    predict_model: dict
    predict_threads: int
    train_threads: int
    run_folder: Path
    run_epochs: int | None


def make_plan(quick: bool, data: Path) -> Plan:
    if quick:
        tiny = {"size": 64, "base_channels": 4, "depth": 2, "batch_size": 16}
        return Plan(
            annotator_images=200,
            repeat=3,
            folder=data / "ph2_dermoscopy" / "images",
            kmeans_images=20,
            fast_images=80,
            paper_images=10,
            paper_batch=4,
            predict_counts=(200, 2000, 10000),
            predict_size=64,
            predict_model=tiny,
            predict_threads=1,
            train_threads=1,
            run_folder=data / "wbc_tecom_brightfield" / "images",
            run_epochs=5,
        )
    return Plan(
        annotator_images=1000,
        repeat=5,
        folder=data / "ph2_dermoscopy" / "images",
        kmeans_images=50,
        fast_images=80,
        paper_images=72,
        paper_batch=32,
        predict_counts=(200, 2000, 10000),
        predict_size=256,
        predict_model={"size": 128, "base_channels": 16, "depth": 4, "batch_size": 16},
        predict_threads=0,
        train_threads=0,
        run_folder=data / "wbc_tecom_brightfield" / "images",
        run_epochs=None,
    )


def ms(seconds: float) -> str:
    return f"{1e3 * seconds:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


# ---------------------------------------------------------------------------------------------- data


def read_folder(folder: Path) -> list[np.ndarray]:
    from bootseg.io import read_image

    return [read_image(path) for path in sorted(folder.glob("*.png"))]


def images_256(data: Path, count: int) -> dict[str, list[np.ndarray]]:
    """``count`` grey and ``count`` RGB uint8 images of 256²: the real ones, cycled; synthetic ones without data."""
    sets = {
        "grey": ["aitslab_nuclei_fluo", "isbi2012_em_membrane"],
        "RGB": ["wbc_cellavision_brightfield", "ph2_dermoscopy"],
    }
    out = {}
    for kind, names in sets.items():
        folders = [data / name / "images" for name in names if (data / name / "images").is_dir()]
        images = [image for folder in folders for image in read_folder(folder)]
        images = [im[:, :, :3] if im.ndim == 3 else im for im in images if im.shape[:2] == (256, 256)]
        if not images:
            from bootseg.datasets import synthetic_spheroids

            grey, _ = synthetic_spheroids(min(count, 64), size=256)
            images = grey if kind == "grey" else [np.stack([g, 255 - g, g // 2], axis=2) for g in grey]
        out[kind] = [images[i % len(images)] for i in range(count)]
    return out


# ---------------------------------------------------------------------------------------------- a. annotators


def grey_by_hand(image: np.ndarray) -> np.ndarray:
    """The grey image bootseg segments, written out: uint8 grey as it is, RGB as Rec. 709 luma in float64."""
    if image.ndim == 2:
        return image
    grey = image[..., 0] * 0.2125
    grey += image[..., 1] * 0.7154
    grey += image[..., 2] * 0.0721
    return grey


def raw_calls() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    from skimage import filters

    return {
        "otsu": lambda g: g > filters.threshold_otsu(g),
        "li": lambda g: g > filters.threshold_li(g),
        "yen": lambda g: g > filters.threshold_yen(g),
        "triangle": lambda g: g > filters.threshold_triangle(g),
        "isodata": lambda g: g > filters.threshold_isodata(g),
        "multiotsu": lambda g: g > filters.threshold_multiotsu(g, classes=3)[0],
        "sauvola": lambda g: g > filters.threshold_sauvola(g, window_size=15, k=0.2),
        "niblack": lambda g: g > filters.threshold_niblack(g, window_size=15, k=0.2),
        "ridges": lambda g: _below_otsu(filters.sato(np.asarray(g, np.float64), sigmas=(1, 2, 3), black_ridges=True)),
    }


def _below_otsu(response: np.ndarray) -> np.ndarray:
    from skimage import filters

    return response <= filters.threshold_otsu(response)


def annotator_rows(plan: Plan, images: dict[str, list[np.ndarray]]) -> list[list[str]]:
    from bootseg import get_annotator

    rows = []
    for name, raw in raw_calls().items():
        same = get_annotator(name, polarity="bright", fill_holes=False)
        defaults = get_annotator(name)
        for kind, batch in images.items():
            agree = all(np.array_equal(same.annotate(im), raw(grey_by_hand(im))) for im in batch)
            per = interleaved_calls(
                {
                    "raw": lambda im, raw=raw: raw(grey_by_hand(im)),
                    "same": same.annotate,
                    "defaults": defaults.annotate,
                },
                batch,
                plan.repeat,
            )
            ratio = per["same"] / per["raw"]
            case = f"{len(batch)} {kind} 256²; same work{'' if agree else ', **masks differ**'}"
            rows.append(
                [
                    f"a {name}",
                    case,
                    ms(per["same"]),
                    ms(per["raw"]),
                    f"{ratio:.3f}× the time",
                    "≤ 1.10×",
                    verdict(ratio <= 1.10 and agree),
                ]
            )
            rows.append(
                [
                    f"a {name}",
                    f"{kind}, default options (auto polarity, fill holes)",
                    ms(per["defaults"]),
                    ms(per["raw"]),
                    f"{per['defaults'] / per['raw']:.2f}× the time",
                    "shown",
                    "-",
                ]
            )
        print(f"  a {name} done", file=sys.stderr)
    return rows


# ---------------------------------------------------------------------------------------------- b. every core


def executor_rows(plan: Plan) -> list[list[str]]:
    """``otsu`` (no set-level fit: the pool annotates) and ``auto`` (its eight candidates fitted whole, one task
    each, then the pool annotates), each through ``chain.run(executor=...)`` against one process."""
    rows = []
    for name, what, rounds in (("otsu", "default otsu", plan.repeat), ("auto", "auto with its fit", 2)):
        rows += _executor_rows(plan.folder, name, what, rounds)
    return rows


def _executor_rows(folder: Path, name: str, what: str, rounds: int) -> list[list[str]]:
    from bootseg import BootstrapChain

    chain = BootstrapChain([name], progress=False)
    workers = os.cpu_count() or 1
    seconds: dict[str, list[float]] = {"serial": [], "pool": []}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        cold = chain.run(folder, executor=pool)  # starts the workers
        count = len(cold.names)
        reference = chain.run(folder)
        same = all(np.array_equal(a, b) for a, b in zip(cold.masks, reference.masks, strict=True))
        for round_ in range(rounds):
            for key in ("serial", "pool") if round_ % 2 == 0 else ("pool", "serial"):
                result = chain.run(folder, executor=pool if key == "pool" else None)
                seconds[key].append(result.stages[0].seconds)
    serial, pool = (float(np.median(seconds[key])) for key in ("serial", "pool"))
    case = f"{count} images of {folder.parent.name}, {what}"
    return [
        [f"b {name}, 1 process", case, f"{count / serial:.0f} images/s", "-", "-", "-", "-"],
        [
            f"b {name}, {workers} workers",
            f"{case}{'' if same else ', **masks differ**'}",
            f"{count / pool:.0f} images/s",
            f"{count / serial:.0f} images/s (1 process)",
            f"{serial / pool:.2f}× the images/s",
            f"> 1× (ideal {workers}×)",
            verdict(serial / pool > 1 and same),
        ],
        [
            f"b {name}, {workers} workers, cold",
            "first call: the workers start",
            f"{count / cold.stages[0].seconds:.0f} images/s",
            f"{count / serial:.0f} images/s (1 process)",
            f"{serial / cold.stages[0].seconds:.2f}× the images/s",
            "shown",
            "-",
        ],
    ]


# ---------------------------------------------------------------------------------------------- c. k-means


def kmeans_rows(plan: Plan, data: Path) -> list[list[str]]:
    import cv2
    from kmeans_speed import cases, measure, real_images, synthetic_images

    use_real = data.is_dir() and any(data.glob("*/images/*.png"))
    images = real_images(data) if use_real else synthetic_images(plan.kmeans_images, 256)
    rows = cases(images, plan.kmeans_images)
    order = ("grey uint8", "grey from RGB", "colour (color=True)")
    out = []
    for key in sorted(rows, key=lambda key: (order.index(key[0]), key[1])):
        r = measure(key[0], rows[key], 3, cv2.KMEANS_RANDOM_CENTERS)
        colour = key[0].startswith("colour")
        goal, agree_goal = (5, 0.99) if colour else (20, 0.999)
        ok = r["ratio"] >= goal and r["agree"] >= agree_goal
        agreement = f"agreement {100 * r['agree']:.2f} % (min {100 * r['agree_min']:.2f} %)"
        case = f"{key[0]}, {key[1]}, {r['n']} images; {agreement}"
        out.append(
            [
                "c kmeans vs cv2.kmeans",
                case,
                f"{r['ours_ms']:.3g} ms",
                f"{r['cv2_ms']:.3g} ms",
                f"{r['ratio']:.1f}× faster",
                f"≥ {goal}×, agreement ≥ {100 * agree_goal:g} %",
                verdict(ok),
            ]
        )
    return out


# ---------------------------------------------------------------------------------------------- d. training


def training_rows(plan: Plan) -> list[list[str]]:
    import torch

    device = torch.device("cpu")
    threads = torch.get_num_threads()
    if plan.train_threads:
        torch.set_num_threads(plan.train_threads)
    try:
        return _training_rows(plan, device)
    finally:
        torch.set_num_threads(threads)


def _training_rows(plan: Plan, device) -> list[list[str]]:
    import dataclasses

    import torch
    from train_overhead import make_data, make_model, plain_loop

    from bootseg.refiners.augment import AugmentConfig
    from bootseg.refiners.config import UNetConfig
    from bootseg.refiners.training import split_indices, train_network

    rows = []
    setups = [
        ("fast", UNetConfig.from_options("fast", epochs=2, progress=False, device="cpu"), plan.fast_images),
        (
            "paper",
            UNetConfig.from_options("paper", epochs=1, batch_size=plan.paper_batch, progress=False, device="cpu"),
            plan.paper_images,
        ),
    ]
    for preset, cfg, n in setups:
        x, y = make_data(n, cfg.size, 3, device)
        runs = {
            "plain": lambda cfg=cfg, x=x, y=y: plain_loop(make_model(cfg, 3, device), x, y, cfg, device),
            "bootseg": lambda cfg=cfg, x=x, y=y: train_network(make_model(cfg, 3, device), x, y, cfg),
            "augment": lambda cfg=cfg, x=x, y=y: train_network(
                make_model(cfg, 3, device), x, y, cfg, augment=AugmentConfig()
            ),
        }
        warm = dataclasses.replace(cfg, epochs=1)
        few = min(n, 2 * cfg.batch_size)
        train_network(make_model(warm, 3, device), x[:few], y[:few], warm)
        times = interleaved(runs, plan.repeat)
        trained = len(split_indices(n, cfg.val_fraction, cfg.seed)[0]) * cfg.epochs
        steps = -(-len(split_indices(n, cfg.val_fraction, cfg.seed)[0]) // cfg.batch_size) * cfg.epochs
        case = f"{preset}: {cfg.size}², base {cfg.base_channels}, batch {cfg.batch_size}, {n} images, {steps} steps, "
        case += f"{torch.get_num_threads()} torch thread{'s' if torch.get_num_threads() > 1 else ''}"
        plain = trained / times["plain"]
        ratio = times["bootseg"] / times["plain"]
        rows.append(
            [
                f"d train {preset}",
                case,
                f"{trained / times['bootseg']:.1f} images/s",
                f"{plain:.1f} images/s",
                f"{ratio:.3f}× the time",
                "≤ 1.10×",
                verdict(ratio <= 1.10),
            ]
        )
        rows.append(
            [
                f"d train {preset} + augmentation",
                "flips, rotation, zoom, blur, noise, brightness, contrast",
                f"{trained / times['augment']:.1f} images/s",
                f"{plain:.1f} images/s",
                f"{times['augment'] / times['plain']:.3f}× the time",
                "shown",
                "-",
            ]
        )
        print(f"  d {preset} done", file=sys.stderr)
    return rows


# ---------------------------------------------------------------------------------------------- e. prediction


def stream(count: int, size: int, seed: int = 0) -> Iterator[np.ndarray]:
    """``count`` random RGB uint8 images, made one at a time."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def predict_worker(mode: str, count: int, size: int, checkpoint: str, threads: int) -> None:
    """Run in a fresh subprocess: stream ``count`` images through bootseg or the plain loop; print JSON."""
    import torch

    if threads:
        torch.set_num_threads(threads)

    from bootseg.refiners import UNetRefiner

    refiner = UNetRefiner.load(checkpoint, device="cpu")
    cfg = refiner.config
    batch = cfg.batch_size

    if mode == "bootseg":

        def run(images: Iterator[np.ndarray]) -> int:
            done = 0
            for _ in refiner.iter_predict_proba(images):
                done += 1
            return done

    else:
        import cv2

        model = refiner.model.eval()

        def resize(array: np.ndarray, width: int, height: int) -> np.ndarray:
            if array.shape[:2] == (height, width):
                return array
            shrink = array.shape[0] > height and array.shape[1] > width
            return cv2.resize(array, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

        def forward(chunk: list[np.ndarray]) -> Iterator[np.ndarray]:
            x = np.stack([resize(im, cfg.size, cfg.size) for im in chunk]).transpose(0, 3, 1, 2)
            with torch.inference_mode():
                prob = torch.sigmoid(model(torch.from_numpy(np.ascontiguousarray(x)).float().div_(255)).float())
            for image, p in zip(chunk, prob[:, 0].numpy(), strict=True):
                yield np.clip(resize(p, image.shape[1], image.shape[0]), 0.0, 1.0).astype(np.float32, copy=False)

        def run(images: Iterator[np.ndarray]) -> int:
            done, chunk = 0, []
            for image in images:
                chunk.append(image)
                if len(chunk) == batch:
                    done += sum(1 for _ in forward(chunk))
                    chunk = []
            return done + (sum(1 for _ in forward(chunk)) if chunk else 0)

    run(stream(2 * batch, size, seed=1))  # warm-up
    warm = memory_kib("VmRSS")
    start = time.perf_counter()
    done = run(stream(count, size))
    seconds = time.perf_counter() - start
    growth = memory_kib("VmRSS") - warm
    print(json.dumps({"count": done, "seconds": seconds, "peak_kib": memory_kib("VmHWM"), "growth_kib": growth}))


def memory_kib(field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in KiB.

    On Linux ``getrusage``'s ``ru_maxrss`` survives ``exec``: a subprocess started from a large parent reports the
    parent's size. ``VmHWM`` belongs to the process's own memory map. Elsewhere, ``ru_maxrss`` for both.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith(f"{field}:"))


#: Fresh processes per count and loop, alternating which goes first; the medians count.
_PREDICT_ROUNDS = 4


def prediction_rows(plan: Plan, workdir: Path) -> list[list[str]]:
    from bootseg.datasets import synthetic_spheroids
    from bootseg.refiners import UNetRefiner

    grey, masks = synthetic_spheroids(32, size=plan.predict_model["size"])
    images = [np.stack([g, g, g], axis=2) for g in grey]
    # min_radius=0: the network predicts at the working size the table names, whatever the masks are like
    refiner = UNetRefiner(preset=None, epochs=1, progress=False, device="cpu", min_radius=0, **plan.predict_model)
    checkpoint = refiner.fit(images, masks).save(workdir / "predict.pt")
    runs: dict[tuple[str, int], list[dict]] = {}
    for count in plan.predict_counts:
        for round_ in range(_PREDICT_ROUNDS):
            for mode in ("bootseg", "plain") if round_ % 2 == 0 else ("plain", "bootseg"):
                command = [
                    sys.executable,
                    __file__,
                    "--predict-worker",
                    mode,
                    str(count),
                    str(plan.predict_size),
                    str(checkpoint),
                    str(plan.predict_threads),
                ]
                done = subprocess.run(command, check=True, capture_output=True, text=True)
                runs.setdefault((mode, count), []).append(json.loads(done.stdout.strip().splitlines()[-1]))
    results = {
        key: {field: float(np.median([r[field] for r in values])) for field in values[0]}
        for key, values in runs.items()
    }
    model = plan.predict_model
    what = (
        f"{plan.predict_size}² RGB made on the fly; U-Net {model['size']}², base {model['base_channels']}, "
        f"depth {model['depth']}, batch {model['batch_size']}"
        + (f", {plan.predict_threads} torch thread" if plan.predict_threads else "")
    )
    rows = []
    for count in plan.predict_counts:
        ours, plain = results["bootseg", count], results["plain", count]
        speed = ours["count"] / ours["seconds"]
        reference = plain["count"] / plain["seconds"]
        case = what if count == plan.predict_counts[0] else "same"
        rows.append(
            [
                f"e predict {count:,}",
                case,
                f"{speed:.0f} images/s",
                f"{reference:.0f} images/s",
                f"{speed / reference:.2f}× the images/s",
                "≥ 0.90×",
                verdict(speed / reference >= 0.90),
            ]
        )
    for count in plan.predict_counts:
        ours, plain = results["bootseg", count], results["plain", count]
        rows.append(
            [
                f"e peak RSS {count:,}",
                f"fresh process; RSS {ours['growth_kib'] / 1024:+.1f} MiB from warm-up to end "
                f"(plain {plain['growth_kib'] / 1024:+.1f})",
                f"{ours['peak_kib'] / 1024:.0f} MiB",
                f"{plain['peak_kib'] / 1024:.0f} MiB",
                f"{ours['peak_kib'] / plain['peak_kib']:.2f}× the memory",
                "shown",
                "-",
            ]
        )
    first, last = plan.predict_counts[0], plan.predict_counts[-1]
    growth = (results["bootseg", last]["peak_kib"] - results["bootseg", first]["peak_kib"]) / 1024
    plain_growth = (results["plain", last]["peak_kib"] - results["plain", first]["peak_kib"]) / 1024
    rows.append(
        [
            f"e RSS growth {first:,} → {last:,}",
            "peak RSS difference",
            f"{growth:+.1f} MiB",
            f"{plain_growth:+.1f} MiB",
            "-",
            "flat (< 16 MiB)",
            verdict(growth < 16),
        ]
    )
    return rows


# ---------------------------------------------------------------------------------------------- f. bootseg run


def run_rows(plan: Plan, workdir: Path) -> list[list[str]]:
    out = workdir / "run"
    command = [sys.executable, "-m", "bootseg", "run", str(plan.run_folder), "--out", str(out), "--quiet"]
    if plan.run_epochs is not None:
        command += ["--epochs", str(plan.run_epochs)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    record = json.loads((out / "run.json").read_text())
    timings = record["timings"]
    first, unet = record["stages"][0], record["stages"][1]
    training = float(unet["training"]["seconds"])
    phases = {
        "reading": timings["read"],
        "first stage": timings[first["key"]],
        "training": training,
        "prediction": timings[unet["key"]] - training,
        "writing": timings["write"],
    }
    total = timings["total"]
    phases["rest (set-up, checks)"] = total - sum(phases.values())
    from bootseg.refiners.config import PRESETS

    epochs = f"--epochs {plan.run_epochs}" if plan.run_epochs else f"its {PRESETS['fast']['epochs']} epochs"
    case = f"{len(record['inputs'])} images of {plan.run_folder.parent.name}, fast preset, {epochs}, --quiet"
    rows = []
    for name, seconds in phases.items():
        share = seconds / total
        rows.append(
            [
                f"f bootseg run: {name}",
                case if name == "reading" else "same",
                f"{seconds:.2f} s",
                f"{total:.1f} s (total)",
                f"{100 * share:.1f} %",
                "≤ 10 % (training excepted)",
                "-" if name == "training" else verdict(share <= 0.10),
            ]
        )
    outside = wall - total
    rows.append(
        [
            "f bootseg run: outside run.json's total",
            "interpreter and imports, the report, run.json",
            f"{outside:.2f} s",
            f"{wall:.1f} s (process wall time)",
            f"{100 * outside / wall:.1f} %",
            "shown",
            "-",
        ]
    )
    return rows


# ---------------------------------------------------------------------------------------------- main


def machine() -> str:
    import cv2
    import skimage
    import torch

    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), load average at the start {load}; "
        f"Python {platform.python_version()}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"numpy {np.__version__}, scikit-image {skimage.__version__}, OpenCV {cv2.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes for a 2-core machine: about 10 minutes")
    parser.add_argument("--write", action="store_true", help=f"replace the speed block of {DOC.name}")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of data sets (default: %(default)s)")
    parser.add_argument("--only", default="abcdef", help="rows to measure, e.g. 'ac' (default: all)")
    parser.add_argument("--predict-worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.predict_worker:
        mode, count, size, checkpoint, threads = args.predict_worker
        predict_worker(mode, int(count), int(size), checkpoint, int(threads))
        return
    plan = make_plan(args.quick, args.data)
    started = time.perf_counter()
    header = machine()
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="bootseg-speed-") as tmp:
        workdir = Path(tmp)
        steps: list[tuple[str, Callable[[], list[list[str]]]]] = [
            ("a", lambda: annotator_rows(plan, images_256(args.data, plan.annotator_images))),
            ("b", lambda: executor_rows(plan)),
            ("c", lambda: kmeans_rows(plan, args.data)),
            ("d", lambda: training_rows(plan)),
            ("e", lambda: prediction_rows(plan, workdir)),
            ("f", lambda: run_rows(plan, workdir)),
        ]
        for key, step in steps:
            if key in args.only:
                tic = time.perf_counter()
                rows += step()
                print(f"{key}: {time.perf_counter() - tic:.0f} s", file=sys.stderr)
    minutes = (time.perf_counter() - started) / 60
    command = shlex.join(["python", "benchmarks/speed.py", *sys.argv[1:]])
    text = "\n".join(
        [
            "## Speed against plain references",
            "",
            f"Printed by `{command.replace(' --write', '')}` in {minutes:.1f} minutes on {header}.",
            "Every ratio compares bootseg with a plain reference measured in the same run (repeats interleaved, "
            "medians); on a shared machine only the ratios mean anything.",
            "",
            table(HEADER, rows),
        ]
    )
    print(text)
    if args.write:
        replace_block(DOC, BEGIN, END, text)
        print(f"\nwritten to {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
