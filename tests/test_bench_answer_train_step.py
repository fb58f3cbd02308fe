"""benchmarks/bench_answer.py and bench_train_step.py run end to end on tiny sizes and write their
tables (smoke tests: the timings themselves are the benchmarks' business, not a test's)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_answer_writes_the_table_and_the_chart(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_answer.py"), "--tiny", "--device", "cpu",
                           "--frames", "8", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (tmp_path / "answer.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| (")}
    assert list(rows) == ["(a) image, MVP", "(b) image, mlp2x_gelu (upstream)", "(c) 8-frame clip, MVP events",
                          "(d) 8-frame clip, 64/frame (upstream)"]
    # visual tokens: MVP 64 + 32 + 16 per image and per event; upstream one token per patch per frame
    assert [int(line.split("|")[2]) for line in rows.values()] == [112, 64, 112, 512]
    assert rows["(b) image, mlp2x_gelu (upstream)"].split("|")[8].strip() == "1.00"  # ratio of (b) to itself
    assert "target: EmoLLM image answer <= 0.5x upstream at 32 layers" in table
    assert (tmp_path / "answer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_bench_train_step_runs_both_projectors_through_llavas_trainer_step(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_train_step.py"), "--tiny", "--device", "cpu",
                           "--hidden", "128", "--heads", "2", "--intermediate", "256", "--layers", "1",
                           "--steps", "2", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (tmp_path / "train_step.md").read_text()
    rows = {line.split("|")[1].strip(): line.split("|") for line in table.splitlines() if line.startswith("| ")}
    assert int(rows["mvp (EmoLLM)"][2]) == 112 and int(rows["mlp2x_gelu (upstream)"][2]) == 64
    # the raw seconds: a tiny projector's backward rounds to 0.000 in the table's 3 decimals
    results = json.loads((tmp_path / "train_step.json").read_text())["results"]
    for projector in ("mvp", "mlp2x_gelu"):
        r = results[projector]
        parts = [r[k] for k in ("clip_fwd", "projector_fwd", "llm_fwd", "projector_bwd", "backward_rest")]
        assert r["total"] > 0 and all(x > 0 for x in parts), r  # every hook fired
        assert abs(sum(parts) - r["total"]) < 1e-6 * r["total"]
    assert "target: MVP training step <= 1.0x the mlp2x_gelu step" in table
