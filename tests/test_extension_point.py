"""The extension point: a third-party module registers a projector, an audio tower and a
conversation template with the ``registry.register_*`` decorators; ``register()`` imports it from
the ``emollm_plugin.components`` entry points or ``EMOLLM_PLUGINS``; LLaVA's own ``train()`` and
``load_pretrained_model`` build it by name."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from emollm_plugin import registry

THIRD_PARTY = Path(__file__).parent / "third_party"
MODULE = "emollm_example_parts"


@pytest.fixture
def scratch_registries(monkeypatch):
    """Registries holding only what this test registers."""
    for name in ("PROJECTORS", "AUDIO_TOWERS", "AUDIO_PROJECTORS", "VISION_TOWERS", "CONV_TEMPLATES"):
        monkeypatch.setattr(registry, name, registry.Registry(getattr(registry, name).kind))


def _builder(hf_config):
    return nn.Linear(hf_config.mm_hidden_size, hf_config.hidden_size)


def test_a_decorated_projector_builder_builds_through_the_lookup(scratch_registries):
    assert registry.register_projector("mine")(_builder) is _builder
    spec = registry.plugin_projector("mine")
    module = spec.build(SimpleNamespace(mm_hidden_size=3, hidden_size=5))
    assert isinstance(module, nn.Linear) and module.weight.shape == (5, 3)
    assert spec.write_config is None and not spec.upstream


def test_registering_the_same_builder_twice_is_harmless(scratch_registries):
    registry.register_projector("mine")(_builder)
    registry.register_projector("mine")(_builder)
    registry.register_audio_tower("ear")(_builder)
    registry.register_audio_tower("ear")(_builder)
    assert registry.PROJECTORS.names() == ["mine"] and registry.AUDIO_TOWERS.names() == ["ear"]


def test_a_different_builder_under_a_taken_name_raises_unless_exist_ok(scratch_registries):
    def other(hf_config):
        return nn.Identity()
    registry.register_projector("mine")(_builder)
    with pytest.raises(KeyError, match="already registered.*exist_ok=True"):
        registry.register_projector("mine")(other)
    registry.register_projector("mine", exist_ok=True)(other)
    assert registry.plugin_projector("mine").build is other


def test_an_unknown_name_lists_the_known_ones(scratch_registries):
    registry.register_audio_tower("ear")(_builder)
    with pytest.raises(KeyError, match="unknown audio tower 'eye'; known: ear"):
        registry.AUDIO_TOWERS.get("eye")


def test_a_non_callable_is_refused_with_what_was_expected(scratch_registries):
    with pytest.raises(TypeError, match="expected a builder"):
        registry.register_projector("mine")(42)
    with pytest.raises(TypeError, match="expected a llava.conversation.Conversation"):
        registry.register_conv_template("chat")(lambda: "not a conversation")


def test_a_conversation_factory_registers_its_conversation_once(scratch_registries):
    from llava.conversation import conv_vicuna_v1
    factory = conv_vicuna_v1.copy
    assert registry.register_conv_template("chat")(factory) is factory
    registry.register_conv_template("chat")(factory)  # an equal conversation: harmless
    assert registry.CONV_TEMPLATES.get("chat") == conv_vicuna_v1.copy()


def test_register_imports_the_modules_named_in_emollm_plugins(monkeypatch):
    import llava.conversation

    import emollm_plugin
    from emollm_plugin.model import parts
    monkeypatch.syspath_prepend(str(THIRD_PARTY))
    monkeypatch.setenv("EMOLLM_PLUGINS", f" {MODULE} ,")
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    for registry_ in (registry.PROJECTORS, registry.AUDIO_TOWERS, registry.CONV_TEMPLATES):
        monkeypatch.setattr(registry_, "_items", dict(registry_._items))  # undone after the test
    with emollm_plugin.register():
        assert "example_pool" in emollm_plugin.list_projectors()
        assert "example_frames" in emollm_plugin.list_audio_towers()
        assert llava.conversation.conv_templates["example_chat"].system == "A chat about emotions."
        tower = parts.build_audio_tower(SimpleNamespace(mm_audio_tower="unused", mm_audio_tower_type="example_frames"))
        encoded = tower([torch.zeros(480)])
        assert encoded[0].shape == (3, tower.hidden_size)
    assert "example_chat" not in llava.conversation.conv_templates


def test_a_missing_plugin_module_names_where_it_was_named(monkeypatch):
    import emollm_plugin
    from emollm_plugin.plugin.wiring import PluginImportError
    monkeypatch.setenv("EMOLLM_PLUGINS", "no_such_parts_module")
    with pytest.raises(PluginImportError, match="'no_such_parts_module' named by EMOLLM_PLUGINS"):
        emollm_plugin.register()


def _installed_third_party(root: Path) -> Path:
    """The example module as an installed distribution: the module and a dist-info whose entry
    point puts it in the plugin's group (what `pip install` of a package declaring it writes)."""
    root.mkdir()
    (root / f"{MODULE}.py").write_text((THIRD_PARTY / f"{MODULE}.py").read_text())
    info = root / "emollm_example_parts-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: emollm-example-parts\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[emollm_plugin.components]\nexample = {MODULE}\n")
    return root


RELOAD = """
import sys, torch, emollm_plugin
emollm_plugin.register()
from llava.model.builder import load_pretrained_model
_, model, _, _ = load_pretrained_model(sys.argv[1], sys.argv[2], "emollm-llava-lora-third-party", device="cpu")
projector = model.get_model().mm_projector
torch.save({"class": type(projector).__module__ + "." + type(projector).__name__,
            "state": {k: v.float() for k, v in projector.state_dict().items()}}, sys.argv[3])
"""


@pytest.mark.slow
def test_a_third_party_projector_trains_and_reloads_through_llava(tiny_models, tmp_path):
    from emollm_plugin.testing.demo_data import make_demo_data
    site = _installed_third_party(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    env.pop("EMOLLM_PLUGINS", None)
    data = make_demo_data(tmp_path / "data", per_label=1, kinds=("image",))
    out = tmp_path / "emollm-llava-lora-third-party"
    args = ["--model_name_or_path", str(tiny_models.llm), "--version", "example_chat",
            "--data_path", str(data / "train.json"), "--image_folder", str(data / "media"),
            "--vision_tower", str(tiny_models.clip), "--mm_vision_select_layer", "-2",
            "--mm_projector_type", "example_pool",
            "--mm_use_im_start_end", "False", "--mm_use_im_patch_token", "False",
            "--lora_enable", "True", "--lora_r", "8", "--lora_alpha", "16",
            "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "2",
            "--learning_rate", "2e-3", "--logging_steps", "1", "--save_strategy", "no", "--model_max_length", "512",
            "--dataloader_num_workers", "0", "--report_to", "none", "--seed", "0"]
    train = subprocess.run([sys.executable, "-m", "emollm_plugin.train", *args],
                           capture_output=True, text=True, env=env)
    assert train.returncode == 0, train.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["mm_projector_type"] == "example_pool" and config["example_pool_tokens"] == 4
    assert config["emollm_conv_mode"] == "example_chat"
    trained = {k.split("mm_projector.")[1]: v.float()
               for k, v in torch.load(out / "non_lora_trainables.bin").items() if "mm_projector." in k}
    assert sorted(trained) == ["proj.bias", "proj.weight"]

    reload = subprocess.run([sys.executable, "-c", RELOAD, str(out), str(tiny_models.llm), str(tmp_path / "p.pt")],
                            capture_output=True, text=True, env=env)
    assert reload.returncode == 0, reload.stderr[-3000:]
    reloaded = torch.load(tmp_path / "p.pt")
    assert reloaded["class"] == f"{MODULE}.PoolProjector"
    assert reloaded["state"].keys() == trained.keys()
    for key, value in trained.items():
        assert torch.equal(reloaded["state"][key], value), key
