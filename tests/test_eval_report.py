"""Report files (JSON, Markdown, PNGs) and the `emollm eval` command line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from emollm_plugin.commands.cli import main as emollm
from emollm_plugin.eval.report import to_markdown, write_report
from emollm_plugin.eval.score import judge, load_questions, score_files, summarize

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
QUESTIONS, ANSWERS = FIXTURES / "questions.json", FIXTURES / "answers.jsonl"
TABLE_ROW = ("| Accuracy (%) | 41.67 | 75.00 | 55.56 | 66.67 | 66.67 | 71.43 | 62.83 | 62.50 |")


@pytest.fixture(scope="module")
def scores() -> dict:
    return score_files(ANSWERS, QUESTIONS)


def _assert_real_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 200 and image.height > 100
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 10, f"{path.name} looks blank"


def test_write_report_writes_scores_and_valid_pngs(tmp_path, scores):
    written = write_report(scores, tmp_path / "report")
    assert [p.name for p in written] == [
        "scores.json", "scores.md", "accuracy_by_task.png",
        "confusion_emotion_closed.png", "outcomes_emotion_closed.png",
        "outcomes_emotion_open.png", "confusion_intention.png", "outcomes_intention.png",
        "outcomes_hate.png", "outcomes_humor.png", "outcomes_sarcasm.png"]
    assert all(p.parent == tmp_path / "report" for p in written)
    for path in written[2:]:
        _assert_real_png(path)
    assert json.loads(written[0].read_text()) == json.loads(json.dumps(scores))
    assert written[1].read_text() == to_markdown(scores)


def test_report_plots_only_the_tasks_present(tmp_path):
    records = [r for r in load_questions(QUESTIONS) if r["task"] == "humor"]
    scores = summarize(judge(records, {"urfunny/test/hu01/humor": "yes"}))
    names = [p.name for p in write_report(scores, tmp_path)]
    assert names == ["scores.json", "scores.md", "accuracy_by_task.png", "outcomes_humor.png"]
    # no answers file given: only the unanswered check is reported
    assert "- 5 questions without an answer (scored wrong)" in to_markdown(scores)


def test_markdown_shows_failures_and_input_checks(scores):
    markdown = to_markdown(scores)
    rows = markdown.splitlines()
    assert "| Emo-C | ambiguous | meld/test/ec05/emotion_closed | joy or surprise | " \
           "joy, surprise |" in rows
    assert "| Sarcasm | unparseable | mmsd2/test/sa06/sarcasm | " \
           "The tweet praises the weather. |  |" in rows
    assert "- 1 answers whose question_id is in no question (not scored): " \
           "mmsd2/test/sa99/sarcasm" in markdown
    assert "- 2 duplicate answer lines (first line scored; 1 with different text)" in markdown
    assert "| Weighted F1 |  |  | 50.28 |  |" in markdown
    assert "| meld / Emo-O | 4 | 2 | 1 | 0 | 1 | 0 | 0 | 50.00 |" in markdown


def test_markdown_escapes_pipes_and_shortens_long_answers(tmp_path):
    records = [{"id": "q", "task": "emotion_open", "dataset": "d", "label": "joy"}]
    scores = summarize(judge(records, {"q": "a | b " + "x" * 200}))
    row = next(line for line in to_markdown(scores).splitlines()
               if line.startswith("| Emo-O | unparseable"))
    assert "a \\| b xxx" in row and row.count("x") < 90 and "..." in row


def test_cli_score_prints_the_table_and_writes_outputs(tmp_path, capsys):
    out_json, out_md = tmp_path / "s" / "scores.json", tmp_path / "s" / "scores.md"
    code = emollm(["eval", "score", "--answers", str(ANSWERS), "--questions", str(QUESTIONS),
                   "--out-json", str(out_json), "--out-md", str(out_md)])
    captured = capsys.readouterr()
    assert code == 0
    assert TABLE_ROW in captured.out
    assert "warning: 3 question(s) have no answer; scored as wrong" in captured.err
    assert "warning: 1 answer(s) name no question; not scored" in captured.err
    assert json.loads(out_json.read_text())["micro"] == 62.5
    assert TABLE_ROW in out_md.read_text()


def test_cli_strict_fails_on_input_problems(capsys):
    code = emollm(["eval", "score", "--answers", str(ANSWERS), "--questions", str(QUESTIONS),
                   "--strict"])
    assert code == 1
    assert TABLE_ROW in capsys.readouterr().out


def test_cli_report_writes_into_out(tmp_path, capsys):
    code = emollm(["eval", "report", "--answers", str(ANSWERS), "--questions", str(QUESTIONS),
                   "--out", str(tmp_path / "r")])
    output = capsys.readouterr().out
    assert code == 0
    assert TABLE_ROW in output and "wrote 11 files to" in output
    _assert_real_png(tmp_path / "r" / "confusion_intention.png")


def test_cli_errors_exit_2_with_the_reason(tmp_path, capsys):
    missing = tmp_path / "none.jsonl"
    assert emollm(["eval", "score", "--answers", str(missing), "--questions",
                   str(QUESTIONS)]) == 2
    assert f"{missing} does not exist" in capsys.readouterr().err
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps([{"id": "a", "task": "sarcasm", "dataset": "d", "label": "maybe"}]))
    assert emollm(["eval", "score", "--answers", str(ANSWERS), "--questions", str(bad)]) == 2
    assert "yes/no label 'maybe' must be exactly 'yes' or 'no'" in capsys.readouterr().err
