"""The conventional metrics and the paper-style Overall: every expected value is worked out by
hand in the comments next to it (docs/evaluation.md shows the same examples)."""
from __future__ import annotations

import json
import random
import sys

import pytest

from emollm_plugin.eval.metrics import (binary_metrics, label_rates, macro_metrics,
                                        recognition_metrics, task_metrics)
from emollm_plugin.eval.paper_overall import paper_style_overall, paper_task_weights
from emollm_plugin.eval.score import score_files

# A 3-class confusion (rows gold, columns predicted):
#            anger joy sadness
#   anger      2    1     0        support 3
#   joy        0    1     1        support 2
#   sadness    0    0     1        support 1
THREE_CLASS_GOLD = ["anger", "anger", "anger", "joy", "joy", "sadness"]
THREE_CLASS_PRED = ["anger", "anger", "joy", "joy", "sadness", "sadness"]


def test_three_class_confusion_by_hand():
    # anger:   P = 2/2 = 1,   R = 2/3,  F1 = 2 * 1 * 2/3 / (1 + 2/3) = 0.8
    # joy:     P = 1/2,       R = 1/2,  F1 = 0.5
    # sadness: P = 1/2,       R = 1/1,  F1 = 2 * 0.5 * 1 / 1.5 = 2/3
    # weighted F1 = (3 * 0.8 + 2 * 0.5 + 1 * 2/3) / 6 = 4.0667 / 6 = 0.67778
    # UAR = (2/3 + 1/2 + 1) / 3 = 0.72222;  WAR = 4 correct / 6 = 0.66667
    assert recognition_metrics(THREE_CLASS_GOLD, THREE_CLASS_PRED) == {
        "uar": 72.22, "war": 66.67, "weighted_f1": 67.78}
    # macro P = (1 + 0.5 + 0.5) / 3 = 0.66667;  macro R = UAR = 0.72222
    # macro F1 = (0.8 + 0.5 + 2/3) / 3 = 0.65556
    assert macro_metrics(THREE_CLASS_GOLD, THREE_CLASS_PRED) == {
        "macro_precision": 66.67, "macro_recall": 72.22, "macro_f1": 65.56}


# Ten yes/no answers; None = unparseable, ambiguous or missing (wrong, nobody's prediction).
TEN_GOLD = ["yes"] * 4 + ["no"] * 6
TEN_PRED = ["yes", "yes", "no", None, "no", "no", "no", "no", "yes", None]


def test_binary_metrics_on_ten_answers_by_hand():
    # yes: TP = 2, predicted yes = 3, gold yes = 4 -> P = 2/3, R = 1/2, F1 = 4/7 = 0.571429
    # no:  TP = 4, predicted no = 5,  gold no = 6  -> P = 4/5, R = 2/3,
    #      F1 = 2 * 0.8 * 2/3 / (0.8 + 2/3) = 0.727273
    # macro F1 = (0.571429 + 0.727273) / 2 = 0.649351
    assert binary_metrics(TEN_GOLD, TEN_PRED) == {
        "precision": 66.67, "recall": 50.0, "f1": 57.14, "macro_f1": 64.94}
    # UAR = (1/2 + 2/3) / 2 = 0.583333;  WAR = 6 / 10
    assert recognition_metrics(TEN_GOLD, TEN_PRED)["uar"] == 58.33
    assert recognition_metrics(TEN_GOLD, TEN_PRED)["war"] == 60.0


def test_task_metrics_picks_the_family_of_the_task():
    assert set(task_metrics("emotion_open", TEN_GOLD, TEN_PRED)) == {"uar", "war", "weighted_f1"}
    assert set(task_metrics("intention", TEN_GOLD, TEN_PRED)) == {
        "macro_precision", "macro_recall", "macro_f1"}
    assert set(task_metrics("sarcasm", TEN_GOLD, TEN_PRED)) == {
        "precision", "recall", "f1", "macro_f1"}


def test_edge_cases_nothing_predicted_and_length_mismatch():
    assert binary_metrics(["yes", "no"], [None, None]) == {
        "precision": 0.0, "recall": 0.0, "f1": 0.0, "macro_f1": 0.0}
    assert recognition_metrics([], []) == {"uar": 0.0, "war": 0.0, "weighted_f1": 0.0}
    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        label_rates(["a", "b"], ["a"], ["a", "b"])


def _reference(golds, predictions):
    """Confusion-matrix reference: UAR, WAR and weighted F1 straight from the counts."""
    labels = sorted(set(golds) | {p for p in predictions if p is not None})
    count = {(g, p): 0 for g in labels for p in labels + [None]}
    for g, p in zip(golds, predictions):
        count[g, p] += 1
    recalls, weighted = [], 0.0
    for label in sorted(set(golds)):
        support = sum(count[label, p] for p in labels + [None])
        tp = count[label, label]
        predicted = sum(count[g, label] for g in labels)
        recall = tp / support
        precision = tp / predicted if predicted else 0.0
        recalls.append(recall)
        weighted += support * (2 * precision * recall / (precision + recall) if tp else 0.0)
    correct = sum(count[label, label] for label in labels)
    return (100 * sum(recalls) / len(recalls), 100 * correct / len(golds),
            100 * weighted / len(golds))


def test_recognition_metrics_match_a_confusion_matrix_reference_on_random_inputs():
    rng = random.Random(1)
    for _ in range(50):
        n = rng.randint(1, 40)
        golds = [rng.choice("abcd") for _ in range(n)]
        predictions = [rng.choice(["a", "b", "c", "d", "e", None]) for _ in range(n)]
        got = recognition_metrics(golds, predictions)
        uar, war, weighted = _reference(golds, predictions)
        assert got["uar"] == pytest.approx(uar, abs=0.005)
        assert got["war"] == pytest.approx(war, abs=0.005)
        assert got["weighted_f1"] == pytest.approx(weighted, abs=0.005)


# ----------------------------------------------------------------------------- paper-style Overall

def test_paper_weights_are_table_1_val_test_sizes_with_emotion_asked_both_ways():
    # emotion: EMOTIC 6,400 + CAER-S 21,000 + MELD 2,600 + Emotion6 600 = 30,600, asked twice
    assert paper_task_weights() == {"emotion_closed": 30_600, "emotion_open": 30_600,
                                    "intention": 400, "hate": 10_000, "humor": 1_000,
                                    "sarcasm": 2_400}
    assert sum(paper_task_weights().values()) == 75_000
    assert paper_task_weights(emotion_both_ways=False)["emotion_closed"] == 15_300


def test_paper_style_overall_of_the_papers_emollm_row():
    # EmoLLM, Table 2: (30600 * (64.06 + 52.58) + 400 * 73.99 + 10000 * 67.43 + 1000 * 75.69
    #                   + 2400 * 86.67) / 75000 = 4,556,778 / 75,000 = 60.757
    row = {"emotion_closed": 64.06, "emotion_open": 52.58, "intention": 73.99, "hate": 67.43,
           "humor": 75.69, "sarcasm": 86.67}
    assert paper_style_overall(row) == pytest.approx(60.75704)
    assert paper_style_overall({"hate": 50.0, "sarcasm": 100.0}) == pytest.approx(
        (10_000 * 50 + 2_400 * 100) / 12_400)
    with pytest.raises(ValueError, match="unknown task"):
        paper_style_overall({"valence": 1.0})


# ----------------------------------------------------------------------------- end to end

# 10 MELD open-set answers (gold joy x4, sadness x3, anger x3) and 10 MMSD2.0 answers.
MELD_ANSWERS = [("joy", "joy"), ("joy", "She is happy"), ("joy", "He smiles, though not "
                "at first. Answer: joy"), ("joy", "sad"),
                ("sadness", "sadness"), ("sadness", "he looks sad"), ("sadness", "I cannot tell"),
                ("anger", "angry"), ("anger", "furious"), ("anger", "happy")]
MMSD_ANSWERS = [("yes", "Yes"), ("yes", "it is sarcastic"), ("yes", "No"), ("yes", "maybe"),
                ("no", "No"), ("no", "not sarcastic"), ("no", "The post is sincere"),
                ("no", "Nope"), ("no", "Yes"), ("no", "I can't say.")]


def test_score_files_reports_each_datasets_metrics(tmp_path):
    questions, answers = [], []
    for dataset, task, rows in (("meld", "emotion_open", MELD_ANSWERS),
                                ("mmsd2", "sarcasm", MMSD_ANSWERS)):
        for i, (gold, text) in enumerate(rows):
            key = f"{dataset}/{i}"
            questions.append({"id": key, "task": task, "dataset": dataset, "label": gold})
            answers.append({"question_id": key, "text": text})
    (tmp_path / "q.json").write_text(json.dumps(questions))
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    scores = score_files(tmp_path / "a.jsonl", tmp_path / "q.json")
    meld = scores["datasets"]["meld"]["tasks"]["emotion_open"]
    # correct: joy 3 of 4, sadness 2 of 3, anger 2 of 3; "sad" -> sadness, "happy" -> joy
    # UAR = (3/4 + 2/3 + 2/3) / 3 = 0.694444;  WAR = 7/10
    # P: joy 3/4, sadness 2/3, anger 2/2;  F1: joy 0.75, sadness 2/3, anger 0.8
    # weighted F1 = (4 * 0.75 + 3 * 2/3 + 3 * 0.8) / 10 = 0.74
    assert meld["metrics"] == {"uar": 69.44, "war": 70.0, "weighted_f1": 74.0}
    assert (meld["accuracy"], meld["final_answer"]) == (70.0, 1)
    mmsd2 = scores["datasets"]["mmsd2"]["tasks"]["sarcasm"]
    assert mmsd2["metrics"] == {"precision": 66.67, "recall": 50.0, "f1": 57.14,
                                "macro_f1": 64.94}           # the ten answers above
    assert scores["tasks"]["sarcasm"]["metrics"] == mmsd2["metrics"]
    # paper-style over the two tasks present: (30600 * 70 + 2400 * 60) / 33000 = 69.2727
    assert scores["paper_style"] == 69.27
    assert scores["paper_style_weights"] == {"emotion_open": 30_600, "sarcasm": 2_400}


def _fit_script():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "docs" / "paper_overall_fit.py"
    spec = importlib.util.spec_from_file_location("paper_overall_fit", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_fit_script_residuals_on_all_seven_paper_rows(capsys):
    fit = _fit_script()
    assert len(fit.PAPER_ROWS) == 7 and all(len(row.columns) == 6 for row in fit.PAPER_ROWS)
    emollm = next(row for row in fit.PAPER_ROWS if row.row == "EmoLLM")
    # both ways: 60.757 - 60.36;  once: (15300 * 116.64 + 987,594) / 44,400 = 62.437 - 60.36;
    # column mean: 420.42 / 6 = 70.07 - 60.36
    assert {rule: round(value, 2) for rule, value in fit.residuals(emollm).items()} == {
        "paper-style (both ways)": 0.40, "emotion asked once": 2.08, "column mean": 9.71}
    vicuna = next(row for row in fit.PAPER_ROWS if row.row.startswith("Vicuna"))
    # column mean: 218.54 / 6 = 36.42 - 28.63
    assert round(fit.residuals(vicuna)["column mean"], 2) == 7.79
    both = [fit.residuals(row)["paper-style (both ways)"] for row in fit.PAPER_ROWS]
    once = [fit.residuals(row)["emotion asked once"] for row in fit.PAPER_ROWS]
    assert (round(min(both), 2), round(max(both), 2)) == (0.40, 0.84)
    assert (round(min(once), 2), round(max(once), 2)) == (1.94, 3.64)
    assert fit.main() == 0
    out = capsys.readouterr().out
    assert "| Table 2 | ChatUniVi | 46.66 | 47.50 (+0.84) | 50.30 (+3.64) | 58.25 (+11.59) |" in out
    assert "paper-style (both ways): residuals +0.40 to +0.84 points over the 7 rows" in out


def _pairwise_auc(golds, scores):
    """Plain reference: the share of (yes, no) pairs ordered right, ties 1/2."""
    pos = [s for g, s in zip(golds, scores) if g == "yes"]
    neg = [s for g, s in zip(golds, scores) if g == "no"]
    return 100 * sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg) / (len(pos) * len(neg))


def test_roc_auc_equals_the_pairwise_count_with_ties():
    import random

    from emollm_plugin.eval.metrics import roc_auc
    rng = random.Random(0)
    for _ in range(20):
        n = rng.randint(2, 30)
        golds = [rng.choice(("yes", "no")) for _ in range(n)]
        scores = [rng.choice((0.1, 0.3, 0.5, 0.7, 0.9)) for _ in range(n)]  # many ties
        if len(set(golds)) == 1:
            assert roc_auc(golds, scores) is None
            continue
        assert abs(roc_auc(golds, scores) - round(_pairwise_auc(golds, scores), 2)) < 0.011
    assert roc_auc(["yes", "no"], [0.9, 0.1]) == 100.0 and roc_auc(["yes", "no"], [0.1, 0.9]) == 0.0


def test_expected_calibration_error_by_hand():
    from emollm_plugin.eval.metrics import calibration_metrics, expected_calibration_error
    # bins (0.5, 0.6] and (0.9, 1.0]: |0.5 - 0.55| * 2/4 + |1.0 - 0.95| * 2/4 = 0.05
    assert expected_calibration_error([0.55, 0.55, 0.95, 0.95], [True, False, True, True]) == 5.0
    assert expected_calibration_error([1.0, 1.0], [True, True]) == 0.0
    assert expected_calibration_error([0.6], [False]) == 60.0
    # p(yes) 0.8 for a yes (confident, right) and 0.7 for a no (confidence 0.7, wrong)
    result = calibration_metrics(["yes", "no"], [0.8, 0.7])
    assert result["roc_auc"] == 100.0 and result["n"] == 2
    assert result["ece"] == round(100 * (abs(1 - 0.8) * 0.5 + abs(0 - 0.7) * 0.5), 2)
