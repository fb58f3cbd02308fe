"""Render a scores dictionary (``score.summarize``) as Markdown, JSON and PNG plots.

Plots use matplotlib's object API on the Agg canvas (no pyplot, no display, no global backend
change), imported only when a plot is drawn:
- ``accuracy_by_task.png``: accuracy per task with the macro and micro overall as lines;
- ``confusion_<task>.png`` for emotion_closed and intention: gold rows x predicted columns, the
  last three columns being ambiguous / unparseable / unanswered answers;
- ``outcomes_<task>.png`` for every task: per gold label, how many answers were correct, wrong,
  ambiguous, unparseable or missing.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..tasks.labels import EMOTION_TASKS, TASKS, YES_NO_TASKS
from .metrics import BINARY_METRICS, MACRO_METRICS, RECOGNITION_METRICS

TASK_TITLES = {"emotion_closed": "Emo-C", "emotion_open": "Emo-O", "intention": "Intention",
               "hate": "Hate", "humor": "Humor", "sarcasm": "Sarcasm"}
MACRO_TITLE = "Overall (macro mean of tasks)"
MICRO_TITLE = "Overall (micro, sample-weighted)"
PAPER_TITLE = "Overall (paper-style)"
METRIC_TITLES = {"uar": "UAR", "war": "WAR", "weighted_f1": "weighted F1",
                 "macro_precision": "macro P", "macro_recall": "macro R", "macro_f1": "macro F1",
                 "precision": "P (yes)", "recall": "R (yes)", "f1": "F1 (yes)"}
CONFUSION_PLOT_TASKS = ("emotion_closed", "intention")
OUTCOMES = ("correct", "wrong", "ambiguous", "unparseable", "unanswered")
OUTCOME_COLOURS = ("#4c9a2a", "#c0392b", "#e67e22", "#8e44ad", "#7f8c8d")


def _row(cells) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _table(header: list[str], rows: list[list], text_columns: int = 1) -> list[str]:
    """Markdown table; the first ``text_columns`` columns left-aligned, the rest right-aligned."""
    rule = [":---"] * text_columns + ["---:"] * (len(header) - text_columns)
    return [_row(header), _row(rule)] + [_row(row) for row in rows]


def _cell_text(text: str, limit: int = 80) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 3] + "..."


TABLE3_TASKS = ("emotion_closed", "emotion_open")


def accuracy_table(scores: dict) -> list[str]:
    """The paper's Table 2 row: six tasks in its column order, then the three overall figures;
    for a Table 3 subset (``scores["layout"] == "table3"``), Table 3's row: method, Emo-C, Emo-O."""
    tasks = scores["tasks"]
    if scores.get("layout") == "table3":
        method = ", ".join(scores["input"].get("model_ids") or ()) or "this model"
        return _table(["Method", *(TASK_TITLES[t] for t in TABLE3_TASKS)],
                      [[method, *(f"{tasks[t]['accuracy']:.2f}" if t in tasks else "-" for t in TABLE3_TASKS)]])
    cells = [f"{tasks[t]['accuracy']:.2f}" if t in tasks else "-" for t in TASKS]
    return _table(["", *(TASK_TITLES[t] for t in TASKS), MACRO_TITLE, MICRO_TITLE, PAPER_TITLE],
                  [["Accuracy (%)", *cells, f"{scores['macro']:.2f}", f"{scores['micro']:.2f}",
                    f"{scores['paper_style']:.2f}"]])


def _count_rows(named_counts: list[tuple[str, dict]]) -> list[list]:
    return [[name, c["n"], c["correct"], c["wrong"], c["ambiguous"], c["unparseable"],
             c["unanswered"], c["final_answer"], f"{c['accuracy']:.2f}"]
            for name, c in named_counts]


COUNT_HEADER = ["n", "correct", "wrong label", "ambiguous", "unparseable", "unanswered",
                "after marker", "accuracy (%)"]
METRIC_FAMILIES = (  # (title, tasks, metric keys)
    ("Emotion recognition: UAR, WAR, weighted F1", EMOTION_TASKS, RECOGNITION_METRICS),
    ("Intention: macro precision, recall, F1", ("intention",), MACRO_METRICS),
    ("Yes/no tasks: the positive class (yes), and macro F1 over yes and no", YES_NO_TASKS,
     BINARY_METRICS),
)


def metric_tables(named: list[tuple[str, str, dict]]) -> list[str]:
    """One table per metric family for (row name, task, summary with "metrics") rows."""
    lines: list[str] = []
    for title, family_tasks, keys in METRIC_FAMILIES:
        rows = [[name, *(f"{summary['metrics'][k]:.2f}" for k in keys)]
                for name, task, summary in named if task in family_tasks]
        if rows:
            lines += ["", f"{title} (%):", "",
                      *_table(["", *(METRIC_TITLES[k] for k in keys)], rows)]
    return lines


def to_markdown(scores: dict) -> str:
    """Accuracy table, counts per task, per-dataset breakdown, per-label P/R/F1, input problems."""
    tasks = scores["tasks"]
    if scores.get("layout") == "table3":
        lines = ["# EmoBench scores: Table 3 subset (image-only, six emotions), accuracy (%)", "",
                 *accuracy_table(scores), ""]
    else:
        lines = ["# EmoBench scores", "", *accuracy_table(scores), ""]
    present = [t for t in TASKS if t in tasks]
    weights = ", ".join(f"{TASK_TITLES[t]} {w:,}" for t, w in scores["paper_style_weights"].items())
    lines.append(f"{MACRO_TITLE}: the unweighted mean of the {len(present)} task accuracies "
                 f"above. {MICRO_TITLE}: correct answers / all {scores['n']} questions. "
                 f"{PAPER_TITLE}: task accuracies weighted by the paper's Table 1 Val&Test sizes "
                 f"with every emotion sample asked both ways ({weights}); see "
                 "docs/evaluation.md.")
    if scores["tasks_missing"]:
        lines.append(f"Tasks with no questions (left out of both): "
                     f"{', '.join(scores['tasks_missing'])}.")
    lines += ["Missing, unparseable and ambiguous answers are scored as wrong.", "",
              "## Counts per task", ""]
    total = {key: sum(tasks[t][key] for t in present) for key in
             ("n", "correct", "wrong", "ambiguous", "unparseable", "unanswered", "final_answer")}
    total["accuracy"] = scores["micro"]
    lines += _table(["Task", *COUNT_HEADER],
                    _count_rows([(TASK_TITLES[t], tasks[t]) for t in present]
                                + [("All (micro)", total)]))
    lines += ["", "\"after marker\": answers decided by the text after their last final-answer "
              "marker (\"Answer:\", \"so the emotion is ...\"; docs/evaluation.md).",
              "", "## Metrics per task"]
    lines += metric_tables([(TASK_TITLES[t], t, tasks[t]) for t in present])
    lines += ["", "## Per dataset", ""]
    rows = [(f"{name} / {TASK_TITLES[t]}", counts)
            for name, dataset in scores["datasets"].items()
            for t, counts in dataset["tasks"].items()]
    lines += _table(["Dataset / task", *COUNT_HEADER], _count_rows(rows))
    lines += metric_tables([(f"{name} / {TASK_TITLES[t]}", t, summary)
                            for name, dataset in scores["datasets"].items()
                            for t, summary in dataset["tasks"].items()])
    for task, metrics in scores["per_label"].items():
        lines += ["", f"## Per label: {TASK_TITLES[task]} ({task})", ""]
        body = [[label, f"{m['precision']:.2f}", f"{m['recall']:.2f}", f"{m['f1']:.2f}",
                 m["support"]] for label, m in metrics["labels"].items()]
        body.append(["Weighted F1", "", "", f"{metrics['weighted_f1']:.2f}", ""])
        body.append(["Macro F1", "", "", f"{metrics['macro_f1']:.2f}", ""])
        lines += _table(["Label", "Precision (%)", "Recall (%)", "F1 (%)", "Support"], body)
    lines += _examples_section(scores) + _input_section(scores)
    return "\n".join(lines) + "\n"


def _examples_section(scores: dict) -> list[str]:
    rows = [[TASK_TITLES[task], kind, example["id"], _cell_text(example["answer"]),
             ", ".join(example.get("candidates", []))]
            for task, kinds in scores["examples"].items()
            for kind, examples in kinds.items() for example in examples]
    if not rows:
        return []
    return ["", "## Answers that name no single label (first few per task)", "",
            *_table(["Task", "Kind", "Id", "Answer", "Labels named"], rows, text_columns=5)]


def _input_section(scores: dict) -> list[str]:
    problems = scores["input"]
    lines = ["", "## Input checks", ""]
    checks = [("questions without an answer (scored wrong)", problems["unanswered"])]
    if "answers_without_question" in problems:
        checks += [("answers whose question_id is in no question (not scored)",
                    problems["answers_without_question"]),
                   ("duplicate answer lines (first line scored; "
                    f"{problems['duplicate_answers']['conflicting']} with different text)",
                    problems["duplicate_answers"])]
    for what, listing in checks:
        ids = f": {', '.join(listing['ids'])}" if listing["ids"] else ""
        more = ", ..." if listing["count"] > len(listing["ids"]) else ""
        lines.append(f"- {listing['count']} {what}{ids}{more}")
    return lines


# ----------------------------------------------------------------------------- plots

def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # heavy; only needed for plots
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def plot_accuracy(scores: dict, path: Path) -> Path:
    present = [t for t in TASKS if t in scores["tasks"]]
    figure = _figure(6.4, 3.6)
    axes = figure.add_subplot()
    values = [scores["tasks"][t]["accuracy"] for t in present]
    bars = axes.bar([TASK_TITLES[t] for t in present], values, color="#3b6ea8")
    axes.bar_label(bars, fmt="%.1f", fontsize=8)
    axes.axhline(scores["macro"], color="#c0392b", linestyle="--",
                 label=f"{MACRO_TITLE}: {scores['macro']:.2f}")
    axes.axhline(scores["micro"], color="#27ae60", linestyle=":",
                 label=f"{MICRO_TITLE}: {scores['micro']:.2f}")
    axes.set_ylim(0, 112)
    axes.set_ylabel("accuracy (%)")
    axes.set_title("EmoBench accuracy per task")
    axes.legend(fontsize=7, loc="upper left")
    figure.savefig(path)
    return path


def plot_confusion(scores: dict, task: str, path: Path) -> Path:
    table = scores["confusion"][task]
    gold, predicted, matrix = table["gold"], table["predicted"], table["matrix"]
    figure = _figure(1.6 + 0.45 * len(predicted), 1.4 + 0.4 * len(gold))
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Blues", aspect="auto")  # counts are written in the cells
    peak = max((max(row) for row in matrix), default=0)
    for r, row in enumerate(matrix):
        for c, count in enumerate(row):
            if count:
                axes.text(c, r, str(count), ha="center", va="center", fontsize=7,
                          color="white" if count > peak / 2 else "black")
    axes.set_xticks(range(len(predicted)), predicted, rotation=60, ha="right", fontsize=7)
    axes.set_yticks(range(len(gold)), gold, fontsize=7)
    axes.axvline(len(gold) - 0.5, color="black", linewidth=0.8)  # labels | failures
    axes.set_xlabel("predicted")
    axes.set_ylabel("gold")
    axes.set_title(f"{TASK_TITLES[task]}: confusion (counts)", fontsize=9)
    figure.savefig(path)
    return path


def _outcomes_per_label(table: dict) -> dict[str, list[int]]:
    """Per outcome, one count per gold label, read off the confusion matrix."""
    labels, columns = table["gold"], table["predicted"]
    counts = {outcome: [0] * len(labels) for outcome in OUTCOMES}
    for r, (label, row) in enumerate(zip(labels, table["matrix"])):
        for column, count in zip(columns, row):
            if column.startswith("("):
                counts[column.strip("()")][r] += count
            else:
                counts["correct" if column == label else "wrong"][r] += count
    return counts


def plot_outcomes(scores: dict, task: str, path: Path) -> Path:
    table = scores["confusion"][task]
    counts = _outcomes_per_label(table)
    labels = table["gold"]
    figure = _figure(6.0, 1.2 + 0.35 * len(labels))
    axes = figure.add_subplot()
    left = [0] * len(labels)
    for outcome, colour in zip(OUTCOMES, OUTCOME_COLOURS):
        axes.barh(labels, counts[outcome], left=left, color=colour, label=outcome)
        left = [a + b for a, b in zip(left, counts[outcome])]
    axes.invert_yaxis()
    axes.set_xlabel("answers")
    axes.set_title(f"{TASK_TITLES[task]}: outcome per gold label", fontsize=9)
    axes.xaxis.get_major_locator().set_params(integer=True)
    figure.legend(fontsize=7, ncols=len(OUTCOMES), loc="outside lower center")
    figure.savefig(path)
    return path


def write_report(scores: dict, out_dir: str | Path) -> list[Path]:
    """Write scores.json, scores.md and the PNGs into ``out_dir``; return the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "scores.json", out_dir / "scores.md"
    json_path.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(to_markdown(scores), encoding="utf-8")
    written = [json_path, md_path, plot_accuracy(scores, out_dir / "accuracy_by_task.png")]
    for task in TASKS:
        if task not in scores["tasks"]:
            continue
        if task in CONFUSION_PLOT_TASKS:
            written.append(plot_confusion(scores, task, out_dir / f"confusion_{task}.png"))
        written.append(plot_outcomes(scores, task, out_dir / f"outcomes_{task}.png"))
    return written


__all__ = ["TASK_TITLES", "MACRO_TITLE", "MICRO_TITLE", "PAPER_TITLE", "accuracy_table",
           "metric_tables", "to_markdown",
           "plot_accuracy", "plot_confusion", "plot_outcomes", "write_report"]
