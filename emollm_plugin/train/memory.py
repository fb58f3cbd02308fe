r"""GPU memory budget of an EmoLLM LoRA run under DeepSpeed ZeRO-2 (``emollm memory``).

Per GPU, for micro-batch b and sequence length S (bytes; G = GPUs in the run):

.. math::
    M(b) = W_{llm} + W_{towers} + Z_2(P_{train}, G) + K + R + A(b)

* :math:`W_{llm}`: frozen LLM weights, 2 bytes/param (bf16); with ``--bits 4`` every Linear is
  NF4 with double quantisation (0.5 + 1/64 + 4/(64*256) bytes/param, as LLaVA's ``--bits 4``
  quantises all Linears but ``mm_projector``) and the embedding stays bf16.
* :math:`W_{towers}`: frozen CLIP and Whisper encoders in bf16 (LLaVA casts the vision tower).
* :math:`Z_2`: DeepSpeed's own ``estimate_zero2_model_states_mem_needs(P_train, ...)``: the
  trainable parameters (LoRA + MVP + audio projector) cost 2P + 18P/G per GPU (bf16 copy; fp32
  gradients, master weights and Adam moments partitioned over G), or 2P with ``--offload``.
* K: ZeRO-2 communication buckets, 4.5 x reduce_bucket_size x 2 bytes (DeepSpeed's documented cost
  of ``overlap_comm``; the HF Trainer fills reduce_bucket_size "auto" with h^2).
* R: reserve for the CUDA context, cuBLAS/NCCL workspaces, the frozen towers' transient
  activations and allocator fragmentation (``--reserve-gib``, default 1.5 GiB).
* A(b): activations with gradient checkpointing of every decoder layer, T = b x S tokens:

.. math::
    A = \underbrace{2 L h T}_{\text{layer inputs}}
      + \underbrace{2 T \cdot a_{layer}}_{\text{one layer recomputed + its gradients}}
      + \underbrace{16 V T}_{\text{logits + loss}} + A_{proj}

  with, per token, for a LoRA-wrapped Llama layer (q, k, v, o, gate, up, down; bf16; SDPA or flash
  attention, which keep no S x S matrix; m = bytes of a dropout mask element, 1 on CUDA):

.. math::
    a_{layer} = \begin{cases}
      (28 + 6m) h + (8 + m) I + 14 r + 4 n_{heads} + 4 h / n_{heads} + 8 & \text{LoRA dropout} > 0 \\
      20 h + 8 I + 14 r + 4 n_{heads} + 4 h / n_{heads} + 8 & \text{otherwise}
    \end{cases}

  Counted from what autograd saves in transformers 4.37's ``LlamaDecoderLayer`` under peft 0.13
  LoRA: RMSNorm's fp32 input and rsqrt (2 x (4h + 4)); rotated q, k, v, attention output (8h),
  log-sum-exp (4 n_heads), cos/sin (4 h/n_heads); gate, SiLU and up outputs (6I); LoRA inputs
  (with dropout: mask + dropped copy, (m + 2) per element for 6 h-wide and 1 I-wide input;
  without: the two norm outputs 4h and the down input 2I); LoRA A outputs (7 x 2r).
  Logits: bf16 logits, their fp32 copy, the shifted copy and log-softmax, 16 bytes per vocabulary
  entry. During one layer's backward its recomputed activations and, at most as many bytes
  again, their gradients are alive: hence 2 a_layer, an upper estimate. :math:`A_{proj}` (MVP +
  audio projector inputs and outputs) is small and included.

``emollm memory --inference`` estimates answering instead (``inference_memory.py``).

S follows the data: 112 MVP tokens per image, 112 x ceil(frames / frames_per_event) per video,
the audio tokens, and the text (``--text-tokens``), unless ``--seq-len N`` is given.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field

from ..configs import AudioConfig, MVPConfig
from ..constants import NUM_VIDEO_FRAMES

GIB = 2 ** 30
_AUDIO, _MVP = AudioConfig(), MVPConfig()
NF4_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)  # 4-bit weights + 8-bit block scales + fp32 scales of scales
LOGIT_BYTES = 16  # per token and vocabulary entry: bf16 logits 2 + fp32 copy 4 + shifted 4 + log-softmax 4 + slack 2
ZERO_BUCKET_FACTOR = 4.5  # DeepSpeed docs: overlap_comm uses 4.5x the bucket sizes
MAX_GPU_MEM_GIB = 1024.0  # largest --gpu-mem accepted: above any GPU made, so a typo is caught


@dataclass(frozen=True)
class LlmSpec:
    """A Llama-family decoder (no grouped-query attention, untied lm_head: Vicuna v1.5)."""
    name: str
    hidden: int        # h
    intermediate: int  # I
    layers: int        # L
    heads: int
    vocab: int         # V

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of q, k, v, o, gate, up, down in one layer."""
        h, i = self.hidden, self.intermediate
        return [(h, h)] * 4 + [(h, i), (h, i), (i, h)]

    def layer_linear_params(self) -> int:
        return sum(a * b for a, b in self.linear_shapes())

    def params(self) -> int:
        """L (linears + 2 norms) + embedding + lm_head + final norm."""
        h = self.hidden
        return self.layers * (self.layer_linear_params() + 2 * h) + 2 * self.vocab * h + h

    def lora_params(self, r: int) -> int:
        """LoRA A (r x in) and B (out x r) on every linear of every layer (LLaVA's target set)."""
        return self.layers * r * sum(a + b for a, b in self.linear_shapes())

    def weight_bytes(self, bits: int) -> float:
        if bits == 16:
            return 2.0 * self.params()
        if bits == 4:  # Linears (lm_head too) in NF4; embedding bf16; norms fp32
            linear = self.layers * self.layer_linear_params() + self.vocab * self.hidden
            norms = (2 * self.layers + 1) * self.hidden
            return NF4_BYTES * linear + 2.0 * self.vocab * self.hidden + 4.0 * norms
        raise ValueError(f"--bits {bits}: use 16 (bf16) or 4 (QLoRA)")


@dataclass(frozen=True)
class ClipSpec:
    """CLIP ViT vision tower (LLaVA keeps the whole CLIPVisionModel)."""
    name: str
    width: int   # C, also mm_hidden_size
    layers: int
    mlp: int
    image: int
    patch: int

    def params(self) -> int:
        c, tokens = self.width, (self.image // self.patch) ** 2 + 1
        embed = 3 * self.patch ** 2 * c + c + tokens * c
        layer = 4 * (c * c + c) + c * self.mlp + self.mlp + self.mlp * c + c + 4 * c
        return embed + 2 * c + self.layers * layer + 2 * c


@dataclass(frozen=True)
class WhisperSpec:
    """openai-whisper audio encoder (the decoder is not loaded)."""
    name: str
    width: int  # d
    layers: int
    mels: int = 80

    def params(self) -> int:
        d = self.width
        convs = self.mels * d * 3 + d + d * d * 3 + d
        block = (4 * d * d + 3 * d) + 2 * d + (8 * d * d + 5 * d) + 2 * d
        return convs + self.layers * block + 2 * d


LLMS = {
    "7b": LlmSpec("Vicuna-7B v1.5", hidden=4096, intermediate=11008, layers=32, heads=32, vocab=32000),
    "13b": LlmSpec("Vicuna-13B v1.5", hidden=5120, intermediate=13824, layers=40, heads=40, vocab=32000),
}
CLIP_L14_224 = ClipSpec("CLIP ViT-L/14 224px", width=1024, layers=24, mlp=4096, image=224, patch=14)
WHISPERS = {
    "none": None,
    "tiny": WhisperSpec("Whisper-tiny", width=384, layers=4),
    "base": WhisperSpec("Whisper-base", width=512, layers=6),
    "small": WhisperSpec("Whisper-small", width=768, layers=12),
}


WHISPER_FRAMES_PER_SECOND = 50   # 100 log-mel frames per second, halved by the stride-2 conv
WHISPER_WINDOW_FRAMES = 1500     # the encoder's 30 s window


@dataclass(frozen=True)
class RunSpec:
    """One training configuration (defaults: the recipe's run on 4 x 24 GB GPUs)."""
    llm: LlmSpec
    vision: ClipSpec = CLIP_L14_224
    audio: WhisperSpec | None = field(default_factory=lambda: WHISPERS["base"])
    gpus_per_node: int = 4          # (default: 4)
    nodes: int = 1                  # (default: 1)
    gpu_mem_gib: float = 24.0       # (default: 24, an RTX 4090)
    offload: bool = False           # optimizer states on the CPU (zero2_offload.json) (default: False)
    bits: int = 16                  # 16 = bf16 LLM, 4 = NF4 QLoRA (default: 16)
    lora_r: int = 128               # (default: 128)
    lora_dropout: float = 0.05      # (default: 0.05)
    mask_bytes: int = 1             # bytes per dropout-mask element: 1 on CUDA (default: 1)
    modality: str = "video+audio"   # image | video | video+audio: the longest sample (default: video+audio)
    visual_tokens: int = _MVP.num_tokens  # MVP tokens per image / event (default: 112 = 64 + 32 + 16)
    num_video_frames: int = NUM_VIDEO_FRAMES  # (default: constants.NUM_VIDEO_FRAMES)
    frames_per_event: int = _MVP.frames_per_event  # (default: MVPConfig's)
    audio_tokens: int = _AUDIO.num_tokens  # 0 = every encoder frame of audio_seconds (default: AudioConfig's, 32)
    audio_seconds: float = 30.0     # clip length with audio_tokens = 0 (default: 30, Whisper's window)
    text_tokens: int = 256          # system prompt + question + options + answer (default: 256)
    seq_len: int | None = None      # None = from the parts above (default: None)
    reserve_gib: float = 1.5        # CUDA context, workspaces, fragmentation (default: 1.5)

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes


def sequence_parts(run: RunSpec) -> dict[str, int]:
    """Tokens of the longest sample: visual + audio + text."""
    if run.modality not in ("image", "video", "video+audio"):
        raise ValueError(f"--modality {run.modality!r}: use image, video or video+audio")
    events = math.ceil(run.num_video_frames / run.frames_per_event) if run.modality != "image" else 1
    audio = 0
    if run.modality == "video+audio" and run.audio is not None:
        audio = run.audio_tokens or audio_frames(run.audio_seconds)
    return {"visual": run.visual_tokens * events, "audio": audio, "text": run.text_tokens}


def audio_frames(seconds: float) -> int:
    """Whisper encoder frames of a clip: one per 20 ms, at most the 30 s window's 1,500."""
    return min(WHISPER_WINDOW_FRAMES, math.ceil(seconds * WHISPER_FRAMES_PER_SECOND))


def sequence_length(run: RunSpec) -> int:
    return run.seq_len if run.seq_len is not None else sum(sequence_parts(run).values())


def projector_params(run: RunSpec) -> dict[str, int]:
    """Parameters of the plugin's own MVP and audio projectors, built on the meta device."""
    import torch
    from ..audio.projector import AudioProjector
    from ..projectors.mvp.module import MVPProjector

    with torch.device("meta"):
        mvp = MVPProjector(run.vision.width, run.llm.hidden, MVPConfig())
        audio = AudioProjector(run.audio.width, run.llm.hidden, run.audio_tokens) if run.audio else None
    count = lambda m: sum(p.numel() for p in m.parameters()) if m is not None else 0  # noqa: E731
    return {"mvp": count(mvp), "audio_projector": count(audio)}


def trainable_params(run: RunSpec) -> dict[str, int]:
    return {"lora": run.llm.lora_params(run.lora_r), **projector_params(run)}


def zero2_model_states(trainable: int, run: RunSpec) -> tuple[int, int]:
    """(CPU bytes per node, GPU bytes per GPU) from DeepSpeed's own ZeRO-2 estimator."""
    try:
        from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs
    except ImportError as err:
        raise SystemExit(f"emollm memory needs DeepSpeed's estimator: pip install -e '.[train]' ({err})")
    return estimate_zero2_model_states_mem_needs(trainable, num_gpus_per_node=run.gpus_per_node,
                                                 num_nodes=run.nodes, cpu_offload=run.offload)


def layer_activation_bytes(llm: LlmSpec, tokens: int, lora_r: int, lora_dropout: float, mask_bytes: int) -> int:
    """Bytes autograd keeps for one LoRA-wrapped decoder layer over ``tokens`` tokens (module doc)."""
    h, i, r, m = llm.hidden, llm.intermediate, lora_r, mask_bytes
    fixed = 4 * llm.heads + 4 * (h // llm.heads) + 8
    if lora_dropout > 0:
        per_token = (28 + 6 * m) * h + (8 + m) * i + 14 * r + fixed
    else:
        per_token = 20 * h + 8 * i + 14 * r + fixed
    return tokens * per_token


def activation_bytes(run: RunSpec, micro_batch: int) -> dict[str, int]:
    llm, tokens = run.llm, micro_batch * sequence_length(run)
    parts = sequence_parts(run)
    c, d = run.vision.width, llm.hidden
    # inputs and outputs of the projectors' layers (content W, 2 GCN layers; audio 2-layer MLP), bf16
    proj = 2 * micro_batch * (parts["visual"] * (2 * c + 3 * d)
                              + parts["audio"] * ((run.audio.width if run.audio else 0) + 3 * d))
    return {
        "layer_inputs": 2 * llm.layers * llm.hidden * tokens,
        "one_layer": 2 * layer_activation_bytes(llm, tokens, run.lora_r, run.lora_dropout, run.mask_bytes),
        "logits": LOGIT_BYTES * llm.vocab * tokens,
        "projectors": proj,
    }


@dataclass
class Budget:
    run: RunSpec
    seq_len: int
    params: dict[str, int]
    fixed: dict[str, float]           # bytes per GPU that do not depend on the batch
    cpu_bytes_per_node: float
    activations: dict[int, dict[str, int]]

    def total(self, micro_batch: int) -> float:
        return sum(self.fixed.values()) + sum(self.activations[micro_batch].values())

    def fits(self, micro_batch: int) -> bool:
        return self.total(micro_batch) <= self.run.gpu_mem_gib * GIB

    def largest_fitting(self) -> int | None:
        fitting = [b for b in self.activations if self.fits(b)]
        return max(fitting) if fitting else None


def budget(run: RunSpec, micro_batches=(1, 2, 4, 8, 16, 32)) -> Budget:
    trainable = trainable_params(run)
    p_train = sum(trainable.values())
    cpu, gpu_states = zero2_model_states(p_train, run)
    towers = run.vision.params() + (run.audio.params() if run.audio else 0)
    fixed = {
        "llm_weights": run.llm.weight_bytes(run.bits),
        "tower_weights": 2.0 * towers,
        "zero2_states": float(gpu_states),
        "zero2_buckets": ZERO_BUCKET_FACTOR * run.llm.hidden ** 2 * 2,
        "reserve": run.reserve_gib * GIB,
    }
    params = {"llm": run.llm.params(), "towers": towers, **trainable, "trainable": p_train}
    return Budget(run, sequence_length(run), params, fixed, float(cpu),
                  {b: activation_bytes(run, b) for b in micro_batches})


def _gib(x: float) -> str:
    return f"{x / GIB:8.2f}"


def _m(n: int) -> str:
    return f"{n / 1e6:,.1f} M"


def format_budget(b: Budget) -> str:
    run, p = b.run, b.params
    parts = sequence_parts(run)
    seq = (f"{b.seq_len} tokens (--seq-len)" if run.seq_len is not None else
           f"{b.seq_len} tokens = {parts['visual']} visual + {parts['audio']} audio + {parts['text']} text "
           f"({run.modality})")
    weights = "bf16" if run.bits == 16 else "NF4 4-bit"
    states = "2P (optimizer on CPU)" if run.offload else f"2P + 18P/{run.gpus}"
    lines = [
        f"EmoLLM LoRA memory budget: {run.llm.name} ({weights}), {run.gpus} GPU(s) x {run.gpu_mem_gib:g} GiB, "
        f"ZeRO-2{' + CPU offload' if run.offload else ''}, LoRA r={run.lora_r}",
        f"sequence: {seq}",
        "",
        f"{'per GPU':<58}{'GiB':>8}",
        f"{'LLM weights, frozen (' + _m(p['llm']) + ', ' + weights + ')':<58}{_gib(b.fixed['llm_weights'])}",
        f"{'CLIP + Whisper encoders, frozen (' + _m(p['towers']) + ', bf16)':<58}{_gib(b.fixed['tower_weights'])}",
        f"{'trainable: LoRA ' + _m(p['lora']) + ' + MVP ' + _m(p['mvp']) + ' + audio ' + _m(p['audio_projector']):<58}",
        f"{'  ZeRO-2 model states, DeepSpeed estimate ' + states:<58}{_gib(b.fixed['zero2_states'])}",
        f"{'ZeRO-2 buckets (4.5 x h^2 x 2 bytes)':<58}{_gib(b.fixed['zero2_buckets'])}",
        f"{'reserve: CUDA context, workspaces, fragmentation':<58}{_gib(b.fixed['reserve'])}",
        f"{'fixed total':<58}{_gib(sum(b.fixed.values()))}",
        "",
        f"{'micro-batch':>11} {'layer inputs':>12} {'1 layer':>8} {'logits':>8} {'proj':>6} {'total':>8}  fits",
    ]
    for mb, act in b.activations.items():
        lines.append(f"{mb:>11} {act['layer_inputs'] / GIB:>12.2f} {act['one_layer'] / GIB:>8.2f} "
                     f"{act['logits'] / GIB:>8.2f} {act['projectors'] / GIB:>6.2f} {b.total(mb) / GIB:>8.2f}  "
                     f"{'yes' if b.fits(mb) else 'no'}")
    best = b.largest_fitting()
    lines.append("")
    lines.append(f"CPU RAM per node for the model states (DeepSpeed estimate): {b.cpu_bytes_per_node / GIB:.1f} GiB")
    if best is None:
        lines.append("no micro-batch fits: try --offload, --bits 4, more GPUs or a shorter --seq-len")
    else:
        lines.append(f"largest micro-batch that fits: {best} -> MAX_MICRO_BATCH={best} "
                     f"bash scripts/finetune_emo_lora.sh (accumulation makes up the global batch)")
    return "\n".join(lines)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text}: must be >= 0")
    return value


def _bounded_float(low: float, high: float, *, low_open: bool, high_open: bool, unit: str = ""):
    """An argparse type: a finite float in the interval, refused with the interval named."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: not a number") from None
        inside = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
        if not math.isfinite(value) or not inside:
            raise argparse.ArgumentTypeError(f"{text}: must be a finite number in {interval}{unit}")
        return value
    return parse


_GPU_MEM = _bounded_float(0, MAX_GPU_MEM_GIB, low_open=True, high_open=False, unit=" GiB")
_RESERVE = _bounded_float(0, MAX_GPU_MEM_GIB, low_open=False, high_open=True, unit=" GiB")
_DROPOUT = _bounded_float(0, 1, low_open=False, high_open=True)


def _seq_len(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        return _positive_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: 'auto' or a positive number of tokens") from None


def parse_run(argv: list[str] | None) -> tuple[RunSpec, list[int], bool]:
    ap = argparse.ArgumentParser(prog="emollm memory", description=__doc__.split("\n")[0])
    ap.add_argument("--model-size", choices=sorted(LLMS), default="7b", help="Vicuna v1.5 size (default: 7b)")
    ap.add_argument("--gpus", type=_positive_int, default=4, help="GPUs per node (default: 4)")
    ap.add_argument("--nodes", type=_positive_int, default=1, help="nodes (default: 1)")
    ap.add_argument("--gpu-mem", type=_GPU_MEM, default=24.0, help="GiB per GPU (default: 24)")
    ap.add_argument("--offload", action="store_true", help="optimizer states on the CPU (zero2_offload.json)")
    ap.add_argument("--bits", type=int, choices=(16, 4), default=16,
                    help="LLM weights: 16 = bf16, 4 = QLoRA (default: 16)")
    ap.add_argument("--seq-len", type=_seq_len, default=None, metavar="auto|N",
                    help="tokens per sample (default: auto = visual + audio + text)")
    ap.add_argument("--modality", choices=("image", "video", "video+audio"), default="video+audio",
                    help="sample kind that sets the length (default: video+audio)")
    ap.add_argument("--num-video-frames", type=_positive_int, default=NUM_VIDEO_FRAMES,
                    help=f"frames per clip (default: {NUM_VIDEO_FRAMES})")
    ap.add_argument("--frames-per-event", type=_positive_int, default=_MVP.frames_per_event,
                    help=f"MVP frames per event (default: {_MVP.frames_per_event})")
    ap.add_argument("--audio", choices=sorted(WHISPERS), default="base", help="Whisper encoder (default: base)")
    ap.add_argument("--audio-tokens", type=_non_negative_int, default=_AUDIO.num_tokens,
                    help="audio tokens per clip; 0 = every encoder frame of an --audio-seconds clip, "
                         f"as --mm_audio_num_tokens 0 (default: {_AUDIO.num_tokens})")
    ap.add_argument("--audio-seconds", type=_bounded_float(0.0, 30.0, low_open=True, high_open=False, unit="s"),
                    default=30.0, help="clip length with --audio-tokens 0 (default: 30, Whisper's window)")
    ap.add_argument("--text-tokens", type=_positive_int, default=256, help="prompt + answer tokens (default: 256)")
    ap.add_argument("--lora-r", type=_positive_int, default=128, help="LoRA rank (default: 128)")
    ap.add_argument("--lora-dropout", type=_DROPOUT, default=0.05, help="LoRA dropout (default: 0.05)")
    ap.add_argument("--reserve-gib", type=_RESERVE, default=1.5, help="CUDA context etc. (default: 1.5)")
    ap.add_argument("--micro-batches", type=_positive_int, nargs="+", default=[1, 2, 4, 8, 16, 32],
                    help="micro-batch sizes to try (default: 1 2 4 8 16 32)")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    a = ap.parse_args(argv)
    if a.reserve_gib >= a.gpu_mem:
        ap.error(f"--reserve-gib {a.reserve_gib:g} leaves nothing of --gpu-mem {a.gpu_mem:g}: "
                 "the reserve must be smaller than the GPU memory")
    run = RunSpec(llm=LLMS[a.model_size], audio=WHISPERS[a.audio], gpus_per_node=a.gpus, nodes=a.nodes,
                  gpu_mem_gib=a.gpu_mem, offload=a.offload, bits=a.bits, lora_r=a.lora_r,
                  lora_dropout=a.lora_dropout, modality=a.modality, num_video_frames=a.num_video_frames,
                  frames_per_event=a.frames_per_event, audio_tokens=a.audio_tokens, audio_seconds=a.audio_seconds,
                  text_tokens=a.text_tokens, seq_len=a.seq_len, reserve_gib=a.reserve_gib)
    return run, sorted(set(a.micro_batches)), a.json


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--inference" in argv:  # the inference estimate: inference_memory.py
        from .inference_memory import main as inference_main
        return inference_main([a for a in argv if a != "--inference"])
    run, micro_batches, as_json = parse_run(argv)
    result = budget(run, micro_batches)
    if as_json:
        print(json.dumps({"run": asdict(run), "seq_len": result.seq_len, "params": result.params,
                          "fixed_bytes": result.fixed, "cpu_bytes_per_node": result.cpu_bytes_per_node,
                          "micro_batches": {b: {"activations": a, "total_bytes": result.total(b),
                                                "fits": result.fits(b)} for b, a in result.activations.items()},
                          "largest_fitting": result.largest_fitting()}, indent=1))
    else:
        print(format_budget(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
