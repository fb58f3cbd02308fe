"""emollm memory: parameter counts against the real modules, the activation formula against what
autograd really saves, and the whole budget against numbers worked out by hand on a toy config."""
from __future__ import annotations

import json

import pytest
import torch

from emollm_plugin.train import memory
from emollm_plugin.train.memory import ClipSpec, LlmSpec, RunSpec, WhisperSpec

TOY_LLM = LlmSpec("toy", hidden=8, intermediate=16, layers=2, heads=2, vocab=10)
TOY_CLIP = ClipSpec("toy-clip", width=8, layers=1, mlp=16, image=4, patch=2)
TOY_WHISPER = WhisperSpec("toy-whisper", width=4, layers=1, mels=3)


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---- parameter counts ------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [TOY_LLM, memory.LLMS["7b"], memory.LLMS["13b"]], ids=lambda s: s.name)
def test_llm_params_match_transformers_llama(spec):
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(hidden_size=spec.hidden, intermediate_size=spec.intermediate, num_hidden_layers=spec.layers,
                         num_attention_heads=spec.heads, num_key_value_heads=spec.heads, vocab_size=spec.vocab)
    with torch.device("meta"):
        assert spec.params() == _count(LlamaForCausalLM(config))


def test_known_7b_counts():
    assert memory.LLMS["7b"].params() == 6_738_415_616          # Vicuna/Llama-2 7B
    assert memory.LLMS["7b"].lora_params(128) == 319_815_680    # LLaVA v1.5's r=128 LoRA
    assert memory.CLIP_L14_224.params() == 303_179_776           # CLIPVisionModel ViT-L/14 224 px
    assert memory.WHISPERS["base"].params() == 19_822_592        # whisper base AudioEncoder


def test_lora_params_match_peft_on_llavas_target_modules():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=2, vocab_size=10)
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=2, lora_alpha=4, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert TOY_LLM.lora_params(2) == trainable == 544  # 2 layers x 2 x (4 x (8+8) + 3 x (8+16))


@pytest.mark.parametrize("spec", [TOY_CLIP, memory.CLIP_L14_224], ids=lambda s: s.name)
def test_clip_params_match_transformers(spec):
    from transformers import CLIPVisionConfig, CLIPVisionModel
    config = CLIPVisionConfig(hidden_size=spec.width, intermediate_size=spec.mlp, num_hidden_layers=spec.layers,
                              num_attention_heads=2, image_size=spec.image, patch_size=spec.patch)
    with torch.device("meta"):
        assert spec.params() == _count(CLIPVisionModel(config))


@pytest.mark.parametrize("spec", [TOY_WHISPER, *[w for w in memory.WHISPERS.values() if w]], ids=lambda s: s.name)
def test_whisper_params_match_openai_whisper_encoder(spec):
    from whisper.model import AudioEncoder
    with torch.device("meta"):
        assert spec.params() == _count(AudioEncoder(spec.mels, 1500, spec.width, 2, spec.layers))


# ---- activations: the formula against what autograd keeps -------------------------------------------

def _saved_bytes_of_one_lora_layer(h, inter, heads, r, dropout, batch, seq) -> int:
    """Sum of distinct storages autograd saves in one LoRA-wrapped LlamaDecoderLayer (bf16, CPU)."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    config = LlamaConfig(hidden_size=h, intermediate_size=inter, num_attention_heads=heads,
                         num_key_value_heads=heads, num_hidden_layers=1, vocab_size=16)
    config._attn_implementation = "sdpa"

    class One(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = LlamaDecoderLayer(config, 0)

        def forward(self, x, positions):
            return self.layer(x, position_ids=positions)[0]

    torch.manual_seed(0)
    model = get_peft_model(One(), LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=dropout, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])).to(torch.bfloat16)
    model.train()
    x = torch.randn(batch, seq, h, dtype=torch.bfloat16, requires_grad=True)
    skip = {p.untyped_storage().data_ptr() for p in model.parameters()} | {x.untyped_storage().data_ptr()}
    saved: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x, torch.arange(seq).expand(batch, seq))
    return sum(saved.values())


@pytest.mark.parametrize("h, inter, heads, r, dropout, batch, seq", [
    (64, 128, 4, 8, 0.05, 2, 16),
    (64, 128, 4, 8, 0.0, 2, 16),
    (128, 352, 8, 16, 0.05, 3, 24),
    (256, 512, 4, 4, 0.0, 1, 40),
])
def test_layer_activation_formula_equals_what_autograd_saves(h, inter, heads, r, dropout, batch, seq):
    spec = LlmSpec("probe", hidden=h, intermediate=inter, layers=1, heads=heads, vocab=16)
    # on the CPU a dropout mask is a bf16 tensor (2 bytes); CUDA's fused dropout keeps a bool mask
    predicted = memory.layer_activation_bytes(spec, batch * seq, r, dropout, mask_bytes=2)
    assert predicted == _saved_bytes_of_one_lora_layer(h, inter, heads, r, dropout, batch, seq)


def test_layer_activation_by_hand():
    # dropout, CUDA masks (m = 1): (28 + 6) 8 + 9 * 16 + 14 * 2 + 4 * 2 + 4 * 8 / 2 + 8 = 476 per token
    assert memory.layer_activation_bytes(TOY_LLM, 6, 2, 0.05, mask_bytes=1) == 6 * 476
    # no dropout: 20 * 8 + 8 * 16 + 28 + 8 + 16 + 8 = 348 per token
    assert memory.layer_activation_bytes(TOY_LLM, 6, 2, 0.0, mask_bytes=1) == 6 * 348


# ---- the whole budget, worked out by hand ------------------------------------------------------------

def _toy_run(**kw) -> RunSpec:
    base = dict(llm=TOY_LLM, vision=TOY_CLIP, audio=TOY_WHISPER, gpus_per_node=2, nodes=1, lora_r=2,
                lora_dropout=0.05, mask_bytes=1, visual_tokens=10, num_video_frames=8, frames_per_event=3,
                audio_tokens=5, text_tokens=7, reserve_gib=0.0)
    return RunSpec(**{**base, **kw})


def test_sequence_length_from_mvp_tokens_events_audio_and_text():
    assert memory.sequence_parts(_toy_run()) == {"visual": 30, "audio": 5, "text": 7}  # ceil(8/3) = 3 events
    assert memory.sequence_length(_toy_run(modality="image")) == 10 + 7
    assert memory.sequence_length(_toy_run(modality="video")) == 30 + 7
    assert memory.sequence_length(_toy_run(audio=None)) == 30 + 7
    assert memory.sequence_length(_toy_run(seq_len=99)) == 99
    with pytest.raises(ValueError, match="--modality 'audio'"):
        memory.sequence_length(_toy_run(modality="audio"))


def test_budget_by_hand():
    b = memory.budget(_toy_run(), micro_batches=(1, 2))
    # trainable: LoRA 544; MVP content 8x8+8 = 72, GCN (8x8+8) + (8x8+8) = 144; audio MLP (4x8+8) + (8x8+8) = 112
    assert b.params == {"llm": 1480, "towers": 776 + 340, "lora": 544, "mvp": 216, "audio_projector": 112,
                        "trainable": 872}
    assert b.fixed == {
        "llm_weights": 2 * 1480,
        "tower_weights": 2 * (776 + 340),
        "zero2_states": 2 * 872 + 18 * 872 // 2,   # DeepSpeed: 2P + 18P/G with G = 2
        "zero2_buckets": 4.5 * 8 * 8 * 2,
        "reserve": 0.0,
    }
    assert b.cpu_bytes_per_node == 872 * 4 * 2 * 1.5  # DeepSpeed: P x 4 x GPUs per node x 1.5
    # micro-batch 2: T = 2 x 42 tokens
    assert b.activations[2] == {
        "layer_inputs": 2 * 2 * 8 * 84,               # 2 bytes x L x h x T
        "one_layer": 2 * 476 * 84,                    # recomputed layer + its gradients
        "logits": 16 * 10 * 84,                       # 16 bytes x V x T
        "projectors": 2 * 2 * (30 * (2 * 8 + 3 * 8) + 5 * (4 + 3 * 8)),
    }
    fixed = 2960 + 2232 + 9592 + 576
    assert b.total(2) == fixed + 2688 + 79968 + 13440 + 5360 == 116816
    assert b.total(1) == fixed + 1344 + 39984 + 6720 + 2680 == 66088


def test_fit_is_decided_against_the_gpu_memory():
    between = (66088 + 116816) / 2 / memory.GIB
    b = memory.budget(_toy_run(gpu_mem_gib=between), micro_batches=(1, 2))
    assert b.fits(1) and not b.fits(2) and b.largest_fitting() == 1
    assert memory.budget(_toy_run(gpu_mem_gib=1e-9), micro_batches=(1,)).largest_fitting() is None


def test_offload_and_4bit_by_hand():
    off = memory.budget(_toy_run(offload=True), micro_batches=(1,))
    assert off.fixed["zero2_states"] == 2 * 872
    assert off.cpu_bytes_per_node == 872 * max(4 * 2, 16) * 1.5
    q = memory.budget(_toy_run(bits=4), micro_batches=(1,))
    nf4 = 0.5 + 1 / 64 + 4 / (64 * 256)
    # Linears incl. lm_head in NF4 (2 x 640 + 80), embedding bf16 (2 x 80), 5 norms fp32 (4 x 5 x 8)
    assert q.fixed["llm_weights"] == pytest.approx(nf4 * 1360 + 160 + 160)
    with pytest.raises(ValueError, match="--bits 8"):
        TOY_LLM.weight_bytes(8)


# ---- the command ----------------------------------------------------------------------------------

def _json(capsys, *args) -> dict:
    assert memory.main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_paper_setup_on_four_4090s(capsys):
    assert memory.main(["--model-size", "7b", "--gpus", "4", "--gpu-mem", "24"]) == 0
    text = capsys.readouterr().out
    assert "512 tokens = 224 visual + 32 audio + 256 text" in text  # 32 frames: 2 events
    assert "2P + 18P/4" in text and "largest micro-batch that fits" in text
    data = _json(capsys, "--model-size", "7b", "--gpus", "4", "--gpu-mem", "24")
    assert data["params"]["trainable"] == 319_815_680 + 9_446_400 + 18_882_560
    assert data["fixed_bytes"]["llm_weights"] == 2 * 6_738_415_616
    assert data["seq_len"] == 512
    tried = sorted(int(k) for k in data["micro_batches"])
    fits = sorted(int(k) for k, v in data["micro_batches"].items() if v["fits"])
    assert fits == tried[:len(fits)] and 1 in fits and 32 not in fits  # a smaller batch always fits first
    assert data["largest_fitting"] == max(fits)


def test_cli_offload_4bit_and_seq_len_change_the_right_terms(capsys):
    plain = _json(capsys, "--gpus", "1")
    offload = _json(capsys, "--gpus", "1", "--offload")
    four = _json(capsys, "--gpus", "1", "--bits", "4")
    long = _json(capsys, "--gpus", "1", "--seq-len", "1024")  # twice the default 512
    p = plain["params"]["trainable"]
    assert plain["fixed_bytes"]["zero2_states"] == 20 * p and offload["fixed_bytes"]["zero2_states"] == 2 * p
    assert four["fixed_bytes"]["llm_weights"] < 0.3 * plain["fixed_bytes"]["llm_weights"]
    assert long["seq_len"] == 1024
    logits = lambda run: run["micro_batches"]["1"]["activations"]["logits"]  # noqa: E731
    assert logits(long) == 2 * logits(plain)


@pytest.mark.parametrize("args", [["--gpus", "0"], ["--seq-len", "abc"], ["--bits", "8"], ["--model-size", "70b"]])
def test_cli_rejects_bad_arguments(args, capsys):
    with pytest.raises(SystemExit) as err:
        memory.main(args)
    assert err.value.code == 2


@pytest.mark.parametrize("args, message", [
    (["--gpu-mem", "-1"], "--gpu-mem: -1: must be a finite number in (0, 1024] GiB"),
    (["--gpu-mem", "inf"], "must be a finite number in (0, 1024] GiB"),
    (["--gpu-mem", "nan"], "must be a finite number in (0, 1024] GiB"),
    (["--gpu-mem", "0"], "must be a finite number in (0, 1024] GiB"),
    (["--gpu-mem", "24GB"], "'24GB': not a number"),
    (["--reserve-gib", "-100"], "must be a finite number in [0, 1024) GiB"),
    (["--gpu-mem", "24", "--reserve-gib", "24"], "the reserve must be smaller than the GPU memory"),
    (["--lora-dropout", "1.5"], "must be a finite number in [0, 1)"),
])
def test_cli_refuses_nonsense_memory_values_with_the_range(args, message, capsys):
    """Refused before any table is printed (old main printed "4 GPU(s) x -1 GiB ... fits 32")."""
    with pytest.raises(SystemExit) as err:
        memory.main(args)
    assert err.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
