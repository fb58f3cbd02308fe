"""Audio projector: pool each clip's encoder frames to a token budget, then map to the LLM width.

For clip i with encoder output H_i (T'_i x d) and budget N (``num_tokens``):

    n_i = min(T'_i, N), or n_i = T'_i when N = 0 (no pooling: eq. 1's h_a = MLP(WHISPER(x_a)))
    p_ij = mean_{t in S_j} H_i[t],   S_j = [floor(j T'_i / n_i), ceil((j + 1) T'_i / n_i)),
                                     j = 0 .. n_i - 1                               (n_i x d)
    q_i = (p_i - s) * c                        (input_norm "standardize"; "none": q_i = p_i)
    out_i = W_2 GELU(W_1 q_i + b_1) + b_2      ("mlp2x_gelu")                     (n_i x D)
    out_i = W q_i + b                          ("linear")

S_j are the bins of ``adaptive_avg_pool1d``: adjacent, together covering every frame, neighbouring
bins share at most one frame. A clip shorter than the budget keeps one token per frame, so token
count follows the clip's length up to N (a 20 ms frame each after Whisper's stride-2 conv).
Pooling runs per clip (lengths differ); the MLP runs once over all clips' tokens.

With ``input_norm="standardize"`` the model gives this projector the tower's frames minus the
tower's frames for silence (``WhisperAudioTower.silence``), and ``s``, ``c`` (d each) are
trainable parameters that ``fit_input_norm`` sets, before training, to the per-feature mean and
1 / standard deviation of the pooled tokens of the training audio:

    s = mean_{i,j} p_ij,   c = 1 / max(std_{i,j} p_ij, 1e-6)     (over all tokens of all clips)

Why: on the tiny Whisper, every pooled token is dominated by what all clips share (the positional
table: norm 6.1 of 7.35), and the difference between four pitches is about 0.1 % of a token's
energy (between-class cosine 0.998). The MLP then has to learn a 10x gain on a small subspace, and
in 60 steps it does not (docs/differences.md, "audio input norm").
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..configs import AUDIO_INPUT_NORMS, AudioConfig

_DEFAULTS = AudioConfig()


def _linear(in_dim: int, out_dim: int) -> nn.Module:
    return nn.Linear(in_dim, out_dim)


def _mlp2x_gelu(in_dim: int, out_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))


PROJECTOR_KINDS = {"linear": _linear, "mlp2x_gelu": _mlp2x_gelu}


class AudioProjector(nn.Module):
    """Pool to at most ``num_tokens`` tokens per clip, then project ``in_dim`` -> ``out_dim``.

    Args:
        in_dim: audio tower width d (Whisper-base: 512).
        out_dim: LLM hidden size D.
        num_tokens: token budget N per clip; 0 keeps every encoder frame T'_i
            (default: ``AudioConfig().num_tokens``, 32).
        kind: "mlp2x_gelu" (LLaVA v1.5's projector shape) or "linear"
            (default: ``AudioConfig().projector_type``, "mlp2x_gelu").
        input_norm: "standardize" (the shift/scale parameters above, identity until
            ``fit_input_norm``) or "none" (default: "none", the module's plain form; models read
            ``AudioConfig``).

    ``forward(list of T'_i x d) -> list of min(T'_i, N) x D`` (T'_i x D for N = 0; module doc).
    """

    def __init__(self, in_dim: int, out_dim: int, num_tokens: int = _DEFAULTS.num_tokens,
                 kind: str = _DEFAULTS.projector_type, input_norm: str = "none"):
        super().__init__()
        if input_norm not in AUDIO_INPUT_NORMS:
            raise ValueError(f"unknown audio input norm {input_norm!r}; known: {', '.join(AUDIO_INPUT_NORMS)}")
        if kind not in PROJECTOR_KINDS:
            raise ValueError(f"unknown audio projector type {kind!r}; known: {', '.join(PROJECTOR_KINDS)}")
        if num_tokens < 0:
            raise ValueError(f"num_tokens must be 0 (every frame) or >= 1, got {num_tokens}")
        self.in_dim, self.out_dim, self.num_tokens, self.kind = in_dim, out_dim, num_tokens, kind
        self.mlp = PROJECTOR_KINDS[kind](in_dim, out_dim)
        self.input_norm = input_norm
        if input_norm == "standardize":
            self.input_shift = nn.Parameter(torch.zeros(in_dim))
            self.input_scale = nn.Parameter(torch.ones(in_dim))
        # True while the shift/scale still wait for fit_input_norm (a freshly built projector)
        self.needs_input_fit = input_norm == "standardize"

    @property
    def subtracts_silence(self) -> bool:
        """Whether the model must give ``forward`` the tower's frames minus its frames for silence."""
        return self.input_norm == "standardize"

    @torch.no_grad()
    def fit_input_norm(self, features: list[Tensor]) -> None:
        """Set shift and scale from clips' frames (list of T'_i x d, silence already subtracted):
        the per-feature mean and 1 / std of all their pooled tokens (module doc)."""
        if self.input_norm != "standardize":
            raise ValueError(f"fit_input_norm needs input_norm='standardize', this projector has {self.input_norm!r}")
        if not features:
            raise ValueError("fit_input_norm needs at least one clip")
        tokens = torch.cat([self.pool(clip.float()) for clip in features])
        self.input_shift.copy_(tokens.mean(0))
        self.input_scale.copy_(1.0 / tokens.std(0, unbiased=False).clamp_min(1e-6))
        self.needs_input_fit = False

    def tokens_for(self, mel_frames: int) -> int:
        """Tokens a clip of ``mel_frames`` log-mel frames becomes: min(mel_frames / 2, N), or
        mel_frames / 2 for N = 0."""
        frames = mel_frames // 2
        return frames if self.num_tokens == 0 else min(frames, self.num_tokens)

    def pool(self, frames: Tensor) -> Tensor:
        """T' x d -> min(T', N) x d by adaptive average pooling over time (N = 0: unchanged)."""
        if self.num_tokens == 0:
            return frames
        tokens = min(frames.shape[0], self.num_tokens)
        return F.adaptive_avg_pool1d(frames.t()[None], tokens)[0].t()

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        if not isinstance(features, (list, tuple)) or not features:
            raise ValueError("AudioProjector takes a non-empty list of T' x d tensors")
        for i, clip in enumerate(features):
            if clip.ndim != 2 or clip.shape[1] != self.in_dim or clip.shape[0] == 0:
                raise ValueError(f"features[{i}] has shape {tuple(clip.shape)}; expected T' x "
                                 f"{self.in_dim} with T' >= 1 (the audio tower's output)")
        dtype = next(self.parameters()).dtype
        pooled = [self.pool(clip.to(dtype)) for clip in features]  # n_i x d
        sizes = [p.shape[0] for p in pooled]
        tokens = torch.cat(pooled)
        if self.input_norm == "standardize":
            tokens = (tokens - self.input_shift) * self.input_scale
        projected = self.mlp(tokens)  # sum(n_i) x D
        return list(projected.split(sizes))

    def extra_repr(self) -> str:
        return (f"in_dim={self.in_dim}, out_dim={self.out_dim}, num_tokens={self.num_tokens}, "
                f"kind={self.kind!r}, input_norm={self.input_norm!r}")


def build_audio_projector(config) -> AudioProjector:
    """AudioProjector from a model config (an HF ``PretrainedConfig`` or any attribute object).

    Reads ``mm_audio_hidden_size`` (required: the tower's width), ``hidden_size`` (required: the
    LLM's), ``mm_audio_projector_type``, ``mm_audio_num_tokens`` and ``mm_audio_input_norm``
    (``AudioConfig``: a missing key takes its default; a saved model without
    ``mm_audio_input_norm`` gets "none").
    """
    required = ("mm_audio_hidden_size", "hidden_size")
    missing = [name for name in required if getattr(config, name, None) is None]
    if missing:
        raise ValueError(f"model config lacks {', '.join(missing)}: set mm_audio_hidden_size to the "
                         "audio tower's hidden_size (Whisper-base: 512) before building the projector")
    audio = AudioConfig.from_model_config(config)
    return AudioProjector(in_dim=config.mm_audio_hidden_size, out_dim=config.hidden_size,
                          num_tokens=audio.num_tokens, kind=audio.projector_type,
                          input_norm=audio.input_norm)
