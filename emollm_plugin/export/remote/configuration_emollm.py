"""EmoLLM's transformers configuration (remote code of an exported folder; imports torch and
transformers only).

``EmoLLMConfig`` holds the three towers' own configs (``text_config``: Llama, ``vision_config``:
CLIP vision, ``audio_config``: Whisper, None without audio) and the settings of the EmoLLM parts
between them, as the training run recorded them:

- ``projector``: ``{"type": "mvp" | "linear" | "mlp2x_gelu", ...}``; for MVP every switch of the
  checkpoint (num_clusters, knn, tau, alpha, gcn_layers, content_proj, frames_per_event,
  event_knn, contiguous_events, variant, delta, knn_self, distance_scale, graph_norm);
- ``audio_projector``: ``{"type": "mlp2x_gelu" | "linear", "num_tokens": N,
  "input_norm": "standardize" | "none"}``;
- ``vision_feature_layer`` / ``vision_feature_select``: the CLIP hidden state the projector reads
  (LLaVA's ``mm_vision_select_layer`` / ``mm_vision_select_feature``);
- ``image_token_index``, ``video_token_index``, ``audio_token_index``: the placeholder ids the
  processor writes (each becomes the medium's embeddings);
- ``tokenizer_model_max_length``: longest spliced sequence (LLaVA's ``tokenizer_model_max_length``; None: no cut).
"""
from __future__ import annotations

from transformers import CLIPVisionConfig, LlamaConfig, PretrainedConfig, WhisperConfig


def _sub(value, cls):
    if value is None or isinstance(value, PretrainedConfig):
        return value
    value = dict(value)
    value.pop("model_type", None)
    return cls(**value)


class EmoLLMConfig(PretrainedConfig):
    model_type = "emollm"
    sub_configs = {"text_config": LlamaConfig, "vision_config": CLIPVisionConfig,
                   "audio_config": WhisperConfig}

    def __init__(self, text_config=None, vision_config=None, audio_config=None, projector=None,
                 audio_projector=None, vision_feature_layer: int = -2,
                 vision_feature_select: str = "patch", image_token_index: int = 32000,
                 video_token_index: int = 32001, audio_token_index: int = 32002,
                 tokenizer_model_max_length=None, **kwargs):
        self.text_config = _sub(text_config if text_config is not None else {}, LlamaConfig)
        self.vision_config = _sub(vision_config if vision_config is not None else {}, CLIPVisionConfig)
        self.audio_config = _sub(audio_config, WhisperConfig)
        self.projector = dict(projector or {"type": "mvp"})
        self.audio_projector = None if audio_projector is None else dict(audio_projector)
        self.vision_feature_layer = vision_feature_layer
        self.vision_feature_select = vision_feature_select
        self.image_token_index = image_token_index
        self.video_token_index = video_token_index
        self.audio_token_index = audio_token_index
        self.tokenizer_model_max_length = tokenizer_model_max_length
        kwargs.setdefault("tie_word_embeddings", False)  # lm_head and embed_tokens are separate
        super().__init__(**kwargs)

    def get_text_config(self, *args, **kwargs):
        return self.text_config

    def to_dict(self):
        output = super().to_dict()
        for key in ("text_config", "vision_config", "audio_config"):
            value = getattr(self, key)
            output[key] = value.to_dict() if isinstance(value, PretrainedConfig) else value
        return output
