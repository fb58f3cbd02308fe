"""Batched throughput: EmoLLM (MVP, 112 tokens per image) vs LLaVA-1.5 (mlp2x_gelu, 576 tokens)
answering EmoBench-shaped image questions at batch 1, 4, 8 and 16, on one machine, in one run.

Models as in ``bench_answer.py`` (random weights, real shapes): CLIP ViT-L/14 at 336 px, the two
projectors, a Vicuna-7B-shaped LLM with ``--layers`` decoder layers, extrapolated per phase to 32
layers as t_rest + 32 * t_layer (forward hooks time the layers). A batch of B questions:

- CLIP on B images (B x 576 x 1024 patch tokens, layer -2); with ``--clip-max-batch M`` < B only
  M images run and the time is scaled by B / M (images are independent: CLIP is linear in B, and
  it is the same work in both paths);
- the projector: MVP -> B x 112 x 4096, mlp2x_gelu -> B x 576 x 4096;
- prefill over each question's [text prefix | visual | text suffix], text lengths drawn per
  question from ``--text-tokens`` +- 25 % (EmoBench questions differ in length), left-padded to
  the longest with an attention mask and positions counted from each question's first real
  token, as ``emollm eval infer`` pads (``model.config.tokenizer_padding_side = "left"``), KV cache on;
- 8 greedy decode steps on the cache for the whole batch.

Reported per batch size: seconds per batch and samples/s for each path at 32 layers, and the
per-sample cost ratio MVP / mlp2x_gelu (of the minimums and of the medians; harness in
benchmarks/timing.py). Target: <= 0.35x at batch 16. Then the largest batch fitting 24 GiB for
each from ``emollm memory --inference`` (``train/inference_memory.py``). Target: EmoLLM's
largest batch >= 3x LLaVA's.

    python benchmarks/bench_throughput.py [--batches 1 4 8 16] [--layers 1] [--repeats 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_answer import (FULL_LAYERS, NEW_TOKENS, Clock, LayerTimer, clip_features,  # noqa: E402
                          clip_vit_l14_336, device_name, projectors, vicuna_shaped)
from timing import Harness, add_harness_arguments  # noqa: E402

COST_TARGET = 0.35
BATCH_TARGET = 3.0
PATHS = {"EmoLLM (MVP)": "mvp", "LLaVA-1.5 (mlp2x_gelu)": "mlp2x_gelu"}


@torch.no_grad()
def left_padded(llm, visual: torch.Tensor, text_lengths: list[int], gen) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings B x P x D, attention mask B x P): per question [prefix | visual | suffix],
    left-padded with zeros."""
    embed = llm.get_input_embeddings()
    rows = []
    for b, n in enumerate(text_lengths):
        ids = torch.randint(3, llm.config.vocab_size, (n,), generator=gen).to(visual.device)
        split = n * 2 // 3
        rows.append(torch.cat([embed(ids[:split]), visual[b].to(embed.weight.dtype), embed(ids[split:])]))
    width = max(len(r) for r in rows)
    embeds = torch.zeros(len(rows), width, rows[0].shape[-1], dtype=rows[0].dtype, device=visual.device)
    mask = torch.zeros(len(rows), width, dtype=torch.long, device=visual.device)
    for b, r in enumerate(rows):
        embeds[b, width - len(r):] = r
        mask[b, width - len(r):] = 1
    return embeds, mask


@torch.no_grad()
def prefill(llm, embeds, mask):
    positions = (mask.cumsum(-1) - 1).clamp_min(0)
    out = llm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=True)
    return out.logits[:, -1].argmax(-1, keepdim=True), out.past_key_values


@torch.no_grad()
def decode(llm, token, past, mask):
    lengths = mask.sum(-1, keepdim=True)
    for step in range(NEW_TOKENS):
        mask = torch.cat([mask, torch.ones_like(token)], 1)
        out = llm(input_ids=token, past_key_values=past, attention_mask=mask, position_ids=lengths + step,
                  use_cache=True)
        past, token = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
    return token


def measure(args) -> tuple[list[str], dict]:
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype) if args.dtype != "auto" else (
        torch.float32 if device.type == "cpu" else torch.bfloat16)
    torch.manual_seed(0)
    clip = clip_vit_l14_336(device, dtype, tiny=args.tiny)
    shape = dict(hidden=256, heads=4, intermediate=512, vocab=1000) if args.tiny else {}
    llm = vicuna_shaped(args.layers, device, dtype, **shape)
    mvp, mlp = projectors(clip.config.hidden_size, llm.config.hidden_size, device, dtype)
    clock = Clock(device)
    timer = LayerTimer(llm.model.layers, clock)
    harness = Harness.from_args(args)
    gen = torch.Generator().manual_seed(0)
    size = clip.config.image_size
    rows, headers = [], []
    for batch in args.batches:
        run = min(batch, args.clip_max_batch) if args.clip_max_batch else batch
        lengths = [int(args.text_tokens * (0.75 + 0.5 * torch.rand(1, generator=gen).item())) for _ in range(batch)]
        inside: dict = {}

        def phases(name: str, projector: str):
            def clip_phase(state):
                pixels = torch.randn(run, 3, size, size, generator=gen).to(device=device, dtype=dtype)
                start = clock.now()
                features = clip_features(clip, pixels)
                seconds = (clock.now() - start) * batch / run
                state["features"] = features.repeat(-(-batch // run), 1, 1)[:batch]
                return seconds

            def projector_phase(state):
                with torch.no_grad():
                    start = clock.now()
                    state["visual"] = (mvp(state.pop("features")) if projector == "mvp"
                                       else mlp(state.pop("features")))
                    return clock.now() - start

            def prefill_phase(state):
                embeds, mask = left_padded(llm, state.pop("visual"), lengths, gen)
                timer.take()
                start = clock.now()
                state["token"], state["past"] = prefill(llm, embeds, mask)
                seconds = clock.now() - start
                state["mask"] = mask
                inside.setdefault((name, "prefill"), []).append((seconds, timer.take()))
                return seconds

            def decode_phase(state):
                timer.take()
                start = clock.now()
                decode(llm, state.pop("token"), state.pop("past"), state.pop("mask"))
                seconds = clock.now() - start
                inside.setdefault((name, "decode"), []).append((seconds, timer.take()))
                return seconds
            return [("clip", clip_phase), ("projector", projector_phase), ("prefill", prefill_phase),
                    ("decode", decode_phase)]

        runs = harness.run({name: phases(name, projector) for name, projector in PATHS.items()})
        headers.append(f"batch {batch}: {runs.header()}")

        def full(name: str) -> list[float]:
            """Per timed repeat: the batch's seconds with the LLM phases at 32 layers."""
            totals = []
            for r in range(args.repeats):
                t = runs.values(name, "clip")[r] + runs.values(name, "projector")[r]
                for phase in ("prefill", "decode"):
                    seconds, layers = inside[(name, phase)][harness.warmup + r]
                    t += seconds - layers + FULL_LAYERS * layers / args.layers
                totals.append(t)
            return totals

        seconds = {name: full(name) for name in PATHS}
        rows.append((batch, seconds))
    info = {"device": device_name(device), "dtype": str(dtype).replace("torch.", ""), "headers": headers}
    return rows, info


def table(rows, info, args) -> str:
    import statistics

    from emollm_plugin.train.inference_memory import InferenceSpec, largest_batch, report
    from emollm_plugin.train.memory import LLMS

    mvp_name, mlp_name = PATHS
    lines = [f"device: {info['device']}; {info['dtype']}; LLM Vicuna-7B shape, {args.layers} layer(s) measured, "
             f"32 extrapolated; {NEW_TOKENS} new tokens; CLIP on at most {args.clip_max_batch or 'all'} image(s) "
             "per batch, scaled", *info["headers"], "",
             "| batch | EmoLLM s/batch (min / median) | LLaVA s/batch (min / median) | EmoLLM samples/s (min) "
             "| LLaVA samples/s (min) | per-sample cost EmoLLM / LLaVA (min) | (median) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    ratios = {}
    for batch, seconds in rows:
        a, b = seconds[mvp_name], seconds[mlp_name]
        by_min, by_median = min(a) / min(b), statistics.median(a) / statistics.median(b)
        ratios[batch] = (by_min, by_median)
        lines.append(f"| {batch} | {min(a):.2f} / {statistics.median(a):.2f} | {min(b):.2f} / {statistics.median(b):.2f} "
                     f"| {batch / min(a):.3f} | {batch / min(b):.3f} | {by_min:.3f} | {by_median:.3f} |")
    biggest = max(ratios)
    by_min, by_median = ratios[biggest]
    lines.append(f"\ntarget: per-sample cost <= {COST_TARGET}x at batch 16: batch {biggest}: {by_min:.3f}x (minimums), "
                 f"{by_median:.3f}x (medians), {'met' if max(by_min, by_median) <= COST_TARGET else 'missed'}"
                 + ("" if biggest == 16 else " (batch 16 not run)"))
    specs = [InferenceSpec(LLMS["7b"], "mvp", text_tokens=args.text_tokens),
             InferenceSpec(LLMS["7b"], "mlp2x_gelu", text_tokens=args.text_tokens)]
    lines += ["", report(specs, [1, 4, 8, 16])]
    fits = [largest_batch(s) for s in specs]
    ratio = fits[0] / fits[1] if fits[1] else float("inf")
    lines.append(f"target: EmoLLM's largest batch >= {BATCH_TARGET}x LLaVA's at 24 GiB: {fits[0]} vs {fits[1]} "
                 f"= {ratio:.2f}x, {'met' if ratio >= BATCH_TARGET else 'missed'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    ap.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16"),
                    help="auto = float32 on cpu, bfloat16 on cuda (default: auto)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16], help="(default: 1 4 8 16)")
    ap.add_argument("--layers", type=int, default=1, help="LLM decoder layers measured (default: 1)")
    ap.add_argument("--text-tokens", type=int, default=64, help="mean text tokens per question (default: 64)")
    ap.add_argument("--clip-max-batch", type=int, default=None,
                    help="CLIP images run per batch, time scaled (default: 1 on cpu, 0 = all, on cuda)")
    ap.add_argument("--tiny", action="store_true", help="tiny CLIP and LLM: checks that the script runs (tests)")
    add_harness_arguments(ap)
    args = ap.parse_args(argv)
    if args.clip_max_batch is None:
        args.clip_max_batch = 1 if args.device == "cpu" else 0
    rows, info = measure(args)
    print(table(rows, info, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
