"""``emollm export CKPT [--model-base BASE] --out DIR``: a trained EmoLLM checkpoint as a
self-contained transformers model folder (docs/export.md).

The checkpoint is loaded once through the runtime (LLaVA's loader; the caller registers the plugin,
as ``emollm export`` does; a LoRA is merged into its base there), then written as

    config.json                    EmoLLMConfig (Llama, CLIP vision, Whisper configs; projector,
                                   audio, placeholder and template settings; auto_map)
    configuration_emollm.py, modeling_emollm.py, processing_emollm.py   (torch + transformers only)
    model*.safetensors             streamed one tensor at a time (``weights.write_shards``)
    tokenizer files                copied byte for byte from the tokenizer LLaVA loaded
    preprocessor_config.json       the CLIP image processor
    audio_feature_extractor/       WhisperFeatureExtractor (with an audio tower)
    processor_config.json, chat_template.jinja   the processor and the trained conversation
    generation_config.json, README.md (model card)
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Optional

from ..constants import CONV_MODE_CONFIG_KEY, NUM_VIDEO_FRAMES, __version__
from ..configs.recorded import model_video_frames
from ..errors import EmoLLMError
from . import card
from .chat_template import template_for
from .weights import renamed, write_shards

REMOTE = Path(__file__).with_name("remote")
REMOTE_FILES = ("configuration_emollm.py", "modeling_emollm.py", "processing_emollm.py")
AUTO_MAP = {
    "AutoConfig": "configuration_emollm.EmoLLMConfig",
    "AutoModel": "modeling_emollm.EmoLLMForConditionalGeneration",
    "AutoModelForImageTextToText": "modeling_emollm.EmoLLMForConditionalGeneration",  # transformers >= 4.46
    "AutoModelForVision2Seq": "modeling_emollm.EmoLLMForConditionalGeneration",  # 4.37 (pinned row)
    "AutoProcessor": "processing_emollm.EmoLLMProcessor",
}
DTYPES = ("auto", "float32", "bfloat16", "float16")
# (config, *, scores, training) -> model card text; one assignment switches the renderer
CARD_RENDERER = card.render_model_card


class ExportError(EmoLLMError, ValueError):
    """A checkpoint or option export cannot use; the message says what to change."""


def _remote(name: str):
    import importlib
    return importlib.import_module(f"{__package__}.remote.{name}")


def _text_config(llava_config) -> dict:
    from transformers import LlamaConfig

    known = set(LlamaConfig().to_dict())
    text = {k: v for k, v in llava_config.to_dict().items() if k in known}
    text.update(model_type="llama", architectures=["LlamaForCausalLM"])
    return text


def _projector_settings(llava_config) -> dict:
    kind = getattr(llava_config, "mm_projector_type", "linear")
    if kind == "mvp":
        from ..configs.mvp import PREFIX, MVPConfig
        values = MVPConfig.from_model_config(llava_config).to_dict()
        return {"type": "mvp", **{k[len(PREFIX):]: v for k, v in values.items()}}
    if kind in ("linear", "mlp2x_gelu"):
        return {"type": kind}
    raise ExportError(f"mm_projector_type {kind!r}: export writes mvp, linear and mlp2x_gelu projectors")


def _audio_settings(model) -> tuple[Optional[dict], Optional[dict]]:
    """(WhisperConfig dict, audio projector settings), or (None, None) without an audio tower."""
    from transformers import WhisperConfig

    from ..configs import AudioConfig

    tower = model.get_model().get_audio_tower()
    if tower is None:
        return None, None
    audio = AudioConfig.from_model_config(model.config)
    if audio.window != "padded":
        raise ExportError(f"the checkpoint's audio window is {audio.window!r}; the exported model runs "
                          "transformers' WhisperEncoder on Whisper's 30 s window, i.e. 'padded' only")
    dims = tower.dims
    whisper = WhisperConfig(vocab_size=dims.n_vocab, num_mel_bins=dims.n_mels, d_model=dims.n_audio_state,
                            encoder_layers=dims.n_audio_layer, encoder_attention_heads=dims.n_audio_head,
                            encoder_ffn_dim=4 * dims.n_audio_state, max_source_positions=dims.n_audio_ctx,
                            decoder_layers=dims.n_text_layer, decoder_attention_heads=dims.n_text_head,
                            decoder_ffn_dim=4 * dims.n_text_state, max_target_positions=dims.n_text_ctx,
                            activation_function="gelu")
    return whisper.to_dict(), {"type": audio.projector_type, "num_tokens": audio.num_tokens,
                              "input_norm": audio.input_norm}


def _conversation(model_config, checkpoint: Path, exemplar_id: Optional[str]):
    """(chat template, EmoPrompt exemplars as rendered system prompts, template name)."""
    from ..emoprompt.runtime import is_emoprompt
    from ..eval.questions import conversation

    name = getattr(model_config, CONV_MODE_CONFIG_KEY, None) or "vicuna_v1"
    conv = conversation(name)
    exemplars = []
    if is_emoprompt(conv):
        from ..configs import EmoPromptConfig
        from ..emoprompt.bank import load_bank, resolve_bank
        from ..emoprompt.template import with_exemplar

        bank = load_bank(resolve_bank(EmoPromptConfig.from_model_config(model_config).require_bank("export")))
        exemplars = [{"id": ex.id, "task": ex.task, "label": ex.label, "system": with_exemplar(conv, ex).system}
                     for ex in sorted(bank, key=lambda e: e.id)]
        chosen = exemplar_id or exemplars[0]["id"]
        match = [e for e in exemplars if e["id"] == chosen]
        if not match:
            raise ExportError(f"--emoprompt-exemplar {chosen!r} is not in the checkpoint's bank")
        conv.system = match[0]["system"]
    elif exemplar_id:
        raise ExportError(f"--emoprompt-exemplar given but {checkpoint} was trained with {name!r}, not EmoPrompt")
    return template_for(conv), exemplars, name


def _without_defaults(config: dict) -> dict:
    """The top level without PretrainedConfig's own defaults (generation settings and the like,
    which transformers 5.x warns about); the three towers' configs are kept whole."""
    from transformers import PretrainedConfig

    defaults = PretrainedConfig().to_dict()
    keep = {"model_type", "architectures", "auto_map", "transformers_version", "torch_dtype",
            "tie_word_embeddings"}
    return {k: v for k, v in config.items() if k in keep or k not in defaults or defaults[k] != v}


def _emoprompt_keys(model_config) -> dict:
    """The checkpoint's ``emoprompt_*`` settings when it has a bank, so ``emollm predict`` on the
    exported folder chooses exemplars as on the checkpoint."""
    from ..configs import EmoPromptConfig

    config = EmoPromptConfig.from_model_config(model_config)
    return config.to_dict() if config.bank is not None else {}


def _tokenizer_source(tokenizer) -> Optional[Path]:
    source = Path(getattr(tokenizer, "name_or_path", "") or "")
    return source if source.is_dir() else None


def export(checkpoint: str | Path, out: str | Path, model_base: Optional[str] = None, dtype: str = "auto",
           num_video_frames: Optional[int] = None, emoprompt_exemplar: Optional[str] = None,
           max_shard_bytes: int = 2 * 1024 ** 3, force: bool = False) -> Path:
    """Write the exported folder for ``checkpoint`` to ``out`` and return ``out`` (module doc)."""
    import torch
    from transformers import WhisperFeatureExtractor

    from ..runtime.loading import load_model

    checkpoint, out = Path(checkpoint), Path(out)
    if dtype not in DTYPES:
        raise ExportError(f"--dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if out.exists() and any(out.iterdir()) and not force:
        raise ExportError(f"{out} exists and is not empty; choose a new --out or pass --force")
    tokenizer, model, image_processor = load_model(str(checkpoint), model_base, "cpu", torch.float32)
    config = model.config
    if getattr(config, "mm_use_im_start_end", False):
        raise ExportError("the checkpoint wraps images in <im_start>/<im_end> (mm_use_im_start_end); export "
                          "writes the plain <image> template only")
    if getattr(config, "image_aspect_ratio", "square") == "anyres":
        raise ExportError("image_aspect_ratio 'anyres' gives several crops per image; EmoLLM takes one")
    num_video_frames = model_video_frames(num_video_frames, config)
    template, exemplars, conv_mode = _conversation(config, checkpoint, emoprompt_exemplar)
    audio_config, audio_projector = _audio_settings(model)
    plugin_projector = getattr(config, "mm_projector_type", None) == "mvp"
    vocab = max(config.vocab_size, len(tokenizer))
    out_dtype = (getattr(torch, dtype) if dtype != "auto" else
                 getattr(torch, str(getattr(config, "torch_dtype", None) or "float32").replace("torch.", "")))

    EmoLLMConfig = _remote("configuration_emollm").EmoLLMConfig
    exported = EmoLLMConfig(
        text_config=_text_config(config), vision_config=model.get_vision_tower().vision_tower.config.to_dict(),
        audio_config=audio_config, projector=_projector_settings(config), audio_projector=audio_projector,
        vision_feature_layer=config.mm_vision_select_layer,
        vision_feature_select=getattr(config, "mm_vision_select_feature", "patch"),
        image_token_index=vocab, video_token_index=vocab + 1, audio_token_index=vocab + 2,
        tokenizer_model_max_length=getattr(config, "tokenizer_model_max_length", None),
        architectures=["EmoLLMForConditionalGeneration"], auto_map=AUTO_MAP,
        image_aspect_ratio=getattr(config, "image_aspect_ratio", "square"), num_video_frames=num_video_frames,
        emollm_export={"plugin_version": __version__, "checkpoint": checkpoint.name,
                       "base_model": str(model_base) if model_base else None},
        **{CONV_MODE_CONFIG_KEY: conv_mode}, **_emoprompt_keys(config))
    exported.torch_dtype = str(out_dtype).replace("torch.", "")
    config_dict = _without_defaults(exported.to_dict())

    out.mkdir(parents=True, exist_ok=True)
    for name in REMOTE_FILES:
        shutil.copyfile(REMOTE / name, out / name)
    (out / "config.json").write_text(json.dumps(config_dict, indent=2, sort_keys=True) + "\n")
    if model.generation_config is not None:
        model.generation_config.save_pretrained(str(out))
    write_shards(renamed(model.state_dict(), plugin_projector), out, out_dtype, max_shard_bytes)

    Processor = _remote("processing_emollm").EmoLLMProcessor
    feature_extractor = (WhisperFeatureExtractor(feature_size=audio_config["num_mel_bins"])
                         if audio_config is not None else None)
    source = _tokenizer_source(tokenizer)
    processor = Processor(tokenizer, image_processor, feature_extractor, chat_template=template,
                          image_aspect_ratio=exported.image_aspect_ratio, num_frames=num_video_frames,
                          image_token_index=vocab, video_token_index=vocab + 1, audio_token_index=vocab + 2,
                          emoprompt_exemplars=exemplars, source_dir=str(source) if source else None)
    processor.save_pretrained(out)
    (out / "README.md").write_text(CARD_RENDERER(config_dict))
    return out


def _size(text: str) -> int:
    units = {"KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[:-2]) * factor)
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emollm export", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="trained checkpoint folder (LoRA adapter, projector or full)")
    p.add_argument("--model-base", default=None, help="the LLM a LoRA/projector checkpoint was trained on")
    p.add_argument("--out", required=True, type=Path, help="folder to write (created; must be empty)")
    p.add_argument("--dtype", default="auto", choices=DTYPES,
                   help="weight dtype written (default: auto, the checkpoint's torch_dtype)")
    p.add_argument("--num-video-frames", type=int, default=None,
                   help=f"frames the processor samples per clip (default: the checkpoint's, which training "
                        f"records; {NUM_VIDEO_FRAMES} for a checkpoint that records none)")
    p.add_argument("--emoprompt-exemplar", default=None,
                   help="EmoPrompt checkpoints: the bank exemplar the chat template's system prompt carries "
                        "(default: the first by id; every exemplar's prompt is in processor_config.json)")
    p.add_argument("--max-shard-size", default="2GB", help="largest safetensors shard (default: 2GB)")
    p.add_argument("--force", action="store_true", help="write into a non-empty --out")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        out = export(args.checkpoint, args.out, args.model_base, args.dtype, args.num_video_frames,
                     args.emoprompt_exemplar, _size(args.max_shard_size), args.force)
    except EmoLLMError as err:
        print(f"emollm export: {err}", file=sys.stderr)
        return 2
    print(f"emollm export: wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
