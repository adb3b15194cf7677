"""Training and prediction throughput by torch thread count, on a quiet CPU and beside competing busy processes.

Each arm measures the fast preset's network (16-channel base, depth 4, fresh weights) on 64 synthetic images of
128² as RGB, batch 16: training steps with the on-device augmentation (Adam, cross-entropy) or prediction under
``inference_mode``, for ``--seconds`` after one warm-up batch. The arms with the passive wait policy run in a
process of their own (OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads). Arms: 1 and 2 threads (``2p``:
with ``OMP_WAIT_POLICY=PASSIVE``), and bootseg's rule (``rule``), which measures the free cores when it starts.
Loads: no competitor, then one and two ``python -c "while True: pass"`` processes started here and killed after.
Within a load the arms are interleaved, round after round, and the table gives each arm's median images/s and its
ratio to the best fixed thread count (1, 2 or 2p) of the same load.

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

ARMS = ("1", "2", "2p", "rule")
FIXED = ("1", "2", "2p")
TASKS = ("train", "predict")


def child(arms: list[str], seconds: float) -> list[dict[str, float | int | str]]:
    """``arms`` (``TASK:ARM``) one after the other in this process: images per second of each.

    The wait policy is this process's (OpenMP reads it when torch loads); the thread count is set per arm.
    """
    import numpy as np
    import torch

    from bootseg.datasets import synthetic_spheroids
    from bootseg.threads import apply_threads

    images, _ = synthetic_spheroids(16, size=128, seed=0)
    grey = torch.from_numpy(np.stack(images * 4)[:, None].astype(np.float32))
    x = grey.div_(float(grey.max())).expand(-1, 3, -1, -1).contiguous()  # 64 images, RGB-sized input
    y = (x[:, :1] > x.mean()).float()
    results = []
    for item in arms:
        task, arm = item.split(":")
        choice = apply_threads(None if arm == "rule" else int(arm.rstrip("p")))
        rate = _rate(task, x, y, seconds)
        results.append({"task": task, "arm": arm, "images_per_second": rate, "threads": choice.threads})
    return results


def _rate(task: str, x, y, seconds: float) -> float:
    """Images per second of training steps or predictions on batches of 16 of ``x``, after one warm-up batch."""
    import torch

    from bootseg.refiners.augment import AugmentConfig, augment_batch
    from bootseg.refiners.losses import get_loss
    from bootseg.refiners.unet import UNet

    torch.manual_seed(0)
    model = UNet(3, base_channels=16, depth=4).train(task == "train")
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn, augment = get_loss("bce"), AugmentConfig()

    def step(i: int) -> None:
        if task == "train":
            xb, yb = augment_batch(x[i : i + 16], y[i : i + 16], augment, generator)
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        else:
            with torch.inference_mode():
                torch.sigmoid(model(x[i : i + 16]))

    step(0)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(done % 64)
        done += 16
    return done / (time.perf_counter() - start)


def run_child(arms: list[str], seconds: float, passive: bool) -> list[dict[str, float | int | str]]:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    else:
        env.pop("OMP_WAIT_POLICY", None)
    command = [sys.executable, __file__, "--child", ",".join(arms), "--seconds", str(seconds)]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(rounds: int, seconds: float, loads: list[int]) -> dict[tuple[int, str, str], list[dict]]:
    """Per load: ``rounds`` rounds, each one process with the default wait policy (arms 1, 2 and the rule, in an
    order rotated every round) and one with the passive policy (2p), their order alternating."""
    results: dict[tuple[int, str, str], list[dict]] = {}
    active = [arm for arm in ARMS if not arm.endswith("p")]
    for load in loads:
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
        try:
            time.sleep(1.0)
            for round_ in range(rounds):
                turn = active[round_ % len(active) :] + active[: round_ % len(active)]
                children = [([f"{t}:{a}" for a in turn for t in TASKS], False), ([f"{t}:2p" for t in TASKS], True)]
                for arms, passive in children if round_ % 2 == 0 else children[::-1]:
                    for result in run_child(arms, seconds, passive):
                        results.setdefault((load, result["task"], result["arm"]), []).append(result)
                        print(f"load {load}: {result}", file=sys.stderr, flush=True)
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
            chosen = sorted({int(r["threads"]) for arm in ("rule",) for r in results[(load, task, arm)]})
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
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child.split(","), args.seconds)))
        return 0
    loads = [int(v) for v in args.loads.split(",")]
    results = measure(args.rounds, args.seconds, loads)
    if args.json:
        args.json.write_text(json.dumps({f"{k[0]}|{k[1]}|{k[2]}": v for k, v in results.items()}))
    print(table(results, loads, "python benchmarks/threads.py " + " ".join(argv or sys.argv[1:])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
