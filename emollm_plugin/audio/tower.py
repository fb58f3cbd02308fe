"""The Whisper audio encoder as an audio tower, on the standard 30 s window or on the clip alone.

openai-whisper's ``AudioEncoder.forward`` asserts exactly 3000 mel frames (30 s). This tower runs
the same submodules (``conv1``, ``conv2``, ``blocks``, ``ln_post``) with its own forward, so
nothing in whisper is patched. For clip i with mel ``X_i`` (n_mels x T_i, ``audio.mel``):

    X_i' = X_i, or X_i padded to 3000 frames (window "padded", see below)    n_mels x F
    H_i = GELU(conv2(GELU(conv1(X_i'))))^T + P[:F / 2]           F/2 x d   (P: the checkpoint's
                                                                          sinusoid table)
    H_i = block_L(... block_1(H_i))                              F/2 x d
    out_i = LN_post(H_i)[:T_i / 2]                               T_i/2 x d

with each block  H <- H + Attn(LN(H)),  H <- H + MLP(LN(H)),
Attn = softmax(Q K^T / sqrt(d_head)) V per head, LayerNorm computed in float32 (as whisper's is,
but also when the tower's weights were cast to bf16/fp16 with the rest of the model).

``window="padded"`` (the standard use: Whisper was trained only on 30 s windows) gives exactly
openai-whisper's encoder output ``AudioEncoder(log_mel_spectrogram(pad_or_trim(x)))`` on the
positions the clip covers. It takes ``log_mel_trimmed(x, covered=True)``, the T_i = min(3000,
T + 2) frames whose STFT window touches the clip; every later frame of whisper's padded log-mel
holds the same silence value, ``max(max(X_i) - 2, -1.5)`` (a zero frame is log10(1e-10) = -10
before whisper's clamp to max - 8 and its (L + 4) / 4 scaling), which this tower writes back
before encoding 3000 frames. A test checks the output against whisper's own encoder.

``window="trimmed"`` (a fast path: about 10x cheaper for a 3 s clip) encodes only the clip's
T_i = T frames (``log_mel_trimmed(x)``) with the positional table sliced to T_i / 2 rows. That
equals whisper's encoder run on a T_i-frame input (tests/test_audio_tower.py), NOT the padded
encode: there, attention also sees the silence that pads the clip to 30 s. With random
Whisper-base-sized weights on a 3 s clip the gap is a relative L2 error of about 0.67 (mean
cosine 0.78, benchmarks/bench_whisper_trim.py), shrinking as clips get longer; real Whisper
weights were not available offline to measure.

Batching trimmed clips of different lengths: Whisper has no attention mask, so padding would
change the outputs; the trimmed forward pads the mels on the right with zeros to the longest clip
and masks the padded key positions in every attention layer. That is exact, not an
approximation: conv1 (kernel 3, padding 1) sees a zero frame after T_i either way; conv2 (kernel
3, stride 2, padding 1) computes its position j < T_i/2 from conv1 frames 2j-1 .. 2j+1 <= T_i - 1
only (T_i even); masked keys get zero weight; LayerNorm and MLP act per position. One batched
call costs B x max(T_i) frames; a test checks the batch against clip-by-clip runs.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..configs import AUDIO_WINDOWS, AudioConfig

ENCODER_PREFIX = "encoder."
SILENCE_FLOOR = -1.5  # (log10(1e-10) + 4) / 4: whisper's log-mel of a zero frame before the clamp


class WhisperAudioTower(nn.Module):
    """Frozen (by default) Whisper encoder from a local openai-whisper checkpoint.

    Args:
        checkpoint_path: an openai-whisper ``.pt`` file ``{"dims": {...}, "model_state_dict": {...}}``
            (what ``whisper.load_model(PATH)`` reads; only the ``encoder.*`` weights are used).
        frozen: no gradients and no stored activations (default: True).
        delay_load: read only ``dims`` now and the weights on ``load_model()``, as LLaVA's
            ``CLIPVisionTower`` does when a model is built under ``init_empty_weights`` (default: False).
        window: ``"padded"`` (Whisper's 30 s window) or ``"trimmed"`` (the clip only); the
            mels must come from ``audio.mel.log_mel_for(n_mels, window)`` (module doc)
            (default: ``AudioConfig``'s).

    ``forward(mels)`` takes a list of ``n_mels x T_i`` tensors (T_i even, 2 <= T_i <= 2 n_audio_ctx)
    and returns a list of ``T_i/2 x hidden_size`` tensors (module doc).
    """

    def __init__(self, checkpoint_path: str | Path, frozen: bool = True, delay_load: bool = False,
                 window: str = AudioConfig.window):
        super().__init__()
        if window not in AUDIO_WINDOWS:
            raise ValueError(f"unknown audio window {window!r}; use one of {list(AUDIO_WINDOWS)}")
        self.checkpoint_path = str(checkpoint_path)
        self.frozen = frozen
        self.window = window
        self.encoder: nn.Module | None = None
        self._silence: dict = {}  # (window frames, device, dtype) -> frames for silence
        if delay_load:
            self.dims, _ = _read_checkpoint(self.checkpoint_path)  # mmap: weights stay on disk
        else:
            self.load_model()

    @property
    def is_loaded(self) -> bool:
        return self.encoder is not None

    def load_model(self, device_map=None) -> None:
        """Build ``whisper.model.AudioEncoder`` and load the checkpoint's encoder weights (strict)."""
        from whisper.model import AudioEncoder

        if self.is_loaded:
            return
        self.dims, state = _read_checkpoint(self.checkpoint_path)
        dims = self.dims
        with torch.device("meta"):  # no random init: every tensor comes from the checkpoint
            encoder = AudioEncoder(dims.n_mels, dims.n_audio_ctx, dims.n_audio_state,
                                   dims.n_audio_head, dims.n_audio_layer)
        encoder = encoder.to_empty(device="cpu")
        weights = {k[len(ENCODER_PREFIX):]: v for k, v in state.items() if k.startswith(ENCODER_PREFIX)}
        result = encoder.load_state_dict(weights, strict=False)
        _check_keys(self.checkpoint_path, result.missing_keys, result.unexpected_keys)
        encoder.requires_grad_(not self.frozen)
        self.encoder = encoder
        if isinstance(device_map, (str, torch.device)) and device_map != "auto":
            self.to(device_map)

    def forward(self, mels: list[Tensor]) -> list[Tensor]:
        encoder = self._loaded()
        lengths = self._check_mels(mels)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            padded = self.window == "padded"
            batch = mels[0].new_zeros(len(mels), self.n_mels,
                                      self.max_frames if padded else max(lengths))
            for i, mel in enumerate(mels):
                if padded:  # whisper's log-mel of the zero padding (module doc)
                    batch[i].fill_(max(float(mel.detach().max()) - 2.0, SILENCE_FLOOR))
                batch[i, :, : lengths[i]] = mel
            x = batch.to(device=self.device, dtype=self.dtype)  # B x n_mels x F
            x = F.gelu(encoder.conv1(x))
            x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)  # B x S x d, S = F/2
            x = (x + encoder.positional_embedding[: x.shape[1]]).to(x.dtype)
            mask = None if padded else _key_mask([t // 2 for t in lengths], x.shape[1], x.device)
            for block in encoder.blocks:
                x = x + _self_attention(block.attn, _layer_norm(block.attn_ln, x), mask)
                x = x + block.mlp(_layer_norm(block.mlp_ln, x))
            x = _layer_norm(encoder.ln_post, x)
        return [x[i, : t // 2] for i, t in enumerate(lengths)]

    @torch.no_grad()
    def silence(self, mel_frames: list[int]) -> list[Tensor]:
        """The tower's output for silent clips of ``mel_frames`` log-mel frames each: a list of
        ``T_i/2 x hidden_size`` tensors, what ``forward`` returns for a clip of zeros of that length.

        Whisper's log-mel of silence is the floor value (-1.5) in every bin, clip and padding
        alike, so the padded window gives one encoding whose first T_i/2 rows serve every clip;
        the trimmed window encodes each length once. Both are cached per device and dtype.
        """
        out = []
        for frames in mel_frames:
            length = self.max_frames if self.window == "padded" else frames
            key = (length, self.device, self.dtype)
            if key not in self._silence:
                floor = torch.full((self.n_mels, length), SILENCE_FLOOR)
                self._silence[key] = self.forward([floor])[0]
            out.append(self._silence[key][: frames // 2])
        return out

    def _check_mels(self, mels: list[Tensor]) -> list[int]:
        if not isinstance(mels, (list, tuple)) or not mels:
            raise ValueError("WhisperAudioTower takes a non-empty list of n_mels x T mel tensors")
        lengths = []
        for i, mel in enumerate(mels):
            if mel.ndim != 2 or mel.shape[0] != self.n_mels:
                raise ValueError(f"mels[{i}] has shape {tuple(mel.shape)}; expected "
                                 f"{self.n_mels} x T (emollm_plugin.audio.mel.log_mel_for)")
            frames = mel.shape[1]
            if frames < 2 or frames % 2 or frames > self.max_frames:
                raise ValueError(f"mels[{i}] has {frames} frames; T must be even and in "
                                 f"[2, {self.max_frames}] (audio.mel.log_mel_for gives such T)")
            lengths.append(frames)
        return lengths

    def _loaded(self) -> nn.Module:
        if self.encoder is None:
            raise RuntimeError(f"audio tower {self.checkpoint_path} was built with delay_load=True; "
                               "call load_model() first")
        return self.encoder

    @property
    def hidden_size(self) -> int:
        return self.dims.n_audio_state

    @property
    def n_mels(self) -> int:
        return self.dims.n_mels

    @property
    def max_frames(self) -> int:
        """Mel frames of the encoder's whole window (3000 = 30 s for every released Whisper)."""
        return 2 * self.dims.n_audio_ctx

    @property
    def dtype(self) -> torch.dtype:
        return self._loaded().conv1.weight.dtype

    @property
    def device(self) -> torch.device:
        return self._loaded().conv1.weight.device

    def extra_repr(self) -> str:
        return f"checkpoint_path={self.checkpoint_path!r}, frozen={self.frozen}, window={self.window!r}"


def _layer_norm(norm: nn.LayerNorm, x: Tensor) -> Tensor:
    """LayerNorm in float32 whatever the parameters' dtype, back in x's dtype. Whisper's own
    LayerNorm assumes float32 weights, which a model cast to bf16/fp16 as a whole no longer has."""
    weight = None if norm.weight is None else norm.weight.float()
    bias = None if norm.bias is None else norm.bias.float()
    return F.layer_norm(x.float(), norm.normalized_shape, weight, bias, norm.eps).to(x.dtype)


def _self_attention(attn: nn.Module, x: Tensor, key_mask: Tensor | None) -> Tensor:
    """Whisper's ``MultiHeadAttention`` (its own q/k/v/out layers) with padded keys masked.

    x: B x S x d; key_mask: B x 1 x 1 x S (True = attend) or None; returns B x S x d.
    """
    batch, length, width = x.shape
    heads = attn.n_head
    q, k, v = (layer(x).view(batch, length, heads, -1).transpose(1, 2)  # B x h x S x d/h
               for layer in (attn.query, attn.key, attn.value))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)  # scale 1/sqrt(d/h), as whisper
    return attn.out(out.transpose(1, 2).reshape(batch, length, width))


def _key_mask(valid: list[int], length: int, device: torch.device) -> Tensor | None:
    """B x 1 x 1 x S boolean mask of the real positions; None when no clip is padded."""
    if all(v == length for v in valid):
        return None
    positions = torch.arange(length, device=device)
    return (positions[None, :] < torch.tensor(valid, device=device)[:, None])[:, None, None, :]


def _read_checkpoint(path: str):
    """(ModelDimensions, state_dict) of an openai-whisper checkpoint, with errors naming the fix."""
    from whisper.model import ModelDimensions

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"Whisper checkpoint not found: {path} (give a local openai-whisper "
                                ".pt file; `emollm make-tiny OUT` writes a tiny one)")
    checkpoint = torch.load(file, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(file))
    if not isinstance(checkpoint, dict) or not {"dims", "model_state_dict"} <= set(checkpoint):
        found = sorted(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ValueError(f"{path} is not an openai-whisper checkpoint: expected a dict with 'dims' and "
                         f"'model_state_dict', found {found}. Use the .pt files openai-whisper "
                         "downloads (Hugging Face transformers Whisper folders use other names)")
    try:
        dims = ModelDimensions(**checkpoint["dims"])
    except TypeError as err:
        raise ValueError(f"{path}: 'dims' does not match whisper.model.ModelDimensions: {err}") from None
    return dims, checkpoint["model_state_dict"]


def _check_keys(path: str, missing: list[str], unexpected: list[str]) -> None:
    if not missing and not unexpected:
        return
    parts = [f"{what} {len(keys)}: " + ", ".join(ENCODER_PREFIX + k for k in keys[:10])
             for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
    raise ValueError(f"encoder weights of {path} do not match its dims ({'; '.join(parts)}); "
                     "the checkpoint is incomplete or its 'dims' are wrong")
