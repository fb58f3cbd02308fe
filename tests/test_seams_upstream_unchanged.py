"""An upstream mlp2x_gelu LLaVA computes bit-for-bit the same logits after register()."""
from __future__ import annotations

import pytest
import torch

from llava_helpers import build_llava, random_images, tiny_llava_config

pytestmark = pytest.mark.current_stack  # also run on the current version row (scripts/test.sh)


def _logits(model, images):
    input_ids = torch.tensor([[1, 30, 40, -200, 50, 60], [1, 31, -200, 41, 51, 61]])
    with torch.no_grad():
        return model(input_ids=input_ids, images=images).logits


def test_mlp2x_gelu_logits_identical_before_and_after_register(tiny_models, tmp_path):
    import llava.model.builder as builder
    from llava.model import LlavaLlamaForCausalLM as Upstream

    config = tiny_llava_config(tiny_models, "mlp2x_gelu")
    before_model = build_llava(Upstream, config)
    images = random_images(2)
    before = _logits(before_model, images)
    before_model.save_pretrained(tmp_path / "ckpt")

    import emollm_plugin
    with emollm_plugin.register():
        assert builder.LlavaLlamaForCausalLM is not Upstream  # the seam is installed
        after_model = builder.LlavaLlamaForCausalLM.from_pretrained(str(tmp_path / "ckpt"))
        after_model.get_model().get_vision_tower().load_model()
        after_model.eval()
        after = _logits(after_model, images)
    assert builder.LlavaLlamaForCausalLM is Upstream  # and removed again
    assert torch.equal(before, after)


def test_register_is_idempotent_and_lists_projectors(registered):
    import emollm_plugin
    from emollm_plugin.plugin import seams
    bindings = seams.seam_bindings()
    emollm_plugin.register()
    assert seams.seam_bindings() == bindings
    names = emollm_plugin.list_projectors()
    assert {"mvp", "mlp2x_gelu", "linear", "identity"} <= set(names)


def test_projector_seam_installed_in_every_binding():
    import llava.model.llava_arch as arch
    import llava.model.multimodal_projector.builder as pb
    import llava.model.multimodal_encoder.builder as tb
    import emollm_plugin
    from emollm_plugin.plugin import seams
    with emollm_plugin.register():
        assert arch.build_vision_projector is seams.build_vision_projector
        assert pb.build_vision_projector is seams.build_vision_projector
        assert arch.build_vision_tower is seams.build_vision_tower
        assert tb.build_vision_tower is seams.build_vision_tower
    assert arch.build_vision_projector is not seams.build_vision_projector


def test_uninstall_resets_everything_register_set():
    import llava.conversation as conversation_lib

    import emollm_plugin
    from emollm_plugin.plugin import seams
    from emollm_plugin.model.emollm_llama import EmoLlavaLlamaModel
    emollm_plugin.register()
    assert emollm_plugin.is_registered() and seams.installed() and "emoprompt_v1" in conversation_lib.conv_templates
    assert EmoLlavaLlamaModel.on_vision_modules_initialized is not None
    seams.STATE.remember_training_model(EmoLlavaLlamaModel)  # any object that can be weakly referenced
    seams.uninstall()
    assert not emollm_plugin.is_registered() and not seams.installed()
    assert "emoprompt_v1" not in conversation_lib.conv_templates and seams.seam_bindings() == []
    assert EmoLlavaLlamaModel.on_vision_modules_initialized is None
    assert seams.STATE.model_for_training() is None
