"""`emollm-run [--cpu] CMD ...`: run an unmodified LLaVA entry point with the plugin registered.

Like `opentelemetry-instrument`, it puts an opt-in ``sitecustomize`` on PYTHONPATH; every Python
process of CMD (DeepSpeed/torchrun workers included) registers the plugin as soon as it imports
``llava``. Nothing is installed into site-packages and nothing changes outside this command.

    emollm-run python -m llava.eval.model_vqa_loader --model-path CKPT --model-base BASE ...
    emollm-run deepspeed llava/train/train_mem.py ... --mm_projector_type mvp

--cpu: upstream eval scripts hard-code ``.to(device='cuda')``; on a machine without CUDA this maps
such requests to the CPU (for trying upstream scripts on a laptop or in CI). Off by default.
Note: ``python -m llava.train.train`` runs LLaVA's training module a second time as ``__main__``,
a copy no plugin can reach; use ``llava.train.train_mem``, or ``python -m emollm_plugin.train``.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SITE_DIR = Path(__file__).parent / "_sitecustomize"


def child_environment(base: dict | None = None, cpu: bool = False) -> dict:
    env = dict(os.environ if base is None else base)
    paths = [str(SITE_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["EMOLLM_AUTO_REGISTER"] = "1"
    if cpu:
        env["EMOLLM_RUN_CPU"] = "1"
    return env


def map_cuda_to_cpu() -> None:
    """Rewrite 'cuda' device requests to 'cpu' when CUDA is unavailable (opt-in, --cpu)."""
    import torch
    if torch.cuda.is_available() or getattr(torch.Tensor.to, "_emollm_cpu", False):
        return

    def fix(device):
        if isinstance(device, str) and device.startswith("cuda"):
            return "cpu"
        if isinstance(device, torch.device) and device.type == "cuda":
            return torch.device("cpu")
        return device

    upstream_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        args = tuple(fix(a) for a in args)
        if "device" in kwargs:
            kwargs["device"] = fix(kwargs["device"])
        return upstream_to(self, *args, **kwargs)

    to._emollm_cpu = True
    torch.Tensor.to = to
    torch.Tensor.cuda = lambda self, *a, **k: self


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cpu = False
    if argv and argv[0] == "--cpu":
        cpu, argv = True, argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    program = shutil.which(argv[0])
    if program is None:
        print(f"emollm-run: command not found: {argv[0]}", file=sys.stderr)
        return 127
    os.execve(program, argv, child_environment(cpu=cpu))
    return 0  # not reached
