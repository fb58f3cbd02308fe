"""Mean ± sample standard deviation of every figure over several evaluation runs (seeds).

Each run is a folder holding the ``scores.json`` that ``emollm eval score --out-json`` and
``scripts/eval_emobench.sh`` write (or the path of such a file). A figure is a number in the score
JSON outside a list, named by its path of keys (``tasks.emotion_closed.accuracy``,
``datasets.meld.tasks.emotion_open.metrics.weighted_f1``, ``paper_style``); lists (confusion
matrices, example ids) are per-run detail and are left out. For a figure present in m runs with
values x_1..x_m:

    mean = sum_i x_i / m
    std  = sqrt(sum_i (x_i - mean)^2 / (m - 1))        (sample std; None when m == 1)

A figure missing from some runs (a task one run did not have) is aggregated over the runs that
have it, and its ``runs`` count says how many.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Sequence

from ..tasks.labels import TASKS
from ..errors import EmoLLMError
from .report import MACRO_TITLE, MICRO_TITLE, PAPER_TITLE, TASK_TITLES, _figure, _table

HEADLINE = [(f"tasks.{task}.accuracy", TASK_TITLES[task]) for task in TASKS] + [
    ("macro", MACRO_TITLE), ("micro", MICRO_TITLE), ("paper_style", PAPER_TITLE)]
PLOT_LABELS = {"macro": "Overall\nmacro", "micro": "Overall\nmicro", "paper_style": "Overall\npaper-style"}


class AggregateInputError(EmoLLMError, ValueError):
    """A run folder without a readable scores.json; the message names it and the fix."""


def scores_path(run: str | Path) -> Path:
    run = Path(run)
    path = run / "scores.json" if run.is_dir() else run
    if not path.is_file():
        raise AggregateInputError(f"{run}: no scores.json; pass evaluation folders written by "
                                  "scripts/eval_emobench.sh or `emollm eval score --out-json`")
    return path


def load_scores(run: str | Path) -> dict:
    path = scores_path(run)
    try:
        scores = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AggregateInputError(f"{path}: not a readable JSON file ({err}); rerun "
                                  "`emollm eval score --out-json` for this run") from None
    if not isinstance(scores, dict) or "tasks" not in scores:
        raise AggregateInputError(f"{path}: not a scores file (no 'tasks'); expected the output of "
                                  "`emollm eval score --out-json`")
    return scores


def figures(scores: dict, prefix: str = "") -> dict[str, float]:
    """Every number outside lists, by dotted key path (booleans left out)."""
    found: dict[str, float] = {}
    for key, value in scores.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            found.update(figures(value, f"{path}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found[path] = float(value)
    return found


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for a single value)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((x - mean) ** 2 for x in values) / (len(values) - 1))


def aggregate(runs: Iterable[str | Path]) -> dict:
    """{"runs": [scores.json paths], "figures": {path: {mean, std, runs, values}}}."""
    runs = list(runs)
    if not runs:
        raise AggregateInputError("no run folders given")
    per_run = [figures(load_scores(run)) for run in runs]
    names = list(dict.fromkeys(name for found in per_run for name in found))
    table = {}
    for name in names:
        values = [found[name] for found in per_run if name in found]
        mean, std = mean_std(values)
        table[name] = {"mean": mean, "std": std, "runs": len(values), "values": values}
    return {"runs": [str(scores_path(run)) for run in runs], "figures": table}


def _cell(entry: dict | None) -> str:
    if entry is None:
        return "-"
    std = "n/a" if entry["std"] is None else f"{entry['std']:.2f}"
    return f"{entry['mean']:.2f} ± {std}"


def to_markdown(result: dict) -> str:
    table = result["figures"]
    lines = ["# EmoBench scores over runs", "",
             f"Mean ± sample standard deviation over {len(result['runs'])} run(s): "
             + ", ".join(result["runs"]) + ".", ""]
    present = [(key, title) for key, title in HEADLINE if key in table]
    lines += _table(["", *(title for _, title in present)],
                    [["Accuracy (%)", *(_cell(table[key]) for key, _ in present)]])
    lines += ["", "## Every figure", ""]
    lines += _table(["Figure", "mean", "sample std", "runs", "values"],
                    [[name, f"{e['mean']:.4g}", "n/a" if e["std"] is None else f"{e['std']:.4g}",
                      e["runs"], ", ".join(f"{v:g}" for v in e["values"])]
                     for name, e in table.items()], text_columns=1)
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> Path:
    """Bar chart of the headline figures with the sample std as error bars."""
    table = result["figures"]
    present = [(key, title) for key, title in HEADLINE if key in table]
    figure = _figure(7.2, 3.8)
    axes = figure.add_subplot()
    means = [table[key]["mean"] for key, _ in present]
    errors = [table[key]["std"] or 0.0 for key, _ in present]
    bars = axes.bar([PLOT_LABELS.get(key, title) for key, title in present], means, yerr=errors,
                    capsize=4, color="#3b6ea8", ecolor="black")
    axes.bar_label(bars, fmt="%.1f", fontsize=7, label_type="center", color="white")
    axes.set_ylim(0, 105)
    axes.set_ylabel("accuracy (%)")
    axes.tick_params(axis="x", labelsize=7)
    axes.set_title(f"EmoBench: mean ± sample std over {len(result['runs'])} run(s)", fontsize=9)
    figure.savefig(path)
    return path


def write_aggregate(result: dict, out_dir: str | Path) -> list[Path]:
    """aggregate.json, aggregate.md and aggregate.png in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "aggregate.json", out_dir / "aggregate.md"
    json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(to_markdown(result), encoding="utf-8")
    return [json_path, md_path, plot(result, out_dir / "aggregate.png")]


__all__ = ["AggregateInputError", "figures", "mean_std", "aggregate", "to_markdown", "plot",
           "write_aggregate"]
