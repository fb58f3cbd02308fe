"""EmoLLM on LLaVA's Llama: whole-clip video through the projector, Whisper audio, checked loading.

``EmoLlavaLlamaForCausalLM`` subclasses upstream ``LlavaLlamaForCausalLM`` (same config class and
``model_type``), and the seams make LLaVA's train and load paths build it. For a model that uses
none of the plugin's features (an upstream projector, no audio tower) every method delegates to
upstream, so such a model computes exactly what upstream computes.

Media conventions for ``images`` (one entry per sample, in batch order):
  Tensor B x 3 x H x W: one image per sample (upstream's eval scripts pass this);
  Tensor B x T x 3 x H x W: one video clip per sample;
  list of length B: each entry None, an image (3 x H x W) or a clip (T x 3 x H x W).
``audios``: None or a list of length B, each entry None or a log-mel (n_mels x T) tensor.
"""
from __future__ import annotations

import logging
import os
import weakref
from typing import List, Optional

import torch
from llava.model.language_model.llava_llama import LlavaConfig, LlavaLlamaForCausalLM, LlavaLlamaModel
from transformers import LlamaForCausalLM, LlamaPreTrainedModel

from .. import registry
from . import parts
from ..plugin import stack
from .splice import splice

logger = logging.getLogger(__name__)

PLUGIN_MODULES = ("mm_projector", "audio_projector")

class EmoLlavaLlamaModel(LlavaLlamaModel):
    config_class = LlavaConfig

    _owner = None  # weakref to the EmoLlavaLlamaForCausalLM holding this model
    # Set by seams.install() (reset by uninstall): told the causal LM when training initialises
    # its vision modules, so the data seam can read its projector's token counts.
    on_vision_modules_initialized = None

    def __init__(self, config):
        super().__init__(config)
        self.audio_tower = None
        if getattr(config, "mm_audio_tower", None):
            self.audio_projector = parts.build_audio_projector(config)

    def get_audio_tower(self):
        return self.audio_tower

    def load_audio_tower(self):
        """Build the frozen audio tower from ``config.mm_audio_tower`` (its weights are not part of
        the checkpoint; like the CLIP tower it is read from its own path after ``from_pretrained``)."""
        path = getattr(self.config, "mm_audio_tower", None)
        if not path or self.audio_tower is not None:
            return self.audio_tower
        tower = parts.build_audio_tower(self.config)
        dtype = self.embed_tokens.weight.dtype
        if dtype == torch.float16 and self.embed_tokens.weight.device.type == "cpu":
            dtype = torch.float32
        self.audio_tower = tower.to(device=self.embed_tokens.weight.device, dtype=dtype)
        return self.audio_tower

    def initialize_vision_modules(self, model_args, fsdp=None):
        parts.write_projector_config(self.config, model_args)
        parts.write_emoprompt_config(self.config, model_args)
        parts.write_conversation_config(self.config, model_args)
        if self._owner is not None and self.on_vision_modules_initialized is not None:
            self.on_vision_modules_initialized(self._owner())
        super().initialize_vision_modules(model_args, fsdp=fsdp)
        audio_tower = getattr(model_args, "audio_tower", None)
        if audio_tower:
            parts.write_audio_config(self.config, model_args)
            self.audio_tower = None
            self.load_audio_tower()
            self.config.mm_audio_hidden_size = self.audio_tower.hidden_size
            if getattr(self, "audio_projector", None) is None:
                self.audio_projector = parts.build_audio_projector(self.config)
            else:  # fine-tuning an EmoLLM checkpoint: its projector keeps what it learned
                self.audio_projector.needs_input_fit = False
                self.audio_projector.requires_grad_(True)


class EmoLlavaLlamaForCausalLM(LlavaLlamaForCausalLM):
    config_class = LlavaConfig

    def __init__(self, config):
        LlamaPreTrainedModel.__init__(self, config)
        self.model = EmoLlavaLlamaModel(config)
        self.model._owner = weakref.ref(self)
        self.pretraining_tp = config.pretraining_tp
        self.vocab_size = config.vocab_size
        self.lm_head = torch.nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None, **kwargs):
        """Upstream's Trainer call also checkpoints the frozen CLIP tower, which runs under no_grad:
        recomputing it is wasted work and it prints the misleading "None of the inputs have
        requires_grad=True". Keep checkpointing for the LLM only while the tower is frozen.
        (transformers 5.x adds keywords such as ``every_n_layers``; they are passed on.)"""
        super().gradient_checkpointing_enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs, **kwargs)
        tower = self.get_vision_tower()
        clip = getattr(tower, "vision_tower", None)
        if clip is not None and hasattr(clip, "gradient_checkpointing_disable") and \
                not any(p.requires_grad for p in clip.parameters()):
            clip.gradient_checkpointing_disable()

    # ----- loading -------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        config = kwargs.get("config")
        if config is None or isinstance(config, (str, os.PathLike)):
            config = LlavaConfig.from_pretrained(config or pretrained_model_name_or_path)
        if registry.uses_plugin(config):
            _keep_float32_on_cpu(kwargs)
        stack.default_dtype_when_unset(kwargs)
        full_checkpoint = kwargs.get("config") is None  # LoRA / base loads pass config= and load weights after
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(pretrained_model_name_or_path, *args, output_loading_info=True, **kwargs)
        if full_checkpoint and registry.uses_plugin(model.config):
            missing = [k for k in info["missing_keys"] if _is_plugin_key(k)]
            if missing:
                raise ValueError(
                    f"checkpoint {pretrained_model_name_or_path} lacks plugin weights {missing[:8]}"
                    f"{' ...' if len(missing) > 8 else ''} ({len(missing)} missing); they would be random. "
                    "Point --model-path at the checkpoint that was trained with these modules.")
        model.get_model().load_audio_tower()
        return (model, info) if want_info else model

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Upstream loads ``non_lora_trainables.bin`` / ``mm_projector.bin`` with ``strict=False``,
        which silently keeps random weights for anything the file lacks. Check the plugin's modules."""
        try:
            result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        except RuntimeError as err:
            if any(_is_plugin_key(k) for k in state_dict):
                raise RuntimeError(
                    "the checkpoint's projector weights do not match the model built from its config "
                    f"(mm_projector_type={getattr(self.config, 'mm_projector_type', None)}; check mvp_* / "
                    f"mm_audio_* / hidden sizes against the training run): {err}") from err
            raise
        if not strict and registry.uses_plugin(self.config):
            expected = [k for k in self.state_dict() if _is_plugin_key(k)]
            missing = sorted(set(expected) - set(state_dict))
            if missing:
                raise KeyError(
                    f"checkpoint weights are missing {len(missing)} plugin parameters, e.g. {missing[:6]}; "
                    "the model would run with random projector weights. Was it trained with the same "
                    "--mm_projector_type / --audio_tower?")
        return result

    # ----- media encoding ------------------------------------------------------------------------
    def uses_plugin(self) -> bool:
        return registry.uses_plugin(self.config)

    def encode_visual(self, media: List[Optional[torch.Tensor]]) -> List[Optional[torch.Tensor]]:
        """media: per sample None | 3 x H x W | T x 3 x H x W -> per sample None | n x D."""
        present = [m for m in media if m is not None]
        if not present:
            return [None] * len(media)
        frames = torch.cat([m.unsqueeze(0) if m.ndim == 3 else m for m in present])  # F x 3 x H x W
        projector = self.get_model().mm_projector
        proj_dtype = next(projector.parameters()).dtype
        tower_out = self.get_vision_tower()(frames).to(proj_dtype)  # F x N x C
        per_item = torch.split(tower_out, [1 if m.ndim == 3 else m.shape[0] for m in present])

        out: List[Optional[torch.Tensor]] = [None] * len(media)
        owners = [i for i, m in enumerate(media) if m is not None]
        image_slots = [k for k, m in enumerate(present) if m.ndim == 3]
        if image_slots:
            projected = projector(torch.cat([per_item[k] for k in image_slots]))  # I x L x D
            for row, k in enumerate(image_slots):
                out[owners[k]] = projected[row]
        for k, m in enumerate(present):
            if m.ndim == 4:
                feats = per_item[k]
                out[owners[k]] = (projector.forward_video(feats) if hasattr(projector, "forward_video")
                                  else projector(feats).flatten(0, 1))
        return out

    def encode_audio(self, audios: Optional[List[Optional[torch.Tensor]]], batch: int) -> List[Optional[torch.Tensor]]:
        if audios is None or all(a is None for a in audios):
            return [None] * batch
        tower = self.get_model().load_audio_tower()
        if tower is None:
            raise ValueError("audio was given but the model has no audio tower: train with --audio_tower PATH")
        owners = [i for i, a in enumerate(audios) if a is not None]
        encoded = tower([audios[i] for i in owners])
        projector = self.get_model().audio_projector
        if getattr(projector, "subtracts_silence", False):
            if not hasattr(tower, "silence"):
                raise ValueError(f"mm_audio_input_norm=standardize needs the audio tower's silence() "
                                 f"({type(tower).__name__} has none): train with --mm_audio_input_norm none")
            silence = tower.silence([audios[i].shape[-1] for i in owners])
            encoded = [e - s.to(e.dtype) for e, s in zip(encoded, silence)]
        proj_dtype = next(projector.parameters()).dtype
        projected = projector([e.to(proj_dtype) for e in encoded])
        out: List[Optional[torch.Tensor]] = [None] * batch
        for i, p in zip(owners, projected):
            out[i] = p
        return out

    def prepare_inputs_labels_for_multimodal(self, input_ids, position_ids, attention_mask, past_key_values,
                                             labels, images, image_sizes=None, audios=None):
        plugin_media = audios is not None or (isinstance(images, list) and any(m is None for m in images))
        if not self.uses_plugin() and not plugin_media:
            return super().prepare_inputs_labels_for_multimodal(
                input_ids, position_ids, attention_mask, past_key_values, labels, images, image_sizes)
        if (images is None and audios is None) or input_ids.shape[1] == 1:
            return input_ids, position_ids, attention_mask, past_key_values, None, labels
        batch = input_ids.shape[0]
        media = _per_sample_media(images, batch)
        visual, audio = self.encode_visual(media), self.encode_audio(audios, batch)
        position_ids, attention_mask, inputs_embeds, labels = splice(
            self.get_model().embed_tokens, input_ids, position_ids, attention_mask, labels, visual, audio,
            getattr(self.config, "tokenizer_model_max_length", None),
            getattr(self.config, "tokenizer_padding_side", "right"))
        if self.training:
            inputs_embeds = self._touch_unused_projectors(inputs_embeds, visual, audio)
        return None, position_ids, attention_mask, past_key_values, inputs_embeds, labels

    def _touch_unused_projectors(self, inputs_embeds, visual, audio):
        """A projector no sample of this batch used gets no gradient at all, and DeepSpeed's
        gradient exchange across processes then fails on mismatched sizes. Adding 0 * (its
        parameters' sum) gives it an exact zero gradient instead (upstream does the same for images
        with an empty slice of image features)."""
        unused = []
        if all(v is None for v in visual):
            unused.append(self.get_model().mm_projector)
        if all(a is None for a in audio) and getattr(self.get_model(), "audio_projector", None) is not None:
            unused.append(self.get_model().audio_projector)
        params = [p for module in unused for p in module.parameters() if p.requires_grad]
        if not params:
            return inputs_embeds
        return inputs_embeds + 0.0 * sum(p.sum() for p in params).to(inputs_embeds.dtype)

    # ----- forward / generate with audio ---------------------------------------------------------
    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None,
                inputs_embeds=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, images=None, image_sizes=None, audios=None, return_dict=None,
                **hf_kwargs):
        """``hf_kwargs``: what newer ``generate`` adds (``cache_position`` from 4.38, the cache as
        ``cache=`` from 5.x); see ``stack.split_cache``."""
        past_key_values, hf_kwargs = stack.split_cache(past_key_values, hf_kwargs)
        if inputs_embeds is None:
            (input_ids, position_ids, attention_mask, past_key_values, inputs_embeds, labels
             ) = self.prepare_inputs_labels_for_multimodal(
                input_ids, position_ids, attention_mask, past_key_values, labels, images, image_sizes, audios)
        optional = dict(output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                        return_dict=return_dict)
        return LlamaForCausalLM.forward(
            self, input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            inputs_embeds=inputs_embeds, labels=labels, use_cache=use_cache,
            **stack.cache_kwargs(past_key_values), **{k: v for k, v in optional.items() if v is not None},
            **hf_kwargs)

    @torch.no_grad()
    def generate(self, inputs=None, images=None, image_sizes=None, audios=None, **kwargs):
        if audios is None and not self.uses_plugin():
            return super().generate(inputs, images=images, image_sizes=image_sizes, **kwargs)
        position_ids = kwargs.pop("position_ids", None)
        attention_mask = kwargs.pop("attention_mask", None)
        if "inputs_embeds" in kwargs:
            raise NotImplementedError("`inputs_embeds` is not supported")
        if images is not None or audios is not None:
            _, position_ids, attention_mask, _, inputs_embeds, _ = self.prepare_inputs_labels_for_multimodal(
                inputs, position_ids, attention_mask, None, None, images, image_sizes, audios)
        else:
            inputs_embeds = self.get_model().embed_tokens(inputs)
        return LlamaForCausalLM.generate(self, position_ids=position_ids, attention_mask=attention_mask,
                                         inputs_embeds=inputs_embeds, **kwargs)


def _per_sample_media(images, batch: int) -> List[Optional[torch.Tensor]]:
    if images is None:
        return [None] * batch
    if isinstance(images, torch.Tensor):
        if images.ndim not in (4, 5):
            raise ValueError(f"images tensor must be B x 3 x H x W or B x T x 3 x H x W, got {tuple(images.shape)}")
        media = list(images.unbind(0))
    else:
        media = list(images)
    if len(media) != batch:
        raise ValueError(f"got {len(media)} media entries for a batch of {batch}: pass one entry per sample "
                         "(None for samples without image or video)")
    for i, m in enumerate(media):
        if m is not None and m.ndim not in (3, 4):
            raise ValueError(f"media entry {i} has shape {tuple(m.shape)}; expected 3 x H x W or T x 3 x H x W")
    return media


def _is_plugin_key(key: str) -> bool:
    return any(f"{name}." in key for name in PLUGIN_MODULES)


def _keep_float32_on_cpu(kwargs: dict) -> None:
    """LLaVA's loader always asks for float16; on a CPU (no CUDA) that is slow and loses precision
    against the float32 training run. Keep float32 there unless EMOLLM_CPU_DTYPE=float16."""
    if torch.cuda.is_available() or os.environ.get("EMOLLM_CPU_DTYPE", "float32") == "float16":
        return
    if kwargs.get("torch_dtype") == torch.float16:
        kwargs["torch_dtype"] = torch.float32
        logger.info("EmoLLM: loading in float32 on CPU (LLaVA asked for float16; set EMOLLM_CPU_DTYPE=float16 to keep it)")
