"""One small registry type: the plugin's components are looked up by the exact string users type.

Registering the same object twice is a no-op (an equal object counts as the same); registering a
*different* object under a taken name raises unless ``exist_ok=True``; an unknown name raises
listing the known ones.

The ``register_*`` decorators are the extension point (``docs/extending.md``): a third-party
module decorates a builder ``builder(hf_config) -> nn.Module`` (projector, audio tower, audio
projector) or a conversation factory ``() -> llava.conversation.Conversation``; listing the module
in the ``emollm_plugin.components`` entry-point group or in ``EMOLLM_PLUGINS`` makes ``register()``
import it (``plugin/wiring.py``).

``ProjectorSpec`` and the projector lookups the model and the seams make (``plugin_projector``,
``uses_plugin``) live here too, so the model layer finds its parts by name and never imports the
modules that define them (``model/parts.py`` does the same for the audio parts);
``plugin/wiring.py`` registers the built-in ones when ``register()`` runs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generic, Iterable, Optional, TypeVar

T = TypeVar("T")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._items: Dict[str, T] = {}

    def register(self, name: str, obj: T, exist_ok: bool = False) -> T:
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(
                f"invalid {self.kind} name {name!r}: use letters, digits, '_', '-', '.' "
                "(it is the string users pass on the command line)")
        current = self._items.get(name)
        if current is not None and current is not obj and current != obj and not exist_ok:
            raise KeyError(
                f"{self.kind} {name!r} is already registered to {current!r}; "
                "pass exist_ok=True to replace it")
        self._items[name] = obj
        return obj

    def decorator(self, name: str, exist_ok: bool = False) -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            return self.register(name, obj, exist_ok=exist_ok)
        return wrap

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> Iterable[tuple[str, T]]:
        return sorted(self._items.items())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"


PROJECTORS: Registry = Registry("projector")
VISION_TOWERS: Registry = Registry("vision tower")
AUDIO_TOWERS: Registry = Registry("audio tower")
AUDIO_PROJECTORS: Registry = Registry("audio projector")
CONV_TEMPLATES: Registry = Registry("conversation template")


def register_projector(name: str, exist_ok: bool = False,
                       write_config: Optional[Callable[[Any, Any], None]] = None):
    """Decorator: ``@register_projector("my_proj")`` on a ``builder(hf_config) -> nn.Module``.

    The module maps the vision tower's features ``I x N x C`` (``C = hf_config.mm_hidden_size``) to
    ``I x L x D`` tokens (``D = hf_config.hidden_size``); ``--mm_projector_type my_proj`` selects it.
    ``write_config(hf_config, model_args)``, if given, copies the projector's training flags into the
    model config so a checkpoint rebuilds the same module. A ``ProjectorSpec`` is accepted as is.
    Returns the decorated object unchanged."""
    def wrap(obj):
        spec = obj if isinstance(obj, ProjectorSpec) else ProjectorSpec(build=obj, write_config=write_config)
        if not spec.upstream and not callable(spec.build):
            raise TypeError(f"projector {name!r}: expected a builder(hf_config) -> nn.Module, got {obj!r}")
        PROJECTORS.register(name, spec, exist_ok=exist_ok)
        return obj
    return wrap


def register_audio_projector(name: str, exist_ok: bool = False):
    """Decorator on a ``builder(hf_config) -> nn.Module`` mapping a list of ``T_i x hf_config.
    mm_audio_hidden_size`` encodings to a list of ``tokens x hidden_size``; selected with
    ``--mm_audio_projector_type``."""
    return _builder_decorator(AUDIO_PROJECTORS, name, exist_ok)


def register_audio_tower(name: str, exist_ok: bool = False):
    """Decorator on a ``builder(hf_config) -> nn.Module`` with a ``hidden_size`` attribute whose
    forward takes a list of waveforms and returns a list of ``T_i x hidden_size`` encodings; selected
    with ``--audio_tower_type`` (``--audio_tower PATH`` is passed to it as ``hf_config.mm_audio_tower``)."""
    return _builder_decorator(AUDIO_TOWERS, name, exist_ok)


def register_vision_tower(name: str, exist_ok: bool = False):
    """Decorator on a ``builder(vision_tower_cfg, **kwargs)`` returning a LLaVA-style vision tower;
    selected by ``mm_vision_tower_type`` in the model config."""
    return _builder_decorator(VISION_TOWERS, name, exist_ok)


def register_conv_template(name: str, exist_ok: bool = False):
    """Decorator on a factory ``() -> llava.conversation.Conversation`` (or applied to a
    ``Conversation``): ``register()`` adds it to ``llava.conversation.conv_templates``, so
    ``--version NAME`` and ``--conv-mode NAME`` find it. Returns the decorated object unchanged."""
    def wrap(obj):
        template = obj() if callable(obj) else obj
        for attribute in ("system", "roles", "messages", "copy"):
            if not hasattr(template, attribute):
                raise TypeError(f"conversation template {name!r}: expected a llava.conversation."
                                f"Conversation (or a factory returning one), got {template!r}")
        CONV_TEMPLATES.register(name, template, exist_ok=exist_ok)
        return obj
    return wrap


def _builder_decorator(registry: Registry, name: str, exist_ok: bool):
    def wrap(builder):
        if not callable(builder):
            raise TypeError(f"{registry.kind} {name!r}: expected a builder function, got {builder!r}")
        return registry.register(name, builder, exist_ok=exist_ok)
    return wrap


# ----- lookups by name (the model layer and the seams use these) ---------------------------------
UPSTREAM_PROJECTORS = ("linear", "mlp2x_gelu", "identity")


@dataclass(frozen=True)
class ProjectorSpec:
    """A projector entry: how to build it from a model config, how to copy its training flags into
    that config (so a checkpoint rebuilds itself), and whether it is upstream LLaVA's (then LLaVA's
    own builder makes it, unchanged)."""
    build: Optional[Callable[[Any], Any]]  # hf_config -> nn.Module; None = upstream builder
    write_config: Optional[Callable[[Any, Any], None]] = None  # (hf_config, model_args) -> None
    upstream: bool = False


def plugin_projector(name: Optional[str]) -> Optional[ProjectorSpec]:
    """The spec of a projector the plugin (or a third party through it) owns; None for upstream's."""
    if name is None or name not in PROJECTORS:
        return None
    spec = PROJECTORS.get(name)
    return None if spec.upstream else spec


def uses_plugin(hf_config) -> bool:
    return (plugin_projector(getattr(hf_config, "mm_projector_type", None)) is not None
            or bool(getattr(hf_config, "mm_audio_tower", None)))
