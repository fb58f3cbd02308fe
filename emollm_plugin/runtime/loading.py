"""A checkpoint through LLaVA's own loader: routing, device and dtype, quantization, conversation template.

LLaVA's ``load_pretrained_model`` chooses how to load from the model *name* ('llava' and 'lora'
in it select the LoRA path), so ``routing_name`` derives a name from what the folder holds.
``load_model`` expects the plugin to be registered (``emollm_plugin.register()``, which the
commands call before loading).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

from ..configs.recorded import checkpoint_value
from ..constants import CONV_MODE_CONFIG_KEY
from ..plugin.compat import choose_attn_implementation
from .errors import CheckpointError, InferInputError


FALLBACK_CONV_MODE = "vicuna_v1"  # for checkpoints that record no template (trained before it was recorded)


DTYPES = ("auto", "float32", "bfloat16", "float16")


def routing_name(model_path: str | Path, model_base: Optional[str]) -> str:
    """A name that sends ``load_pretrained_model`` down the right path for this folder."""
    folder = Path(model_path)
    if not folder.is_dir():
        raise CheckpointError(f"--model-path {folder} is not a folder (checkpoints are read locally)")
    if (folder / "adapter_config.json").is_file():
        if model_base is None:
            raise CheckpointError(f"{folder} holds a LoRA adapter (adapter_config.json): pass --model-base, "
                                  "the LLM it was trained on (the training run's --model_name_or_path)")
        return "llava-lora"
    full = any(folder.glob("model*.safetensors")) or any(folder.glob("pytorch_model*.bin"))
    if full:
        if model_base is not None:
            raise CheckpointError(f"{folder} holds full model weights; LLaVA's loader would read only a "
                                  "projector from it on top of --model-base. Drop --model-base.")
        if not (folder / "config.json").is_file():
            raise CheckpointError(f"{folder} has model weights but no config.json: not a complete checkpoint")
        model_type = json.loads((folder / "config.json").read_text()).get("model_type", "")
        return {"llava_mistral": "llava-mistral", "llava_mpt": "llava-mpt"}.get(model_type, "llava")
    if (folder / "mm_projector.bin").is_file():
        if model_base is None:
            raise CheckpointError(f"{folder} holds only a projector (mm_projector.bin): pass --model-base, "
                                  "the LLM it was pretrained with")
        return "llava-projector"
    raise CheckpointError(f"{folder} has no adapter_config.json (LoRA), model weights (model*.safetensors, "
                          "pytorch_model*.bin) or mm_projector.bin: point --model-path at a LLaVA checkpoint")


def resolve_device_dtype(device: str, dtype: str):
    """'auto' -> cuda + bfloat16 when CUDA is available, else cpu + float32."""
    import torch

    if dtype not in DTYPES:
        raise InferInputError(f"unknown --dtype {dtype!r}; known: {', '.join(DTYPES)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InferInputError(f"--device {device}: CUDA is not available here; use --device cpu (or auto)")
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    if dtype == "bfloat16" and device == "cpu":
        from .cpu_precision import cpu_bf16_support
        supported, why = cpu_bf16_support()
        if not supported:
            raise InferInputError(f"--dtype bfloat16 on the CPU: {why}, so torch would emulate it, slower than "
                                  "float32. Use --dtype float32 (or auto) here.")
    return device, getattr(torch, dtype)


def check_quantization(device: str, load_4bit: bool = False, load_8bit: bool = False) -> None:
    """4/8-bit loading goes through bitsandbytes, which needs CUDA: refuse it clearly elsewhere."""
    if load_4bit and load_8bit:
        raise InferInputError("--load-4bit and --load-8bit exclude each other; pick one")
    if (load_4bit or load_8bit) and not device.startswith("cuda"):
        raise InferInputError(f"--load-{'4' if load_4bit else '8'}bit quantizes through bitsandbytes, which needs "
                              f"CUDA; this run is on {device!r}. Drop the flag to run in full precision here.")


def load_model(model_path: str, model_base: Optional[str], device: str, dtype,
               load_4bit: bool = False, load_8bit: bool = False):
    """(tokenizer, model, image_processor) via LLaVA's own loader; the caller has registered the plugin.
    A folder written by ``emollm export`` loads through ``runtime.exported``."""
    from .exported import is_exported, load_exported

    if is_exported(model_path):
        if load_4bit or load_8bit:
            raise InferInputError(f"{model_path} is an exported folder: it loads in full precision only "
                                  "(drop --load-4bit / --load-8bit)")
        return load_exported(model_path, device, dtype)
    check_quantization(device, load_4bit, load_8bit)
    import torch
    from llava.model.builder import load_pretrained_model

    from .quiet_load import LoadError, describe_load, quiet_load

    name = routing_name(model_path, model_base)
    default_dtype = torch.get_default_dtype()
    try:
        with quiet_load(model_path):
            tokenizer, model, processor, _ = load_pretrained_model(
                model_path, model_base, name, load_8bit=load_8bit, load_4bit=load_4bit, device=device,
                use_flash_attn=choose_attn_implementation() == "flash_attention_2")
    except (LoadError, KeyError) as err:  # KeyError: a plugin weight the checkpoint lacks (EmoLlava's check)
        raise CheckpointError(f"{model_path}: {err.args[0] if isinstance(err, KeyError) else err}") from err
    finally:
        # from_pretrained(torch_dtype=float16) sets torch's default dtype and, on transformers 4.x,
        # leaves it set when the model's construction raises
        torch.set_default_dtype(default_dtype)
    if not (load_4bit or load_8bit):  # bitsandbytes models refuse .to(); LLaVA sets their compute dtype
        model.to(dtype=dtype)  # LLaVA loads float16 (float32 on CPU for plugin models)
    model.eval()
    model.config.tokenizer_padding_side = "left"  # generation continues from the right edge
    print(describe_load(model, model_path, model_base, device, dtype), file=sys.stderr, flush=True)
    return tokenizer, model, processor


def checkpoint_conv_mode(model_path: str | Path) -> str | None:
    """The template recorded in ``model_path/config.json`` at training time, or None."""
    return checkpoint_value(model_path, CONV_MODE_CONFIG_KEY)


def resolve_conv_mode(explicit: str | None, recorded: str | None, model_path: str | Path) -> str:
    """An explicit ``--conv-mode`` wins; then the checkpoint's recorded template; then vicuna_v1,
    with a note on stderr (the checkpoint predates the record)."""
    if explicit:
        return explicit
    if recorded:
        return recorded
    print(f"emollm infer: note: {model_path} records no conversation template "
          f"({CONV_MODE_CONFIG_KEY} in its config.json); using {FALLBACK_CONV_MODE}. Pass --conv-mode "
          "with the training run's --version to choose.", file=sys.stderr)
    return FALLBACK_CONV_MODE


def model_id_for(model_path: str) -> str:
    from llava.mm_utils import get_model_name_from_path
    return get_model_name_from_path(str(model_path))
