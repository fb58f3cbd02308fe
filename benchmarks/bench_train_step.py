"""One LoRA training step, EmoLLM's MVP projector vs upstream LLaVA-1.5's mlp2x_gelu, same model,
same batch, in one run: what clustering and the GCN cost against the LLM tokens they save.

The model is LLaVA's own class as the plugin registers it (``LlavaLlamaForCausalLM`` ->
``EmoLlavaLlamaForCausalLM``), built the way LLaVA's ``train()`` builds it for a LoRA run: a CLIP
ViT-L/14-shaped tower at 336 px (width 1024, 576 patch tokens, ``--clip-layers`` layers, frozen,
layer -2 features), the projector named by ``mm_projector_type`` (trained in full), LoRA on the
LLM's linear layers (``find_all_linear_names`` as ``train()`` calls it, r = 128, alpha = 256),
gradient checkpointing on with the input-grad hook ``train()`` installs. The step is
``LLaVATrainer.training_step`` (forward, loss, ``accelerator.backward``): the code path
``train()`` runs per step, without the optimizer update (the same for both: LoRA + projector
parameters). Random weights, mid-size LLM (default hidden 2048, 16 heads, intermediate 5504,
4 layers, vocabulary 32000), a batch of ``--batch`` samples with one image and ``--text-tokens``
text tokens each (labels on the last quarter).

Where the time goes: forward hooks time the CLIP tower and the projector forward, backward hooks
the projector backward; "LLM forward" is the forward minus those two, "backward" is
``accelerator.backward`` minus the projector backward (with gradient checkpointing it includes the
LLM's recomputed forward). Each path runs ``--steps`` steps; the first is a warm-up, the median of
the rest is reported with the minimum; both paths alternate step by step (benchmarks/timing.py's
harness, 1 thread by default) so machine load hits both alike.

    python benchmarks/bench_train_step.py [--device cpu|cuda] [--batch 2] [--steps 3]

Writes work/bench_train_step/train_step.md and prints the table.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_answer import Clock, device_name  # noqa: E402
from timing import Harness  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
IMAGE_TOKEN_INDEX = -200  # LLaVA's placeholder id in input_ids
IGNORE_INDEX = -100


def save_clip(folder: Path, layers: int, tiny: bool) -> Path:
    """A random CLIP vision tower saved once (LLaVA's tower loads from a folder)."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel
    name = f"clip-l14-336-{layers}layers" if not tiny else "clip-tiny"
    path = folder / name
    if not (path / "config.json").exists():
        torch.manual_seed(0)
        if tiny:
            config = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=2, image_size=112, patch_size=14)
        else:
            config = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=layers,
                                      num_attention_heads=16, image_size=336, patch_size=14)
        CLIPVisionModel(config).save_pretrained(path)
        CLIPImageProcessor(crop_size={"height": config.image_size, "width": config.image_size},
                           size={"shortest_edge": config.image_size}).save_pretrained(path)
    return path


def build_model(projector: str, clip_path: Path, args, device, dtype):
    """LLaVA's class with the plugin registered, as train() sets it up for a LoRA run."""
    import emollm_plugin
    emollm_plugin.register()
    from llava.model import LlavaLlamaForCausalLM
    from llava.model.language_model.llava_llama import LlavaConfig
    from llava.train import train as llava_train
    from peft import LoraConfig, get_peft_model
    from transformers import CLIPVisionConfig

    config = LlavaConfig(hidden_size=args.hidden, intermediate_size=args.intermediate,
                         num_hidden_layers=args.layers, num_attention_heads=args.heads,
                         num_key_value_heads=args.heads, vocab_size=32000, max_position_embeddings=4096)
    config.mm_vision_tower = str(clip_path)
    config.mm_hidden_size = CLIPVisionConfig.from_pretrained(str(clip_path)).hidden_size
    config.mm_projector_type = projector
    config.mm_vision_select_layer, config.mm_vision_select_feature = -2, "patch"
    config.mm_patch_merge_type, config.image_aspect_ratio = "flat", "pad"
    config.mm_use_im_start_end = config.mm_use_im_patch_token = False
    config.use_cache = False
    config._attn_implementation = getattr(args, "attn", "sdpa")
    torch.manual_seed(0)
    model = LlavaLlamaForCausalLM(config)
    model.get_model().get_vision_tower().load_model()
    model.get_model().get_vision_tower().requires_grad_(False)
    model.to(device=device, dtype=dtype)
    model.gradient_checkpointing_enable()
    model.enable_input_require_grads()           # as train() does with gradient checkpointing
    lora = LoraConfig(r=128, lora_alpha=256, lora_dropout=0.05, bias="none", task_type="CAUSAL_LM",
                      target_modules=llava_train.find_all_linear_names(model))
    model = get_peft_model(model, lora)
    for p in model.get_model().mm_projector.parameters():  # the projector trains in full
        p.requires_grad_(True)
    return model


def make_batch(args, image_size: int, device, dtype, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 32000, (args.batch, args.text_tokens), generator=g)
    ids[:, args.text_tokens // 2] = IMAGE_TOKEN_INDEX
    labels = ids.clone()
    labels[:, : args.text_tokens * 3 // 4] = IGNORE_INDEX
    return {"input_ids": ids.to(device), "labels": labels.to(device),
            "attention_mask": torch.ones_like(ids, dtype=torch.bool).to(device),
            "images": torch.randn(args.batch, 3, image_size, image_size, generator=g).to(device=device, dtype=dtype)}


class StepTimer:
    """Hooks that split one training step: CLIP forward, projector forward and backward.

    Projector backward: from the moment the gradient of its output is computed (a hook on the
    output tensor) to the last accumulation of a projector parameter's gradient. Its input (frozen
    CLIP features) needs no gradient, so nothing else runs in between."""

    def __init__(self, model, clock: Clock):
        self.clock, self.t, self._start = clock, {}, {}
        self.bwd_begin = self.bwd_end = None
        inner = model.get_model()
        for name, module in (("clip", inner.get_vision_tower()), ("projector", inner.mm_projector)):
            module.register_forward_pre_hook(lambda *_, n=name: self._begin(n + "_fwd"))
            module.register_forward_hook(lambda *_, n=name: self._end(n + "_fwd"))
        inner.mm_projector.register_forward_hook(self._watch_output)
        for p in inner.mm_projector.parameters():
            p.register_post_accumulate_grad_hook(self._param_done)

    def _begin(self, key):
        self._start[key] = self.clock.now()

    def _end(self, key):
        self.t[key] = self.t.get(key, 0.0) + self.clock.now() - self._start.pop(key)

    def _watch_output(self, module, inputs, output):
        if torch.is_grad_enabled() and output.requires_grad:
            output.register_hook(self._output_grad)

    def _output_grad(self, grad):
        if self.bwd_begin is None:
            self.bwd_begin = self.clock.now()

    def _param_done(self, _param):
        self.bwd_end = self.clock.now()

    def reset(self):
        self.t, self.bwd_begin, self.bwd_end = {}, None, None

    def projector_backward(self) -> float:
        return 0.0 if self.bwd_begin is None or self.bwd_end is None else self.bwd_end - self.bwd_begin


def trainer_for(model, args, out: Path):
    from llava.train.llava_trainer import LLaVATrainer
    from transformers import TrainingArguments
    targs = TrainingArguments(output_dir=str(out), per_device_train_batch_size=args.batch, gradient_checkpointing=True,
                              report_to=[], use_cpu=args.device == "cpu", bf16=args.device != "cpu",
                              remove_unused_columns=False)
    trainer = LLaVATrainer(model=model, args=targs)
    backward = trainer.accelerator.backward
    trainer.backward_seconds = 0.0

    def timed_backward(loss, **kw):
        start = trainer.clock.now()
        backward(loss, **kw)
        trainer.backward_seconds += trainer.clock.now() - start
    trainer.accelerator.backward = timed_backward
    return trainer


def measure(args) -> tuple[dict, dict]:
    device = torch.device(args.device)
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    clock = Clock(device)
    work = Path(args.out)
    clip_path = save_clip(work, args.clip_layers, args.tiny)
    setups = {}
    for projector in ("mvp", "mlp2x_gelu"):
        model = build_model(projector, clip_path, args, device, dtype)
        trainer = trainer_for(model, args, Path(tempfile.mkdtemp(prefix="bench_train_step_")))
        trainer.clock = clock
        timer = StepTimer(model, clock)
        image_size = model.get_model().get_vision_tower().config.image_size
        visual = (model.get_model().mm_projector.num_tokens_image if projector == "mvp"
                  else (image_size // model.get_model().get_vision_tower().config.patch_size) ** 2)
        setups[projector] = dict(model=model, trainer=trainer, timer=timer, batch=make_batch(args, image_size, device, dtype),
                                 visual=visual, steps=[])
    def step_phase(projector):
        def phase(_state):
            s = setups[projector]
            s["timer"].reset()
            s["trainer"].backward_seconds = 0.0
            start = clock.now()
            loss = s["trainer"].training_step(s["model"], dict(s["batch"]))
            total = clock.now() - start
            t = s["timer"].t
            t["projector_bwd"] = s["timer"].projector_backward()
            backward = s["trainer"].backward_seconds
            s["steps"].append({
                "total": total, "clip_fwd": t.get("clip_fwd", 0.0), "projector_fwd": t.get("projector_fwd", 0.0),
                "llm_fwd": total - backward - t.get("clip_fwd", 0.0) - t.get("projector_fwd", 0.0),
                "projector_bwd": t.get("projector_bwd", 0.0), "backward_rest": backward - t.get("projector_bwd", 0.0),
                "loss": float(loss)})
            return total
        return [("step", phase)]

    runs = Harness(torch.get_num_threads(), args.steps - 1).run({p: step_phase(p) for p in setups})
    for s in setups.values():
        s["steps"] = s["steps"][1:]  # the harness's warm-up step
    results = {}
    for projector, s in setups.items():
        keys = s["steps"][0].keys()
        results[projector] = {k: statistics.median(x[k] for x in s["steps"]) for k in keys}
        results[projector]["visual_tokens"] = s["visual"]
        results[projector]["seq_len"] = s["visual"] + args.text_tokens - 1
        results[projector]["total_min"] = runs.min(projector, "step")
    clip_config = setups["mvp"]["model"].get_model().get_vision_tower().config
    info = {"clip": f"CLIP width {clip_config.hidden_size} at {clip_config.image_size} px with "
                    f"{clip_config.num_hidden_layers} layers", "device": device_name(device), "dtype": str(dtype).replace("torch.", ""), "threads": torch.get_num_threads(),
            "harness": runs.header(), "steps": args.steps - 1}
    return results, info


def table(results: dict, info: dict, args) -> str:
    mvp, up = results["mvp"], results["mlp2x_gelu"]
    cols = [("total", "step s"), ("clip_fwd", "CLIP fwd s"), ("projector_fwd", "projector fwd s"),
            ("llm_fwd", "LLM fwd s"), ("projector_bwd", "projector bwd s"), ("backward_rest", "LLM bwd + recompute s")]
    lines = [f"device: {info['device']}; {info['dtype']}; torch threads {info['threads']}; median of "
             f"{info['steps']} step(s) after a warm-up, paths alternating",
             f"harness: {info['harness']}",
             f"model: LLaVA class + plugin, LLM hidden {args.hidden} / {args.heads} heads / intermediate "
             f"{args.intermediate} / {args.layers} layers, {info['clip']} "
             f"(frozen), LoRA r=128 on the LLM, projector trained in full, gradient checkpointing; batch {args.batch} "
             f"x (1 image + {args.text_tokens} text tokens)",
             "",
             "| projector | visual tokens | sequence | " + " | ".join(c for _, c in cols) + " |",
             "|---|---:|---:|" + "---:|" * len(cols)]
    for name, r in (("mvp (EmoLLM)", mvp), ("mlp2x_gelu (upstream)", up)):
        lines.append(f"| {name} | {r['visual_tokens']} | {r['seq_len']} | "
                     + " | ".join(f"{r[k]:.3f}" for k, _ in cols) + " |")
    lines.append("| ratio mvp / mlp2x_gelu | | | " + " | ".join(
        f"{mvp[k] / up[k]:.2f}" if up[k] > 0 else "-" for k, _ in cols) + " |")
    ratio, by_min = mvp["total"] / up["total"], mvp["total_min"] / up["total_min"]
    lines += ["", f"step ratio mvp / mlp2x_gelu: {by_min:.2f}x (minimums), {ratio:.2f}x (medians)",
              f"target: MVP training step <= 1.0x the mlp2x_gelu step: {ratio:.2f}x "
              f"({'met' if max(ratio, by_min) <= 1.0 else 'missed'})"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda (default: cuda if available)")
    ap.add_argument("--batch", type=int, default=2, help="samples per step (default: 2)")
    ap.add_argument("--steps", type=int, default=4, help="steps per path, the first a warm-up (default: 4)")
    ap.add_argument("--text-tokens", type=int, default=64, help="text tokens per sample (default: 64)")
    ap.add_argument("--layers", type=int, default=4, help="LLM layers (default: 4)")
    ap.add_argument("--hidden", type=int, default=2048, help="LLM width (default: 2048)")
    ap.add_argument("--heads", type=int, default=16, help="LLM heads (default: 16)")
    ap.add_argument("--intermediate", type=int, default=5504, help="LLM MLP width (default: 5504)")
    ap.add_argument("--clip-layers", type=int, default=6, help="CLIP layers (default: 6 of ViT-L's 24)")
    ap.add_argument("--tiny", action="store_true", help="tiny CLIP (checks that the script runs; tests)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    ap.add_argument("--out", default=str(REPO / "work" / "bench_train_step"), help="output folder (default: work/bench_train_step)")
    args = ap.parse_args(argv)
    if args.steps < 2:
        ap.error("--steps must be >= 2 (the first step is a warm-up)")
    torch.set_num_threads(args.threads)
    results, info = measure(args)
    text = table(results, info, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_step.md").write_text(text + "\n")
    (out / "train_step.json").write_text(json.dumps({"results": results, "info": info}, indent=1))
    print(text)
    print(f"\nwritten: {out / 'train_step.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
