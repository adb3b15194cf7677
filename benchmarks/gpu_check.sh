#!/usr/bin/env bash
# One prepared command for a GPU machine: the CUDA tests, then training/inference throughput of the paper
# network at 256² (bf16, channels_last, eager and torch.compile), then the training-loop overhead on CUDA.
# Usage (from the repository root, with torch and the project's dependencies importable):
#     bash benchmarks/gpu_check.sh [--quick]
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
status=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "== CUDA tests"
$PY -m pytest -q -p no:cacheprovider tests/test_cuda.py || status=1
echo "== paper U-Net throughput"
$PY benchmarks/gpu_throughput.py --tuning "$@" || status=1
echo "== training-loop overhead on CUDA (paper preset)"
$PY benchmarks/train_overhead.py --preset paper --device cuda --epochs 2 --repeat 2 || status=1
exit $status
