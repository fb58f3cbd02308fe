"""Wall-clock timing shared by the benchmarks: ``timed(fn, device) -> (seconds, fn's result)``,
with CUDA synchronised before and after so queued kernels are counted."""
from __future__ import annotations

import time

import torch


def timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out
