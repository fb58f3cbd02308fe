"""benchmarks/timing.py's harness (alternation, minimum, median, ratios) and every benchmark that
compares paths, run at tiny size for correctness only (no timing is asserted)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def test_paths_alternate_phase_by_phase_and_the_order_flips_every_repeat():
    from timing import Harness
    calls, clock = [], iter(range(1, 1000))

    def phase(path, name):
        def run(state):
            calls.append((path, name))
            state.setdefault("seen", []).append(name)  # a phase sees its own path's earlier phases
            assert state["seen"][0] == "one"
            return float(next(clock))
        return run

    runs = Harness(threads=1, repeats=3).run({p: [("one", phase(p, "one")), ("two", phase(p, "two"))]
                                              for p in ("a", "b")})
    assert calls[:4] == [("a", "one"), ("b", "one"), ("a", "two"), ("b", "two")]    # warm-up
    assert calls[4:8] == [("b", "one"), ("a", "one"), ("b", "two"), ("a", "two")]   # order flipped
    assert len(calls) == 16 and len(runs.values("a", "one")) == 3                    # warm-up dropped
    # the fake clock counts calls: a's "one" in repeats 1-3 took 6, 9, 14 "seconds"
    assert runs.values("a", "one") == [6.0, 9.0, 14.0] and runs.values("b", "one") == [5.0, 10.0, 13.0]
    assert runs.min("a", "one") == 6.0 and runs.median("a", "one") == 9.0
    assert runs.values("a") == [6.0 + 8.0, 9.0 + 11.0, 14.0 + 16.0]                 # totals per repeat
    assert runs.ratios("a", "b", "one") == (6.0 / 5.0, 9.0 / 10.0)
    assert "load(1 min)=" in runs.header() and "| a | total |" in runs.table("b")


def _run(script: str, *args: str, timeout: int = 600) -> str:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow  # real CLIP-less tiny runs, ~20 s each
def test_mvp_video_and_dpc_knn_benchmarks_run_and_check_their_outputs():
    out = _run("bench_mvp_video.py", "--frames", "8", "--tokens", "128", "--width", "64", "--repeats", "1")
    assert out.count("events, sizes") == 2 and out.count("outputs equal within") == 3 and "speed-up of the batched path" in out
    out = _run("bench_dpc_knn.py", "--scale", "0.2", "--clusters", "16", "--repeats", "1")
    assert out.count("identical clusters") == 2 and "target: ours >= 1.5x faster" in out


@pytest.mark.slow
def test_throughput_benchmark_reports_samples_per_second_and_the_memory_targets():
    out = _run("bench_throughput.py", "--tiny", "--batches", "1", "2", "--repeats", "1", "--device", "cpu")
    rows = [line for line in out.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(rows) == 2
    assert "target: per-sample cost <= 0.35x at batch 16: batch 2" in out
    assert "| mvp | 176 |" in out and "| mlp2x_gelu | 640 |" in out
    assert "target: EmoLLM's largest batch >= 3.0x LLaVA's at 24 GiB" in out


@pytest.mark.slow
def test_answer_mode_benchmark_times_score_and_generate():
    out = _run("bench_answer_mode.py", "--tiny", "--repeats", "1", "--device", "cpu")
    assert "| generate 8 tokens |" in out and "| score 7 options |" in out
    assert "target: score <= 0.5x the 8-token generate at 32 layers" in out


@pytest.mark.slow
def test_cpu_bf16_benchmark_runs_both_dtypes(monkeypatch, capsys):
    """In process, with the capability check answering yes: on a CPU without native bf16 torch
    emulates it, which is slow at real size but fine at this one."""
    import bench_cpu_bf16

    from emollm_plugin.runtime import cpu_precision
    monkeypatch.setattr(cpu_precision, "cpu_bf16_support", lambda: (True, "test"))
    assert bench_cpu_bf16.main(["--tiny", "--repeats", "1", "--work", str(REPO / "work" / "bench_answer_mode")]) == 0
    out = capsys.readouterr().out
    assert "| float32 |" in out and "| bfloat16 |" in out and "target: bf16 >= 2.0x faster" in out


def test_inference_memory_estimate_follows_its_formula():
    from emollm_plugin.train.inference_memory import (InferenceSpec, fixed_bytes, largest_batch,
                                                      per_sample_bytes, total_bytes)
    from emollm_plugin.train.memory import GIB, LLMS
    llm = LLMS["7b"]
    mvp, mlp = InferenceSpec(llm, "mvp"), InferenceSpec(llm, "mlp2x_gelu")
    assert (mvp.seq_len, mlp.seq_len) == (112 + 64, 576 + 64)
    per = per_sample_bytes(mlp)
    assert per["kv_cache"] == 2 * 32 * 4096 * (640 + 8) * 2
    assert per["logits"] == 640 * 32000 * 6
    assert per["layer_activations"] == 640 * (6 * 4096 + 3 * 11008) * 2
    assert fixed_bytes(mlp)["llm_weights"] == 2 * llm.params()
    for spec in (mvp, mlp):
        fits = largest_batch(spec)
        assert total_bytes(spec, fits) <= 24 * GIB < total_bytes(spec, fits + 1)
    assert largest_batch(mvp) >= 3 * largest_batch(mlp)


def test_memory_command_prints_the_inference_table(capsys):
    from emollm_plugin.train.memory import main
    assert main(["--inference", "--batches", "1", "16"]) == 0
    out = capsys.readouterr().out
    assert "| mvp | 176 |" in out and "largest batch, mvp / mlp2x_gelu" in out
