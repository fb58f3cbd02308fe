"""EmoLLM as a plugin for an unmodified LLaVA v1.5 installation.

``from emollm_plugin import register; register()`` before LLaVA builds a model, or
``with register(): ...`` to undo it all on leaving the block (``seams.uninstall()``). Importing
this package is cheap; ``register()`` imports torch, LLaVA and the plugin's modules.

Layout (lower layers never import higher ones; ``tests/layers.py`` holds the table and
``tests/test_layering.py`` checks it): foundation (``constants``, ``errors``, ``registry``,
``records``, ``media``, ``configs``, ``plugin.compat`` and the version shims) <- ``tasks`` <-
components (``projectors``, ``audio``, ``model``) <- ``bench`` <- ``emoprompt`` <- ``eval`` |
``train`` <- ``runtime`` <- ``apps`` <- entry points (``plugin.wiring``, ``plugin.seams``, this
module, ``commands``, ``testing``).

Modules that moved keep their old import path for a deprecation period (``MOVED``): importing it
warns (DeprecationWarning) and gives the module at its new home.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from .constants import __version__

# old path -> new path, relative to this package; a tuple for a module split in several
MOVED: dict[str, str | tuple[str, ...]] = {
    **{f"bench.{name}": f"tasks.{name}" for name in ("labels", "lexicon", "answers", "questions", "schema")},
    "eval.infer": ("commands.infer", "runtime.errors", "runtime.loading", "runtime.media", "runtime.generation",
                   "runtime.answerer", "runtime.batch", "runtime.arguments"),
    "seams": "plugin.seams",
    "components": "plugin.wiring",
    "llava_compat": "plugin.compat",
    "model.stack": "plugin.stack",
    "train.resume": "plugin.resume",
    "cli": "commands.cli",
    "run": "commands.run",
    "doctor": "commands.doctor",
    "train.launch": "commands.train",
    "train.merge": "commands.merge",
    "tiny": "testing.tiny",
    "audio.tiny": "testing.tiny_audio",
    "media.synth": "testing.synth",
    "demo_data": "testing.demo_data",
    "projectors.mvp.config": "configs.mvp",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths in ``MOVED`` (after every other finder failed): the import warns and
    binds the module at its new home (a split module: a module forwarding to its parts);
    ``python -m OLD`` runs the new module."""

    @staticmethod
    def _new(fullname: str) -> tuple[str, ...]:
        new = MOVED[fullname[len(__name__) + 1:]]
        return tuple(f"{__name__}.{part}" for part in ((new,) if isinstance(new, str) else new))

    def _warn(self, fullname: str) -> None:
        level, frame = 2, sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
            level, frame = level + 1, frame.f_back  # point at the import statement, not importlib
        warnings.warn(f"{fullname} moved to {' + '.join(self._new(fullname))}; import it from there",
                      DeprecationWarning, stacklevel=level)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(__name__ + ".") and fullname[len(__name__) + 1:] in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def exec_module(self, module) -> None:
        self._warn(module.__name__)
        parts = [importlib.import_module(name) for name in self._new(module.__name__)]
        if len(parts) == 1:
            sys.modules[module.__name__] = parts[0]  # the import system returns what is bound here
            return

        def forwarded(name):
            for part in parts:
                if hasattr(part, name):
                    return getattr(part, name)
            raise AttributeError(f"module {module.__name__!r} has no attribute {name!r}")
        module.__getattr__ = forwarded

    def get_code(self, fullname):
        self._warn(fullname)
        new = self._new(fullname)[0]
        return compile(f"import runpy\nrunpy.run_module({new!r}, run_name='__main__', alter_sys=True)\n",
                       fullname, "exec")


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())


class _Registration:
    """What ``register()`` returns: ignore it, or use it as a context manager that uninstalls."""

    def __enter__(self) -> "_Registration":
        return self

    def __exit__(self, *exc) -> None:
        from .plugin import seams
        seams.uninstall()


def register() -> _Registration:
    """Install the plugin into LLaVA (idempotent): components, registries, seams."""
    from .plugin import seams
    seams.register()
    return _Registration()


def is_registered() -> bool:
    from .plugin import seams
    return seams.registered()


def list_projectors() -> list[str]:
    from .plugin import wiring
    wiring.register_components()
    from .registry import PROJECTORS
    return PROJECTORS.names()


def list_audio_towers() -> list[str]:
    from .plugin import wiring
    wiring.register_components()
    from .registry import AUDIO_TOWERS
    return AUDIO_TOWERS.names()


__all__ = ["register", "is_registered", "list_projectors", "list_audio_towers", "__version__"]
