"""One prepared GPU check (``scripts/gpu_check.sh``): every GPU-only path of the plugin in at most
10 minutes on one GPU, printed as one table with each step's peak GPU memory next to what
``emollm memory`` (training) or ``emollm memory --inference`` estimates for it.

Steps (each in its own process, so a failure or an out-of-memory stays in its row and each peak
is its own):

- ``lora_sdpa`` / ``lora_flash``: a real-size LoRA training step (Vicuna-7B shape: hidden 4096,
  32 layers; CLIP ViT-L/14 at 336 px, 24 layers; MVP; LoRA r = 128) in bf16 with gradient
  checkpointing, ``LLaVATrainer.training_step`` as bench_train_step.py runs it; with
  flash-attn 2 when it is installed;
- ``zero2``: the same model through a 1-GPU DeepSpeed ZeRO-2 engine (zero_configs/zero2.json with
  its "auto" values filled): forward, backward, optimizer step;
- ``answer_4bit`` / ``answer_8bit``: a Vicuna-7B-shaped checkpoint (``--quant-layers`` layers)
  saved and answered through ``emollm eval infer`` with ``--load-4bit`` / ``--load-8bit``;
- ``bench_answer``, ``bench_throughput``, ``score_mode``: those benchmarks with ``--device cuda``
  (``score_mode`` is bench_answer_mode.py);
- ``serve``: ``emollm serve`` on 127.0.0.1 with the checkpoint, ``--requests`` requests from
  ``--clients`` threads (bounded), latency and throughput.

``--dry-run`` runs every step at tiny size on the CPU (float32; the quantized answers in full
precision, since bitsandbytes needs CUDA; peaks are resident-memory growth) so the script is
tested where there is no GPU.

    python benchmarks/gpu_check.py [--dry-run] [--quant-layers 8] [--requests 32] [--clients 8]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
GIB = 2 ** 30
STEPS = ("lora_sdpa", "lora_flash", "zero2", "answer_4bit", "answer_8bit", "bench_answer", "bench_throughput",
         "score_mode", "serve")
STEP_TIMEOUT_S = {"lora_sdpa": 120, "lora_flash": 120, "zero2": 150, "answer_4bit": 120, "answer_8bit": 120,
                  "bench_answer": 120, "bench_throughput": 150, "score_mode": 90, "serve": 150}
TRAIN_BATCH, TRAIN_TEXT = 2, 256


# ----- peak memory ---------------------------------------------------------------------------------
class Peak:
    """Peak GPU memory allocated by this process (CUDA), or resident-set growth sampled every 5 ms."""

    def __init__(self, cuda: bool):
        self.cuda = cuda

    def __enter__(self):
        import torch
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            import psutil
            self.proc, self.base, self.top = psutil.Process(), psutil.Process().memory_info().rss, 0
            self.stop = threading.Event()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while not self.stop.wait(0.005):
            self.top = max(self.top, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        import torch
        if self.cuda:
            self.bytes = torch.cuda.max_memory_allocated()
        else:
            self.stop.set()
            self.thread.join()
            self.bytes = max(self.top, self.proc.memory_info().rss) - self.base


# ----- the models ----------------------------------------------------------------------------------
def train_args(dry: bool, attn: str = "sdpa") -> argparse.Namespace:
    shape = dict(hidden=128, heads=2, intermediate=256, layers=2, clip_layers=2) if dry else \
        dict(hidden=4096, heads=32, intermediate=11008, layers=32, clip_layers=24)
    return argparse.Namespace(batch=TRAIN_BATCH, text_tokens=TRAIN_TEXT, tiny=dry, device="cpu" if dry else "cuda",
                              attn=attn, **shape)


def training_estimate(dry: bool, zero: bool) -> float | None:
    """``emollm memory``'s total for one GPU at this batch and length (None at tiny size)."""
    if dry:
        return None
    from emollm_plugin.train.memory import LLMS, WHISPERS, RunSpec, budget
    run = RunSpec(llm=LLMS["7b"], audio=WHISPERS["none"], gpus_per_node=1, modality="image",
                  seq_len=112 + TRAIN_TEXT)
    b = budget(run, (TRAIN_BATCH,))
    total = b.total(TRAIN_BATCH)
    if not zero:  # a bare training_step holds no optimizer state or ZeRO buckets
        total -= b.fixed["zero2_states"] + b.fixed["zero2_buckets"]
    return total


def save_checkpoint(folder: Path, dry: bool, layers: int) -> Path:
    """A full LLaVA + MVP checkpoint (random weights) that `emollm eval infer` and serve load."""
    import torch
    from transformers import CLIPVisionConfig

    import emollm_plugin
    from bench_train_step import save_clip
    from emollm_plugin.constants import CONV_MODE_CONFIG_KEY
    from emollm_plugin.testing.tiny import build_tokenizer
    emollm_plugin.register()
    from llava.model import LlavaLlamaForCausalLM
    from llava.model.language_model.llava_llama import LlavaConfig

    ckpt = folder / "emollm-llava-gpu-check"
    if (ckpt / "config.json").exists():
        return ckpt
    clip = save_clip(folder, 24, dry)
    tokenizer = build_tokenizer(ckpt)
    shape = dict(hidden_size=128, intermediate_size=256, num_attention_heads=2) if dry else \
        dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32)
    config = LlavaConfig(num_hidden_layers=2 if dry else layers, num_key_value_heads=shape["num_attention_heads"],
                         vocab_size=len(tokenizer), max_position_embeddings=4096, **shape)
    config.mm_vision_tower = str(clip)
    config.mm_hidden_size = CLIPVisionConfig.from_pretrained(str(clip)).hidden_size
    config.mm_projector_type = "mvp"
    if dry:
        config.mvp_num_clusters, config.mvp_knn = [16, 8, 4], [3, 3, 2]
    config.mm_vision_select_layer, config.mm_vision_select_feature = -2, "patch"
    config.mm_patch_merge_type, config.image_aspect_ratio = "flat", "pad"
    config.mm_use_im_start_end = config.mm_use_im_patch_token = False
    config.tokenizer_model_max_length = 2048
    setattr(config, CONV_MODE_CONFIG_KEY, "vicuna_v1")
    torch.manual_seed(0)
    model = LlavaLlamaForCausalLM(config).to(torch.float32 if dry else torch.bfloat16)
    model.save_pretrained(ckpt, safe_serialization=True)
    tokenizer.save_pretrained(ckpt)
    return ckpt


def questions(folder: Path) -> Path:
    from emollm_plugin.testing.demo_data import make_demo_data
    data = folder / "data"
    if not (data / "test.json").exists():
        make_demo_data(data, per_label=3, kinds=("image",))  # every third record of a label is a test record
    return data / "test.json"


# ----- the steps (each runs in its own process) --------------------------------------------------
def step_lora(args, attn: str) -> dict:
    if attn == "flash_attention_2":
        import importlib.util
        if importlib.util.find_spec("flash_attn") is None:
            return {"status": "skipped: flash-attn not installed (pip install flash-attn)"}
        if args.dry_run:
            return {"status": "skipped: flash-attn runs on CUDA only"}
    import torch

    from bench_answer import Clock
    from bench_train_step import build_model, make_batch, save_clip, trainer_for
    targs = train_args(args.dry_run, attn)
    device = torch.device(targs.device)
    dtype = torch.float32 if args.dry_run else torch.bfloat16
    work = Path(args.work)
    model = build_model("mvp", save_clip(work, targs.clip_layers, targs.tiny), targs, device, dtype)
    trainer = trainer_for(model, targs, work / "trainer")
    trainer.clock = Clock(device)
    size = model.get_model().get_vision_tower().config.image_size
    batch = make_batch(targs, size, device, dtype)
    trainer.training_step(model, dict(batch))  # warm-up
    with Peak(not args.dry_run) as peak:
        start = time.perf_counter()
        loss = trainer.training_step(model, dict(batch))
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak": peak.bytes, "estimate": training_estimate(args.dry_run, zero=False),
            "note": f"loss {float(loss):.3f}, batch {TRAIN_BATCH} x {TRAIN_TEXT} text tokens"}


def step_zero2(args) -> dict:
    import deepspeed
    import torch

    from bench_train_step import build_model, make_batch, save_clip
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    targs = train_args(args.dry_run)
    device = torch.device(targs.device)
    dtype = torch.float32 if args.dry_run else torch.bfloat16
    model = build_model("mvp", save_clip(Path(args.work), targs.clip_layers, targs.tiny), targs, device, dtype)
    config = json.loads((REPO / "zero_configs" / "zero2.json").read_text())
    config.update(train_micro_batch_size_per_gpu=TRAIN_BATCH, gradient_accumulation_steps=1,
                  train_batch_size=TRAIN_BATCH, gradient_clipping=1.0)
    config["bf16"] = {"enabled": not args.dry_run}
    config["fp16"] = {"enabled": False}
    config["zero_optimization"]["reduce_bucket_size"] = targs.hidden ** 2
    config.pop("optimizer", None)
    config.pop("scheduler", None)
    trainable = [p for p in model.parameters() if p.requires_grad]
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=torch.optim.AdamW(trainable, lr=1e-5),
                                           config=config)
    size = model.get_model().get_vision_tower().config.image_size
    batch = make_batch(targs, size, device, dtype)
    with Peak(not args.dry_run) as peak:
        start = time.perf_counter()
        for _ in range(2):  # the first step allocates the optimizer states
            loss = engine(**batch).loss
            engine.backward(loss)
            engine.step()
        seconds = (time.perf_counter() - start) / 2
    return {"seconds": seconds, "peak": peak.bytes, "estimate": training_estimate(args.dry_run, zero=True),
            "note": f"loss {float(loss):.3f}, 2 steps, ZeRO stage {config['zero_optimization']['stage']}"}


def inference_estimate(args, layers: int, bits: int, batch: int, text_tokens: int = 64) -> float | None:
    if args.dry_run:
        return None
    from emollm_plugin.train.inference_memory import InferenceSpec, total_bytes
    from emollm_plugin.train.memory import LLMS, LlmSpec
    llm = LlmSpec(**{**LLMS["7b"].__dict__, "layers": layers})
    return total_bytes(InferenceSpec(llm, "mvp", text_tokens=text_tokens, bits=bits), batch)


def step_answer(args, bits: int) -> dict:
    import torch

    from emollm_plugin.commands import infer
    work = Path(args.work)
    ckpt = save_checkpoint(work, args.dry_run, args.quant_layers)
    answers = work / f"answers_{bits}bit.jsonl"
    argv = ["--model-path", str(ckpt), "--question-file", str(questions(work)), "--answers-file", str(answers),
            "--max-new-tokens", "8", "--batch-size", "4", "--device", "cpu" if args.dry_run else "cuda"]
    if not args.dry_run:
        argv.append(f"--load-{bits}bit")
    with Peak(not args.dry_run) as peak:
        start = time.perf_counter()
        summary = infer.run(infer.build_parser().parse_args(argv))
        seconds = time.perf_counter() - start
    texts = [json.loads(line)["text"] for line in answers.read_text().splitlines()]
    del torch
    return {"seconds": seconds, "peak": peak.bytes,
            "estimate": inference_estimate(args, args.quant_layers, bits, 4),
            "note": (f"{summary.answered} answers" + (" (dry run: full precision, bitsandbytes needs CUDA)"
                                                      if args.dry_run else "") + f", first {texts[0][:20]!r}")}


def step_bench(args, script: str, argv: list[str], estimate) -> dict:
    import importlib
    import io
    from contextlib import redirect_stdout
    module = importlib.import_module(script)
    out = io.StringIO()
    with Peak(not args.dry_run) as peak, redirect_stdout(out):
        start = time.perf_counter()
        module.main(argv)
        seconds = time.perf_counter() - start
    targets = [line for line in out.getvalue().splitlines() if line.startswith("target:")]
    print(out.getvalue(), file=sys.stderr)  # the benchmark's own table, for the log
    return {"seconds": seconds, "peak": peak.bytes, "estimate": estimate, "note": "; ".join(targets)[:160]}


def step_serve(args) -> dict:
    import base64

    import httpx
    work = Path(args.work)
    ckpt = save_checkpoint(work, args.dry_run, args.quant_layers)
    image = next((work / "data" / "media" / "demo").glob("*.png"), None) if (work / "data").exists() else None
    if image is None:
        questions(work)
        image = next((work / "data" / "media" / "demo").glob("*.png"))
    port = free_port()
    log = open(work / "serve.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "emollm_plugin.cli", "serve", "--model-path", str(ckpt),
                               "--host", "127.0.0.1", "--port", str(port), "--batch-size", "8", "--max-tokens", "16",
                               "--device", "cpu" if args.dry_run else "cuda"], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "EMOLLM_API_KEY": "gpu-check-key"})
    base, top = f"http://127.0.0.1:{port}", [0]
    try:
        import psutil
        proc = psutil.Process(server.pid)
        stop = threading.Event()

        def sample():
            while not stop.wait(0.05):
                top[0] = max(top[0], gpu_memory_of(server.pid) if not args.dry_run else proc.memory_info().rss)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        for _ in range(480):
            if server.poll() is not None:
                raise RuntimeError(f"server exited: {(work / 'serve.log').read_text()[-1500:]}")
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        else:
            raise RuntimeError("server not up after 120 s")
        url = f"data:image/png;base64,{base64.b64encode(image.read_bytes()).decode()}"
        body = {"model": ckpt.name, "max_tokens": 8, "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "text", "text": "What emotion does the person show? Answer with one word."}]}]}
        latencies, failures = [], []
        lock = threading.Lock()

        def client(n):
            with httpx.Client(timeout=120, headers={"Authorization": "Bearer gpu-check-key"}) as http:
                for _ in range(n):
                    start = time.perf_counter()
                    reply = http.post(f"{base}/v1/chat/completions", json=body)
                    with lock:
                        if reply.status_code == 200:
                            latencies.append(time.perf_counter() - start)
                        else:
                            failures.append(f"{reply.status_code} {reply.text[:120]}")
        per = [args.requests // args.clients + (i < args.requests % args.clients) for i in range(args.clients)]
        start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in per]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    latencies.sort()
    return {"seconds": seconds, "peak": top[0],  # the server process's whole GPU memory (RSS on the CPU)
            "estimate": inference_estimate(args, args.quant_layers, 16, 8),
            "note": f"{len(latencies)}/{args.requests} ok from {args.clients} clients, "
                    f"{len(latencies) / seconds:.2f} req/s, p50 {latencies[len(latencies) // 2]:.2f} s, "
                    f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s" if latencies else
                    f"no request answered: {failures[:1]}"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gpu_memory_of(pid: int) -> int:
    """The GPU memory nvidia-smi reports for a process (bytes; 0 when it reports none)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    for line in out.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 2 and fields[0] == str(pid):
            return int(fields[1]) * 2 ** 20
    return 0


def run_step(args) -> dict:
    device = ["--device", "cpu" if args.dry_run else "cuda"]
    tiny = ["--tiny"] if args.dry_run else []
    name = args.step
    if name in ("lora_sdpa", "lora_flash"):
        return step_lora(args, "sdpa" if name == "lora_sdpa" else "flash_attention_2")
    if name == "zero2":
        return step_zero2(args)
    if name in ("answer_4bit", "answer_8bit"):
        return step_answer(args, 4 if name == "answer_4bit" else 8)
    if name == "bench_answer":
        return step_bench(args, "bench_answer", [*device, *tiny, "--frames", "8", "--repeats", "3", "--sweep",
                                                 "1", "2", "--out", str(Path(args.work) / "bench_answer")],
                          inference_estimate(args, 2, 16, 1))
    if name == "bench_throughput":
        return step_bench(args, "bench_throughput", [*device, *tiny, "--repeats", "3", "--batches",
                                                     *(["1", "2"] if args.dry_run else ["1", "4", "8", "16"])],
                          inference_estimate(args, 1, 16, 16))
    if name == "score_mode":
        return step_bench(args, "bench_answer_mode", [*device, *tiny, "--repeats", "3", "--work",
                                                      str(Path(args.work) / "answer_mode")],
                          inference_estimate(args, 2, 16, 1))
    if name == "serve":
        return step_serve(args)
    raise ValueError(f"unknown step {name!r}; steps: {', '.join(STEPS)}")


# ----- the driver ----------------------------------------------------------------------------------
def table(rows: list[tuple[str, dict]], dry: bool, seconds: float) -> str:
    memory = "peak RSS growth GiB" if dry else "peak GPU GiB"
    lines = [f"gpu_check: {'DRY RUN (tiny, CPU)' if dry else 'GPU'}; {seconds:.0f} s in all",
             f"| step | status | s | {memory} | estimate GiB | peak / estimate | note |", "|---|---|---:|---:|---:|---:|---|"]
    for name, r in rows:
        peak, estimate = r.get("peak"), r.get("estimate")
        ratio = f"{peak / estimate:.2f}" if peak and estimate else "-"
        lines.append(f"| {name} | {r.get('status', 'ok')} | {r['seconds']:.1f} | " if "seconds" in r else
                     f"| {name} | {r.get('status', 'failed')} | - | ")
        if "seconds" in r:
            lines[-1] += (f"{peak / GIB:.2f} | {'-' if estimate is None else f'{estimate / GIB:.2f}'} | {ratio} "
                          f"| {r.get('note', '')} |")
        else:
            lines[-1] += f"- | - | - | {r.get('note', '')} |"
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="every step at tiny size on the CPU")
    ap.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS), help="(default: all)")
    ap.add_argument("--quant-layers", type=int, default=8, help="decoder layers of the answered checkpoint (default: 8)")
    ap.add_argument("--requests", type=int, default=32, help="serve load test: requests (default: 32)")
    ap.add_argument("--clients", type=int, default=8, help="serve load test: concurrent clients (default: 8)")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--step", help=argparse.SUPPRESS)  # one step, in its own process
    args = ap.parse_args(argv)
    if args.step:
        try:
            result = run_step(args)
        except Exception as err:  # noqa: BLE001 - the row says what failed; the driver goes on
            result = {"status": "failed", "note": f"{type(err).__name__}: {str(err)[:200]}"}
        print("RESULT " + json.dumps(result))
        return 0
    if not args.dry_run:
        import torch
        if not torch.cuda.is_available():
            raise SystemExit("gpu_check: no CUDA device here; run with --dry-run to check the script on the CPU")
    begin = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        work = args.work or tmp
        for name in args.steps:
            cmd = [sys.executable, __file__, "--step", name, "--work", work, "--quant-layers", str(args.quant_layers),
                   "--requests", str(args.requests), "--clients", str(args.clients)] + (["--dry-run"] if args.dry_run else [])
            limit = STEP_TIMEOUT_S[name] * (3 if args.dry_run else 1)  # a shared CPU is slower than its GPU budget
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
                line = next((x for x in proc.stdout.splitlines()[::-1] if x.startswith("RESULT ")), None)
                result = json.loads(line[7:]) if line else {"status": "failed",
                                                            "note": f"exit {proc.returncode}: {proc.stderr[-200:]!r}"}
            except subprocess.TimeoutExpired:
                result = {"status": "failed", "note": f"over its {limit} s budget"}
            rows.append((name, result))
            print(f"gpu_check: {name}: {result.get('status', 'ok')} ({time.perf_counter() - begin:.0f} s)", file=sys.stderr)
    print(table(rows, args.dry_run, time.perf_counter() - begin))
    return 0 if all(r.get("status", "ok") == "ok" or r["status"].startswith("skipped") for _, r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
