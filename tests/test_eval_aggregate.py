"""`emollm eval aggregate` over three score files: means and sample stds computed by hand."""
from __future__ import annotations

import json
import math

import pytest
from PIL import Image

from emollm_plugin.eval.aggregate import aggregate, figures, mean_std
from emollm_plugin.eval.cli import main


def _scores(emo_c: float, sarcasm: float | None, macro: float, n: int) -> dict:
    tasks = {"emotion_closed": {"accuracy": emo_c, "n": n, "metrics": {"uar": emo_c - 10}}}
    if sarcasm is not None:
        tasks["sarcasm"] = {"accuracy": sarcasm, "n": n}
    return {"tasks": tasks, "macro": macro, "micro": macro, "paper_style": macro, "n": 2 * n,
            "confusion": {"emotion_closed": {"matrix": [[1, 2], [3, 4]]}},   # lists: left out
            "input": {"unanswered": {"count": 0, "ids": []}, "note": "text is left out"}}


@pytest.fixture
def three_runs(tmp_path):
    runs = []
    for seed, (emo_c, sarcasm, macro) in enumerate([(60.0, 80.0, 50.0), (62.0, None, 50.0),
                                                    (67.0, 86.0, 50.0)], start=1):
        run = tmp_path / f"eval-seed{seed}"
        run.mkdir()
        (run / "scores.json").write_text(json.dumps(_scores(emo_c, sarcasm, macro, 10)))
        runs.append(run)
    return runs


def test_three_runs_give_the_hand_computed_mean_and_sample_std(three_runs):
    result = aggregate(three_runs)
    table = result["figures"]
    # Emo-C accuracy 60, 62, 67: mean 63; deviations -3, -1, 4; sum of squares 26;
    # sample variance 26 / (3 - 1) = 13; std = sqrt(13) = 3.6056
    emo_c = table["tasks.emotion_closed.accuracy"]
    assert emo_c["mean"] == pytest.approx(63.0)
    assert emo_c["std"] == pytest.approx(math.sqrt(13)) == pytest.approx(3.6056, abs=1e-4)
    assert (emo_c["runs"], emo_c["values"]) == (3, [60.0, 62.0, 67.0])
    # nested metric: 50, 52, 57 -> same spread
    assert table["tasks.emotion_closed.metrics.uar"]["std"] == pytest.approx(math.sqrt(13))
    # sarcasm only in runs 1 and 3: 80, 86 -> mean 83, std sqrt((9 + 9) / 1) = 4.2426
    sarcasm = table["tasks.sarcasm.accuracy"]
    assert (sarcasm["mean"], sarcasm["runs"]) == (83.0, 2)
    assert sarcasm["std"] == pytest.approx(math.sqrt(18))
    # a figure equal in every run has std 0
    assert (table["macro"]["mean"], table["macro"]["std"]) == (50.0, 0.0)
    assert "confusion.emotion_closed.matrix" not in table and "input.note" not in table
    assert table["input.unanswered.count"]["mean"] == 0.0
    assert result["runs"] == [str(run / "scores.json") for run in three_runs]


def test_mean_std_of_one_value_has_no_std():
    assert mean_std([5.0]) == (5.0, None)
    assert figures({"a": {"b": 1, "c": True, "d": [1, 2]}, "e": 2.5}) == {"a.b": 1.0, "e": 2.5}


def test_cli_writes_markdown_json_and_a_bar_chart(three_runs, tmp_path, capsys):
    out = tmp_path / "aggregate"
    assert main(["aggregate", *map(str, three_runs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| Accuracy (%) | 63.00 ± 3.61 | 83.00 ± 4.24 | 50.00 ± 0.00 |" in printed
    assert (out / "aggregate.md").read_text() == printed
    saved = json.loads((out / "aggregate.json").read_text())
    assert saved["figures"]["tasks.emotion_closed.accuracy"]["std"] == pytest.approx(math.sqrt(13))
    with Image.open(out / "aggregate.png") as image:
        assert image.format == "PNG" and image.width > 300


def test_cli_names_a_run_without_scores(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["aggregate", str(tmp_path / "empty")]) == 2
    assert f"{tmp_path / 'empty'}: no scores.json" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "scores.json").write_text("{not json")
    assert main(["aggregate", str(tmp_path / "bad")]) == 2
    assert "not a readable JSON file" in capsys.readouterr().err
