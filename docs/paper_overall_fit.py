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

PAPER_ROWS holds only numbers this repository has from the paper. A row whose task columns are
not recorded here prints "columns not recorded"; add its six columns to rerun it.
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
    columns: tuple[float, ...] | None = None      # Emo-C, Emo-O, Intention, Hate, Humor, Sarcasm
    column_mean: float | None = None              # when only the mean of the columns is known


PAPER_ROWS = (
    PaperRow("Table 2", "EmoLLM", 60.36, (64.06, 52.58, 73.99, 67.43, 75.69, 86.67)),
    PaperRow("Table 2", "Vicuna", 28.63, column_mean=36.42),
    PaperRow("Table 4", "emo", 56.24),
)
RULES = ("paper-style (both ways)", "emotion asked once", "column mean")


def predictions(row: PaperRow) -> dict[str, float | None]:
    """Each rule's predicted Overall for ``row`` (None when its columns are not recorded)."""
    if row.columns is None:
        return {"paper-style (both ways)": None, "emotion asked once": None,
                "column mean": row.column_mean}
    accuracies = dict(zip(TASKS, row.columns))
    return {"paper-style (both ways)": paper_style_overall(accuracies),
            "emotion asked once": paper_style_overall(accuracies, emotion_both_ways=False),
            "column mean": sum(row.columns) / len(row.columns)}


def residuals(row: PaperRow) -> dict[str, float | None]:
    """Predicted minus published Overall, per rule (None when it cannot be computed)."""
    return {rule: None if value is None else value - row.overall
            for rule, value in predictions(row).items()}


def table() -> str:
    header = ["source", "row", "published Overall"] + [f"{rule}: predicted (residual)"
                                                       for rule in RULES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in PAPER_ROWS:
        predicted, residual = predictions(row), residuals(row)
        cells = [f"{predicted[rule]:.2f} ({residual[rule]:+.2f})" if predicted[rule] is not None
                 else "columns not recorded" for rule in RULES]
        lines.append("| " + " | ".join([row.source, row.row, f"{row.overall:.2f}", *cells]) + " |")
    return "\n".join(lines)


def main() -> int:
    print(table())
    complete = [row for row in PAPER_ROWS if row.columns is not None]
    worst = max(abs(residuals(row)["paper-style (both ways)"]) for row in complete)
    print(f"\n{len(complete)} of {len(PAPER_ROWS)} rows have their columns recorded here; "
          f"largest paper-style residual on them: {worst:.2f} points.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
