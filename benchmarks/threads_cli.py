"""`bootseg run` with its default thread choice against fixed thread counts, beside competing busy processes.

The default chain on the first ``--images`` CellaVision images of ``../shared/data`` (read where they are), once
per arm and round: the default (no ``--threads``: bootseg chooses from the cores that are free when it starts),
``--threads 1`` and ``--threads 2``. ``--load`` busy processes (``python -c "while True: pass"``) run during every
run, started before it and killed after. The arms are interleaved, their order turned round each round. The table
gives each arm's median wall time, the Dice of its masks against the truth, and its time over the best fixed
count's (1 or 2).

    python benchmarks/threads_cli.py --images 60 --rounds 2 --load 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wbc_cellavision_brightfield"
ARMS = {"default": [], "1": ["--threads", "1"], "2": ["--threads", "2"]}
BUSY = [sys.executable, "-c", "while True: pass"]


def run_arm(arm: str, images: list[Path], out: Path, load: int) -> dict[str, float | str]:
    """One ``bootseg run`` of ``arm`` beside ``load`` busy processes: wall seconds, mean Dice, threads used."""
    busy = [subprocess.Popen(BUSY) for _ in range(load)]
    try:
        time.sleep(1.0)  # the competitors are running when bootseg looks at the free cores
        start = time.perf_counter()
        command = [sys.executable, "-m", "bootseg", "run", *map(str, images), "--out", str(out), "-q", *ARMS[arm]]
        subprocess.run(command, check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    finally:
        for process in busy:
            process.kill()
            process.wait()
    record = json.loads((out / "run.json").read_text())
    unet = record["stages"][-1]["choices"] or {}
    return {"arm": arm, "seconds": seconds, "dice": _dice(out, images), "threads": unet.get("threads", "?")}


def _dice(out: Path, images: list[Path]) -> float:
    import numpy as np

    from bootseg.io import read_mask
    from bootseg.metrics import dice

    scores = [dice(read_mask(out / "masks" / f"{p.stem}.png"), read_mask(DATA / "masks" / p.name)) for p in images]
    return float(np.mean(scores))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60, help="CellaVision images (default: 60)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every arm (default: 2)")
    parser.add_argument("--load", type=int, default=1, help="competing busy processes (default: 1)")
    parser.add_argument("--json", type=Path, help="also keep every measurement here")
    args = parser.parse_args(argv)
    images = sorted((DATA / "images").glob("*.png"))[: args.images]
    rows = []
    order = list(ARMS)
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for arm in order if round_ % 2 == 0 else order[::-1]:
                out = Path(tmp) / f"{arm}-{round_}"
                row = run_arm(arm, images, out, args.load) | {"round": round_}
                shutil.rmtree(out)
                rows.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    median = {arm: statistics.median(r["seconds"] for r in rows if r["arm"] == arm) for arm in ARMS}
    best = min(median["1"], median["2"])
    print(f"\n{len(images)} CellaVision images, default chain, {args.load} competing process(es), {args.rounds} rounds")
    print("| arm | threads used | median seconds | mean DSC | time / best fixed |")
    print("|---|---|---|---|---|")
    for arm in ARMS:
        mine = [r for r in rows if r["arm"] == arm]
        used = sorted({str(r["threads"]) for r in mine})
        dsc = statistics.mean(r["dice"] for r in mine)
        print(f"| {arm} | {', '.join(used)} | {median[arm]:.0f} | {dsc:.3f} | {median[arm] / best:.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
