r"""GPU memory of answering a batch (``emollm memory --inference``): the training budget's model
(``memory.py``) extended to inference, for EmoLLM (MVP) and LLaVA-1.5 (mlp2x_gelu) alike.

Per GPU, for a batch of b questions with S = visual + text tokens each and N new tokens (bytes;
w = bytes per weight element, 2 for bf16):

.. math::
    M(b) = W_{llm} + W_{clip} + W_{proj} + R + b \, (K + A + C)

* :math:`W_{llm}`: the LLM's weights: bf16; with ``--bits 8`` / ``--bits 4`` (``--load-8bit`` /
  ``--load-4bit``, bitsandbytes through transformers) the decoder layers' Linears take 1 byte
  (int8) or ``memory.NF4_BYTES`` per parameter, while the embedding and lm_head stay bf16
  (transformers keeps the output layer unquantised) and the norms fp32.
* :math:`W_{clip}`, :math:`W_{proj}`: the vision tower and the projector in bf16 (MVP: the module's
  parameters; mlp2x_gelu: C x h + h x h with biases).
* R: reserve (CUDA context, cuBLAS workspace, allocator fragmentation; ``--reserve-gib``).
* K: the KV cache, :math:`K = 2 \cdot L \cdot h \cdot (S + N) \cdot w` (keys and values of every
  layer, no grouped-query attention).
* A: the prefill's transient activations of one decoder layer (no autograd: only what one layer
  holds at a time), per token: input and residual 2h, q/k/v and attention output 4h, gate/up/SiLU
  3I, in w bytes: :math:`A = S (6h + 3I) w` (SDPA/flash attention keeps no S x S matrix).
* C: the prefill's logits, :math:`C = S \cdot V \cdot (w + 4)`: transformers 4.37's Llama computes
  lm_head on every prompt position and casts the logits to float32.
* The CLIP forward of the batch runs before the LLM and frees its activations (25 kept hidden
  states of 577 x 1024 and one 16 x 577 x 577 attention matrix per image, ~40 MB): it never sets
  the peak next to the KV cache, so it is not counted.

The largest batch that fits is floor((G - W - R) / (K + A + C)) for G bytes of GPU memory.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

from ..configs.mvp import MVPConfig
from .memory import GIB, LLMS, NF4_BYTES, ClipSpec, LlmSpec

CLIP_L14_336 = ClipSpec("CLIP ViT-L/14 336px", width=1024, layers=24, mlp=4096, image=336, patch=14)
PROJECTORS = ("mvp", "mlp2x_gelu")


@dataclass(frozen=True)
class InferenceSpec:
    llm: LlmSpec
    projector: str = "mvp"            # mvp | mlp2x_gelu
    vision: ClipSpec = CLIP_L14_336
    text_tokens: int = 64             # prompt text around the image (default: 64)
    new_tokens: int = 8               # answer tokens (default: 8)
    gpu_mem_gib: float = 24.0         # (default: 24)
    reserve_gib: float = 1.5          # (default: 1.5)
    bits: int = 16                    # 16 = bf16, 4 = NF4 (default: 16)

    @property
    def visual_tokens(self) -> int:
        return MVPConfig().num_tokens if self.projector == "mvp" else (self.vision.image // self.vision.patch) ** 2

    @property
    def seq_len(self) -> int:
        return self.visual_tokens + self.text_tokens


def projector_weight_params(spec: InferenceSpec) -> int:
    """mlp2x_gelu: C x h + h x h with biases; MVP: the plugin's module, built on the meta device."""
    c, h = spec.vision.width, spec.llm.hidden
    if spec.projector == "mlp2x_gelu":
        return c * h + h + h * h + h
    import torch

    from ..projectors.mvp.module import MVPProjector
    with torch.device("meta"):
        return sum(p.numel() for p in MVPProjector(c, h, MVPConfig()).parameters())


def per_sample_bytes(spec: InferenceSpec) -> dict[str, int]:
    llm, w, s = spec.llm, 2, spec.seq_len
    return {"kv_cache": 2 * llm.layers * llm.hidden * (s + spec.new_tokens) * w,
            "layer_activations": s * (6 * llm.hidden + 3 * llm.intermediate) * w,
            "logits": s * llm.vocab * (w + 4)}


def llm_weight_bytes(llm: LlmSpec, bits: int) -> float:
    if bits == 16:
        return llm.weight_bytes(16)
    per_param = {8: 1.0, 4: NF4_BYTES}[bits]
    norms = (2 * llm.layers + 1) * llm.hidden
    return per_param * llm.layers * llm.layer_linear_params() + 2.0 * 2 * llm.vocab * llm.hidden + 4.0 * norms


def fixed_bytes(spec: InferenceSpec) -> dict[str, float]:
    return {"llm_weights": llm_weight_bytes(spec.llm, spec.bits), "clip_weights": 2.0 * spec.vision.params(),
            "projector_weights": 2.0 * projector_weight_params(spec), "reserve": spec.reserve_gib * GIB}


def total_bytes(spec: InferenceSpec, batch: int) -> float:
    return sum(fixed_bytes(spec).values()) + batch * sum(per_sample_bytes(spec).values())


def largest_batch(spec: InferenceSpec) -> int:
    """The largest batch whose total fits ``gpu_mem_gib`` (0: not even one sample)."""
    free = spec.gpu_mem_gib * GIB - sum(fixed_bytes(spec).values())
    return max(0, int(free // sum(per_sample_bytes(spec).values())))


def report(specs: list[InferenceSpec], batches: list[int]) -> str:
    lines = [f"inference memory per GPU ({specs[0].gpu_mem_gib:g} GiB, {specs[0].llm.name}, "
             f"{ {16: 'bf16', 8: 'int8', 4: 'NF4'}[specs[0].bits]} weights, {specs[0].new_tokens} new tokens)", "",
             "| projector | tokens S | fixed GiB | KV cache MiB/sample | activations MiB/sample | logits MiB/sample "
             "| " + " | ".join(f"batch {b} GiB" for b in batches) + " | largest batch |",
             "|---|---:|---:|---:|---:|---:|" + "---:|" * (len(batches) + 1)]
    for spec in specs:
        per = per_sample_bytes(spec)
        lines.append(f"| {spec.projector} | {spec.seq_len} | {sum(fixed_bytes(spec).values()) / GIB:.2f} "
                     f"| {per['kv_cache'] / 2**20:.0f} | {per['layer_activations'] / 2**20:.0f} "
                     f"| {per['logits'] / 2**20:.0f} | "
                     + " | ".join(f"{total_bytes(spec, b) / GIB:.2f}" for b in batches)
                     + f" | {largest_batch(spec)} |")
    if len(specs) == 2 and largest_batch(specs[1]):
        lines.append(f"\nlargest batch, {specs[0].projector} / {specs[1].projector}: "
                     f"{largest_batch(specs[0]) / largest_batch(specs[1]):.2f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="emollm memory --inference", description=__doc__.split("\n")[0])
    ap.add_argument("--model-size", choices=sorted(LLMS), default="7b", help="Vicuna v1.5 size (default: 7b)")
    ap.add_argument("--gpu-mem", type=float, default=24.0, help="GiB per GPU (default: 24)")
    ap.add_argument("--reserve-gib", type=float, default=1.5, help="CUDA context etc. (default: 1.5)")
    ap.add_argument("--bits", type=int, choices=(16, 8, 4), default=16,
                    help="LLM weights: 16 = bf16, 8 / 4 = --load-8bit / --load-4bit (default: 16)")
    ap.add_argument("--text-tokens", type=int, default=64, help="prompt text tokens (default: 64)")
    ap.add_argument("--new-tokens", type=int, default=8, help="answer tokens (default: 8)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16], help="(default: 1 4 8 16)")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    a = ap.parse_args(argv)
    if not 0 <= a.reserve_gib < a.gpu_mem:
        ap.error(f"--reserve-gib {a.reserve_gib:g} must be in [0, --gpu-mem {a.gpu_mem:g})")
    specs = [InferenceSpec(LLMS[a.model_size], p, text_tokens=a.text_tokens, new_tokens=a.new_tokens,
                           gpu_mem_gib=a.gpu_mem, reserve_gib=a.reserve_gib, bits=a.bits) for p in PROJECTORS]
    if a.json:
        print(json.dumps({s.projector: {"spec": asdict(s), "seq_len": s.seq_len, "fixed_bytes": fixed_bytes(s),
                                        "per_sample_bytes": per_sample_bytes(s),
                                        "total_bytes": {b: total_bytes(s, b) for b in a.batches},
                                        "largest_batch": largest_batch(s)} for s in specs}, indent=1))
    else:
        print(report(specs, a.batches))
    return 0
