"""An image answer in bfloat16 vs float32 on the CPU: the same question, the same random weights
(the bf16 model is the fp32 one cast), through LLaVA's class with the plugin (``answer_model.py``):
CLIP ViT-L/14 at 336 px, MVP, a Vicuna-7B-shaped LLM with ``--layers`` layers, greedy generation of
exactly 8 tokens with the KV cache, as ``emollm eval infer`` generates. Timed whole and inside the decoder
layers, extrapolated to 32 layers; harness: benchmarks/timing.py. Target: bf16 >= 2x faster.

Native bf16 needs AVX512-BF16 or AMX (``lscpu | grep -o 'avx512_bf16\\|amx_bf16'``); without them
``emollm eval infer --dtype bfloat16`` refuses the CPU run (``runtime/cpu_precision.py``) and so does this.

    python benchmarks/bench_cpu_bf16.py [--layers 2] [--repeats 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import copy
import statistics
from pathlib import Path

import torch

from answer_model import AnswerCall, build, question
from timing import Harness, add_harness_arguments

REPO = Path(__file__).resolve().parents[1]
TARGET = 2.0
NEW_TOKENS = 8


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=2, help="LLM decoder layers measured (default: 2)")
    ap.add_argument("--tiny", action="store_true", help="tiny CLIP and LLM: checks that the script runs (tests)")
    ap.add_argument("--work", default=str(REPO / "work" / "bench_answer_mode"), help="(default: work/bench_answer_mode)")
    add_harness_arguments(ap)
    args = ap.parse_args(argv)
    from emollm_plugin.runtime.cpu_precision import cpu_bf16_support
    from emollm_plugin.runtime.generation import pad_left, pad_token_id

    supported, why = cpu_bf16_support()
    if not supported:
        raise SystemExit(f"bench_cpu_bf16: {why}")
    device = torch.device("cpu")
    fp32, tokenizer, size = build(Path(args.work), args.layers, torch.float32, device, args.tiny)
    bf16 = copy.deepcopy(fp32).to(torch.bfloat16)
    _, ids, image = question(tokenizer, size, torch.float32, device)
    batch, mask = pad_left(tokenizer, [ids])
    log: dict[str, list] = {}
    models = {"float32": fp32, "bfloat16": bf16}

    def path(name):
        model = models[name]
        call = AnswerCall(model, device, args.layers)
        picture = image.to(model.dtype)

        def run(_state):
            out = {}
            seconds, inside = call(lambda: out.setdefault("ids", model.generate(
                batch, images=[picture], attention_mask=mask, pad_token_id=pad_token_id(tokenizer), use_cache=True,
                do_sample=False, num_beams=1, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)))
            log.setdefault(name, []).append((seconds, call.extrapolated(seconds, inside), out["ids"]))
            return seconds
        return [("answer", run)]

    with torch.inference_mode():
        runs = Harness.from_args(args).run({name: path(name) for name in models})
    kept = {name: values[-args.repeats:] for name, values in log.items()}
    print(f"CPU bf16: {why}; image answer, {NEW_TOKENS} tokens, LLM Vicuna-7B shape with {args.layers} layer(s)")
    print(runs.header())
    print(f"| dtype | {args.layers} L min s | {args.layers} L median s | 32 L min s | 32 L median s |")
    print("|---|---:|---:|---:|---:|")
    for name, values in kept.items():
        measured, full = [v[0] for v in values], [v[1] for v in values]
        print(f"| {name} | {min(measured):.3f} | {statistics.median(measured):.3f} | {min(full):.3f} "
              f"| {statistics.median(full):.3f} |")
    speed = {}
    for tag, pick in (("min", min), ("median", statistics.median)):
        speed[tag] = pick(v[1] for v in kept["float32"]) / pick(v[1] for v in kept["bfloat16"])
    same = sum(torch.equal(a[2], b[2]) for a, b in zip(kept["float32"], kept["bfloat16"]))
    print(f"generated ids equal in bf16 and fp32: {same} of {len(kept['float32'])} runs (random weights: "
          "near-uniform logits, so ties flip easily)")
    print(f"target: bf16 >= {TARGET}x faster at 32 layers: {speed['min']:.2f}x (minimums), {speed['median']:.2f}x "
          f"(medians), {'met' if min(speed.values()) >= TARGET else 'missed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
