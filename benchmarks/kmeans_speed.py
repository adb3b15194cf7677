"""bootseg's k-means against ``cv2.kmeans`` called as the paper called it: agreement and speed.

The reference is ``cv2.kmeans(data, 2, None, (EPS + MAX_ITER, 100, 0.2), 10, KMEANS_RANDOM_CENTERS)`` on the same
data as a float32 column (grey) or an (N, 3) float32 array (colour), the largest cluster taken as background.
bootseg runs ``KMeans(k=2, fill_holes=False)`` (no clean-up, so that both masks are the clustering alone) on the
image itself, so its time includes validation and grey conversion, while cv2 gets its input ready-made.
Both are timed on the same images in the same run; each image is timed ``--repeat`` times and the fastest kept.

Rows (grouped by size):

- grey uint8: single-channel uint8 images (or RGB images rounded to uint8 grey when there are too few);
- grey from RGB: RGB images, converted to float64 grey (Rec. 709) by bootseg, the same grey given to cv2;
- colour: RGB images with ``color=True``; cv2 clusters the RGB vectors.

Images come from ``../shared/data/*/images`` (read-only) when present, else synthetic ones (``--synthetic``).

Run: ``python benchmarks/kmeans_speed.py [--images 50] [--repeat 3] [--synthetic] [--pp]``
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
from skimage import io

from bootseg.annotators import KMeans
from bootseg.annotators.preprocess import to_grey

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 0.2)


def cv2_mask(data: np.ndarray, shape: tuple[int, int], flags: int) -> np.ndarray:
    """The paper's k-means: k=2, 10 attempts; the largest cluster is background."""
    _, labels, _ = cv2.kmeans(data, 2, None, CRITERIA, 10, flags)
    labels = labels.ravel()
    background = int(np.argmax(np.bincount(labels, minlength=2)))
    return (labels != background).reshape(shape)


def fastest(function: Callable[[], np.ndarray], repeat: int) -> tuple[float, np.ndarray]:
    """Best wall time of ``repeat`` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def real_images(data: Path) -> Iterator[np.ndarray]:
    """Images of every data set under ``data``, interleaved so that each set is represented."""
    lists = [sorted((folder / "images").glob("*.png")) for folder in sorted(data.iterdir())]
    lists = [files for files in lists if files]
    for index in range(max(map(len, lists), default=0)):
        for files in lists:
            if index < len(files):
                yield io.imread(files[index])


def synthetic_images(count: int, size: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Noisy discs on a background, alternately grey uint8 and RGB uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for index in range(2 * count):
        radius = rng.uniform(0.1, 0.35) * size
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
        if index % 2 == 0:
            image = np.where(disc, rng.normal(170, 25, disc.shape), rng.normal(80, 20, disc.shape))
        else:
            fg, bg = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
            image = np.where(disc[..., None], fg, bg) + rng.normal(0, 20, (size, size, 3))
        yield np.clip(image, 0, 255).astype(np.uint8)


def cases(images: Iterator[np.ndarray], count: int) -> dict[tuple[str, str], list[np.ndarray]]:
    """Up to ``count`` images per (kind, size) row."""
    rows: dict[tuple[str, str], list[np.ndarray]] = defaultdict(list)
    spare_rgb: dict[str, list[np.ndarray]] = defaultdict(list)
    for image in images:
        size = f"{image.shape[0]}×{image.shape[1]}"
        if image.ndim == 2:
            rows[("grey uint8", size)].append(image)
        else:
            image = image[:, :, :3]
            rows[("grey from RGB", size)].append(image)
            rows[("colour (color=True)", size)].append(image)
            spare_rgb[size].append(np.rint(to_grey(image)).astype(np.uint8))
    for size, greys in spare_rgb.items():
        rows[("grey uint8", size)].extend(greys)
    return {key: value[:count] for key, value in rows.items()}


def measure(kind: str, images: list[np.ndarray], repeat: int, flags: int) -> dict[str, float]:
    """Median agreement and times over ``images`` for one row."""
    colour = kind.startswith("colour")
    annotator = KMeans(k=2, color=colour, fill_holes=False)
    agreement, t_cv2, t_ours = [], [], []
    for image in images:
        shape = image.shape[:2]
        data = image.reshape(-1, 3) if colour else to_grey(image).reshape(-1, 1)
        data = np.ascontiguousarray(data, dtype=np.float32)
        cv2.setRNGSeed(0)
        time_cv2, reference = fastest(lambda data=data, shape=shape: cv2_mask(data, shape, flags), repeat)
        time_ours, ours = fastest(lambda image=image: annotator.annotate(image), repeat)
        agreement.append(float(np.mean(ours == reference)))
        t_cv2.append(time_cv2)
        t_ours.append(time_ours)
    return {
        "n": len(images),
        "agree": float(np.median(agreement)),
        "agree_min": float(np.min(agreement)),
        "cv2_ms": 1e3 * float(np.median(t_cv2)),
        "ours_ms": 1e3 * float(np.median(t_ours)),
        "ratio": float(np.median(np.array(t_cv2) / np.array(t_ours))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of data sets (default: %(default)s)")
    parser.add_argument("--images", type=int, default=50, help="images per row (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per image, fastest kept (default: %(default)s)")
    parser.add_argument("--synthetic", action="store_true", help="use synthetic 256×256 images even if data exist")
    parser.add_argument("--pp", action="store_true", help="cv2 with KMEANS_PP_CENTERS instead of random centres")
    args = parser.parse_args()
    flags = cv2.KMEANS_PP_CENTERS if args.pp else cv2.KMEANS_RANDOM_CENTERS
    use_real = not args.synthetic and args.data.is_dir() and any(args.data.glob("*/images/*.png"))
    images = real_images(args.data) if use_real else synthetic_images(args.images, 256)
    rows = cases(images, args.images)
    print(
        f"images: {'real, ' + str(args.data) if use_real else 'synthetic'}; cv2 {cv2.__version__}, "
        f"{cv2.getNumThreads()} threads; cv2 centres: {'k-means++' if args.pp else 'random'}\n"
    )
    print("| kind | size | images | agreement median (min) | cv2.kmeans ms | bootseg ms | speed-up |")
    print("|---|---|---|---|---|---|---|")
    order = ("grey uint8", "grey from RGB", "colour (color=True)")
    for key in sorted(rows, key=lambda key: (order.index(key[0]), key[1])):
        r = measure(key[0], rows[key], args.repeat, flags)
        print(
            f"| {key[0]} | {key[1]} | {r['n']} | {100 * r['agree']:.2f} % ({100 * r['agree_min']:.2f} %) | "
            f"{r['cv2_ms']:.2f} | {r['ours_ms']:.3f} | {r['ratio']:.0f}× |"
        )


if __name__ == "__main__":
    main()
