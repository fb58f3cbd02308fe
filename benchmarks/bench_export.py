"""``emollm export`` on a real-size random model: peak memory of the export, and generation
through the exported model vs the LLaVA path on the same prompt.

Model (random weights, bf16 on disk, a LLaVA full-checkpoint layout built offline): Vicuna-7B's
shape (hidden 4096, 32 heads, intermediate 11008, vocabulary 32000) with ``--layers`` decoder
layers (default 2, to fit this machine), CLIP ViT-L/14-336's shape with ``--clip-layers`` layers,
MVP (default config, 112 tokens per image) and a Whisper-base-width audio tower (512, 2 layers).

Memory: each phase runs in its own process and reports its peak resident set (``ru_maxrss``):
  load       LLaVA's loader (the runtime export uses), nothing written;
  save_file  load, then the whole state dict cast to bf16 and written by ``safetensors.torch.save_file``
             (a non-streaming export);
  export     ``emollm export`` (tensors streamed one at a time into the shards).
Ratios: export / load (what writing adds over holding the model) and export / model size (bf16
bytes written).

Speed: one process holds both models (float32, CPU) and times ``generate`` of ``--new-tokens``
greedy tokens (min_new_tokens = max_new_tokens) for the same image prompt, LLaVA path and exported
model alternating, ``--repeats`` times each; the medians and their ratio are reported.

    python benchmarks/bench_export.py [--layers 2] [--clip-layers 4] [--repeats 3] [--tiny]

Writes work/bench_export/export.md and prints it. ``--tiny``: the test suite's smoke sizes.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUESTION = "What emotion does this show? Answer with one word."


def build(root: Path, layers: int, clip_layers: int, tiny: bool) -> Path:
    """A full LLaVA checkpoint (bf16 safetensors) with the plugin's MVP and audio projector."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    import emollm_plugin
    from emollm_plugin.testing.tiny_audio import make_tiny_whisper
    from emollm_plugin.testing.tiny import build_tokenizer

    emollm_plugin.register()
    from llava.model.language_model.llava_llama import LlavaConfig

    from emollm_plugin.model.emollm_llama import EmoLlavaLlamaForCausalLM

    size = 112 if tiny else 336
    clip_dir, ckpt = root / "clip", root / "checkpoint"
    torch.manual_seed(0)
    clip = CLIPVisionConfig(hidden_size=64 if tiny else 1024, intermediate_size=128 if tiny else 4096,
                            num_attention_heads=2 if tiny else 16, num_hidden_layers=clip_layers,
                            image_size=size, patch_size=14, projection_dim=64 if tiny else 768)
    CLIPVisionModel(clip).to(torch.bfloat16).save_pretrained(str(clip_dir))
    CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}
                       ).save_pretrained(str(clip_dir))
    whisper = make_tiny_whisper(root / "whisper.pt", n_audio_state=64 if tiny else 512,
                                n_audio_head=2 if tiny else 8, n_audio_layer=2)
    build_tokenizer(ckpt)
    width = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4) if tiny else \
        dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32)
    config = LlavaConfig(vocab_size=800 if tiny else 32000, num_hidden_layers=layers,
                         num_key_value_heads=width["num_attention_heads"], max_position_embeddings=4096,
                         bos_token_id=1, eos_token_id=2, pad_token_id=None, torch_dtype="bfloat16",
                         mm_vision_tower=str(clip_dir), mm_hidden_size=clip.hidden_size, mm_vision_select_layer=-2,
                         mm_vision_select_feature="patch", mm_projector_type="mvp", image_aspect_ratio="pad",
                         tokenizer_model_max_length=4096, emollm_conv_mode="v1", mm_use_im_start_end=False,
                         mm_audio_tower=str(whisper), mm_audio_hidden_size=64 if tiny else 512,
                         mm_audio_window="padded", use_mm_proj=True, mm_use_im_patch_token=False, **width)
    if tiny:
        config.mvp_num_clusters, config.mvp_knn = [16, 8, 4], [3, 3, 2]
    torch.set_default_dtype(torch.bfloat16)
    model = EmoLlavaLlamaForCausalLM(config)
    model.save_pretrained(str(ckpt), safe_serialization=True)
    return ckpt


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def phase_memory(kind: str, ckpt: Path, out: Path) -> dict:
    import torch

    import emollm_plugin
    emollm_plugin.register()

    if kind == "export":
        from emollm_plugin.export.folder import export
        export(ckpt, out, dtype="bfloat16", force=True)
        return {"peak_mib": _peak_mib()}
    from emollm_plugin.runtime.loading import load_model
    _, model, _ = load_model(str(ckpt), None, "cpu", torch.float32)
    loaded = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    if kind == "save_file":
        from safetensors.torch import save_file

        from emollm_plugin.export.weights import renamed
        out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.to(torch.bfloat16).contiguous() for k, v in renamed(model.state_dict(), True)},
                  str(out / "model.safetensors"), metadata={"format": "pt"})
    return {"peak_mib": _peak_mib(), "loaded_mib": loaded / 2 ** 20}


def phase_speed(ckpt: Path, folder: Path, new_tokens: int, repeats: int) -> dict:
    import torch
    from PIL import Image
    from transformers import CLIPImageProcessor

    import emollm_plugin
    from emollm_plugin.runtime.exported import load_exported
    from emollm_plugin.runtime.loading import load_model
    from emollm_plugin.eval.questions import build_prompt
    from emollm_plugin.media.reader import clip_pixels
    from emollm_plugin.model.tokens import tokenizer_media_token

    emollm_plugin.register()
    tokenizer, llava, image_processor = load_model(str(ckpt), None, "cpu", torch.float32)
    _, exported, _ = load_exported(folder, "cpu", torch.float32)
    record = {"id": "q", "image": "x.png", "conversations": [{"from": "human", "value": "<image>\n" + QUESTION}]}
    ids = tokenizer_media_token(build_prompt(record, "v1"), tokenizer, return_tensors="pt")[None]
    image = Image.new("RGB", (640, 480), (120, 80, 40))
    pixels = clip_pixels([image], image_processor, "pad")
    mask = torch.ones_like(ids)
    settings = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0,
                    use_cache=True)

    def run_llava():
        return llava.generate(ids, images=[pixels[0]], attention_mask=mask, **settings)

    def run_exported():
        return exported.generate(ids, images=[pixels[0]], attention_mask=mask, **settings)

    times = {"llava": [], "exported": []}
    with torch.inference_mode():
        run_llava(), run_exported()  # warm-up
        for _ in range(repeats):
            for name, fn in (("llava", run_llava), ("exported", run_exported)):
                start = time.perf_counter()
                tokens = fn()
                times[name].append(time.perf_counter() - start)
                assert tokens.shape[-1] >= new_tokens
        same = run_llava().tolist() == run_exported().tolist()
    return {name: statistics.median(t) for name, t in times.items()} | {"same_tokens": same,
                                                                           "threads": torch.get_num_threads()}


def child(args, *extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO / "benchmarks"), TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, __file__, *extra, "--work", str(args.work)], capture_output=True,
                          text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{extra[:2]} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--clip-layers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--new-tokens", type=int, default=16)
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--work", type=Path, default=REPO / "work" / "bench_export")
    p.add_argument("--phase", choices=("build", "load", "save_file", "export", "speed"), default=None)
    args = p.parse_args(argv)
    work = args.work
    ckpt, folder = work / "checkpoint", work / "exported"
    if args.phase == "build":
        build(work, args.layers, args.clip_layers, args.tiny)
        print(json.dumps({}))
        return 0
    if args.phase in ("load", "save_file", "export"):
        print(json.dumps(phase_memory(args.phase, ckpt, folder if args.phase == "export" else work / "save_file")))
        return 0
    if args.phase == "speed":
        print(json.dumps(phase_speed(ckpt, folder, args.new_tokens, args.repeats)))
        return 0

    work.mkdir(parents=True, exist_ok=True)
    sizes = ["--layers", str(args.layers), "--clip-layers", str(args.clip_layers)] + (["--tiny"] if args.tiny else [])
    child(args, "--phase", "build", *sizes)
    memory = {kind: child(args, "--phase", kind) for kind in ("load", "save_file", "export")}
    model_mib = sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 2 ** 20
    speed = child(args, "--phase", "speed", "--repeats", str(args.repeats), "--new-tokens", str(args.new_tokens))
    lines = [f"Model: {'tiny' if args.tiny else 'Vicuna-7B shape'}, {args.layers} decoder layers, CLIP "
             f"{args.clip_layers} layers; exported weights {model_mib:.0f} MiB (bf16); loaded by LLaVA's loader "
             f"in float32 on CPU: {memory['load']['loaded_mib']:.0f} MiB.", "",
             "| phase | peak RSS (MiB) | / load | / model size (bf16) |", "|---|---|---|---|"]
    for kind in ("load", "save_file", "export"):
        peak = memory[kind]["peak_mib"]
        lines.append(f"| {kind} | {peak:.0f} | {peak / memory['load']['peak_mib']:.2f} | {peak / model_mib:.2f} |")
    lines += ["", f"Generation, {args.new_tokens} greedy tokens after an image prompt (float32, CPU, "
                  f"{speed['threads']} threads, median of {args.repeats}):", "",
              "| path | seconds | ratio to LLaVA |", "|---|---|---|",
              f"| LLaVA (plugin) | {speed['llava']:.3f} | 1.00 |",
              f"| exported (transformers) | {speed['exported']:.3f} | {speed['exported'] / speed['llava']:.2f} |",
              "", f"Same tokens: {speed['same_tokens']}."]
    text = "\n".join(lines) + "\n"
    (work / "export.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
