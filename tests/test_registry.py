from __future__ import annotations

import pytest

from emollm_plugin.registry import Registry


def test_same_object_twice_is_a_noop_and_different_object_raises():
    reg = Registry("thing")
    a, b = object(), object()
    reg.register("a", a)
    reg.register("a", a)
    assert reg.get("a") is a
    with pytest.raises(KeyError, match="already registered"):
        reg.register("a", b)
    reg.register("a", b, exist_ok=True)
    assert reg.get("a") is b


def test_unknown_name_lists_known_ones():
    reg = Registry("projector")
    reg.register("mvp", 1)
    reg.register("linear", 2)
    with pytest.raises(KeyError, match="unknown projector 'nope'; known: linear, mvp"):
        reg.get("nope")


@pytest.mark.parametrize("bad", ["", "has space", "-lead", None])
def test_malformed_names_are_rejected(bad):
    with pytest.raises(ValueError, match="invalid"):
        Registry("x").register(bad, 1)


def test_decorator_registers_under_the_cli_name():
    reg = Registry("projector")

    @reg.decorator("mine")
    def build(config):
        return config

    assert reg.get("mine") is build and reg.names() == ["mine"]
