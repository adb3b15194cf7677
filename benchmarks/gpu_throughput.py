"""Throughput of the paper's U-Net (64-1024 filters, RGB, 256²) on a GPU: training and inference images/s in bf16
with channels_last, eager and with torch.compile, and the share of the card's bf16 peak that training reaches
(the peak is measured in the same run by a large bf16 matrix product; FLOPs per image by torch's flop counter).

    python benchmarks/gpu_throughput.py                 # on a CUDA machine
    python benchmarks/gpu_throughput.py --quick         # fewer steps
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import table

from bootseg.refiners.losses import soft_dice_loss
from bootseg.refiners.unet import UNet


def matmul_peak(n: int = 8192, repeat: int = 10) -> float:
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeat):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * repeat / (time.perf_counter() - start)


def flops_per_image(model, size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(2, 3, size, size, device="cuda").contiguous(memory_format=torch.channels_last)
    with FlopCounterMode(display=False) as counter, torch.autocast("cuda", dtype=torch.bfloat16):
        soft_dice_loss(model(x), torch.zeros(2, 1, size, size, device="cuda")).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 2


def train_rate(model, batch: int, size: int, steps: int, warmup: int, *, fused: bool = False) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    x = torch.rand(batch, 3, size, size, device="cuda").contiguous(memory_format=torch.channels_last)
    y = (torch.rand(batch, 1, size, size, device="cuda") > 0.5).float()

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = soft_dice_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def infer_rate(model, batch: int, size: int, steps: int, warmup: int) -> float:
    x = torch.rand(batch, 3, size, size, device="cuda").contiguous(memory_format=torch.channels_last)
    model.eval()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(warmup):
            torch.sigmoid(model(x))
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            torch.sigmoid(model(x))
        torch.cuda.synchronize()
    model.train()
    return batch * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument(
        "--tuning",
        action="store_true",
        help="also try what may reach the H100 targets: fused Adam, and torch.compile with max-autotune (kernels "
        "chosen by benchmarking, several minutes of compilation) and CUDA graphs for inference",
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_throughput.py needs a CUDA device")
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    steps, warmup = (15, 5) if args.quick else (40, 10)
    peak = matmul_peak()
    model = UNet(3).cuda().to(memory_format=torch.channels_last)
    flops = flops_per_image(model, args.size)
    rows = []
    variants = [("eager", model, False)]
    if not args.no_compile:
        start = time.perf_counter()
        compiled = torch.compile(model)
        train_rate(compiled, 64, args.size, 1, 1)  # triggers compilation
        print(f"torch.compile warm-up: {time.perf_counter() - start:.0f} s")
        variants.append(("torch.compile", compiled, False))
        if args.tuning:
            variants.append(("torch.compile + fused Adam", compiled, True))
            start = time.perf_counter()
            tuned = torch.compile(model, mode="max-autotune")  # CUDA graphs included
            train_rate(tuned, 64, args.size, 1, 1, fused=True)
            print(f"torch.compile max-autotune warm-up: {time.perf_counter() - start:.0f} s")
            variants.append(("max-autotune + fused Adam", tuned, True))
    for name, net, fused in variants:
        try:
            for batch in (32, 128):
                rate = train_rate(net, batch, args.size, steps, warmup, fused=fused)
                rows.append([name, "train", batch, f"{rate:.0f}", f"{100 * rate * flops / peak:.1f} %"])
            rate = infer_rate(net, 256, args.size, steps, warmup)
            rows.append([name, "inference", 256, f"{rate:.0f}", f"{100 * rate * flops / 3 / peak:.1f} % (fwd ≈ 1/3)"])
        except Exception as exc:  # one variant failing must not lose the others' rows
            rows.append([name, "failed", "-", "-", f"{type(exc).__name__}: {str(exc)[:60]}"])
    print(
        f"{torch.cuda.get_device_name()}, torch {torch.__version__}; bf16 matmul peak measured {peak / 1e12:.0f} "
        f"TFLOP/s; paper U-Net (RGB, {args.size}²) {flops / 1e9:.0f} GFLOP per image per training step"
    )
    print(table(["mode", "work", "batch", "images/s", "share of bf16 peak"], rows))


if __name__ == "__main__":
    main()
