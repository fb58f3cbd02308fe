"""The model's parts found by name: the registered audio tower and projector, and the training
flags each part writes into the model config (so a checkpoint rebuilds itself).

The model layer never imports the modules that define its parts; ``plugin/wiring.py`` registers the
built-in ones (``register()``), and the lookups here read the registries and the validated configs
(``configs/audio.py``, ``configs/emoprompt.py``, the projector's own ``ProjectorSpec``).
"""
from __future__ import annotations

from ..configs import TEMPLATE_NAME, AudioConfig, EmoPromptConfig
from ..constants import CONV_MODE_CONFIG_KEY
from ..registry import AUDIO_PROJECTORS, AUDIO_TOWERS, plugin_projector


def write_projector_config(hf_config, model_args) -> None:
    spec = plugin_projector(getattr(model_args, "mm_projector_type", None))
    if spec is not None and spec.write_config is not None:
        spec.write_config(hf_config, model_args)


def write_emoprompt_config(hf_config, model_args) -> None:
    """With ``--version emoprompt_v1`` (or a bank given), the EmoPrompt settings go into the
    model config; EmoPrompt on without a bank stops here (``EmoPromptConfig.require_bank``)."""
    config = EmoPromptConfig.from_args(model_args)
    if getattr(model_args, "version", None) == TEMPLATE_NAME:
        config.require_bank("training")
    if config.bank is not None:
        config.write_to(hf_config)


def write_conversation_config(hf_config, model_args) -> None:
    """Record the template the training conversations are formatted with, so evaluation asks
    questions the same way. LLaVA's ``train()`` has just made it ``default_conversation``:
    ``conv_templates[--version]``, or vicuna_v1 for a version it does not know."""
    import llava.conversation as conversation_lib
    templates, current = conversation_lib.conv_templates, conversation_lib.default_conversation
    version = getattr(model_args, "version", None)
    if templates.get(version) is current:
        name = version
    else:  # v0, v0.5: LLaVA keeps the default template; record the name it is registered under
        name = next((name for name, template in templates.items() if template is current), None)
    if name is not None:
        setattr(hf_config, CONV_MODE_CONFIG_KEY, name)


def write_audio_config(hf_config, model_args) -> None:
    AudioConfig.from_args(model_args).write_to(hf_config)


def build_audio_tower(hf_config):
    return AUDIO_TOWERS.get(AudioConfig.from_model_config(hf_config).tower_type)(hf_config)


def build_audio_projector(hf_config):
    return AUDIO_PROJECTORS.get(AudioConfig.from_model_config(hf_config).projector_type)(hf_config)
