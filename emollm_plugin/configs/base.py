"""What the plugin's config dataclasses share: read from a model config or parsed flags, write to a
model config, list CLI flags, bring values to each field's type.

A field's ``metadata`` names its model-config ``key`` and its command-line ``flag`` (both default
to the class's ``PREFIX`` + the field name) and its ``help``. A field whose default is ``None``
holds an optional string; a tuple default means a tuple of integers (a list on the command line
and in JSON).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, Field, fields
from typing import Any, NamedTuple, Optional

from ..errors import EmoLLMError


class ConfigError(EmoLLMError, ValueError):
    """A config value that cannot be used; the message names the flag and what to pass."""


class CliField(NamedTuple):
    """One training flag: ``--name`` of type ``type`` with ``default`` and ``help``."""

    name: str
    type: Any
    default: Any
    help: str


def has_key(source: Any, name: str) -> bool:
    """Whether a model config (attribute) or mapping (key) holds ``name`` at all."""
    return _lookup(source, name)[0]


def _lookup(source: Any, name: str) -> tuple[bool, Any]:
    if isinstance(source, Mapping):
        return name in source, source.get(name)
    return hasattr(source, name), getattr(source, name, None)


class ModelConfigFields:
    """Mixin for frozen dataclasses whose fields carry ``key`` / ``flag`` / ``help`` metadata."""

    PREFIX = ""  # of keys and flags not named in a field's metadata

    @classmethod
    def key_of(cls, f: Field) -> str:
        return f.metadata.get("key", cls.PREFIX + f.name)

    @classmethod
    def flag_of(cls, f: Field) -> str:
        return f.metadata.get("flag", cls.PREFIX + f.name)

    def __post_init__(self) -> None:
        self._coerce_fields()
        self._validate()

    def _coerce_fields(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, coerce(self.flag_of(f), getattr(self, f.name), f.default))

    def _validate(self) -> None:
        """Cross-field and range checks; raise ``ConfigError`` through ``fail``."""

    @classmethod
    def _read(cls, source: Any, name_of) -> "ModelConfigFields":
        values = {}
        for f in fields(cls):
            found, value = _lookup(source, name_of(f))
            if found and value is not None:
                values[f.name] = value
        return cls(**values)

    @classmethod
    def from_model_config(cls, hf_config: Any):
        """Read each field's ``key`` (attribute or mapping key); a missing one takes the default."""
        return cls._read(hf_config, cls.key_of)

    @classmethod
    def from_args(cls, args: Any):
        """Read each field's ``flag`` from parsed training arguments (or a mapping)."""
        return cls._read(args, cls.flag_of)

    def to_dict(self) -> dict[str, Any]:
        """Every field under its model-config key, JSON-serialisable (tuples become lists)."""
        return {self.key_of(f): _jsonable(getattr(self, f.name)) for f in fields(self)}

    def write_to(self, hf_config: Any) -> None:
        """Set every key on ``hf_config`` (so it is saved with the model)."""
        for key, value in self.to_dict().items():
            setattr(hf_config, key, value)

    @classmethod
    def cli_fields(cls) -> list[CliField]:
        """One ``CliField`` per field, named by its flag. A tuple field is a ``list[int]`` flag with a
        list default (argparse: ``type=int, nargs="+"``)."""
        out = []
        for f in fields(cls):
            default = f.default if f.default is not MISSING else f.default_factory()
            typ: Any = Optional[str] if default is None else type(default)
            if isinstance(default, tuple):
                typ, default = list[int], list(default)
            out.append(CliField(cls.flag_of(f), typ, default, f.metadata["help"]))
        return out


def fail(flag: str, value: Any, expected: str) -> None:
    raise ConfigError(f"--{flag}={value!r} is invalid: pass {expected}")


def check_choice(flag: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        fail(flag, value, "one of " + " | ".join(choices))


def coerce(flag: str, value: Any, default: Any) -> Any:
    """Bring a value read from a config, a JSON file or a command line to the field's type."""
    if isinstance(default, tuple):
        if isinstance(value, str):
            text = value.strip()
            try:
                value = json.loads(text) if text.startswith("[") else [
                    int(v) for v in text.replace(",", " ").split()]
            except ValueError:
                fail(flag, value, "integers, e.g. '64,32,16' or [64, 32, 16]")
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            fail(flag, value, "a list of integers, e.g. [64, 32, 16]")
        return tuple(value)
    if default is None:
        if value is not None and not isinstance(value, str):
            value = str(value) if hasattr(value, "__fspath__") else fail(flag, value, "a string")
        return value or None
    if isinstance(default, bool):
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            fail(flag, value, "true or false")
        return value
    if isinstance(default, (int, float)):
        number = int if isinstance(default, int) else float
        if isinstance(value, str):
            try:
                value = number(value)
            except ValueError:
                fail(flag, value, f"a number of type {number.__name__}")
        allowed = (int,) if number is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, allowed):
            fail(flag, value, f"a number of type {number.__name__}")
        return number(value)
    if isinstance(default, str) and not isinstance(value, str):
        fail(flag, value, "a string")
    return value


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
