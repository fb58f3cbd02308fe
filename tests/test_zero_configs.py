"""zero_configs/*.json: every "auto" is filled by the HF Trainer, DeepSpeed accepts the result, and a
real (one-process, CPU) DeepSpeed engine under each config matches a plain torch AdamW reference.

The 2-process ZeRO-2 training run through LLaVA's train() is in test_recipes.py.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"zero2": 2, "zero2_offload": 2, "zero3": 3}  # file stem -> ZeRO stage
HIDDEN = 48


def _autos(node, path="") -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _autos(v, f"{path}.{k}".lstrip("."))]
    return [path] if node == "auto" else []


def _filled(name: str, tmp_path, bf16: bool = False, micro: int = 2, accum: int = 4):
    """The config as the HF Trainer hands it to DeepSpeed (HfTrainerDeepSpeedConfig fills "auto")."""
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=micro,
                             gradient_accumulation_steps=accum, learning_rate=2e-5, max_grad_norm=1.0,
                             warmup_ratio=0.03, bf16=False, report_to="none")
    args.bf16 = bf16  # set after construction: TrainingArguments refuses bf16 on a CPU-only machine
    ds = HfTrainerDeepSpeedConfig(str(REPO / "zero_configs" / f"{name}.json"))
    ds.trainer_config_process(args)
    ds.trainer_config_finalize(args, SimpleNamespace(config=SimpleNamespace(hidden_size=HIDDEN)), 100)
    return ds.config, args


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_trainer_fills_every_auto_field(name, tmp_path):
    raw = json.loads((REPO / "zero_configs" / f"{name}.json").read_text())
    assert {"train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "train_batch_size",
            "bf16.enabled", "fp16.enabled", "zero_optimization.reduce_bucket_size"} <= set(_autos(raw))
    config, args = _filled(name, tmp_path, bf16=True, micro=2, accum=4)
    assert _autos(config) == []
    assert config["zero_optimization"]["stage"] == CONFIGS[name]
    assert config["train_micro_batch_size_per_gpu"] == 2 and config["gradient_accumulation_steps"] == 4
    assert config["train_batch_size"] == 2 * 4 * args.world_size
    assert config["bf16"]["enabled"] is True and config["fp16"]["enabled"] is False
    assert config["gradient_clipping"] == 1.0
    assert config["zero_optimization"]["reduce_bucket_size"] == HIDDEN * HIDDEN
    if CONFIGS[name] == 3:
        assert config["zero_optimization"]["stage3_param_persistence_threshold"] == 10 * HIDDEN
        # not "auto": the Trainer would write 0.9 * hidden**2, a float DeepSpeed 0.19 rejects
        # (0.9 * 4096**2 = 15099494.4 for a 7B model)
        assert config["zero_optimization"]["stage3_prefetch_bucket_size"] == 15099494


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_deepspeed_parses_the_filled_config(name, tmp_path):
    from deepspeed.runtime.config import DeepSpeedConfig

    config, _ = _filled(name, tmp_path)
    parsed = DeepSpeedConfig(config)
    assert parsed.zero_optimization_stage == CONFIGS[name]
    assert parsed.train_batch_size == 8 and parsed.gradient_accumulation_steps == 4
    assert parsed.zero_config.overlap_comm and parsed.zero_config.contiguous_gradients
    offload = parsed.zero_config.offload_optimizer
    if name == "zero2_offload":
        assert offload is not None and offload.device == "cpu"
        # the Trainer's own AdamW (with LLaVA's parameter groups) runs on the CPU partitions
        assert "optimizer" not in config and parsed.zero_force_ds_cpu_optimizer is False
    else:
        assert offload is None or offload.device == "none"


_WORKER = r'''
import json, sys
import torch
import deepspeed

configs = json.loads(sys.argv[1])
steps, lr = 3, 1e-2

def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))

torch.manual_seed(1)
batches = [(torch.randn(4, 6), torch.randn(4, 3)) for _ in range(steps)]

def loss_fn(net, x, y):
    return ((net(x) - y) ** 2).mean() * 50  # large enough that clipping at 1.0 is active

reference = model()
opt = torch.optim.AdamW(reference.parameters(), lr=lr, weight_decay=0.0)
for x, y in batches:
    opt.zero_grad()
    loss_fn(reference, x, y).backward()
    torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
    opt.step()
expected = torch.cat([p.detach().flatten() for p in reference.parameters()])

result = {}
for name, config in configs.items():
    net = model()
    client = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    engine, optimizer, _, _ = deepspeed.initialize(model=net, optimizer=client, config=config)
    for x, y in batches:
        loss = loss_fn(engine, x, y)
        engine.backward(loss)
        engine.step()
    if config["zero_optimization"]["stage"] == 3:
        with deepspeed.zero.GatheredParameters(list(engine.module.parameters())):
            got = torch.cat([p.detach().flatten().clone() for p in engine.module.parameters()])
    else:
        got = torch.cat([p.detach().flatten() for p in engine.module.parameters()])
    result[name] = {"optimizer": type(optimizer).__name__,
                    "max_abs_diff": float((got - expected).abs().max()),
                    "moved": float((got - torch.cat([p.detach().flatten() for p in model().parameters()])).abs().max())}
print("RESULT " + json.dumps(result))
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # DeepSpeed engines in a subprocess
def test_each_config_trains_like_plain_adamw_in_a_real_deepspeed_engine(tmp_path):
    """One process, DeepSpeed's CPU accelerator + gloo: ZeRO-2, ZeRO-2 with the optimizer state on
    the CPU, and ZeRO-3 each take 3 clipped AdamW steps equal to torch.optim.AdamW's."""
    configs = {}
    for name in CONFIGS:
        config, _ = _filled(name, tmp_path, micro=4, accum=1)
        config["train_batch_size"] = 4  # one process here
        config["zero_optimization"]["reduce_bucket_size"] = 64  # several buckets for 115 parameters
        configs[name] = config
    env = dict(os.environ, RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(_free_port()))
    env.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / "work" / "torch_extensions"))
    proc = subprocess.run([sys.executable, "-c", _WORKER, json.dumps(configs)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert set(result) == set(CONFIGS)
    for name, r in result.items():
        assert r["moved"] > 1e-3, f"{name}: parameters did not change"
        assert r["max_abs_diff"] < 1e-5, f"{name}: differs from torch AdamW by {r['max_abs_diff']}"
    assert result["zero2"]["optimizer"] == "DeepSpeedZeroOptimizer"
    assert result["zero2_offload"]["optimizer"] == "DeepSpeedZeroOptimizer"
    assert result["zero3"]["optimizer"] == "DeepSpeedZeroOptimizer_Stage3"
