"""scripts/finetune_emo_lora.sh, run for real on the tiny preset: two CPU processes under DeepSpeed
ZeRO-2 through LLaVA's own train(), checkpoints loaded back with LLaVA's own load_pretrained_model,
resume from checkpoint-2, the sequential strategy's stage 1 -> merge -> stage 2.

The launch arithmetic (batch split, hostfile, errors), the EmoPrompt and strategy choices and the
seeds are checked with DRY_RUN=1, which prints the commands without starting anything.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
FINETUNE = REPO / "scripts" / "finetune_emo_lora.sh"
TINY_NAME = "emollm-llava-lora-tiny"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(script: Path, *args: str, timeout: int = 400, **env: str) -> subprocess.CompletedProcess:
    full = dict(os.environ, PYTHON=sys.executable, MASTER_PORT=str(_free_port()), **env)
    full.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / "work" / "torch_extensions"))
    for key in ("CUDA_VISIBLE_DEVICES", "HOSTFILE", "DRY_RUN", "STRATEGY", "EMOPROMPT", "EMOPROMPT_BANK",
                "SEEDS", "OUTPUT_DIR", "DATA_PATH", "STAGE1_DATA"):  # the test decides these
        if key not in env:
            full.pop(key, None)
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=full, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, (f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}"
                                  f"\n--- stderr\n{proc.stderr[-5000:]}")
    return proc.stdout + proc.stderr


def _losses(output_dir: Path) -> dict[int, float]:
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return {h["step"]: h["loss"] for h in state["log_history"] if "loss" in h}


def _trainables(output_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    weights = dict(load_file(str(output_dir / "adapter_model.safetensors")))
    weights.update(torch.load(output_dir / "non_lora_trainables.bin"))
    return weights


# ---- one real tiny run shared by the tests below ---------------------------------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("preset_tiny")
    output = _ok(_run(FINETUNE, PRESET="tiny", WORK_DIR=str(work), timeout=1500))
    return work, work / "checkpoints" / TINY_NAME, output


@pytest.mark.slow
@pytest.mark.current_stack
def test_tiny_preset_trains_two_processes_under_zero2(tiny_run):
    work, ckpt, output = tiny_run
    assert "dist_world_size=2" in output
    assert "2 processes x micro-batch 2 x accumulation 1 = global batch 4" in output
    losses = _losses(ckpt)
    assert sorted(losses) == [1, 2, 3, 4]
    assert all(0.0 < x < 50 for x in losses.values())  # 0.0 would mean every target was masked
    # ZeRO-2 really partitioned the optimizer state over the two ranks
    step2 = ckpt / "checkpoint-2" / "global_step2"
    shards = sorted(p.name for p in step2.glob("zero_pp_rank_*_mp_rank_00_optim_states.pt"))
    assert shards == ["zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"]
    state = torch.load(step2 / shards[1], weights_only=False)
    assert int(state["optimizer_state_dict"]["zero_stage"]) == 2
    assert state["optimizer_state_dict"]["partition_count"][0] == 2
    config = json.loads((ckpt / "config.json").read_text())
    assert config["mm_projector_type"] == "mvp" and config["mvp_num_clusters"] == [16, 8, 4]
    assert config["mm_audio_tower"].endswith("whisper.pt")


_LOAD_WORKER = r'''
import json, os, sys
import torch
from safetensors.torch import load_file
import emollm_plugin
emollm_plugin.register()
from llava.model.builder import load_pretrained_model

ckpt, base = sys.argv[1:3]
tokenizer, model, processor, _ = load_pretrained_model(ckpt, base, os.path.basename(ckpt), device="cpu")
state = model.state_dict()
# merged LLM weight = base + (alpha / r) B A, computed here from the saved files
lora = load_file(os.path.join(ckpt, "adapter_model.safetensors"))
cfg = json.load(open(os.path.join(ckpt, "adapter_config.json")))
base_weights = load_file(os.path.join(base, "model.safetensors"))
merge_err = 0.0
for name in ("layers.0.self_attn.q_proj", "layers.1.mlp.down_proj"):
    a = lora[f"base_model.model.model.{name}.lora_A.weight"].float()
    b = lora[f"base_model.model.model.{name}.lora_B.weight"].float()
    expected = base_weights[f"model.{name}.weight"].float() + cfg["lora_alpha"] / cfg["r"] * b @ a
    merge_err = max(merge_err, float((state[f"model.{name}.weight"].float() - expected).abs().max()))
non_lora = torch.load(os.path.join(ckpt, "non_lora_trainables.bin"))
projector_err = max(float((state[k[len("base_model.model."):]].float() - v.float()).abs().max())
                    for k, v in non_lora.items())
ids = tokenizer("USER: Describe the clip. ASSISTANT:", return_tensors="pt").input_ids
generated = model.generate(ids, max_new_tokens=3, do_sample=False)
print("RESULT " + json.dumps({
    "projector": type(model.get_model().mm_projector).__name__,
    "audio_projector": type(getattr(model.get_model(), "audio_projector", None)).__name__,
    "merge_err": merge_err, "projector_err": projector_err, "n_non_lora": len(non_lora),
    "generated": int(generated.shape[1])}))
'''


def _load_with_llava(ckpt: Path, base: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _LOAD_WORKER, str(ckpt), str(base)], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def _assert_loaded(result: dict) -> None:
    assert result["projector"] == "MVPProjector" and result["audio_projector"] == "AudioProjector"
    assert result["merge_err"] < 1e-5, "LoRA was not merged as W + alpha/r * B A"
    assert result["projector_err"] == 0.0 and result["n_non_lora"] > 0
    assert result["generated"] >= 1  # greedy decoding runs on the loaded model


@pytest.mark.slow
@pytest.mark.current_stack
def test_checkpoint_loads_with_llavas_loader(tiny_run):
    work, ckpt, _ = tiny_run
    _assert_loaded(_load_with_llava(ckpt, work / "models" / "llm"))


@pytest.mark.slow
def test_resumed_run_ends_with_the_uninterrupted_weights(tiny_run, tmp_path):
    """Interrupted after checkpoint-2: the same command again continues from it (LLaVA's train()
    resumes when output_dir has checkpoint-*) and ends where the uninterrupted run ended."""
    work, ckpt, _ = tiny_run
    resumed = tmp_path / TINY_NAME
    resumed.mkdir()
    shutil.copytree(ckpt / "checkpoint-2", resumed / "checkpoint-2")
    output = _ok(_run(FINETUNE, PRESET="tiny", WORK_DIR=str(work), OUTPUT_DIR=str(resumed), timeout=1500))
    # only steps 3 and 4 were trained in this run: one progress line with a loss each (train/progress.py)
    assert len(re.findall(r"\[emollm\] step \d+/\d+ \(\d+%\) loss ", output)) == 2
    # log_history: steps 1-2 restored from checkpoint-2, steps 3-4 trained again to the same losses
    assert sorted(_losses(resumed)) == [1, 2, 3, 4]
    assert _losses(resumed) == pytest.approx(_losses(ckpt), rel=1e-5)
    want, got = _trainables(ckpt), _trainables(resumed)
    assert want.keys() == got.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6, msg=key)


@pytest.mark.slow
def test_sequential_stage2_starts_from_merged_stage1(tiny_run, tmp_path):
    from safetensors.torch import load_file

    work, _, _ = tiny_run
    stage2 = tmp_path / "seq-llava-lora"
    stage1, merged = tmp_path / "seq-llava-lora-stage1", tmp_path / "seq-llava-lora-stage1-merged"
    output = _ok(_run(FINETUNE, PRESET="tiny", STRATEGY="sequential", WORK_DIR=str(work), OUTPUT_DIR=str(stage2),
                      STAGE1_DATA=str(tmp_path / "general.json"), MAX_STEPS="2", SAVE_STEPS="100", timeout=1500))
    assert "EmoPrompt off: --version v1; data " + str(tmp_path / "general.json") in output
    assert "EmoPrompt on: --version emoprompt_v1, bank illustrative" in output
    general = json.loads((tmp_path / "general.json").read_text())
    assert general and all("emotion" not in r["conversations"][1]["value"] for r in general)
    assert sorted(_losses(stage1)) == [1, 2] and sorted(_losses(stage2)) == [1, 2]

    # the merged model is stage 1 folded into the base: LLM = base + alpha/r * B A, projectors = stage 1's
    base = load_file(str(work / "models" / "llm" / "model.safetensors"))
    merged_w = load_file(str(merged / "model.safetensors"))
    lora = load_file(str(stage1 / "adapter_model.safetensors"))
    scale = json.loads((stage1 / "adapter_config.json").read_text())
    scale = scale["lora_alpha"] / scale["r"]
    name = "layers.0.self_attn.v_proj"
    prefix = f"base_model.model.model.{name}"
    delta = scale * lora[f"{prefix}.lora_B.weight"] @ lora[f"{prefix}.lora_A.weight"]
    assert delta.abs().max() > 1e-4  # stage 1 changed the LLM
    torch.testing.assert_close(merged_w[f"model.{name}.weight"], base[f"model.{name}.weight"] + delta)
    for key, value in torch.load(stage1 / "non_lora_trainables.bin").items():
        torch.testing.assert_close(merged_w[key[len("base_model.model."):]], value)
    assert not [k for k in merged_w if "vision_tower" in k or "audio_tower" in k]

    # stage 2 trained on top of the merged model, and LLaVA's loader reads it back from that base
    assert json.loads((stage2 / "adapter_config.json").read_text())["base_model_name_or_path"] == str(merged)
    _assert_loaded(_load_with_llava(stage2, merged))


@pytest.mark.slow
def test_mix_writes_one_file_and_one_media_root_linking_both(tmp_path):
    """mix: one file, one media root whose top-level folders link both roots (as the build links
    media/<dataset>), so every record keeps its relative path and the path rule accepts it."""
    from emollm_plugin.media.paths import resolve_media

    media = tmp_path / "data" / "emobench" / "media"
    (tmp_path / "MELD" / "clips").mkdir(parents=True)
    (tmp_path / "MELD" / "clips" / "a.mp4").write_bytes(b"x")
    media.mkdir(parents=True)
    (media / "meld").symlink_to(tmp_path / "MELD")             # what `emollm bench build` writes
    emobench = tmp_path / "data" / "emobench" / "train.json"
    emobench.write_text(json.dumps([{"id": "e0", "task": "emotion_open", "video": "meld/clips/a.mp4", "conversations": [
        {"from": "human", "value": "<video>\nHow does he feel?"}, {"from": "gpt", "value": "joy"}]}]))
    (tmp_path / "data" / "llava" / "coco").mkdir(parents=True)
    (tmp_path / "data" / "llava" / "coco" / "pic.png").write_bytes(b"x")
    general = tmp_path / "general.json"
    general.write_text(json.dumps([{"id": "g0", "image": "coco/pic.png", "conversations": [
        {"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": "A picture."}]},
        {"id": "g1", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}]))
    out = tmp_path / "ckpt" / "mix-llava-lora"
    env = dict(STRATEGY="mix", NUM_GPUS="1", EMOPROMPT_BANK="illustrative", OUTPUT_DIR=str(out),
               DATA_PATH=str(emobench), MEDIA_FOLDER=str(media), STAGE1_DATA=str(general),
               STAGE1_MEDIA=str(tmp_path / "data" / "llava"), MODEL_BASE=str(tmp_path / "none"))
    proc = _run(FINETUNE, **env)
    # stops at the missing model (after mixing), naming it: nothing was launched
    assert proc.returncode == 2 and "MODEL_BASE=" in proc.stderr, proc.stderr
    mixed = json.loads((tmp_path / "ckpt" / "mix-llava-lora-mixed_train.json").read_text())
    assert [r["id"] for r in mixed] == ["g0", "g1", "e0"]
    root = tmp_path / "ckpt" / "mix-llava-lora-mixed_media"
    for record, field in ((mixed[0], "image"), (mixed[2], "video")):
        assert resolve_media(root, record[field]).read_bytes() == b"x"
    assert _ok(_run(FINETUNE, DRY_RUN="1", **env))  # a second run reuses the links
    (tmp_path / "data" / "llava" / "meld").mkdir()         # the same top-level name in both roots
    proc = _run(FINETUNE, **env)
    assert proc.returncode != 0 and "are both top-level 'meld' of a media root" in proc.stderr
    proc, command = _dry(STRATEGY="mix", NUM_GPUS="1", EMOPROMPT_BANK="b.jsonl", OUTPUT_DIR=str(out))
    _ok(proc)
    assert _flag(command, "--data_path") == str(out) + "-mixed_train.json"
    assert _flag(command, "--image_folder") == str(out) + "-mixed_media"
    assert _flag(command, "--output_dir") == str(out) and _flag(command, "--version") == "emoprompt_v1"


# ---- launch arithmetic, without starting anything --------------------------------------------------

def _commands(proc: subprocess.CompletedProcess) -> list[list[str]]:
    """The launch commands a dry run printed, in order (the other lines start with [finetune])."""
    return [shlex.split(line) for line in proc.stdout.splitlines() if line and not line.startswith("[")]


def _dry(*args: str, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """A dry run of one EmoBench training run (STRATEGY=emo, a bank named) unless env says otherwise;
    returns the last launch command."""
    env = {"STRATEGY": "emo", "EMOPROMPT_BANK": "work/bank.jsonl", **env}
    proc = _run(FINETUNE, *args, DRY_RUN="1", **env)
    commands = _commands(proc) if proc.returncode == 0 else []
    return proc, (commands[-1] if commands else [])


def _flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.mark.parametrize("gpus, global_batch, max_micro, micro, accum", [
    ("4", "16", "4", 4, 1),   # the paper's run on 4 x 24 GB
    ("1", "16", "4", 4, 4),   # one GPU: same global batch through accumulation
    ("2", "16", "3", 2, 4),   # largest divisor of 8 that is <= 3
    ("8", "16", "4", 2, 1),
])
def test_batch_split_keeps_the_global_batch(gpus, global_batch, max_micro, micro, accum):
    proc, command = _dry(NUM_GPUS=gpus, GLOBAL_BATCH=global_batch, MAX_MICRO_BATCH=max_micro)
    _ok(proc)
    assert int(_flag(command, "--per_device_train_batch_size")) == micro
    assert int(_flag(command, "--gradient_accumulation_steps")) == accum
    assert int(gpus) * micro * accum == int(global_batch)
    assert _flag(command, "--num_gpus") == gpus and "--module" in command


def test_full_size_defaults():
    proc, command = _dry(NUM_GPUS="4")
    _ok(proc)
    expected = {"--deepspeed": "zero_configs/zero2.json", "--model_name_or_path": "models/vicuna-7b-v1.5",
                "--vision_tower": "models/clip-vit-large-patch14", "--audio_tower": "models/whisper-base.pt",
                "--mm_projector_type": "mvp", "--lora_enable": "True", "--num_train_epochs": "5",
                "--learning_rate": "2e-5", "--lr_scheduler_type": "cosine", "--warmup_ratio": "0.03",
                "--bf16": "True", "--gradient_checkpointing": "True", "--mm_vision_select_layer": "-2"}
    assert {k: _flag(command, k) for k in expected} == expected
    clusters = command.index("--mvp_num_clusters")
    assert command[clusters + 1:clusters + 4] == ["64", "32", "16"]
    train_args = command[command.index("emollm_plugin.train") + 1:]
    assert not [a for a in train_args if a.startswith("/")]  # no machine's absolute paths


def test_hostfile_sets_the_world_size(tmp_path):
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("# two nodes\nnode-a slots=4\n\nnode-b slots=4\n")
    proc, command = _dry(HOSTFILE=str(hostfile), MASTER_ADDR="node-a")
    assert "8 processes x micro-batch 2 x accumulation 1 = global batch 16" in _ok(proc)
    assert _flag(command, "--hostfile") == str(hostfile) and _flag(command, "--master_addr") == "node-a"
    assert "--num_gpus" not in command


def test_cuda_visible_devices_is_honoured():
    proc, command = _dry(CUDA_VISIBLE_DEVICES="2,3")
    _ok(proc)
    assert _flag(command, "--include") == "localhost:2,3" and "--num_gpus" not in command
    assert _flag(command, "--gradient_accumulation_steps") == "2"


def test_extra_flags_reach_the_trainer_and_empty_audio_tower_drops_audio():
    proc, command = _dry("--mm_projector_lr", "1e-4", NUM_GPUS="1", AUDIO_TOWER="")
    _ok(proc)
    assert command[-2:] == ["--mm_projector_lr", "1e-4"]
    assert "--audio_tower" not in command and "--mm_audio_num_tokens" not in command


@pytest.mark.parametrize("env, message", [
    ({"NUM_GPUS": "3"}, "GLOBAL_BATCH=16 is not divisible by the 3 processes"),
    ({"NUM_GPUS": "4", "MICRO_BATCH": "3"}, "MICRO_BATCH=3 does not divide the per-process share 4"),
    ({"NUM_GPUS": "1", "OUTPUT_DIR": "checkpoints/my-run"}, "must contain 'llava' and 'lora'"),
    ({"NUM_GPUS": "1", "PRECISION": "fp8"}, "PRECISION=fp8: use bf16, fp16 or fp32"),
    ({"PRESET": "huge"}, "unknown PRESET=huge"),
    ({"STRATEGY": "both"}, "STRATEGY=both: use sequential"),
    ({"EMOPROMPT": "yes"}, "EMOPROMPT=yes: use on"),
    ({"SEEDS": "1 two"}, 'SEEDS="1 two": each seed must be a non-negative integer'),
    ({"NUM_GPUS": "0"}, "no GPU found"),
    ({"NUM_GPUS": "2", "LAUNCHER": "mpirun"}, "LAUNCHER=mpirun: use deepspeed or torchrun"),
])
def test_bad_settings_fail_before_launch_with_the_fix(env, message):
    proc, _ = _dry(**env)
    assert proc.returncode == 2 and message in proc.stderr


def test_bad_hostfile_line_is_named(tmp_path):
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("node-a slots=4\nnode-b\n")
    proc, _ = _dry(HOSTFILE=str(hostfile))
    assert proc.returncode == 2 and "bad line 2: node-b" in proc.stderr


def test_missing_model_names_the_variable_and_the_download(tmp_path):
    proc = _run(FINETUNE, NUM_GPUS="1", MODELS_DIR=str(tmp_path / "none"), STRATEGY="emo", EMOPROMPT_BANK="illustrative")
    assert proc.returncode == 2
    assert "MODEL_BASE=" in proc.stderr and "huggingface-cli download lmsys/vicuna-7b-v1.5" in proc.stderr


# ---- EmoLLM by default: EmoPrompt with a chosen bank, the sequential strategy, events ---------------

def test_default_command_trains_emollm_sequentially_with_emoprompt():
    """Only the documented inputs (a bank): stage 1 on LLaVA v1.5's mix without EmoPrompt, then
    stage 2 on EmoBench from the merged stage 1, with EmoPrompt and enough frames for 2 events."""
    proc = _run(FINETUNE, DRY_RUN="1", NUM_GPUS="4", EMOPROMPT_BANK="work/emoprompt_bank.jsonl")
    output = _ok(proc)
    assert "strategy sequential" in output
    stage1, stage2 = _commands(proc)
    assert _flag(stage1, "--data_path") == "data/llava_v1_5/llava_v1_5_mix665k.json"
    assert _flag(stage1, "--image_folder") == "data/llava_v1_5"
    assert _flag(stage1, "--version") == "v1" and "--emoprompt_bank" not in stage1
    assert _flag(stage1, "--output_dir") == "checkpoints/emollm-llava-lora-7b-stage1"
    assert _flag(stage2, "--model_name_or_path") == "checkpoints/emollm-llava-lora-7b-stage1-merged"
    assert _flag(stage2, "--data_path") == "data/emobench/train.json"
    assert _flag(stage2, "--version") == "emoprompt_v1"
    assert _flag(stage2, "--emoprompt_bank") == "work/emoprompt_bank.jsonl"
    assert _flag(stage2, "--output_dir") == "checkpoints/emollm-llava-lora-7b"
    # uniform sampling takes --num_video_frames from any clip, a 3 s one included
    frames, per_event = int(_flag(stage2, "--num_video_frames")), int(_flag(stage2, "--mvp_frames_per_event"))
    assert -(-frames // per_event) >= 2


def test_emoprompt_without_a_bank_stops_with_how_to_make_one():
    for env in ({}, {"STRATEGY": "emo"}, {"STRATEGY": "mix"}):
        proc = _run(FINETUNE, DRY_RUN="1", NUM_GPUS="4", **env)
        assert proc.returncode == 2 and proc.stdout == ""
        assert "EmoPrompt is on (--version emoprompt_v1) but EMOPROMPT_BANK is not set" in proc.stderr
        assert "emollm emoprompt generate --bench data/emobench/train.json" in proc.stderr
        assert "EMOPROMPT=off trains without EmoPrompt on purpose" in proc.stderr


def test_emoprompt_off_trains_plain_v1():
    proc, command = _dry(NUM_GPUS="1", EMOPROMPT="off", EMOPROMPT_BANK="")
    _ok(proc)
    assert _flag(command, "--version") == "v1" and "--emoprompt_bank" not in command


def test_missing_bank_file_is_named(tmp_path):
    proc = _run(FINETUNE, NUM_GPUS="1", STRATEGY="emo", EMOPROMPT_BANK=str(tmp_path / "bank.jsonl"),
                MODEL_BASE=str(tmp_path), VISION_TOWER=str(tmp_path), AUDIO_TOWER="",
                DATA_PATH=__file__, MEDIA_FOLDER=str(tmp_path))
    assert proc.returncode == 2
    assert f"EMOPROMPT_BANK={tmp_path / 'bank.jsonl'} does not exist" in proc.stderr


def test_missing_stage1_data_names_the_file_and_strategy_emo(tmp_path):
    missing = tmp_path / "llava_v1_5_mix665k.json"
    proc = _run(FINETUNE, NUM_GPUS="1", EMOPROMPT_BANK="illustrative", STAGE1_DATA=str(missing))
    assert proc.returncode == 2 and proc.stdout.count("python") == 0
    assert f"STAGE1_DATA={missing} does not exist" in proc.stderr
    assert "STRATEGY=emo" in proc.stderr and "docs/training.md" in proc.stderr


def test_seeds_train_one_run_per_seed_with_the_eval_names():
    proc = _run(FINETUNE, DRY_RUN="1", NUM_GPUS="1", STRATEGY="emo", EMOPROMPT_BANK="b.jsonl", SEEDS="1 2 3")
    _ok(proc)
    commands = _commands(proc)
    assert [_flag(c, "--seed") for c in commands] == ["1", "2", "3"]
    assert [_flag(c, "--output_dir") for c in commands] == [
        f"checkpoints/emollm-llava-lora-7b-seed{s}" for s in (1, 2, 3)]
    proc = _run(FINETUNE, DRY_RUN="1", NUM_GPUS="1", EMOPROMPT_BANK="b.jsonl", SEEDS="7 8")
    _ok(proc)
    sequential = _commands(proc)
    # one stage 1 for all seeds (a dry run prints it for each seed: nothing is there yet to skip it)
    assert [_flag(c, "--output_dir") for c in sequential] == [
        "checkpoints/emollm-llava-lora-7b-stage1", "checkpoints/emollm-llava-lora-7b-seed7",
        "checkpoints/emollm-llava-lora-7b-stage1", "checkpoints/emollm-llava-lora-7b-seed8"]
    assert [_flag(c, "--seed") for c in sequential] == ["7", "7", "8", "8"]
    assert {_flag(c, "--model_name_or_path") for c in sequential[1::2]} == {"checkpoints/emollm-llava-lora-7b-stage1-merged"}
