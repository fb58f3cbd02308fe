"""A calm model load: the messages a plugin checkpoint always causes are held back, real problems
are not, and one line says what was loaded.

LLaVA's ``load_pretrained_model`` builds an ``EmoLlavaLlamaForCausalLM`` from the base LLM and then
loads the checkpoint's own weights into it. On the way transformers logs two warnings that are
expected there:

- "You are using a model of type llama to instantiate a model of type llava_llama": the base LLM's
  config read as LLaVA's (LLaVA's own configs do this);
- "Some weights of EmoLlavaLlamaForCausalLM were not initialized from the model checkpoint ... You
  should probably TRAIN this model": the projectors, which are not in the base LLM and are loaded
  right after from ``non_lora_trainables.bin`` / ``mm_projector.bin``.

``quiet_load(model_path)`` holds both back and records the names the second one lists. On leaving,
``check_initialized()`` compares them with the weights the checkpoint folder holds: a name the
folder does not hold stays random, and that is a ``CheckpointError`` naming the weights (the held
messages and LLaVA's own progress lines are then printed, for context). A failed load prints them
too. Everything else transformers logs passes through.

``deprecations_once_per_run()`` shows each library deprecation notice once in this process and
marks the environment, so the processes this run starts (``PYTHONWARNINGS``) and the other ranks
of a distributed run stay silent about them.
"""
from __future__ import annotations

import ast
import contextlib
import io
import logging
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EmoLLMError

EXPECTED_TYPE_MISMATCH = "You are using a model of type llama to instantiate a model of type llava_llama"
NOT_INITIALIZED = re.compile(r"Some weights of (?P<cls>\w+) were not initialized from the model checkpoint "
                             r"at (?P<path>.*?) and are newly initialized: \[(?P<names>.*?)\]", re.S)
LOGGERS = ("transformers.configuration_utils", "transformers.modeling_utils")
# the files LLaVA's loader reads into the model after building it, in the order it prefers them
LOADED_AFTER = ("non_lora_trainables.bin", "mm_projector.bin")
DEPRECATIONS_SHOWN = "EMOLLM_DEPRECATIONS_SHOWN"  # set once a process of this run has shown them
QUIET_CATEGORIES = (DeprecationWarning, FutureWarning, PendingDeprecationWarning)


class LoadError(EmoLLMError, RuntimeError):
    """A checkpoint that leaves weights random; the message names them and the fix."""


@dataclass
class HeldMessages(logging.Filter):
    """A logging filter that holds back the expected load messages and keeps them for a replay."""

    held: list = field(default_factory=list)
    newly_initialized: list = field(default_factory=list)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(EXPECTED_TYPE_MISMATCH):
            self.held.append(message)
            return False
        found = NOT_INITIALIZED.search(message)
        if found and found["cls"].startswith("EmoLlava"):
            self.held.append(message)
            self.newly_initialized += ast.literal_eval("[" + found["names"] + "]")
            return False
        return True


def checkpoint_weight_names(model_path: str | Path) -> set[str]:
    """The weight names the loader reads from ``model_path`` after building the model, with the
    prefixes LLaVA's loader strips (``base_model.``, then ``model.`` before ``model.model.``)."""
    import torch

    names: set[str] = set()
    for file in LOADED_AFTER:
        path = Path(model_path) / file
        if path.is_file():
            keys = [k[len("base_model."):] if k.startswith("base_model.") else k
                    for k in torch.load(path, map_location="cpu", weights_only=True)]
            if any(k.startswith("model.model.") for k in keys):
                keys = [k[len("model."):] if k.startswith("model.") else k for k in keys]
            names.update(keys)
    return names


def check_initialized(newly_initialized: list[str], model_path: str | Path) -> None:
    """Raise LoadError when a weight the base model lacked is not in the checkpoint either."""
    if not newly_initialized:
        return
    random = sorted(set(newly_initialized) - checkpoint_weight_names(model_path))
    if random:
        files = [f for f in LOADED_AFTER if (Path(model_path) / f).is_file()]
        raise LoadError(
            f"{model_path}: {len(random)} weight(s) are neither in the base model nor in the checkpoint "
            f"({', '.join(files) or f'no {LOADED_AFTER[0]} or {LOADED_AFTER[1]}'}), so the model would answer "
            f"with them random: {random[:6]}{' ...' if len(random) > 6 else ''}. Point --model-path at the "
            "folder the training run wrote (its --output_dir), trained with the same flags, and --model-base "
            "at that run's --model_name_or_path.")


@contextlib.contextmanager
def quiet_load(model_path: str | Path):
    """Hold back the expected messages and LLaVA's progress prints while loading ``model_path``;
    on leaving, check the weights the held warning listed (``check_initialized``). On any error
    the held output is printed to stderr before the error propagates."""
    held = HeldMessages()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    for logger in loggers:
        logger.addFilter(held)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            yield held
        check_initialized(held.newly_initialized, model_path)
    except BaseException:
        replay = printed.getvalue().splitlines() + held.held
        if replay:
            print("emollm: the load printed:\n  " + "\n  ".join(replay), file=sys.stderr)
        raise
    finally:
        for logger in loggers:
            logger.removeFilter(held)


def describe_load(model, model_path: str | Path, model_base: str | None, device: str, dtype) -> str:
    """One line: what was loaded, from where, and how it runs."""
    config = model.config
    audio = getattr(config, "mm_audio_tower", None) or getattr(config, "audio_tower", None)
    parts = [f"projector {getattr(config, 'mm_projector_type', 'linear')}",
             f"audio tower {Path(audio).name if audio else 'none'}",
             f"{str(dtype).replace('torch.', '')} on {device}"]
    base = f" on base {model_base}" if model_base else ""
    return f"emollm: loaded {model_path}{base}: " + ", ".join(parts)


def deprecations_once_per_run() -> None:
    """Library deprecation notices: each once in the first process of this run, none in the
    processes it starts or in the other ranks of a distributed run.

    A filter alone does not hold: a library that adds its own filter later, or any change of the
    filters (``catch_warnings``), lets the same notice through again; so ``warnings.showwarning``
    also drops a deprecation notice whose text was shown before."""
    rank = os.environ.get("RANK") or os.environ.get("LOCAL_RANK") or "0"
    shown_elsewhere = bool(os.environ.get(DEPRECATIONS_SHOWN)) or rank != "0"
    for category in QUIET_CATEGORIES:
        warnings.filterwarnings("ignore" if shown_elsewhere else "once", category=category)
    if not getattr(warnings.showwarning, "emollm_once", False):
        warnings.showwarning = _shown_once(warnings.showwarning, shown_elsewhere)
    os.environ[DEPRECATIONS_SHOWN] = "1"
    quiet = ",".join(f"ignore::{c.__name__}" for c in QUIET_CATEGORIES)
    inherited = os.environ.get("PYTHONWARNINGS", "")
    if quiet not in inherited:
        os.environ["PYTHONWARNINGS"] = f"{inherited},{quiet}" if inherited else quiet


def _shown_once(show, drop_all: bool):
    seen: set[str] = set()

    def show_once(message, category, *args, **kwargs):
        if issubclass(category, QUIET_CATEGORIES):
            if drop_all or str(message) in seen:
                return
            seen.add(str(message))
        show(message, category, *args, **kwargs)

    show_once.emollm_once = True
    return show_once
