#!/usr/bin/env bash
# One prepared command for a GPU machine: the CUDA tests, then training/inference throughput of the paper
# network at 256² (bf16, channels_last, eager and torch.compile), the training-loop overhead on CUDA, and the
# default chain end to end on 200 images of 256² on the GPU against the same machine's CPU.
# Usage (from the repository root, with torch and the project's dependencies importable):
#     bash benchmarks/gpu_check.sh [--quick]        # --quick: fewer throughput rows
#     SKIP_THROUGHPUT=1 bash benchmarks/gpu_check.sh  # the tests and the end-to-end run only
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
status=0
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
echo "== CUDA tests"
$PY -m pytest -q -p no:cacheprovider tests/test_cuda.py || status=1
if [ -z "${SKIP_THROUGHPUT:-}" ]; then
    echo "== paper U-Net throughput"
    $PY benchmarks/gpu_throughput.py --tuning "$@" || status=1
    echo "== training-loop overhead on CUDA (paper preset)"
    $PY benchmarks/train_overhead.py --preset paper --device cuda --epochs 2 --repeat 2 || status=1
fi
echo "== the default chain end to end, GPU against this machine's CPU"
$PY benchmarks/cuda_run.py --n 200 --size 256 --devices cuda,cpu || status=1
exit $status
