"""A third-party component module, as docs/extending.md describes it: it registers a projector, an
audio tower and a conversation template with the plugin's decorators on import.

Projector ``example_pool``: tower features ``I x N x C`` -> average over groups of ``N / L``
patches -> ``I x L x C`` -> linear ``C -> D`` -> ``I x L x D`` (``L = example_pool_tokens``).
Audio tower ``example_frames``: waveform ``S`` -> frames of 160 samples ``S/160 x 160`` -> linear
-> ``S/160 x hidden_size``.
"""
import torch
from torch import nn

from emollm_plugin.registry import register_audio_tower, register_conv_template, register_projector

POOL_TOKENS_KEY = "example_pool_tokens"


class PoolProjector(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, tokens: int):
        super().__init__()
        self.tokens = tokens
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # I x N x C -> I x L x D
        pooled = nn.functional.adaptive_avg_pool1d(feats.transpose(1, 2), self.tokens).transpose(1, 2)
        return self.proj(pooled)


def write_pool_config(hf_config, model_args) -> None:
    setattr(hf_config, POOL_TOKENS_KEY, 4)


@register_projector("example_pool", write_config=write_pool_config)
def build_pool_projector(hf_config) -> nn.Module:
    return PoolProjector(hf_config.mm_hidden_size, hf_config.hidden_size, getattr(hf_config, POOL_TOKENS_KEY))


class FrameTower(nn.Module):
    frame = 160

    def __init__(self, hidden_size: int = 24):
        super().__init__()
        self.hidden_size = hidden_size
        self.embed = nn.Linear(self.frame, hidden_size)

    def forward(self, waveforms):  # list of S_i -> list of S_i/160 x hidden_size
        return [self.embed(w[: len(w) // self.frame * self.frame].reshape(-1, self.frame).to(self.embed.weight))
                for w in waveforms]


@register_audio_tower("example_frames")
def build_frame_tower(hf_config) -> nn.Module:
    return FrameTower()


@register_conv_template("example_chat")
def example_chat():
    from llava.conversation import Conversation, SeparatorStyle
    return Conversation(system="A chat about emotions.", roles=("USER", "ASSISTANT"), messages=[], offset=0,
                        sep_style=SeparatorStyle.TWO, sep=" ", sep2="</s>", version="v1")
