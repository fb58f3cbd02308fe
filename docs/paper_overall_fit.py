"""Rerun the inference behind "Overall (paper-style)" on the paper's published numbers.

    python docs/paper_overall_fit.py

The EmoLLM paper (Yang, Ye, Du, arXiv 2406.16442) reports per-task accuracies and an "Overall"
column in its Table 2 (models on EmoBench) and Table 4 (training strategies), without saying how
Overall is computed. This script predicts each row's Overall from its task columns under three
candidate rules and prints predicted minus published:

- paper-style: ``emollm_plugin.eval.paper_overall.paper_style_overall``, task accuracies weighted
  by the Table 1 Val&Test sizes with every emotion sample asked both closed and open
  (30,600 / 30,600 / 400 / 10,000 / 1,000 / 2,400 for Emo-C / Emo-O / Intention / Hate / Humor /
  Sarcasm);
- emotion asked once: the same sizes, each emotion sample asked closed or open (15,300 each);
- column mean: the unweighted mean of the six task columns.

PAPER_ROWS holds the seven distinct rows of Tables 2 and 4 (Table 4's "sequential" row is
Table 2's EmoLLM row, so it appears once).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from emollm_plugin.tasks.labels import TASKS
from emollm_plugin.eval.paper_overall import paper_style_overall


@dataclass(frozen=True)
class PaperRow:
    source: str                                   # table of the paper
    row: str
    overall: float                                # the published Overall
    columns: tuple[float, ...]                    # Emo-C, Emo-O, Intention, Hate, Humor, Sarcasm


PAPER_ROWS = (
    PaperRow("Table 2", "Vicuna (zero-shot)", 28.63, (29.21, 21.55, 17.48, 45.39, 49.68, 55.23)),
    PaperRow("Table 2", "ChatUniVi", 46.66, (47.62, 39.26, 57.85, 63.03, 63.85, 77.87)),
    PaperRow("Table 2", "MacawLLM", 40.28, (42.42, 31.05, 52.91, 57.54, 55.60, 71.75)),
    PaperRow("Table 2", "OneLLM", 48.20, (51.16, 40.30, 56.95, 59.01, 60.89, 73.93)),
    PaperRow("Table 2 = Table 4 sequential", "EmoLLM", 60.36,
             (64.06, 52.58, 73.99, 67.43, 75.69, 86.67)),
    PaperRow("Table 4", "emo", 56.24, (61.65, 47.40, 67.71, 62.44, 70.82, 80.22)),
    PaperRow("Table 4", "mix", 58.11, (63.05, 49.32, 73.54, 65.90, 67.65, 83.74)),
)
RULES = ("paper-style (both ways)", "emotion asked once", "column mean")


def predictions(row: PaperRow) -> dict[str, float]:
    """Each rule's predicted Overall for ``row``."""
    accuracies = dict(zip(TASKS, row.columns))
    return {"paper-style (both ways)": paper_style_overall(accuracies),
            "emotion asked once": paper_style_overall(accuracies, emotion_both_ways=False),
            "column mean": sum(row.columns) / len(row.columns)}


def residuals(row: PaperRow) -> dict[str, float]:
    """Predicted minus published Overall, per rule."""
    return {rule: value - row.overall for rule, value in predictions(row).items()}


def table() -> str:
    header = ["source", "row", "published Overall"] + [f"{rule}: predicted (residual)"
                                                       for rule in RULES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in PAPER_ROWS:
        predicted, residual = predictions(row), residuals(row)
        cells = [f"{predicted[rule]:.2f} ({residual[rule]:+.2f})" for rule in RULES]
        lines.append("| " + " | ".join([row.source, row.row, f"{row.overall:.2f}", *cells]) + " |")
    return "\n".join(lines)


def main() -> int:
    print(table())
    print()
    for rule in RULES:
        values = [residuals(row)[rule] for row in PAPER_ROWS]
        print(f"{rule}: residuals {min(values):+.2f} to {max(values):+.2f} points "
              f"over the {len(values)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
