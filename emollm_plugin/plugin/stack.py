"""What the model subclass adapts so one code path runs on transformers 4.37 and 5.x.

Each function is a no-op on the pinned row (transformers 4.37.2) and corrects a measured change of
the current row (docs/upstream-quirks.md):
  split_cache / cache_kwargs  transformers 5.x ``generate`` hands the KV cache to ``forward`` as
      ``cache=`` (``past_key_values`` is a deprecated alias). A forward that does not take it runs
      every step without the cache: no error, different greedy tokens.
  default_dtype_when_unset    transformers 5.x ``from_pretrained`` loads with ``dtype="auto"`` when
      no dtype is given, so a float16 checkpoint comes back float16 where 4.x gave float32
      (LLaVA's ``train()`` passes ``torch_dtype=None``).
"""
from __future__ import annotations

import functools
import inspect

import torch


@functools.lru_cache(maxsize=None)
def cache_keyword() -> str:
    """The name LlamaForCausalLM.forward takes the KV cache under: 'cache' (5.x) or 'past_key_values'."""
    from transformers import LlamaForCausalLM
    return "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


def split_cache(past_key_values, hf_kwargs: dict):
    """(the cache whichever name it came under, the remaining keywords)."""
    rest = dict(hf_kwargs)
    cache = rest.pop("cache", None)
    if cache is not None and past_key_values is not None:
        raise TypeError("forward got both cache= and past_key_values=")
    return (past_key_values if cache is None else cache), rest


def cache_kwargs(cache) -> dict:
    return {cache_keyword(): cache} if cache is not None else {}


@functools.lru_cache(maxsize=None)
def from_pretrained_defaults_to_auto_dtype() -> bool:
    import transformers
    return int(transformers.__version__.split(".")[0]) >= 5


def default_dtype_when_unset(kwargs: dict) -> None:
    """Give ``from_pretrained`` the 4.x default (torch's default dtype) when the caller set none."""
    if not from_pretrained_defaults_to_auto_dtype():
        return
    if kwargs.get("dtype") is None and kwargs.get("torch_dtype") is None:
        kwargs.pop("torch_dtype", None)
        kwargs["dtype"] = torch.get_default_dtype()
