"""Helpers for tests that build tiny LLaVA models directly (not through train())."""
from __future__ import annotations

import torch


def tiny_llava_config(tiny_models, projector_type: str = "mlp2x_gelu", **extra):
    from llava.model.language_model.llava_llama import LlavaConfig
    from transformers import CLIPVisionConfig

    config = LlavaConfig.from_pretrained(str(tiny_models.llm))
    config.mm_vision_tower = str(tiny_models.clip)
    config.mm_hidden_size = CLIPVisionConfig.from_pretrained(str(tiny_models.clip)).hidden_size
    config.mm_projector_type = projector_type
    config.mm_vision_select_layer = -2
    config.mm_vision_select_feature = "patch"
    config.mm_patch_merge_type = "flat"
    config.mm_use_im_start_end = False
    config.mm_use_im_patch_token = False
    config.tokenizer_padding_side = "right"
    for key, value in extra.items():
        setattr(config, key, value)
    return config


def build_llava(model_cls, config, seed: int = 0):
    torch.manual_seed(seed)
    model = model_cls(config)
    model.get_model().get_vision_tower().load_model()
    model.eval()
    return model


def random_images(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g)
