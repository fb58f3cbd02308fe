"""Time per answered sample: EmoLLM (MVP, 112 tokens per image) vs upstream LLaVA-1.5 (mlp2x_gelu,
576 tokens per image), in one run, on one machine, through one LLM.

Models (random weights, real shapes, built offline from transformers configs):
- CLIP ViT-L/14 at 336 px (24 layers, width 1024): layer -2 patch tokens, N = 576 per image/frame;
- projectors: MVP (the plugin's, default MVPConfig: 64 + 32 + 16 = 112 tokens per image, E x 112
  per clip with E = ceil(T / frames_per_event) events) and LLaVA-1.5's mlp2x_gelu (LLaVA's own
  ``build_vision_projector``: 576 tokens per image, T x 576 per clip spliced frame by frame);
- LLM: Vicuna-7B's shape (hidden 4096, 32 heads, intermediate 11008, vocabulary 32000) with
  ``--layers`` decoder layers (default 2) so that it fits; the prompt is ``--text-tokens`` text
  tokens around the visual tokens.

Paths: (a) image + MVP, (b) image + mlp2x_gelu, (c) clips of each ``--frames`` count + MVP events,
(d) the same clips frame by frame at 576 tokens each. Per path, four phases timed by the harness
(benchmarks/timing.py: (a) and (b), then (c) and (d), alternating phase by phase, one warm-up and
``--repeats`` timed repeats, 1 thread by default): CLIP (each path runs the tower on its own
pixels of the same shape), projector, prefill (one forward over S = visual + text tokens, KV
cache on), 8 new tokens (greedy decode steps on the cache); peak memory (CPU: resident-set growth
sampled every 2 ms; CUDA: max_memory_allocated; the larger of the CLIP phase and the projector +
LLM phases with the CLIP features held). The table gives the per-phase medians with ratios to
(b), then each pair's ratios of the minimums and of the medians.

Extrapolation to Vicuna-7B's 32 layers: forward hooks time every decoder layer; with t_layer the
mean per-layer time of a phase (prefill or decode) and t_rest the phase time outside the layers
(embedding, final norm, lm_head), the 32-layer phase time is t_rest + 32 * t_layer. Layers of one
model have identical shapes, so their cost is the same; the table gives both the measured
(``--layers``) and the extrapolated figures. ``--sweep 1 2 4`` checks that assumption: the image
paths' prefill and decode measured with 1, 2 and 4 layers, a least-squares line through the
minimums, its largest residual relative to the measured time, and the 32-layer time the line
gives next to the one the hooks give.

    python benchmarks/bench_answer.py [--device cpu|cuda] [--layers 2] [--frames 8 32] [--repeats 3] [--threads 1] [--sweep 1 2 4]

Writes work/bench_answer/answer.md and answer.png (bar chart) and prints the table.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from timing import Harness, add_harness_arguments  # noqa: E402  (benchmarks/timing.py)

REPO = Path(__file__).resolve().parents[1]
FULL_LAYERS = 32             # Vicuna-7B
CONTEXT = 4096               # Vicuna-7B v1.5's max_position_embeddings
NEW_TOKENS = 8


# ---- models --------------------------------------------------------------------------------------

def clip_vit_l14_336(device, dtype, tiny: bool = False):
    """CLIP ViT-L/14 at 336 px: (336 / 14)^2 = 576 patch tokens of width 1024. ``tiny``: the smoke
    test's 2-layer width-64 tower at 112 px (64 patch tokens)."""
    from transformers import CLIPVisionConfig, CLIPVisionModel
    if tiny:
        config = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                                  num_attention_heads=2, image_size=112, patch_size=14)
    else:
        config = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                  num_attention_heads=16, image_size=336, patch_size=14)
    return CLIPVisionModel(config).to(device=device, dtype=dtype).eval()


def vicuna_shaped(layers: int, device, dtype, hidden=4096, heads=32, intermediate=11008, vocab=32000):
    from transformers import LlamaConfig, LlamaForCausalLM
    config = LlamaConfig(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=heads, vocab_size=vocab,
                         max_position_embeddings=CONTEXT)
    model = LlamaForCausalLM._from_config(config, attn_implementation="sdpa", torch_dtype=dtype)
    return model.to(device).eval()


def projectors(width: int, hidden: int, device, dtype):
    """The plugin's MVP and LLaVA's own mlp2x_gelu, both from the CLIP width to the LLM width."""
    from types import SimpleNamespace

    from llava.model.multimodal_projector.builder import build_vision_projector

    from emollm_plugin.projectors.mvp import MVPConfig, MVPProjector
    mvp = MVPProjector(width, hidden, MVPConfig()).to(device=device, dtype=dtype).eval()
    mlp = build_vision_projector(SimpleNamespace(mm_projector_type="mlp2x_gelu", mm_hidden_size=width,
                                                 hidden_size=hidden)).to(device=device, dtype=dtype).eval()
    return mvp, mlp


# ---- measurement ---------------------------------------------------------------------------------

class Clock:
    def __init__(self, device):
        self.device = device

    def now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()


class LayerTimer:
    """Forward hooks around every decoder layer: total seconds spent inside the layers."""

    def __init__(self, layers, clock: Clock):
        self.clock, self.inside, self._start = clock, 0.0, 0.0
        self.handles = []
        for layer in layers:
            self.handles.append(layer.register_forward_pre_hook(self._pre))
            self.handles.append(layer.register_forward_hook(self._post))

    def _pre(self, *_):
        self._start = self.clock.now()

    def _post(self, *_):
        self.inside += self.clock.now() - self._start

    def take(self) -> float:
        value, self.inside = self.inside, 0.0
        return value


class PeakMemory:
    """Peak memory growth over a block: CUDA allocator peak, or resident-set size sampled every 2 ms."""

    def __init__(self, device):
        self.device, self.peak = device, 0

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            import psutil
            self.proc = psutil.Process()
            self.base = self.proc.memory_info().rss
            self.top = self.base
            self.stop = threading.Event()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while not self.stop.wait(0.002):
            self.top = max(self.top, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.stop.set()
            self.thread.join()
            self.peak = max(self.top, self.proc.memory_info().rss) - self.base


@dataclass
class Result:
    path: str
    visual_tokens: int
    seq_len: int
    clip: float = 0.0
    projector: float = 0.0
    prefill: float = 0.0
    decode: float = 0.0
    prefill_layers: float = 0.0  # time inside the decoder layers during prefill
    decode_layers: float = 0.0
    peak_bytes: int = 0
    skipped: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def answer(self) -> float:
        return self.clip + self.projector + self.prefill + self.decode

    def extrapolated(self, layers: int) -> tuple[float, float]:
        """Prefill and decode time with FULL_LAYERS layers: t_rest + 32 * t_layer."""
        prefill = self.prefill - self.prefill_layers + FULL_LAYERS * self.prefill_layers / layers
        decode = self.decode - self.decode_layers + FULL_LAYERS * self.decode_layers / layers
        return prefill, decode

    def answer32(self, layers: int) -> float:
        return self.clip + self.projector + sum(self.extrapolated(layers))


@torch.no_grad()
def run_prefill(llm, visual: torch.Tensor, text_tokens: int, clock: Clock, timer: LayerTimer, gen):
    """Prefill over [text prefix | visual | text suffix] with the KV cache: (s, s in layers,
    first token, cache)."""
    device = visual.device
    ids = torch.randint(3, llm.config.vocab_size, (1, text_tokens), generator=gen).to(device)
    embed = llm.get_input_embeddings()
    split = text_tokens * 2 // 3  # system prompt and question before the media, the rest after
    embeds = torch.cat([embed(ids[:, :split]), visual.unsqueeze(0).to(embed.weight.dtype), embed(ids[:, split:])], 1)
    timer.take()
    start = clock.now()
    out = llm(inputs_embeds=embeds, use_cache=True)
    token = out.logits[:, -1].argmax(-1, keepdim=True)
    return clock.now() - start, timer.take(), token, out.past_key_values


@torch.no_grad()
def run_decode(llm, token, past, clock: Clock, timer: LayerTimer):
    """NEW_TOKENS greedy decode steps on the cache: (s, s in layers)."""
    timer.take()
    start = clock.now()
    for _ in range(NEW_TOKENS):
        out = llm(input_ids=token, past_key_values=past, use_cache=True)
        past, token = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
    return clock.now() - start, timer.take()


@torch.no_grad()
def clip_features(clip, pixels: torch.Tensor) -> torch.Tensor:
    """LLaVA's feature selection: layer -2, patch tokens (CLS dropped): (T, 576, 1024)."""
    return clip(pixels, output_hidden_states=True).hidden_states[-2][:, 1:]


def build(args, layers: int):
    """(device, dtype, clip, llm, mvp, mlp) with ``layers`` decoder layers, seeded."""
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype) if args.dtype != "auto" else (
        torch.float32 if device.type == "cpu" else torch.bfloat16)
    torch.manual_seed(0)
    clip = clip_vit_l14_336(device, dtype, tiny=args.tiny)
    shape = dict(hidden=256, heads=4, intermediate=512, vocab=1000) if args.tiny else {}
    llm = vicuna_shaped(layers, device, dtype, **shape)
    mvp, mlp = projectors(clip.config.hidden_size, llm.config.hidden_size, device, dtype)
    return device, dtype, clip, llm, mvp, mlp


def measure(args) -> tuple[list[Result], list[Result], dict]:
    """The pairs through the harness: per path the per-phase medians and minimums as Results."""
    device, dtype, clip, llm, mvp, mlp = build(args, args.layers)
    clock = Clock(device)
    gen = torch.Generator().manual_seed(0)
    upstream_per_image = (clip.config.image_size // clip.config.patch_size) ** 2
    timer = LayerTimer(llm.model.layers, clock)
    size = clip.config.image_size
    max_tokens = args.max_prefill_tokens
    scaled: set[int] = set()
    harness = Harness.from_args(args)

    def encode(frames: int | None):
        """CLIP on the input's pixels: (features, seconds).

        With ``--clip-max-frames F`` a longer clip runs only F frames through CLIP; its time is
        scaled by T / F (frames are independent images: the tower's cost is linear in T) and the
        other frames' features are the F computed ones repeated with 5% noise (distinct tokens, the
        same shapes for the projectors)."""
        n = frames or 1
        run = min(n, args.clip_max_frames) if args.clip_max_frames else n
        pixels = torch.randn(run, 3, size, size, generator=gen).to(device=device, dtype=dtype)
        with torch.no_grad():
            start = clock.now()
            features = clip_features(clip, pixels)
            seconds = clock.now() - start
        if run < n:
            reps = -(-n // run)
            features = features.repeat(reps, 1, 1)[:n]
            noise = torch.randn(features.shape, generator=gen).to(device=device, dtype=dtype)
            features = features + 0.05 * features.std() * noise
            seconds *= n / run
            scaled.add(n)
        return features, seconds

    def path_phases(path: str, upstream: bool, frames: int | None, layer_log: dict):
        """The harness phases of one path: clip, projector, prefill, decode. Each keeps its peak
        memory and (LLM phases) its time inside the decoder layers in ``layer_log``."""
        def clip_phase(state):
            with PeakMemory(device) as peak:
                state["features"], seconds = encode(frames)
            state["peak"] = peak.peak
            return seconds

        def projector_phase(state):
            features = state["features"]
            with torch.no_grad(), PeakMemory(device) as peak:
                start = clock.now()
                if upstream:
                    visual = mlp(features).flatten(0, 1)          # frame by frame, as LLaVA splices images
                elif frames:
                    visual = mvp.forward_video(features)          # (E * 112, D)
                else:
                    visual = mvp(features)[0]                     # (112, D)
                seconds = clock.now() - start
            state["visual"] = visual
            state["peak_llm"] = peak.peak
            return seconds

        def prefill_phase(state):
            with PeakMemory(device) as peak:
                state["prefill"] = run_prefill(llm, state["visual"], args.text_tokens, clock, timer, gen)
            state["peak_llm"] = max(state["peak_llm"], peak.peak)
            layer_log.setdefault((path, "prefill"), []).append(state["prefill"][1])
            return state["prefill"][0]

        def decode_phase(state):
            seconds, inside = run_decode(llm, *state.pop("prefill")[2:], clock, timer)
            layer_log.setdefault((path, "decode"), []).append(inside)
            held = state["features"].numel() * state["features"].element_size()
            layer_log.setdefault((path, "peak"), []).append(max(state["peak"], state["peak_llm"] + held))
            return seconds

        return [("clip", clip_phase), ("projector", projector_phase), ("prefill", prefill_phase),
                ("decode", decode_phase)]

    medians: list[Result] = []
    minimums: list[Result] = []
    header = []
    for frames in [None, *args.frames]:
        if frames is None:
            pair = (("(a) image, MVP", False), ("(b) image, mlp2x_gelu (upstream)", True))
        else:
            pair = ((f"(c) {frames}-frame clip, MVP events", False),
                    (f"(d) {frames}-frame clip, {upstream_per_image}/frame (upstream)", True))
        paths, skipped = {}, {}
        for name, upstream in pair:
            visual_tokens = (upstream_per_image * (frames or 1) if upstream else
                             (mvp.num_tokens_video(frames) if frames else mvp.num_tokens_image))
            result = Result(name, visual_tokens, visual_tokens + args.text_tokens)
            if result.seq_len > CONTEXT:
                result.notes.append(f"{result.seq_len} tokens exceed Vicuna-7B v1.5's {CONTEXT}-token context: "
                                    "upstream LLaVA-1.5 cannot take this clip")
            if max_tokens and result.seq_len > max_tokens:
                result.skipped = f"not run: {result.seq_len} tokens > --max-prefill-tokens {max_tokens}"
                skipped[name] = result
            else:
                paths[name] = (result, upstream)
        layer_log: dict = {}
        runs = harness.run({name: path_phases(name, upstream, frames, layer_log)
                            for name, (_, upstream) in paths.items()})
        header.append(runs.header())
        for name, _ in pair:
            if name in skipped:
                medians.append(skipped[name])
                minimums.append(skipped[name])
                continue
            template = paths[name][0]
            for pick, out in ((statistics.median, medians), (min, minimums)):
                r = Result(template.path, template.visual_tokens, template.seq_len, notes=list(template.notes))
                r.clip, r.projector = pick(runs.values(name, "clip")), pick(runs.values(name, "projector"))
                r.prefill, r.decode = pick(runs.values(name, "prefill")), pick(runs.values(name, "decode"))
                kept = args.repeats  # the layer log also holds the warm-up repeat
                r.prefill_layers = pick(layer_log[(name, "prefill")][-kept:])
                r.decode_layers = pick(layer_log[(name, "decode")][-kept:])
                r.peak_bytes = max(layer_log[(name, "peak")][-kept:])
                out.append(r)
    info = {"device": device_name(device), "dtype": str(dtype).replace("torch.", ""),
            "threads": torch.get_num_threads(), "layers": args.layers, "repeats": args.repeats,
            "clip_scaled": sorted(scaled), "clip_max_frames": args.clip_max_frames,
            "harness": header, "mvp": f"{mvp.mvp_config.num_clusters} clusters, "
                                      f"{mvp.mvp_config.frames_per_event} frames per event"}
    return medians, minimums, info


def layer_sweep(args) -> str:
    """Image paths (a) and (b) with 1, 2, 4 (``--sweep``) decoder layers: per path and LLM phase,
    a least-squares line t(n) = t_rest + n * t_layer through the minimums, its largest residual
    relative to the measured time, and the 32-layer time from the line next to the one the hook
    extrapolation gives from the smallest model."""
    rows = []
    gen = torch.Generator().manual_seed(1)
    measured: dict[tuple[str, str], dict[int, float]] = {}
    hooks32: dict[tuple[str, str], float] = {}
    harness = Harness.from_args(args)
    header = ""
    for layers in args.sweep:
        device, dtype, clip, llm, mvp, mlp = build(args, layers)
        clock = Clock(device)
        timer = LayerTimer(llm.model.layers, clock)
        size = clip.config.image_size
        pixels = torch.randn(1, 3, size, size, generator=gen).to(device=device, dtype=dtype)
        features = clip_features(clip, pixels)
        with torch.no_grad():
            visuals = {"MVP, path (a)": mvp(features)[0], "mlp2x_gelu, path (b)": mlp(features).flatten(0, 1)}
        inside: dict = {}

        def phases(name):
            def prefill(state):
                state["prefill"] = run_prefill(llm, visuals[name], args.text_tokens, clock, timer, gen)
                inside.setdefault((name, "prefill"), []).append(state["prefill"][1])
                return state["prefill"][0]

            def decode(state):
                seconds, spent = run_decode(llm, *state.pop("prefill")[2:], clock, timer)
                inside.setdefault((name, "decode"), []).append(spent)
                return seconds
            return [("prefill", prefill), ("decode", decode)]

        runs = harness.run({name: phases(name) for name in visuals})
        header = runs.header()
        for name in visuals:
            for phase in ("prefill", "decode"):
                t = runs.min(name, phase)
                measured.setdefault((name, phase), {})[layers] = t
                if layers == min(args.sweep):
                    t_layer = min(inside[(name, phase)][-args.repeats:]) / layers
                    hooks32[(name, phase)] = t - layers * t_layer + FULL_LAYERS * t_layer
        del clip, llm
    lines = [f"layer sweep ({', '.join(map(str, args.sweep))} layers; image paths; minimums): {header}",
             "| path | phase | " + " | ".join(f"{n} L s" for n in args.sweep)
             + " | t_rest s | t_layer s | max residual | 32 L from the line s | 32 L from hooks s |",
             "|---|---|" + "---:|" * (len(args.sweep) + 5)]
    for (name, phase), by_layers in measured.items():
        n = torch.tensor(list(by_layers), dtype=torch.float64)
        t = torch.tensor(list(by_layers.values()), dtype=torch.float64)
        design = torch.stack([torch.ones_like(n), n], 1)
        rest, per_layer = torch.linalg.lstsq(design, t.unsqueeze(1)).solution.squeeze(1).tolist()
        residual = ((design @ torch.tensor([rest, per_layer], dtype=torch.float64) - t).abs() / t).max().item()
        rows.append(f"| {name} | {phase} | " + " | ".join(f"{v:.3f}" for v in by_layers.values())
                    + f" | {rest:.3f} | {per_layer:.3f} | {residual:.1%} | {rest + FULL_LAYERS * per_layer:.3f} "
                      f"| {hooks32[(name, phase)]:.3f} |")
    return "\n".join(lines + rows)


def device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


# ---- report --------------------------------------------------------------------------------------

def table(results: list[Result], info: dict, layers: int, minimums: list[Result] | None = None) -> str:
    """The per-phase medians, then the ratios of each pair's minimums and medians."""
    ref = next(r for r in results if r.path.startswith("(b)"))
    ref32 = ref.answer32(layers)
    lines = [
        f"device: {info['device']}; {info['dtype']}; torch threads {info['threads']}; "
        f"median of {info['repeats']} repeat(s) per phase; MVP {info['mvp']}",
        *[f"harness: {h}" for h in info["harness"]],
        f"LLM: Vicuna-7B shape with {layers} layers measured; '32 layers' = t_rest + 32 x t_layer per phase",
        "",
        f"| path | visual tokens | CLIP s | projector s | prefill s ({layers} L) | {NEW_TOKENS} tokens s ({layers} L) "
        f"| answer s ({layers} L) | x (b) ({layers} L) | prefill s (32 L) | {NEW_TOKENS} tokens s (32 L) "
        "| answer s (32 L) | x (b) (32 L) | CLIP / projector / LLM share (32 L) | peak memory MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        if r.skipped:
            lines.append(f"| {r.path} | {r.visual_tokens} | {r.skipped} |" + " |" * 11)
            continue
        p32, d32 = r.extrapolated(layers)
        a32 = r.answer32(layers)
        share = f"{r.clip / a32:.0%} / {r.projector / a32:.0%} / {(p32 + d32) / a32:.0%}"
        lines.append(
            f"| {r.path} | {r.visual_tokens} | {r.clip:.3f} | {r.projector:.3f} | {r.prefill:.3f} | {r.decode:.3f} "
            f"| {r.answer:.3f} | {r.answer / ref.answer:.2f} | {p32:.3f} | {d32:.3f} | {a32:.3f} | {a32 / ref32:.2f} "
            f"| {share} | {r.peak_bytes / 2**20:.0f} |")
    per_layer = [f"{r.path}: prefill {r.prefill_layers / layers * 1e3:.1f} ms/layer, decode "
                 f"{r.decode_layers / layers / NEW_TOKENS * 1e3:.2f} ms/layer/token"
                 for r in results if not r.skipped]
    notes = sorted({n for r in results for n in r.notes})
    if info["clip_scaled"]:
        notes.append(f"CLIP time of the {', '.join(map(str, info['clip_scaled']))}-frame clip(s): "
                     f"{info['clip_max_frames']} frames measured, scaled linearly (--clip-max-frames)")
    lines += ["", "per-layer LLM cost: " + "; ".join(per_layer)]
    lines += [f"note: {n}" for n in notes]
    if minimums:
        lines += ["", f"| pair | answer x ({layers} L), min | median | answer x (32 L), min | median "
                      "| prefill x (32 L), min | median | decode x (32 L), min | median |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for i in range(0, len(results), 2):
            (a_med, b_med), (a_min, b_min) = results[i:i + 2], minimums[i:i + 2]
            if a_med.skipped or b_med.skipped:
                continue
            cells = [a_min.answer / b_min.answer, a_med.answer / b_med.answer,
                     a_min.answer32(layers) / b_min.answer32(layers), a_med.answer32(layers) / b_med.answer32(layers)]
            for k in (0, 1):
                cells += [a_min.extrapolated(layers)[k] / b_min.extrapolated(layers)[k],
                          a_med.extrapolated(layers)[k] / b_med.extrapolated(layers)[k]]
            what = a_med.path.split(") ", 1)[1].split(",")[0]  # "image", "8-frame clip"
            lines.append(f"| {what}: {a_med.path[:3]} / {b_med.path[:3]} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    a = next(r for r in results if r.path.startswith("(a)"))
    lines += ["", f"target: EmoLLM image answer <= 0.5x upstream at 32 layers: {a.answer32(layers) / ref32:.2f}x "
                  f"({'met' if a.answer32(layers) / ref32 <= 0.5 else 'missed'}); "
                  f"measured {layers} layers: {a.answer / ref.answer:.2f}x"]
    return "\n".join(lines)


def bar_chart(results: list[Result], layers: int, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    shown = [r for r in results if not r.skipped]
    fig = Figure(figsize=(10, 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    names = [r.path.split(",")[0] + "\n" + r.path.split(",", 1)[1].strip() for r in shown]
    parts = [("CLIP", [r.clip for r in shown]), ("projector", [r.projector for r in shown]),
             ("prefill (32 L)", [r.extrapolated(layers)[0] for r in shown]),
             (f"{NEW_TOKENS} tokens (32 L)", [r.extrapolated(layers)[1] for r in shown])]
    bottom = [0.0] * len(shown)
    for label, values in parts:
        ax.bar(range(len(shown)), values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks(range(len(shown)), names, fontsize=7)
    ax.set_ylabel("seconds per answered sample")
    ax.set_title(f"EmoLLM (MVP) vs LLaVA-1.5 (mlp2x_gelu), LLM extrapolated to 32 layers from {layers}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="cpu or cuda (default: cuda if available)")
    ap.add_argument("--layers", type=int, default=2, help="LLM decoder layers measured (default: 2)")
    ap.add_argument("--frames", type=int, nargs="*", default=[8, 32], help="clip lengths (default: 8 32)")
    ap.add_argument("--text-tokens", type=int, default=64, help="text tokens of the prompt (default: 64)")
    ap.add_argument("--sweep", type=int, nargs="*", default=[1, 2, 4],
                    help="decoder-layer counts of the linearity check of the 32-layer extrapolation "
                         "(image paths; default: 1 2 4; none to skip)")
    ap.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16"),
                    help="auto = float32 on cpu, bfloat16 on cuda (default: auto)")
    ap.add_argument("--max-prefill-tokens", type=int, default=None,
                    help="skip paths with a longer prompt (default: 6000 on cpu, none on cuda)")
    ap.add_argument("--clip-max-frames", type=int, default=None,
                    help="run at most this many frames of a clip through CLIP and scale its time "
                         "(default: 8 on cpu, 0 = all frames, on cuda)")
    add_harness_arguments(ap)
    ap.add_argument("--tiny", action="store_true", help="tiny CLIP and LLM: checks that the script runs (tests)")
    ap.add_argument("--out", default=str(REPO / "work" / "bench_answer"), help="output folder (default: work/bench_answer)")
    args = ap.parse_args(argv)
    cpu = args.device == "cpu"
    if args.clip_max_frames is None:
        args.clip_max_frames = 8 if cpu else 0
    if args.max_prefill_tokens is None:
        args.max_prefill_tokens = 6000 if cpu else 0
    results, minimums, info = measure(args)
    text = table(results, info, args.layers, minimums)
    if args.sweep:
        text += "\n\n" + layer_sweep(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "answer.md").write_text(text + "\n")
    bar_chart(results, args.layers, out / "answer.png")
    print(text)
    print(f"\nwritten: {out / 'answer.md'}, {out / 'answer.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
