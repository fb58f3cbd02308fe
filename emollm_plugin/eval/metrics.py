"""The source datasets' conventional metrics, from gold labels and parsed predictions.

Inputs: ``golds`` (n gold labels) and ``predictions`` (n labels, None for a missing, unparseable
or ambiguous answer, which is wrong for its gold label and nobody's prediction). For a label l:

    TP_l = #{r : p_r == l and y_r == l}
    precision_l = TP_l / #{r : p_r == l}        (0 when nothing was predicted l)
    recall_l    = TP_l / #{r : y_r == l}        (0 when l has no support)
    f1_l        = 2 P_l R_l / (P_l + R_l)       (0 when P_l + R_l == 0)

Families (all in percent, rounded to 2 decimals), chosen by task:

- emotion recognition (emotion_closed, emotion_open; EMOTIC, CAER-S, Emotion6, MELD):
      UAR = mean of recall_l over the gold labels present (unweighted average recall)
      WAR = sum_l (support_l / n) recall_l = #{p_r == y_r} / n   (weighted average recall)
      weighted F1 = sum_l support_l f1_l / n                     (MELD's customary figure)
- intention (MIntRec): macro P, R, F1 = plain means over the labels in golds or predictions;
- yes/no (hate, humor, sarcasm; MMHS150K, UR-FUNNY, MMSD2.0): precision, recall and F1 of the
  positive class ``yes``, and macro F1 = (f1_yes + f1_no) / 2.

Calibrated metrics of the yes/no tasks, for answers that carry option probabilities
(``--answer-mode score``): with q_r = the probability the answer gave to "yes",

    ROC-AUC = P(q of a random yes-record > q of a random no-record), ties counting 1/2
            = (sum of the ranks of the yes-records' q - n_yes (n_yes + 1) / 2) / (n_yes n_no)
              (average ranks over ties: the Mann-Whitney U statistic)
    ECE     = sum_b (|B_b| / n) |acc(B_b) - conf(B_b)|   over M = 10 equal-width bins of the
              confidence c_r = max(q_r, 1 - q_r); acc = share of records whose argmax is the gold
              label, conf = mean c_r (bin b holds (b-1)/M < c <= b/M, c = 0 in the first)

ROC-AUC is None when only one class is present. Both in percent, rounded to 2 decimals.

The label sets follow scikit-learn's defaults: ``balanced_accuracy_score`` (UAR) averages over
the gold labels, ``f1_score(average="macro")`` over gold and predicted labels.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from ..tasks.labels import EMOTION_TASKS, YES_NO_TASKS

RECOGNITION_METRICS = ("uar", "war", "weighted_f1")
MACRO_METRICS = ("macro_precision", "macro_recall", "macro_f1")
BINARY_METRICS = ("precision", "recall", "f1", "macro_f1")
POSITIVE = "yes"


def _pct(value: float) -> float:
    return round(100.0 * value, 2)


def label_rates(golds: Sequence[str], predictions: Sequence[str | None],
                labels: Sequence[str]) -> dict[str, dict]:
    """Per label: precision, recall, f1 (fractions, unrounded) and support."""
    if len(golds) != len(predictions):
        raise ValueError(f"{len(golds)} gold labels but {len(predictions)} predictions")
    true_pos = Counter(g for g, p in zip(golds, predictions) if g == p)
    predicted, support = Counter(p for p in predictions if p is not None), Counter(golds)
    rates = {}
    for label in labels:
        precision = true_pos[label] / predicted[label] if predicted[label] else 0.0
        recall = true_pos[label] / support[label] if support[label] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rates[label] = {"precision": precision, "recall": recall, "f1": f1,
                        "support": support[label]}
    return rates


def labels_seen(golds: Sequence[str], predictions: Sequence[str | None]) -> list[str]:
    """Gold and predicted labels, in first-seen order."""
    return list(dict.fromkeys([*golds, *(p for p in predictions if p is not None)]))


def per_label_metrics(golds: list[str], predictions: list[str | None],
                      labels: list[str]) -> dict:
    """Precision, recall, F1 (percent) and support per label, plus weighted and macro F1."""
    rates = label_rates(golds, predictions, labels)
    total = sum(row["support"] for row in rates.values())
    weighted = sum(row["f1"] * row["support"] for row in rates.values()) / total if total else 0.0
    macro = sum(row["f1"] for row in rates.values()) / len(rates) if rates else 0.0
    rows = {label: {"precision": _pct(row["precision"]), "recall": _pct(row["recall"]),
                    "f1": _pct(row["f1"]), "support": row["support"]}
            for label, row in rates.items()}
    return {"labels": rows, "weighted_f1": _pct(weighted), "macro_f1": _pct(macro)}


def recognition_metrics(golds: Sequence[str], predictions: Sequence[str | None]) -> dict:
    """UAR, WAR and weighted F1 (percent) of an emotion-recognition set."""
    gold_labels = list(dict.fromkeys(golds))
    rates = label_rates(golds, predictions, labels_seen(golds, predictions))
    n = len(golds)
    uar = sum(rates[label]["recall"] for label in gold_labels) / len(gold_labels) if n else 0.0
    war = sum(rates[label]["recall"] * rates[label]["support"] for label in gold_labels) / n \
        if n else 0.0
    weighted_f1 = sum(rates[label]["f1"] * rates[label]["support"] for label in gold_labels) / n \
        if n else 0.0
    return {"uar": _pct(uar), "war": _pct(war), "weighted_f1": _pct(weighted_f1)}


def macro_metrics(golds: Sequence[str], predictions: Sequence[str | None]) -> dict:
    """Macro precision, recall and F1 (percent) over the gold and predicted labels."""
    rates = list(label_rates(golds, predictions, labels_seen(golds, predictions)).values())
    if not rates:
        return dict.fromkeys(MACRO_METRICS, 0.0)
    return {f"macro_{key}": _pct(sum(row[key] for row in rates) / len(rates))
            for key in ("precision", "recall", "f1")}


def binary_metrics(golds: Sequence[str], predictions: Sequence[str | None],
                   positive: str = POSITIVE, negative: str = "no") -> dict:
    """Precision, recall, F1 of ``positive`` and the macro F1 of both classes (percent)."""
    rates = label_rates(golds, predictions, [positive, negative])
    return {"precision": _pct(rates[positive]["precision"]),
            "recall": _pct(rates[positive]["recall"]), "f1": _pct(rates[positive]["f1"]),
            "macro_f1": _pct((rates[positive]["f1"] + rates[negative]["f1"]) / 2)}


def task_metrics(task: str, golds: Sequence[str], predictions: Sequence[str | None]) -> dict:
    """The metric family of ``task`` (see the module docstring)."""
    if task in EMOTION_TASKS:
        return recognition_metrics(golds, predictions)
    if task in YES_NO_TASKS:
        return binary_metrics(golds, predictions)
    return macro_metrics(golds, predictions)


def roc_auc(golds: Sequence[str], positive_scores: Sequence[float], positive: str = POSITIVE) -> float | None:
    """ROC-AUC (percent) of ``positive_scores`` for the ``positive`` class; None with one class only."""
    order = sorted(range(len(golds)), key=lambda r: positive_scores[r])
    ranks = [0.0] * len(golds)
    i = 0
    while i < len(order):  # average ranks over ties
        j = i
        while j + 1 < len(order) and positive_scores[order[j + 1]] == positive_scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    n_pos = sum(1 for g in golds if g == positive)
    n_neg = len(golds) - n_pos
    if not n_pos or not n_neg:
        return None
    u = sum(r for r, g in zip(ranks, golds) if g == positive) - n_pos * (n_pos + 1) / 2
    return _pct(u / (n_pos * n_neg))


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE (percent) over ``bins`` equal-width confidence bins."""
    totals = [[0, 0.0, 0] for _ in range(bins)]  # count, sum of confidence, correct
    for c, ok in zip(confidences, correct):
        b = min(bins - 1, max(0, -int(-c * bins) - 1))  # (b/M, (b+1)/M]
        totals[b][0] += 1
        totals[b][1] += c
        totals[b][2] += bool(ok)
    n = len(confidences)
    return _pct(sum(abs(hits / count - conf / count) * count / n for count, conf, hits in totals if count)) if n else 0.0


def calibration_metrics(golds: Sequence[str], yes_probabilities: Sequence[float]) -> dict:
    """ROC-AUC and ECE of a yes/no task's answers (see the module docstring)."""
    confidences = [max(q, 1 - q) for q in yes_probabilities]
    correct = [(q >= 0.5) == (g == POSITIVE) for g, q in zip(golds, yes_probabilities)]
    return {"roc_auc": roc_auc(golds, yes_probabilities), "ece": expected_calibration_error(confidences, correct),
            "n": len(golds)}


__all__ = ["RECOGNITION_METRICS", "MACRO_METRICS", "BINARY_METRICS", "label_rates",
           "labels_seen", "per_label_metrics", "recognition_metrics", "macro_metrics",
           "binary_metrics", "task_metrics", "roc_auc", "expected_calibration_error", "calibration_metrics"]
