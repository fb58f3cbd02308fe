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


__all__ = ["RECOGNITION_METRICS", "MACRO_METRICS", "BINARY_METRICS", "label_rates",
           "labels_seen", "per_label_metrics", "recognition_metrics", "macro_metrics",
           "binary_metrics", "task_metrics"]
