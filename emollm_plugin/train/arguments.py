"""LLaVA's ModelArguments / DataArguments extended with the plugin's flags.

The new classes subclass upstream's dataclasses, so every upstream flag keeps its name, type and
default; `llava.train.train.train()` parses them because the seams rebind the module's names.
The plugin's model flags are generated from the config dataclasses (``MODEL_CONFIGS``): each
flag's name, type, default and help are defined once, in its config class.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable

from ..constants import NUM_VIDEO_FRAMES
from .data_check import DEFAULT_DATA_CHECK, DEFAULT_ON_BAD_MEDIA


def _model_configs() -> tuple[Any, ...]:
    """The config classes whose fields become ModelArguments flags."""
    from ..configs import AudioConfig, EmoPromptConfig
    from ..configs.mvp import MVPConfig
    return (MVPConfig, AudioConfig, EmoPromptConfig)


def config_flags(configs: Iterable[Any] | None = None) -> list[tuple[str, Any, Any, str]]:
    """``(flag, type, default, help)`` of every field of ``configs`` (default: the three)."""
    return [tuple(cli) for cls in (configs if configs is not None else _model_configs())
            for cli in cls.cli_fields()]


def _spec(default, help_: str):
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda d=tuple(default): list(d), metadata={"help": help_})
    return dataclasses.field(default=default, metadata={"help": help_})


def check_model_arguments(args) -> None:
    """Validate the plugin's flags when they are parsed, before any model is loaded: each config
    is built from them (its checks run), and ``--version emoprompt_v1`` needs a bank."""
    from ..configs import TEMPLATE_NAME, AudioConfig, EmoPromptConfig
    from ..configs.mvp import MVPConfig
    MVPConfig.from_model_config(args)
    AudioConfig.from_args(args)
    emoprompt = EmoPromptConfig.from_args(args)
    if getattr(args, "version", None) == TEMPLATE_NAME:
        _check_bank(emoprompt.require_bank("training"))


def _check_bank(bank: str) -> None:
    """A bank that cannot be read or is invalid stops training here, not after the model loads."""
    from ..configs import ConfigError
    from ..emoprompt.bank import BankError, load_bank, resolve_bank
    try:
        load_bank(resolve_bank(bank))
    except BankError as err:
        raise ConfigError(f"--emoprompt_bank {bank}: {err}") from None


def extend_model_arguments(upstream_cls, configs: Iterable[Any] | None = None):
    fields = [(name, type_, _spec(default, help_)) for name, type_, default, help_ in config_flags(configs)]
    upstream_post_init = getattr(upstream_cls, "__post_init__", None)

    def __post_init__(self):
        if upstream_post_init is not None:
            upstream_post_init(self)
        if configs is None:
            check_model_arguments(self)

    return dataclasses.make_dataclass("ModelArguments", fields, bases=(upstream_cls,),
                                      namespace={"__post_init__": __post_init__})


def extend_data_arguments(upstream_cls):
    fields = [
        ("num_video_frames", int, _spec(NUM_VIDEO_FRAMES, "frames sampled uniformly from each video clip "
                                                 f"(default: {NUM_VIDEO_FRAMES})")),
        ("data_check", str, _spec(DEFAULT_DATA_CHECK, "records checked before step 1: off | fast (fields, "
                                  "placeholders, ids, media present and non-empty) | full (fast + media decode) "
                                  f"(default: {DEFAULT_DATA_CHECK})")),
        ("on_bad_media", str, _spec(DEFAULT_ON_BAD_MEDIA, "a media file failing mid-training: stop (name the "
                                    "record, save a checkpoint of the steps done) | skip (log it, count it, go on) "
                                    f"(default: {DEFAULT_ON_BAD_MEDIA})")),
    ]
    return dataclasses.make_dataclass("DataArguments", fields, bases=(upstream_cls,))


def __getattr__(name: str):
    # a training_args.bin that names the generated class under this module unpickles
    if name == "TrainingArguments":
        from ..plugin import training_arguments
        return getattr(training_arguments, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
