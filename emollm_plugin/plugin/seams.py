"""The ONLY module that changes LLaVA: every seam, installed idempotently, reversible for tests.

LLaVA binds names at import time in several modules (``from .builder import build_vision_projector``
copies the function into ``llava.model.llava_arch``), so each seam rebinds every binding. Each
replacement delegates to the upstream original when the plugin's feature is not configured.

Seams:
  projector builder      multimodal_projector.builder + llava_arch .build_vision_projector
  vision tower builder   multimodal_encoder.builder + llava_arch .build_vision_tower
  model class            llava, llava.model, llava.model.builder, llava.train.train
                         .LlavaLlamaForCausalLM -> EmoLlavaLlamaForCausalLM (+ AutoModelForCausalLM)
  prompt tokenising      llava.mm_utils / llava.train.train (and loaded llava.eval.*)
                         .tokenizer_image_token -> also maps <audio>
  training arguments     llava.train.train.ModelArguments / DataArguments (plugin flags added),
                         TrainingArguments (--warmup_ratio / --evaluation_strategy on transformers 5.x)
  training data          llava.train.train.make_supervised_data_module (every record checked first;
                         video, audio, masked-sample check)
  LoRA targets           llava.train.train.find_all_linear_names (never the audio tower / projectors)
  conversation templates llava.conversation.conv_templates gains the plugin's registered templates
  trainer                llava.train.train.LLaVATrainer: checkpoints also hold the projectors (no DeepSpeed)
  resuming               transformers.trainer.deepspeed_load_checkpoint / Trainer._load_rng_state
                         (LoRA + DeepSpeed checkpoints resume; see plugin/resume.py)
  training model         EmoLlavaLlamaModel.on_vision_modules_initialized -> STATE.training_model
                         (the data seam reads the model's projector token counts from it)

All of it is held in one ``PluginState`` (``STATE``): ``register()`` fills it, ``uninstall()``
restores every binding and empties it, so a test (or a program) can register, use and undo the
plugin, also as ``with register(): ...``.
"""
from __future__ import annotations

import importlib
import re
import sys
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Optional



@dataclass
class PluginState:
    """Everything ``register()`` changes, so ``uninstall()`` can undo all of it."""

    originals: dict[tuple[str, str], Any] = field(default_factory=dict)  # (module|class key, name) -> upstream
    owners: dict[str, Any] = field(default_factory=dict)  # classes patched by _patch_attr, by their key
    added_templates: set[str] = field(default_factory=set)  # conversation templates added to llava's
    installed: bool = False  # the seams are in place
    registered: bool = False  # register() completed (components, seams, templates)
    training_model: Optional[weakref.ref] = None  # the causal LM whose vision modules training set up

    def remember_training_model(self, model) -> None:
        self.training_model = weakref.ref(model)

    def model_for_training(self):
        """The causal LM most recently set up for training (None if none, or it was freed)."""
        return self.training_model() if self.training_model is not None else None


STATE = PluginState()


def _patch(module, name: str, new) -> None:
    key = (module.__name__, name)
    if key not in STATE.originals:
        STATE.originals[key] = getattr(module, name)
    setattr(module, name, new)


def _patch_attr(owner, key_name: str, name: str, new) -> None:
    """Like _patch, for an attribute of a class (recorded under key_name)."""
    key = (key_name, name)
    if key not in STATE.originals:
        STATE.originals[key] = owner.__dict__[name]
    STATE.owners[key_name] = owner
    setattr(owner, name, new)


def original(module_name: str, name: str):
    """The upstream object a seam replaced (or the current one if no seam is installed)."""
    return STATE.originals.get((module_name, name)) or getattr(importlib.import_module(module_name), name)


def _import_llava_model():
    """`llava/model/__init__.py` hides import errors behind a bare except; surface the real one."""
    import llava.model
    if not hasattr(llava.model, "LlavaLlamaForCausalLM"):
        importlib.import_module("llava.model.language_model.llava_llama")  # raises the real error
        raise ImportError("llava.model has no LlavaLlamaForCausalLM although its module imports; "
                          "is the installed llava-torch 1.2.2.post1?")
    return llava.model


# ----- builders ----------------------------------------------------------------------------------
def build_vision_projector(config, delay_load=False, **kwargs):
    from ..registry import PROJECTORS, plugin_projector
    name = getattr(config, "mm_projector_type", "linear")
    spec = plugin_projector(name)
    if spec is not None:
        return spec.build(config)
    upstream = original("llava.model.multimodal_projector.builder", "build_vision_projector")
    try:
        return upstream(config, delay_load=delay_load, **kwargs)
    except ValueError as err:
        raise ValueError(f"unknown projector type {name!r}; registered: {', '.join(PROJECTORS.names())} "
                         "(upstream also accepts mlp<N>x_gelu)") from err


def build_vision_tower(vision_tower_cfg, **kwargs):
    from ..registry import VISION_TOWERS
    type_name = getattr(vision_tower_cfg, "mm_vision_tower_type", None)
    if type_name:
        return VISION_TOWERS.get(type_name)(vision_tower_cfg, **kwargs)
    return original("llava.model.multimodal_encoder.builder", "build_vision_tower")(vision_tower_cfg, **kwargs)


# ----- training ----------------------------------------------------------------------------------
_NOT_LORA = ("mm_projector", "vision_tower", "vision_resampler", "audio_tower", "audio_projector")


def find_all_linear_names(model):
    """Upstream's list when the model has no plugin modules; otherwise a regex over full module
    names that matches the LLM's linear layers only (peft matches a list of leaf names anywhere,
    which would also wrap same-named layers inside the towers)."""
    import torch
    upstream = original("llava.train.train", "find_all_linear_names")
    names = dict(model.named_modules())
    if not any(key in n for n in names for key in ("audio_tower", "audio_projector")):
        return upstream(model)
    leaves = sorted({n.split(".")[-1] for n, m in names.items()
                     if isinstance(m, torch.nn.Linear) and not any(k in n for k in _NOT_LORA)} - {"lm_head"})
    excluded = "|".join(_NOT_LORA)
    return rf"^(?!.*\b(?:{excluded})\b).*\.(?:{'|'.join(map(re.escape, leaves))})$"


def make_supervised_data_module(tokenizer, data_args):
    import llava.conversation as conversation_lib

    from ..emoprompt.runtime import is_emoprompt
    from ..train.data import check_data, load_training_records, make_emo_data_module
    model = STATE.model_for_training()
    if model is None or not (model.uses_plugin() or is_emoprompt(conversation_lib.default_conversation)):
        check_data(data_args, load_training_records(data_args.data_path), has_audio_tower=False)
        return original("llava.train.train", "make_supervised_data_module")(tokenizer=tokenizer, data_args=data_args)
    return make_emo_data_module(tokenizer, data_args, model)


def deepspeed_load_checkpoint(deepspeed_engine, checkpoint_path, **kwargs):
    """kwargs: ``load_module_strict`` (transformers >= 4.4x passes it)."""
    from .resume import load_deepspeed_checkpoint
    return load_deepspeed_checkpoint(deepspeed_engine, checkpoint_path,
                                     original("transformers.trainer", "deepspeed_load_checkpoint"), **kwargs)


def _load_rng_state(self, checkpoint):
    from .resume import load_rng_state
    return load_rng_state(self, checkpoint, STATE.originals[("transformers.trainer.Trainer", "_load_rng_state")])


# ----- names newer transformers moved -------------------------------------------------------------
def restore_moved_trainer_names() -> None:
    """``llava/train/llava_trainer.py`` imports ``ALL_LAYERNORM_LAYERS`` from ``transformers.trainer``,
    which dropped it after 4.4x (it lives on in ``transformers.pytorch_utils``, or is the LayerNorm
    list). It has to be back before anything imports ``llava.train.train``."""
    import transformers.trainer as hf_trainer
    if hasattr(hf_trainer, "ALL_LAYERNORM_LAYERS"):
        return
    import torch
    import transformers.pytorch_utils as pytorch_utils
    layers = getattr(pytorch_utils, "ALL_LAYERNORM_LAYERS", [torch.nn.LayerNorm])
    hf_trainer.ALL_LAYERNORM_LAYERS = layers  # kept after uninstall(): llava.train.train holds it


# ----- install -----------------------------------------------------------------------------------
def register() -> None:
    """Install the plugin into LLaVA (idempotent): components, registries, seams, templates."""
    from .wiring import register_components
    register_components()
    install()
    sync_conversation_templates()
    STATE.registered = True


def install() -> None:
    if STATE.installed:
        return
    from transformers import AutoModelForCausalLM

    restore_moved_trainer_names()
    llava_model = _import_llava_model()
    import llava
    import llava.conversation
    import llava.mm_utils
    import llava.model.builder
    import llava.model.llava_arch as arch
    import llava.model.multimodal_encoder.builder as tower_builder
    import llava.model.multimodal_projector.builder as projector_builder
    import llava.train.train as train_mod
    from llava.model.language_model.llava_llama import LlavaConfig

    from ..model.emollm_llama import EmoLlavaLlamaForCausalLM, EmoLlavaLlamaModel
    from ..model.tokens import tokenizer_media_token
    from ..train.arguments import extend_data_arguments, extend_model_arguments
    from .training_arguments import extend_training_arguments

    for module in (projector_builder, arch):
        _patch(module, "build_vision_projector", build_vision_projector)
    for module in (tower_builder, arch):
        _patch(module, "build_vision_tower", build_vision_tower)
    for module in (llava, llava_model, llava.model.builder, train_mod):
        _patch(module, "LlavaLlamaForCausalLM", EmoLlavaLlamaForCausalLM)
    AutoModelForCausalLM.register(LlavaConfig, EmoLlavaLlamaForCausalLM, exist_ok=True)

    upstream_tokenize = original("llava.mm_utils", "tokenizer_image_token")
    for name, module in list(sys.modules.items()):
        if name.startswith("llava") and getattr(module, "tokenizer_image_token", None) is upstream_tokenize:
            _patch(module, "tokenizer_image_token", tokenizer_media_token)

    _patch(train_mod, "ModelArguments", extend_model_arguments(original("llava.train.train", "ModelArguments")))
    _patch(train_mod, "DataArguments", extend_data_arguments(original("llava.train.train", "DataArguments")))
    _patch(train_mod, "TrainingArguments", extend_training_arguments(original("llava.train.train", "TrainingArguments")))
    _patch(train_mod, "make_supervised_data_module", make_supervised_data_module)
    _patch(train_mod, "find_all_linear_names", find_all_linear_names)
    from ..train.trainer import make_trainer_class
    _patch(train_mod, "LLaVATrainer", make_trainer_class(original("llava.train.train", "LLaVATrainer")))

    import transformers.trainer as hf_trainer
    _patch(hf_trainer, "deepspeed_load_checkpoint", deepspeed_load_checkpoint)
    _patch_attr(hf_trainer.Trainer, "transformers.trainer.Trainer", "_load_rng_state", _load_rng_state)
    _patch_attr(EmoLlavaLlamaModel, "emollm_plugin.model.emollm_llama.EmoLlavaLlamaModel",
                "on_vision_modules_initialized", staticmethod(STATE.remember_training_model))

    STATE.installed = True


def sync_conversation_templates() -> None:
    """Copy every registered template into llava.conversation.conv_templates (each register())."""
    import llava.conversation
    from ..registry import CONV_TEMPLATES
    for name, template in CONV_TEMPLATES.items():
        if name not in llava.conversation.conv_templates:
            STATE.added_templates.add(name)
        llava.conversation.conv_templates[name] = template


def uninstall() -> None:
    """Undo everything ``register()`` did: every upstream binding, the added templates, the
    remembered training model, the registered flag."""
    originals = STATE.originals
    if originals:
        from transformers import AutoModelForCausalLM
        for (module_name, name), obj in originals.items():
            setattr(STATE.owners.get(module_name) or sys.modules[module_name], name, obj)
        if ("llava.model", "LlavaLlamaForCausalLM") in originals:
            from llava.model.language_model.llava_llama import LlavaConfig
            AutoModelForCausalLM.register(LlavaConfig, originals[("llava.model", "LlavaLlamaForCausalLM")],
                                          exist_ok=True)
    if "llava.conversation" in sys.modules:
        for name in STATE.added_templates:
            sys.modules["llava.conversation"].conv_templates.pop(name, None)
    STATE.__init__()  # a fresh, empty state


def installed() -> bool:
    return STATE.installed


def registered() -> bool:
    return STATE.registered


def seam_bindings() -> list[tuple[str, str, Callable]]:
    """(module, name, current object) for every installed seam: for `emollm doctor` and tests."""
    return [(m, n, getattr(STATE.owners.get(m) or sys.modules[m], n)) for (m, n) in STATE.originals]
