"""The answering model of bench_answer_mode.py and bench_cpu_bf16.py: LLaVA's own class with the
plugin registered (MVP projector), a CLIP ViT-L/14 tower at 336 px, a Vicuna-7B-shaped LLM with
``layers`` decoder layers, random weights, in eval mode with the KV cache on, and an EmoBench
closed-set image question prompted as ``emollm eval infer`` prompts it (the tiny tokenizer of
``emollm_plugin.testing.tiny``: its ids are valid for the 32000-entry vocabulary).

``AnswerCall`` times one call and the time spent inside the decoder layers (forward hooks), so a
phase is extrapolated to 32 layers as t - t_layers + 32 / layers * t_layers (bench_answer.py).
"""
from __future__ import annotations

from pathlib import Path

import torch

from bench_answer import FULL_LAYERS, Clock, LayerTimer
from bench_train_step import save_clip

CLOSED_QUESTION = ("<image>\nWhat emotion does the person in the image show? Choose one option from the list: "
                   "anger, disgust, fear, joy, sadness, surprise, neutral. Answer with one word.")


def build(work: Path, layers: int, dtype, device, tiny: bool = False):
    """(model, tokenizer, image processor size) with the plugin's MVP projector."""
    import emollm_plugin
    emollm_plugin.register()
    from llava.model import LlavaLlamaForCausalLM
    from llava.model.language_model.llava_llama import LlavaConfig
    from transformers import CLIPVisionConfig

    from emollm_plugin.testing.tiny import build_tokenizer

    clip_path = save_clip(work, 24, tiny)  # the whole 24-layer ViT-L/14 at 336 px
    tokenizer_path = work / "tokenizer"
    tokenizer = build_tokenizer(tokenizer_path) if not (tokenizer_path / "tokenizer.model").exists() else None
    if tokenizer is None:
        from transformers import LlamaTokenizer
        tokenizer = LlamaTokenizer.from_pretrained(str(tokenizer_path))
    shape = dict(hidden_size=256, intermediate_size=512, num_attention_heads=4) if tiny else \
        dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32)
    config = LlavaConfig(num_hidden_layers=layers, num_key_value_heads=shape["num_attention_heads"], vocab_size=32000,
                         max_position_embeddings=4096, **shape)
    config.mm_vision_tower = str(clip_path)
    config.mm_hidden_size = CLIPVisionConfig.from_pretrained(str(clip_path)).hidden_size
    config.mm_projector_type = "mvp"
    if tiny:
        config.mvp_num_clusters, config.mvp_knn = [16, 8, 4], [3, 3, 2]
    config.mm_vision_select_layer, config.mm_vision_select_feature = -2, "patch"
    config.mm_patch_merge_type, config.image_aspect_ratio = "flat", "square"
    config.mm_use_im_start_end = config.mm_use_im_patch_token = False
    config.tokenizer_padding_side = "left"
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    model = LlavaLlamaForCausalLM(config)
    model.get_model().get_vision_tower().load_model()
    model.to(device=device, dtype=dtype).eval()
    return model, tokenizer, CLIPVisionConfig.from_pretrained(str(clip_path)).image_size


def question(tokenizer, image_size: int, dtype, device, seed: int = 0):
    """(record, prompt ids, image 3 x H x W) of one closed-set image question."""
    from emollm_plugin.eval.questions import build_prompt
    from emollm_plugin.model.tokens import tokenizer_media_token

    record = {"id": "bench/0", "task": "emotion_closed", "image": "bench.png",
              "label_set": ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"],
              "conversations": [{"from": "human", "value": CLOSED_QUESTION}, {"from": "gpt", "value": ""}]}
    ids = tokenizer_media_token(build_prompt(record, "vicuna_v1"), tokenizer, return_tensors="pt")
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(3, image_size, image_size, generator=g).to(device=device, dtype=dtype)
    return record, ids, image


class AnswerCall:
    """Times ``fn()``: (seconds, seconds inside the decoder layers); ``extrapolated`` gives 32 layers."""

    def __init__(self, model, device, layers: int):
        self.clock = Clock(device)
        self.timer = LayerTimer(model.get_model().layers, self.clock)
        self.layers = layers

    def __call__(self, fn) -> tuple[float, float]:
        self.timer.take()
        start = self.clock.now()
        fn()
        return self.clock.now() - start, self.timer.take()

    def extrapolated(self, seconds: float, inside: float) -> float:
        return seconds - inside + FULL_LAYERS * inside / self.layers
