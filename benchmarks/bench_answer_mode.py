"""--answer-mode score vs generate: one closed-set image question answered by scoring its 7 options
in one pass (``runtime/scoring.py``) or by generating an 8-token answer (``runtime.generation.generate``).

LLaVA's class with the plugin (MVP), CLIP ViT-L/14 at 336 px, a Vicuna-7B-shaped LLM with
``--layers`` decoder layers (random weights; ``answer_model.py``). Both paths run the same
question through the same model:

- generate: ``model.generate`` as ``runtime.generation.generate`` calls it (left-padded ids, attention mask,
  KV cache), greedy, exactly 8 new tokens (``min_new_tokens=8``); the tokenizer's decode of the
  8 ids is left out (the tiny tokenizer has fewer ids than the 32000-entry LLM);
- score: ``score_options(...)``: one prefill over the prompt, then one forward over the 7 options
  (answer text + EOS) on the cache repeated 7 times.

Each call is timed whole (CLIP, MVP, LLM) and inside the decoder layers (hooks), and extrapolated
to 32 layers as t - t_layers + 32 / layers * t_layers. A third path times CLIP + MVP alone, so the
ratio is also given for the LLM part. Harness: benchmarks/timing.py. Target: score <= 0.5x generate.

    python benchmarks/bench_answer_mode.py [--layers 2] [--repeats 3] [--threads 1] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from answer_model import AnswerCall, build, question
from timing import Harness, add_harness_arguments

REPO = Path(__file__).resolve().parents[1]
TARGET = 0.5
NEW_TOKENS = 8


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    ap.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16"),
                    help="auto = float32 on cpu, bfloat16 on cuda (default: auto)")
    ap.add_argument("--layers", type=int, default=2, help="LLM decoder layers measured (default: 2)")
    ap.add_argument("--tiny", action="store_true", help="tiny CLIP and LLM: checks that the script runs (tests)")
    ap.add_argument("--work", default=str(REPO / "work" / "bench_answer_mode"), help="(default: work/bench_answer_mode)")
    add_harness_arguments(ap)
    args = ap.parse_args(argv)
    from emollm_plugin.runtime.generation import pad_left, pad_token_id
    from emollm_plugin.runtime.scoring import options_for, score_options

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype) if args.dtype != "auto" else (
        torch.float32 if device.type == "cpu" else torch.bfloat16)
    model, tokenizer, size = build(Path(args.work), args.layers, dtype, device, args.tiny)
    record, ids, image = question(tokenizer, size, dtype, device)
    call = AnswerCall(model, device, args.layers)
    batch, mask = (t.to(device) for t in pad_left(tokenizer, [ids]))
    log: dict[str, list[tuple[float, float]]] = {}

    def phase(name, fn):
        def run(_state):
            seconds, inside = call(fn)
            log.setdefault(name, []).append((seconds, inside))
            return seconds
        return [("answer", run)]

    paths = {
        f"generate {NEW_TOKENS} tokens": phase("generate", lambda: model.generate(
            batch, images=[image], attention_mask=mask, pad_token_id=pad_token_id(tokenizer), use_cache=True,
            do_sample=False, num_beams=1, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)),
        "score 7 options": phase("score", lambda: score_options(
            model, tokenizer, [ids], [image], [None], [record["task"]], [options_for(record)])),
        "CLIP + MVP alone": phase("visual", lambda: model.encode_visual([image])),
    }
    with torch.inference_mode():
        runs = Harness.from_args(args).run(paths)
    kept = {name: values[-args.repeats:] for name, values in log.items()}
    full = {name: [call.extrapolated(s, i) for s, i in values] for name, values in kept.items()}
    measured = {name: [s for s, _ in values] for name, values in kept.items()}
    print(f"device {device}, {str(dtype).replace('torch.', '')}, prompt {len(ids)} tokens "
          f"(+ {model.get_model().mm_projector.num_tokens_image} MVP tokens), LLM Vicuna-7B shape with {args.layers} layer(s) measured")
    print(runs.header())
    print(f"| path | {args.layers} L min s | {args.layers} L median s | 32 L min s | 32 L median s |")
    print("|---|---:|---:|---:|---:|")
    for label, name in zip(paths, ("generate", "score", "visual")):
        print(f"| {label} | {min(measured[name]):.3f} | {statistics.median(measured[name]):.3f} "
              f"| {min(full[name]):.3f} | {statistics.median(full[name]):.3f} |")
    ratios = {}
    for what, values in ((f"{args.layers} L", measured), ("32 L", full)):
        clip = values["visual"]
        for tag, pick in (("min", min), ("median", statistics.median)):
            ratios[(what, tag)] = pick(values["score"]) / pick(values["generate"])
            without = (pick(values["score"]) - pick(clip)) / (pick(values["generate"]) - pick(clip))
            print(f"score / generate, {what}, {tag}s: {ratios[(what, tag)]:.3f}x; without CLIP + MVP: {without:.3f}x")
    worst = max(ratios[("32 L", "min")], ratios[("32 L", "median")])
    print(f"target: score <= {TARGET}x the {NEW_TOKENS}-token generate at 32 layers: {ratios[('32 L', 'min')]:.3f}x "
          f"(minimums), {ratios[('32 L', 'median')]:.3f}x (medians), {'met' if worst <= TARGET else 'missed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
