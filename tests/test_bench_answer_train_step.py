"""benchmarks/bench_answer.py runs end to end on tiny sizes and writes its table and chart (a smoke
test: the timings themselves are the benchmark's business, not a test's)."""
from __future__ import annotations

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
