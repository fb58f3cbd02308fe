#!/usr/bin/env bash
# One prepared check of every GPU-only path on one GPU, in at most 10 minutes, printed as one
# table (benchmarks/gpu_check.py lists the steps): a real-size LoRA step in bf16 with gradient
# checkpointing (with flash-attn when installed), a 1-GPU ZeRO-2 step, --load-4bit / --load-8bit
# answers, bench_answer / bench_throughput / --answer-mode score on CUDA, a bounded serve load
# test on 127.0.0.1, each step's peak GPU memory against `emollm memory`'s estimate.
#
#   bash scripts/gpu_check.sh            # on a machine with one GPU
#   bash scripts/gpu_check.sh --dry-run  # every step at tiny size on the CPU (what the tests run)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
# DeepSpeed builds its ops here; a shared default folder can hold another run's lock for ever
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$PWD/work/torch_extensions}"
[ -x "$PYTHON" ] || PYTHON=python
LIMIT=600  # the GPU run's budget; the dry run on a shared CPU gets longer
for arg in "$@"; do [ "$arg" = "--dry-run" ] && LIMIT=3600; done
exec timeout "$LIMIT" "$PYTHON" benchmarks/gpu_check.py "$@"
