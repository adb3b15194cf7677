"""Training and prediction throughput by torch thread count, on a quiet CPU and beside competing busy processes.

Every arm runs in its own process (OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads): the fast preset's
network (16-channel base, depth 4) on 64 synthetic images of 128² as RGB, batch 16, training steps with the
on-device augmentation (Adam, cross-entropy) or prediction under ``inference_mode``, each for ``--seconds`` after
one warm-up batch. Arms: 1 and 2 threads (``2p``: with ``OMP_WAIT_POLICY=PASSIVE``), and bootseg's rule
(``rule``; ``rule-p`` with the passive policy), which measures the free cores when the arm starts. Loads: no
competitor, then one and two ``python -c "while True: pass"`` processes started here and killed after. Within a
load the arms are interleaved, round after round, and the table gives each arm's median images/s and its ratio
to the best fixed thread count (1, 2 or 2p) of the same load.

    python benchmarks/threads.py --rounds 3 --seconds 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ARMS = ("1", "2", "2p", "rule", "rule-p")
FIXED = ("1", "2", "2p")
TASKS = ("train", "predict")


def child(task: str, arm: str, seconds: float) -> dict[str, float | int | str]:
    """One arm in this process: images per second of ``task``."""
    import numpy as np
    import torch

    from bootseg.datasets import synthetic_spheroids
    from bootseg.refiners.augment import AugmentConfig, augment_batch
    from bootseg.refiners.losses import get_loss
    from bootseg.refiners.unet import UNet
    from bootseg.threads import apply_threads

    threads = None if arm.startswith("rule") else int(arm.rstrip("p"))
    choice = apply_threads(threads)
    images, masks = synthetic_spheroids(64, size=128, seed=0)
    grey = torch.from_numpy(np.stack(images)[:, None].astype(np.float32))
    x = grey.div_(float(grey.max())).expand(-1, 3, -1, -1).contiguous()  # RGB-sized input
    y = torch.from_numpy(np.stack(masks)[:, None].astype(np.float32))
    torch.manual_seed(0)
    model = UNet(3, base_channels=16, depth=4)
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = get_loss("bce")
    augment = AugmentConfig()

    def train_step(i: int) -> None:
        xb, yb = augment_batch(x[i : i + 16], y[i : i + 16], augment, generator)
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def predict_step(i: int) -> None:
        with torch.inference_mode():
            torch.sigmoid(model(x[i : i + 16]))

    step = train_step if task == "train" else predict_step
    if task == "predict":
        model.eval()
    step(0)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(done % 64)
        done += 16
    return {"images_per_second": done / (time.perf_counter() - start), "threads": choice.threads}


def run_arm(task: str, arm: str, seconds: float) -> dict[str, float | int | str]:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if arm.endswith("p"):
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    else:
        env.pop("OMP_WAIT_POLICY", None)
    command = [sys.executable, __file__, "--child", task, arm, "--seconds", str(seconds)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(rounds: int, seconds: float, loads: list[int]) -> dict[tuple[int, str, str], list[dict]]:
    results: dict[tuple[int, str, str], list[dict]] = {}
    for load in loads:
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
        try:
            time.sleep(1.0)
            for round_ in range(rounds):
                for task in TASKS:
                    order = ARMS[round_ % len(ARMS) :] + ARMS[: round_ % len(ARMS)]  # rotate the order each round
                    for arm in order:
                        result = run_arm(task, arm, seconds)
                        results.setdefault((load, task, arm), []).append(result)
                        print(f"load {load} {task} {arm}: {result}", file=sys.stderr, flush=True)
        finally:
            for burner in burners:
                burner.kill()
                burner.wait()
    return results


def table(results: dict[tuple[int, str, str], list[dict]], loads: list[int], command: str) -> str:
    head = " | ".join(f"{arm} img/s" for arm in ARMS) + " | " + " | ".join(f"{arm} ratio" for arm in ARMS)
    lines = [
        f"`{command}`",
        "",
        f"| task | competing processes | {head} | threads the rule chose |",
        "|---|---|" + "---|" * (2 * len(ARMS) + 1),
    ]
    for task in TASKS:
        for load in loads:
            rates = {arm: statistics.median(r["images_per_second"] for r in results[(load, task, arm)]) for arm in ARMS}
            best = max(rates[arm] for arm in FIXED)
            chosen = sorted({int(r["threads"]) for arm in ("rule", "rule-p") for r in results[(load, task, arm)]})
            lines.append(
                f"| {task} | {load} | "
                + " | ".join(f"{rates[arm]:.1f}" for arm in ARMS)
                + " | "
                + " | ".join(f"{rates[arm] / best:.2f}" for arm in ARMS)
                + f" | {', '.join(map(str, chosen))} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every arm per load (default: 3)")
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per arm (default: 4)")
    parser.add_argument("--loads", default="0,1,2", help="numbers of competing processes (default: 0,1,2)")
    parser.add_argument("--json", type=Path, help="also keep every measurement here")
    parser.add_argument("--child", nargs=2, metavar=("TASK", "ARM"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.seconds)))
        return 0
    loads = [int(v) for v in args.loads.split(",")]
    results = measure(args.rounds, args.seconds, loads)
    if args.json:
        args.json.write_text(json.dumps({f"{k[0]}|{k[1]}|{k[2]}": v for k, v in results.items()}))
    print(table(results, loads, "python benchmarks/threads.py " + " ".join(argv or sys.argv[1:])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
