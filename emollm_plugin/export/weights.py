"""The exported folder's weights: LLaVA's parameter names -> the exported model's, and a
safetensors writer that streams one tensor at a time.

Names (LLaVA / plugin -> exported ``EmoLLMForConditionalGeneration``):

    model.embed_tokens|layers|norm.*        -> language_model.model.*
    lm_head.*                               -> language_model.lm_head.*
    model.vision_tower.vision_tower.*       -> vision_tower.*            (CLIPVisionModel)
    model.mm_projector.*                    -> mm_projector.*            (MVP: same layout)
    model.mm_projector.* (linear, mlp2x)    -> mm_projector.proj.*
    model.audio_projector.*                 -> audio_projector.*
    model.audio_tower.encoder.*             -> audio_tower.*             (openai-whisper ->
                                               transformers' WhisperEncoder, table WHISPER_NAMES)

``write_shards`` writes each shard's header first (names, dtypes, shapes and offsets are known
without touching the data), then every tensor's bytes straight from its storage: the only copy
made is of one tensor at a time when it must be cast or made contiguous. Peak memory is the model
plus its largest tensor, not the model plus a serialised shard.
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Iterable, Iterator

import torch

from ..errors import EmoLLMError

# openai-whisper AudioEncoder -> transformers WhisperEncoder (transformers' convert_openai_to_hf)
WHISPER_NAMES = (
    (r"^positional_embedding$", "embed_positions.weight"),
    (r"^blocks\.(\d+)\.attn\.query\.", r"layers.\1.self_attn.q_proj."),
    (r"^blocks\.(\d+)\.attn\.key\.", r"layers.\1.self_attn.k_proj."),
    (r"^blocks\.(\d+)\.attn\.value\.", r"layers.\1.self_attn.v_proj."),
    (r"^blocks\.(\d+)\.attn\.out\.", r"layers.\1.self_attn.out_proj."),
    (r"^blocks\.(\d+)\.attn_ln\.", r"layers.\1.self_attn_layer_norm."),
    (r"^blocks\.(\d+)\.mlp\.0\.", r"layers.\1.fc1."),
    (r"^blocks\.(\d+)\.mlp\.2\.", r"layers.\1.fc2."),
    (r"^blocks\.(\d+)\.mlp_ln\.", r"layers.\1.final_layer_norm."),
    (r"^ln_post\.", "layer_norm."),
    (r"^(conv[12]\.)", r"\1"),
)
SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
                      torch.int32: "I32", torch.bool: "BOOL", torch.uint8: "U8", torch.float64: "F64"}


class WeightNameError(EmoLLMError, KeyError):
    """A checkpoint parameter the export has no place for."""


def whisper_name(name: str) -> str:
    for pattern, replacement in WHISPER_NAMES:
        if re.search(pattern, name):
            return re.sub(pattern, replacement, name)
    raise WeightNameError(f"openai-whisper encoder parameter {name!r} has no transformers WhisperEncoder name")


def exported_name(name: str, plugin_projector: bool) -> str:
    """The exported model's name for LLaVA parameter ``name`` (module doc)."""
    if name.startswith("lm_head."):
        return "language_model." + name
    for prefix, target in (("model.vision_tower.vision_tower.", "vision_tower."),
                           ("model.audio_projector.", "audio_projector.")):
        if name.startswith(prefix):
            return target + name[len(prefix):]
    if name.startswith("model.mm_projector."):
        rest = name[len("model.mm_projector."):]
        return "mm_projector." + ("" if plugin_projector else "proj.") + rest
    if name.startswith("model.audio_tower.encoder."):
        return "audio_tower." + whisper_name(name[len("model.audio_tower.encoder."):])
    if re.match(r"^model\.(embed_tokens|layers|norm)\.", name):
        return "language_model." + name
    raise WeightNameError(f"checkpoint parameter {name!r} has no place in the exported model; export knows "
                          "Llama, CLIP, the MVP/linear/mlp2x_gelu projector and the Whisper audio branch")


def shard_plan(items: list[tuple[str, torch.Tensor]], dtype_of, max_shard_bytes: int) -> list[list[int]]:
    """Indices of ``items`` per shard, in order; a shard closes before it would pass the limit."""
    shards, current, size = [], [], 0
    for i, (_, tensor) in enumerate(items):
        nbytes = tensor.numel() * dtype_of(tensor).itemsize
        if current and size + nbytes > max_shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append(i)
        size += nbytes
    if current:
        shards.append(current)
    return shards


def _write_one(path: Path, items: list[tuple[str, torch.Tensor]], dtype_of) -> int:
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, tensor in items:
        dtype = dtype_of(tensor)
        nbytes = tensor.numel() * dtype.itemsize
        header[name] = {"dtype": SAFETENSORS_DTYPES[dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for _, tensor in items:
            data = tensor.detach().to(device="cpu", dtype=dtype_of(tensor)).contiguous()
            if data.numel():
                out.write(memoryview(data.reshape(-1).view(torch.uint8).numpy()))
            del data
    return offset


def write_shards(tensors: Iterable[tuple[str, torch.Tensor]], out_dir: Path, dtype: torch.dtype,
                 max_shard_bytes: int = 2 * 1024 ** 3) -> list[Path]:
    """Write ``(name, tensor)`` pairs as ``model.safetensors`` or ``model-0000k-of-0000n.safetensors``
    plus ``model.safetensors.index.json``. Floating tensors are cast to ``dtype``."""
    items = list(tensors)
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise WeightNameError(f"two parameters map to one exported name: {sorted({n for n in names if names.count(n) > 1})[:5]}")

    def dtype_of(tensor):
        return dtype if tensor.is_floating_point() else tensor.dtype

    plan = shard_plan(items, dtype_of, max_shard_bytes)
    files = (["model.safetensors"] if len(plan) == 1 else
             [f"model-{k + 1:05d}-of-{len(plan):05d}.safetensors" for k in range(len(plan))])
    total, weight_map = 0, {}
    for file, indices in zip(files, plan):
        total += _write_one(out_dir / file, [items[i] for i in indices], dtype_of)
        weight_map.update({items[i][0]: file for i in indices})
    if len(files) > 1:
        (out_dir / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=2) + "\n")
    return [out_dir / f for f in files]


def renamed(state: dict, plugin_projector: bool) -> Iterator[tuple[str, torch.Tensor]]:
    for name, tensor in state.items():
        yield exported_name(name, plugin_projector), tensor
