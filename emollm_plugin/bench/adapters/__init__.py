"""EmoBench dataset adapters, by the name users type (``emollm bench build --dataset NAME``).

Modules are imported only when their adapter is asked for, so the list of names costs nothing.
"""
from __future__ import annotations

import importlib

from .base import DatasetAdapter

# CLI name -> "module:Class" (module relative to this package)
ADAPTERS = {
    "emotic": "emotic:EmoticAdapter",
    "caer_s": "caer_s:CaerSAdapter",
    "meld": "meld:MeldAdapter",
    "emotion6": "emotion6:Emotion6Adapter",
    "mintrec": "mintrec:MintrecAdapter",
    "urfunny": "urfunny:UrfunnyAdapter",
    "mmhs150k": "mmhs150k:Mmhs150kAdapter",
    "mmsd2": "mmsd2:Mmsd2Adapter",
}


def list_adapters() -> list[str]:
    return list(ADAPTERS)


def get_adapter(name: str) -> type[DatasetAdapter]:
    """The adapter class registered under ``name``; unknown names raise with the known ones."""
    if name not in ADAPTERS:
        raise KeyError(f"unknown EmoBench dataset {name!r}; known: {', '.join(ADAPTERS)}")
    module_name, class_name = ADAPTERS[name].split(":")
    module = importlib.import_module(f"{__name__}.{module_name}")
    cls = getattr(module, class_name)
    if cls.name != name:
        raise RuntimeError(f"{ADAPTERS[name]} declares name {cls.name!r}, registered as {name!r}")
    return cls
