"""Every exception class of the plugin derives from errors.EmoLLMError (and keeps its builtin)."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import emollm_plugin
from emollm_plugin.errors import EmoLLMError

SKIP = ("emollm_plugin.commands._sitecustomize",)  # importing it installs an import hook
# needs lmms-eval (the `lmms` extra, current row only): walked by the test marked lmms below
LMMS_INTEGRATION = ("emollm_plugin.apps.lmms_eval", "emollm_plugin.commands.lmms_eval")


def _plugin_exception_classes(with_lmms: bool = False) -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages(emollm_plugin.__path__, "emollm_plugin."):
        if info.name.startswith(SKIP) or info.name.endswith("__main__"):
            continue
        if info.name.startswith(LMMS_INTEGRATION) and not with_lmms:
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__.startswith("emollm_plugin"):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_plugin_exception_derives_from_emollm_error():
    classes = _plugin_exception_classes()
    assert len(classes) >= 20
    assert [name for name, cls in classes.items() if not issubclass(cls, EmoLLMError)] == []


@pytest.mark.current_stack
@pytest.mark.lmms
def test_the_lmms_integration_is_walked_too_where_lmms_eval_is_installed():
    classes = _plugin_exception_classes(with_lmms=True)
    assert f"{LMMS_INTEGRATION[0]}.documents.EmoBenchTaskError" in classes
    assert [name for name, cls in classes.items() if not issubclass(cls, EmoLLMError)] == []
    names = [cls.__name__ for cls in classes.values()]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_exception_names_are_unique():
    names = [cls.__name__ for cls in _plugin_exception_classes().values()]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_builtin_bases_are_kept():
    from emollm_plugin.bench.adapters.base import LayoutError
    from emollm_plugin.emoprompt.select import NoExemplarError
    from emollm_plugin.media.errors import MediaError
    assert issubclass(MediaError, ValueError) and issubclass(LayoutError, FileNotFoundError)
    assert issubclass(NoExemplarError, LookupError)
