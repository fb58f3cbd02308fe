"""Shared fixtures: tiny random-initialised models built offline once per test session; the
hypothesis profiles of the fuzz tests (``HYPOTHESIS_PROFILE``: ``ci``, the default, small and in
the fast tier; ``long``, 10,000 examples per test, for a developer's run; docs/security.md)."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Property-based tests (hypothesis): `ci`, the default, is sized for the fast tier on a loaded
# 2-core machine; `long` is for a developer's run: HYPOTHESIS_PROFILE=long pytest tests/test_fuzz_*.py
settings.register_profile("ci", max_examples=60, deadline=10_000, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=10_000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    from emollm_plugin.testing.tiny import make_tiny
    return make_tiny(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture
def registered():
    """The plugin registered for this test, and everything register() changed undone after it."""
    import emollm_plugin
    with emollm_plugin.register() as registration:
        yield registration


def _restoring_plugin_state():
    from emollm_plugin.plugin import seams
    was_installed = seams.installed()
    yield
    if not was_installed and seams.installed():
        seams.uninstall()


@pytest.fixture(autouse=True)
def _plugin_state_restored_per_test():
    """A test that registers the plugin (itself, or through a command such as infer's main) leaves
    it as it found it, so no test depends on the order the tests run in."""
    yield from _restoring_plugin_state()


@pytest.fixture(autouse=True, scope="module")
def _plugin_state_restored_per_module():
    """The same for module-scoped fixtures that register (a trained checkpoint shared by a module)."""
    yield from _restoring_plugin_state()


@pytest.fixture(autouse=True)
def _default_dtype_restored():
    """torch's default dtype as the test found it, so one test's failure cannot change the
    precision of every test after it."""
    import torch
    saved = torch.get_default_dtype()
    yield
    torch.set_default_dtype(saved)


@pytest.fixture(autouse=True)
def _warning_environment_restored():
    """Commands run in this process mark the environment so the processes they start stay quiet
    about deprecations (runtime/quiet_load.py); the next test starts unmarked."""
    saved = {name: os.environ.get(name) for name in ("PYTHONWARNINGS", "EMOLLM_DEPRECATIONS_SHOWN")}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
