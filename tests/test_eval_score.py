"""Scoring the hand-written fixture: every number below was computed by hand from the fixture.

tests/fixtures/eval/answers.jsonl answers 53 of the 56 questions in questions.json (ec10, in08,
hu06 have no answer), adds one answer to an unknown question (sa99) and two duplicate lines
(ec01 with the same text, ha01 with different text: the first line, "Yes", is scored).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from emollm_plugin.eval.report import to_markdown
from emollm_plugin.eval.score import (ScoringInputError, load_questions, per_label_metrics,
                                      score_files)

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
QUESTIONS, ANSWERS = FIXTURES / "questions.json", FIXTURES / "answers.jsonl"

# task: (n, correct, wrong label, ambiguous, unparseable, unanswered, accuracy %)
EXPECTED_TASKS = {
    # correct ec01-04, ec07; wrong ec08 (neutral), ec12 (sadness); ambiguous ec05, ec06;
    # unparseable ec09 (no label), ec11 ("not happy"); unanswered ec10.   5/12
    "emotion_closed": (12, 5, 2, 2, 2, 1, 41.67),
    # correct eo01-10, eo15, eo16; wrong eo13; ambiguous eo12; unparseable eo11, eo14.  12/16
    "emotion_open": (16, 12, 1, 1, 2, 0, 75.00),
    # correct in01-04, in09; wrong in06; ambiguous in05; unparseable in07; unanswered in08. 5/9
    "intention": (9, 5, 1, 1, 1, 1, 55.56),
    "hate": (6, 4, 1, 0, 1, 0, 66.67),      # wrong ha05 ("not hateful"); unparseable ha06
    "humor": (6, 4, 0, 0, 1, 1, 66.67),     # unparseable hu05 ("maybe"); unanswered hu06
    "sarcasm": (7, 5, 1, 0, 1, 0, 71.43),   # wrong sa05 ("Non-sarcastic."); unparseable sa06
}
# macro = (5/12 + 12/16 + 5/9 + 4/6 + 4/6 + 5/7) / 6 * 100 = 62.8307...;  micro = 35/56 = 62.5
EXPECTED_MACRO, EXPECTED_MICRO = 62.83, 62.50
# paper-style, weights 30600, 30600, 400, 10000, 1000, 2400 (sum 75000):
# (30600 * (5/12 + 12/16) + 400 * 5/9 + 10000 * 4/6 + 1000 * 4/6 + 2400 * 5/7) / 75000
# = (35700 + 222.22 + 6666.67 + 666.67 + 1714.29) / 75000 = 0.599598
EXPECTED_PAPER_STYLE = 59.96

EXPECTED_TABLE = """\
|  | Emo-C | Emo-O | Intention | Hate | Humor | Sarcasm | Overall (macro mean of tasks) | Overall (micro, sample-weighted) | Overall (paper-style) |
| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| Accuracy (%) | 41.67 | 75.00 | 55.56 | 66.67 | 66.67 | 71.43 | 62.83 | 62.50 | 59.96 |"""

EXPECTED_COUNTS = """\
| Task | n | correct | wrong label | ambiguous | unparseable | unanswered | after marker | accuracy (%) |
| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| Emo-C | 12 | 5 | 2 | 2 | 2 | 1 | 1 | 41.67 |
| Emo-O | 16 | 12 | 1 | 1 | 2 | 0 | 0 | 75.00 |
| Intention | 9 | 5 | 1 | 1 | 1 | 1 | 0 | 55.56 |
| Hate | 6 | 4 | 1 | 0 | 1 | 0 | 0 | 66.67 |
| Humor | 6 | 4 | 0 | 0 | 1 | 1 | 0 | 66.67 |
| Sarcasm | 7 | 5 | 1 | 0 | 1 | 0 | 0 | 71.43 |
| All (micro) | 56 | 35 | 6 | 4 | 8 | 3 | 1 | 62.50 |"""


@pytest.fixture(scope="module")
def scores() -> dict:
    return score_files(ANSWERS, QUESTIONS)


def test_per_task_counts_and_accuracy(scores):
    keys = ("n", "correct", "wrong", "ambiguous", "unparseable", "unanswered", "accuracy")
    got = {task: tuple(row[k] for k in keys) for task, row in scores["tasks"].items()}
    assert got == EXPECTED_TASKS
    assert (scores["macro"], scores["micro"], scores["n"], scores["correct"]) == (
        EXPECTED_MACRO, EXPECTED_MICRO, 56, 35)
    assert scores["paper_style"] == EXPECTED_PAPER_STYLE
    # ec12 "The answer is sadness, not joy." is decided after its marker (the same label the whole answer gives)
    assert {task: row["final_answer"] for task, row in scores["tasks"].items()} == {
        "emotion_closed": 1, "emotion_open": 0, "intention": 0, "hate": 0, "humor": 0,
        "sarcasm": 0}
    assert scores["tasks_missing"] == []


def test_markdown_tables_exactly(scores):
    markdown = to_markdown(scores)
    assert EXPECTED_TABLE in markdown
    assert EXPECTED_COUNTS in markdown


def _table_blocks(text: str) -> list[str]:
    blocks, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            blocks.append("\n".join(block))
            block = []
    return blocks


@pytest.mark.parametrize("doc", ["docs/reproduction.md", "docs/evaluation.md"])
def test_the_docs_show_the_tables_the_scorer_prints_for_the_fixture(scores, doc):
    """Every example table headed like one of the report's is the report's own table, verbatim."""
    markdown = to_markdown(scores)
    report_tables = _table_blocks(markdown)
    headers = {table.splitlines()[0] for table in report_tables}
    shown = [t for t in _table_blocks((Path(__file__).parent.parent / doc).read_text())
             if t.splitlines()[0] in headers]
    assert shown, f"{doc} shows no table of the scorer's report"
    for table in shown:
        assert table in report_tables, f"{doc}: this table is not what the scorer prints:\n{table}"


def test_per_dataset_breakdown(scores):
    # meld: Emo-C ec01, ec02, ec07 right of 6; Emo-O eo03, eo08 right of 4 -> 5/10
    # caer_s: ec03, ec04 right of 6; emotion6: 5/6 (eo14 unparseable); emotic: 5/6 (eo12 ambiguous)
    got = {name: (d["n"], d["correct"], d["accuracy"]) for name, d in scores["datasets"].items()}
    assert got == {"caer_s": (6, 2, 33.33), "emotic": (6, 5, 83.33), "emotion6": (6, 5, 83.33),
                   "meld": (10, 5, 50.0), "mintrec": (9, 5, 55.56), "mmhs150k": (6, 4, 66.67),
                   "mmsd2": (7, 5, 71.43), "urfunny": (6, 4, 66.67)}
    meld = scores["datasets"]["meld"]["tasks"]
    assert {t: (c["n"], c["correct"], c["unparseable"]) for t, c in meld.items()} == {
        "emotion_closed": (6, 3, 2), "emotion_open": (4, 2, 1)}


def test_per_label_metrics_for_closed_emotions(scores):
    # gold -> predicted: anger {anger, -}, disgust {disgust}, fear {fear},
    # joy {joy, (ambiguous), sadness}, sadness {sadness, neutral, (unparseable)},
    # surprise {(ambiguous)}, neutral {(unparseable)}
    metrics = scores["per_label"]["emotion_closed"]
    got = {label: (m["precision"], m["recall"], m["f1"], m["support"])
           for label, m in metrics["labels"].items()}
    assert got == {"anger": (100.0, 50.0, 66.67, 2), "disgust": (100.0, 100.0, 100.0, 1),
                   "fear": (100.0, 100.0, 100.0, 1), "joy": (100.0, 33.33, 50.0, 3),
                   "sadness": (50.0, 33.33, 40.0, 3), "surprise": (0.0, 0.0, 0.0, 1),
                   "neutral": (0.0, 0.0, 0.0, 1)}
    # (2 * 2/3 + 1 + 1 + 3 * 0.5 + 3 * 0.4) / 12 = 0.50278; mean of the seven F1s = 0.50952
    assert (metrics["weighted_f1"], metrics["macro_f1"]) == (50.28, 50.95)
    assert set(scores["per_label"]) == {"emotion_closed", "emotion_open", "intention"}


def test_confusion_rows_are_gold_and_failures_have_their_own_columns(scores):
    table = scores["confusion"]["emotion_closed"]
    assert table["predicted"] == ["anger", "disgust", "fear", "joy", "sadness", "surprise",
                                  "neutral", "(ambiguous)", "(unparseable)", "(unanswered)"]
    assert table["matrix"] == [
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 1, 0, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
    ]
    assert scores["confusion"]["sarcasm"]["matrix"] == [[3, 1, 0, 0, 0], [0, 2, 0, 1, 0]]


def test_input_problems_are_counted_and_named(scores):
    checks = scores["input"]
    assert checks["unanswered"] == {"count": 3, "ids": ["caer_s/test/ec10/emotion_closed",
                                                        "mintrec/test/in08/intention",
                                                        "urfunny/test/hu06/humor"]}
    assert checks["answers_without_question"] == {"count": 1, "ids": ["mmsd2/test/sa99/sarcasm"]}
    assert checks["duplicate_answers"]["count"] == 2
    assert checks["duplicate_answers"]["conflicting"] == 1
    assert checks["answer_lines"] == 56
    examples = scores["examples"]["emotion_closed"]
    assert [e["id"] for e in examples["ambiguous"]] == ["meld/test/ec05/emotion_closed",
                                                        "caer_s/test/ec06/emotion_closed"]
    assert examples["ambiguous"][0]["candidates"] == ["joy", "surprise"]


def test_jsonl_questions_score_the_same_as_a_json_list(tmp_path, scores):
    records = json.loads(QUESTIONS.read_text())
    jsonl = tmp_path / "questions.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    again = score_files(ANSWERS, jsonl)
    for key in ("tasks", "macro", "micro", "datasets", "per_label", "confusion"):
        assert again[key] == scores[key]


def test_macro_is_over_the_tasks_present(tmp_path):
    records = [r for r in json.loads(QUESTIONS.read_text()) if r["task"] in ("hate", "sarcasm")]
    path = tmp_path / "q.json"
    path.write_text(json.dumps(records))
    scores = score_files(ANSWERS, path)
    assert set(scores["tasks"]) == {"hate", "sarcasm"}
    assert scores["macro"] == round((4 / 6 + 5 / 7) / 2 * 100, 2) == 69.05
    assert scores["micro"] == round(9 / 13 * 100, 2) == 69.23
    assert scores["tasks_missing"] == ["emotion_closed", "emotion_open", "intention", "humor"]
    assert scores["input"]["answers_without_question"]["count"] == 41
    # paper-style: (10000 * 4/6 + 2400 * 5/7) / 12400 = 0.675883
    assert scores["paper_style"] == 67.59
    assert ("| Accuracy (%) | - | - | - | 66.67 | - | 71.43 | 69.05 | 69.23 | 67.59 |"
            in to_markdown(scores))


def _reference_prf(golds, predictions, label):
    tp = fp = fn = 0
    for gold, predicted in zip(golds, predictions):
        if predicted == label and gold == label:
            tp += 1
        elif predicted == label:
            fp += 1
        elif gold == label:
            fn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return precision, recall, f1, tp + fn


def test_per_label_metrics_match_a_plain_reference_on_random_inputs():
    # outputs are percentages rounded to 2 decimals: within 0.005 of the exact value
    rng = random.Random(0)
    labels = ["a", "b", "c", "d"]
    for _ in range(50):
        n = rng.randint(1, 30)
        golds = [rng.choice(labels[:3]) for _ in range(n)]
        predictions = [rng.choice(labels + [None]) for _ in range(n)]
        got = per_label_metrics(golds, predictions, labels)
        f1s, supports = [], []
        for label in labels:
            precision, recall, f1, support = _reference_prf(golds, predictions, label)
            row = got["labels"][label]
            assert row["precision"] == pytest.approx(100 * precision, abs=0.0051)
            assert row["recall"] == pytest.approx(100 * recall, abs=0.0051)
            assert row["f1"] == pytest.approx(100 * f1, abs=0.0051)
            assert row["support"] == support
            f1s.append(f1)
            supports.append(support)
        weighted = sum(f * s for f, s in zip(f1s, supports)) / sum(supports)
        assert got["weighted_f1"] == pytest.approx(100 * weighted, abs=0.0051)
        assert got["macro_f1"] == pytest.approx(100 * sum(f1s) / len(f1s), abs=0.0051)


# ----------------------------------------------------------------------------- bad input

GOOD = {"id": "x1", "task": "emotion_closed", "dataset": "meld", "label": "joy",
        "label_set": ["joy", "anger"]}


@pytest.mark.parametrize("change,message", [
    ({"task": "emotion"}, "task 'emotion' is not one of emotion_closed"),
    ({"label": "fear"}, "label 'fear' is not in its label_set"),
    ({"label_set": []}, "needs a non-empty 'label_set'"),
    ({"label_set": ["joy", "Joy."]}, "repeated option"),
    ({"task": "emotion_open", "label": "Happiness"}, "not a canonical emotion"),
    ({"task": "hate", "label": "Yes"}, "must be exactly 'yes' or 'no'"),
    ({"label": 3}, "must be a string"),
])
def test_bad_question_records_are_named_with_the_fix(tmp_path, change, message):
    path = tmp_path / "q.json"
    path.write_text(json.dumps([GOOD, {**GOOD, "id": "x2", **change}]))
    with pytest.raises(ScoringInputError, match=message) as error:
        load_questions(path)
    assert "[index 1] (id 'x2')" in str(error.value)
    assert "1 question record(s) cannot be scored" in str(error.value)


def test_missing_field_duplicate_id_and_broken_jsonl_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "dataset": "caer_s"}) + "\n")
    with pytest.raises(ScoringInputError, match=r"q.jsonl:2 \(id 'x1'\): id 'x1' repeats"):
        load_questions(path)
    path.write_text(json.dumps({k: v for k, v in GOOD.items() if k != "dataset"}) + "\n")
    with pytest.raises(ScoringInputError, match="has no 'dataset' field"):
        load_questions(path)
    path.write_text(json.dumps(GOOD) + "\n{not json\n")
    with pytest.raises(ScoringInputError, match=r"q.jsonl:2: not valid JSON"):
        load_questions(path)


def test_bad_answer_lines_are_named(tmp_path):
    questions = tmp_path / "q.json"
    questions.write_text(json.dumps([GOOD]))
    answers = tmp_path / "a.jsonl"
    answers.write_text('{"question_id": "x1", "text": "joy"}\n{"question_id": "x2"}\n')
    with pytest.raises(ScoringInputError, match=r"a.jsonl:2: expected an object with"):
        score_files(answers, questions)
    answers.write_text('{"question_id": "x1", "text": null}\n')
    with pytest.raises(ScoringInputError, match="'text' is None, expected a string"):
        score_files(answers, questions)


def test_the_records_own_reference_answers_score_100(tmp_path):
    records = json.loads(QUESTIONS.read_text())
    answers = tmp_path / "reference.jsonl"
    answers.write_text("".join(json.dumps({"question_id": r["id"],
                                           "text": r["conversations"][-1]["value"]}) + "\n"
                               for r in records))
    scores = score_files(answers, QUESTIONS)
    assert (scores["macro"], scores["micro"], scores["correct"]) == (100.0, 100.0, 56)


@pytest.mark.parametrize("data, message", [
    ('{"question_id": "x1", "text": "joy"}\n{"question_id": "x2", "text": "caf\xe9"}\n'.encode("latin-1"),
     r"a.jsonl:2: the answers file is not UTF-8"),
    ('{"question_id": "x1", "text": "joy"}\n'.encode("utf-16"), r"a.jsonl:1: the answers file is UTF-16"),
    (b'{"question_id": "x1", "text": "joy"}\n{"question_id": ' + b"1" * 5000 + b', "text": "joy"}\n',
     r"a.jsonl:2: a number has more digits than Python reads"),
    (b'{"question_id": "x1", "text": "joy"}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n",
     r"a.jsonl:2: JSON nested deeper than Python can read"),
])
def test_eval_score_names_file_and_line_of_hostile_answers(tmp_path, capsys, data, message):
    import re

    from emollm_plugin.eval.cli import main
    questions = tmp_path / "q.json"
    questions.write_text(json.dumps([GOOD]))
    answers = tmp_path / "a.jsonl"
    answers.write_bytes(data)
    assert main(["score", "--answers", str(answers), "--questions", str(questions)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err, err


def test_lone_surrogates_in_answers_are_scored_and_printable(tmp_path, capsys):
    from emollm_plugin.eval.cli import main
    questions = tmp_path / "q.json"
    questions.write_text(json.dumps([GOOD, {**GOOD, "id": "x\udcff"}]))
    answers = tmp_path / "a.jsonl"
    answers.write_text(json.dumps({"question_id": "x\udcff", "text": "joy \ud800"}) + "\n"
                       + json.dumps({"question_id": "x1", "text": "\ud800 hmm"}) + "\n")
    out_md = tmp_path / "s.md"
    assert main(["score", "--answers", str(answers), "--questions", str(questions), "--out-md", str(out_md)]) == 0
    out_md.read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    printed.encode("utf-8")
    scores = score_files(answers, questions)
    assert scores["input"]["unanswered"]["count"] == 0
    assert (scores["tasks"]["emotion_closed"]["correct"], scores["tasks"]["emotion_closed"]["unparseable"]) == (1, 1)
