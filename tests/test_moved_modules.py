"""Old import paths of moved modules keep working for a deprecation period, with a warning."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import emollm_plugin


def _forget(name: str) -> None:
    sys.modules.pop(name, None)
    parent, _, child = name.rpartition(".")
    if parent in sys.modules and child in vars(sys.modules[parent]):
        delattr(sys.modules[parent], child)


@pytest.mark.parametrize("old", sorted(name for name, new in emollm_plugin.MOVED.items() if isinstance(new, str)))
def test_an_old_path_warns_and_gives_the_module_at_its_new_home(old):
    new = importlib.import_module(f"emollm_plugin.{emollm_plugin.MOVED[old]}")
    _forget(f"emollm_plugin.{old}")
    with pytest.warns(DeprecationWarning, match=f"emollm_plugin.{old} moved to {new.__name__}"):
        module = importlib.import_module(f"emollm_plugin.{old}")
    assert module is new
    _forget(f"emollm_plugin.{old}")


def test_a_split_module_forwards_each_name_to_its_new_home():
    from emollm_plugin.commands.infer import main
    from emollm_plugin.runtime.answerer import Answerer
    from emollm_plugin.runtime.batch import read_answered
    _forget("emollm_plugin.eval.infer")
    with pytest.warns(DeprecationWarning, match="emollm_plugin.eval.infer moved to emollm_plugin.commands.infer"):
        from emollm_plugin.eval import infer
    assert (infer.main, infer.Answerer, infer.read_answered) == (main, Answerer, read_answered)
    with pytest.raises(AttributeError, match="no_such_name"):
        infer.no_such_name
    _forget("emollm_plugin.eval.infer")


def test_python_m_on_an_old_path_runs_the_new_command():
    done = subprocess.run([sys.executable, "-m", "emollm_plugin.eval.infer", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m emollm_plugin.commands.infer")
