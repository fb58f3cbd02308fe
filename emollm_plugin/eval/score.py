"""Score an answers file against EmoBench questions: per-task accuracy, overall, per-label metrics.

For one task with records r = 1..n, gold label y_r and parsed prediction p_r (None when the
answer is missing, unparseable or ambiguous):

    accuracy_task = 100 * #{r : p_r == y_r} / n                          (percent)
    macro         = mean of accuracy_task over the tasks present
    micro         = 100 * sum_task correct_task / sum_task n_task         (sample-weighted)
    precision_l   = #{p_r == l and y_r == l} / #{p_r == l}        (0 when nothing predicted l)
    recall_l      = #{p_r == l and y_r == l} / #{y_r == l}        (0 when l has no support)
    f1_l          = 2 P R / (P + R)                               (0 when P + R == 0)
    weighted_f1   = sum_l support_l * f1_l / sum_l support_l
    paper_style   = sum_t w_t accuracy_t / sum_t w_t     (w: Table 1 sizes, see paper_overall)

Every task, and every dataset within a task, also gets its metric family (``eval.metrics``: UAR,
WAR and weighted F1 for emotions, macro P/R/F1 for intentions, P/R/F1 of "yes" and macro F1 for
yes/no). Yes/no tasks whose answers carry ``option_probabilities`` (``--answer-mode score``) also
get ``calibration``: ROC-AUC of p("yes") and the expected calibration error (``eval.metrics``),
over the answers that carry them. A missing, unparseable or ambiguous answer is wrong: it lowers recall of its gold label
and is nobody's prediction, so it never raises a precision. Percentages are rounded to 2 decimals.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from tqdm import tqdm

from ..bench.subset import is_table3
from ..tasks.answers import AMBIGUOUS, UNPARSEABLE, Parsed, parse_answer
from ..tasks.labels import CANONICAL_EMOTIONS, MINTREC_INTENTS, TASKS, YES_NO, YES_NO_TASKS
from ..tasks.lexicon import normalize
from ..errors import EmoLLMError
from .metrics import calibration_metrics, per_label_metrics, task_metrics
from .paper_overall import paper_style_overall, paper_task_weights

CLOSED_TASKS = ("emotion_closed", "intention")
PER_LABEL_TASKS = ("emotion_closed", "emotion_open", "intention")
UNANSWERED = "unanswered"
FAILURE_COLUMNS = (f"({AMBIGUOUS})", f"({UNPARSEABLE})", f"({UNANSWERED})")
SHOWN_IDS = 5  # ids listed per input problem and examples per task in the output


class ScoringInputError(EmoLLMError, ValueError):
    """The questions or answers file cannot be scored as given; the message says where and why."""


@dataclass(frozen=True)
class Judgement:
    """One question and what its answer was judged to be."""

    id: str
    task: str
    dataset: str
    gold: str
    answer: str | None        # None: no answer line for this question
    parsed: Parsed | None

    @property
    def outcome(self) -> str:
        """correct | wrong | ambiguous | unparseable | unanswered"""
        if self.parsed is None:
            return UNANSWERED
        if self.parsed.status != "ok":
            return self.parsed.status
        return "correct" if self.parsed.label == self.gold else "wrong"


# ----------------------------------------------------------------------------- loading

def _read_json_records(path: Path, what: str) -> list[tuple[str, object]]:
    """(location, value) pairs from a JSON list or a JSONL file; location names line or index."""
    from ..records import read_records
    return [(f"{path} [index {n}]" if kind == "index" else f"{path}:{n}", value)
            for kind, n, value in read_records(path, what, ScoringInputError)]


def _record_problem(record: object) -> str | None:
    if not isinstance(record, dict):
        return f"is a {type(record).__name__}, expected a JSON object"
    for field in ("id", "task", "dataset", "label"):
        if field not in record:
            return f"has no {field!r} field"
    task, label = record["task"], record["label"]
    if task not in TASKS:
        return f"task {task!r} is not one of {', '.join(TASKS)}"
    if not isinstance(label, str):
        return f"label {label!r} must be a string"
    if task in CLOSED_TASKS:
        label_set = record.get("label_set")
        if not isinstance(label_set, list) or not label_set:
            return f"closed-set task {task!r} needs a non-empty 'label_set' list"
        if label not in label_set:
            return f"label {label!r} is not in its label_set {label_set}"
        normalized = [normalize(option) if isinstance(option, str) else "" for option in label_set]
        if "" in normalized or len(set(normalized)) != len(normalized):
            return (f"label_set {label_set} has an empty, non-string or repeated option (options "
                    "are compared lowercased, punctuation stripped); make every option distinct")
    elif task == "emotion_open" and label not in CANONICAL_EMOTIONS:
        return (f"open-set label {label!r} is not a canonical emotion "
                f"({', '.join(CANONICAL_EMOTIONS)}); map it when building EmoBench")
    elif task in YES_NO_TASKS and label not in YES_NO:
        return f"yes/no label {label!r} must be exactly 'yes' or 'no' (lowercase)"
    return None


def load_questions(path: str | Path) -> list[dict]:
    """EmoBench records (JSON list or JSONL), checked; ScoringInputError names every bad one."""
    path = Path(path)
    problems, records, seen = [], [], {}
    for where, record in _read_json_records(path, "questions"):
        problem = _record_problem(record)
        if problem is None and str(record["id"]) in seen:
            problem = f"id {record['id']!r} repeats the record at {seen[str(record['id'])]}"
        if problem:
            record_id = record.get("id", "?") if isinstance(record, dict) else "?"
            problems.append(f"{where} (id {record_id!r}): {problem}")
            continue
        seen[str(record["id"])] = where
        records.append(record)
    if problems:
        shown = "\n  ".join(problems[:SHOWN_IDS])
        raise ScoringInputError(f"{len(problems)} question record(s) cannot be scored; fix them "
                                f"in {path} (first {min(len(problems), SHOWN_IDS)}):\n  {shown}")
    if not records:
        raise ScoringInputError(f"{path}: no question records")
    return records


@dataclass
class Answers:
    """Answers by question id (first line wins) and the duplicate lines seen."""

    text_by_id: dict[str, str]
    duplicate_ids: list[str]        # one entry per extra line
    conflicting_ids: list[str]      # duplicates whose text differs from the first line's
    lines: int
    probabilities_by_id: dict[str, dict] = field(default_factory=dict)  # option_probabilities, when given
    model_ids: list[str] = field(default_factory=list)  # distinct model_id values, first seen first


def printable(text: str) -> str:
    """``text`` as valid UTF-8: a lone surrogate (JSON can spell one, ``"\\udcff"``) becomes
    ``\\udcff``, so the report can be printed and written; other text is unchanged."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def load_answers(path: str | Path) -> Answers:
    """LLaVA answers file: JSONL with ``question_id`` and ``text`` (other keys ignored). Ids and
    texts are kept ``printable``; a bad file raises ScoringInputError naming the file and line."""
    path = Path(path)
    answers = Answers({}, [], [], 0)
    for where, row in _read_json_records(path, "answers"):
        answers.lines += 1
        if not isinstance(row, dict) or "question_id" not in row or "text" not in row:
            raise ScoringInputError(f"{where}: expected an object with 'question_id' and 'text' "
                                    "(LLaVA answers-file format)")
        if not isinstance(row["text"], str):
            raise ScoringInputError(f"{where}: 'text' is {row['text']!r}, expected a string")
        model_id = row.get("model_id")
        if isinstance(model_id, str) and printable(model_id) not in answers.model_ids:
            answers.model_ids.append(printable(model_id))
        key, text = printable(str(row["question_id"])), printable(row["text"])
        if key in answers.text_by_id:
            answers.duplicate_ids.append(key)
            if text != answers.text_by_id[key]:
                answers.conflicting_ids.append(key)
            continue
        answers.text_by_id[key] = text
        probabilities = row.get("option_probabilities")
        if probabilities is not None:
            if not isinstance(probabilities, dict) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in probabilities.values()):
                raise ScoringInputError(f"{where}: 'option_probabilities' must map each option to a number "
                                        f"(--answer-mode score writes it), got {probabilities!r}")
            answers.probabilities_by_id[key] = probabilities
    return answers


# ----------------------------------------------------------------------------- judging

def judge(questions: Iterable[Mapping], answers: Mapping[str, str]) -> list[Judgement]:
    """Parse every question's answer (None when it has none); a progress bar on a terminal."""
    judgements = []
    for record in tqdm(questions, desc="scoring", unit="question", disable=None, leave=False):
        key = printable(str(record["id"]))
        answer = answers.get(key)
        parsed = None if answer is None else parse_answer(answer, record["task"],
                                                          record.get("label_set"))
        judgements.append(Judgement(key, record["task"], record["dataset"], record["label"],
                                    answer, parsed))
    return judgements


def _percent(numerator: float, denominator: float) -> float:
    return round(100.0 * numerator / denominator, 2) if denominator else 0.0


def _prediction(j: Judgement) -> str | None:
    return j.parsed.label if j.outcome in ("correct", "wrong") else None


def _counts(judgements: list[Judgement]) -> dict:
    outcomes = Counter(j.outcome for j in judgements)
    return {"accuracy": _percent(outcomes["correct"], len(judgements)), "n": len(judgements),
            "correct": outcomes["correct"], "wrong": outcomes["wrong"],
            "ambiguous": outcomes[AMBIGUOUS], "unparseable": outcomes[UNPARSEABLE],
            "unanswered": outcomes[UNANSWERED],
            "final_answer": sum(1 for j in judgements if j.parsed and j.parsed.final_answer)}


def _task_summary(task: str, judgements: list[Judgement]) -> dict:
    """Counts plus the task's metric family (``metrics``)."""
    return {**_counts(judgements),
            "metrics": task_metrics(task, [j.gold for j in judgements],
                                    [_prediction(j) for j in judgements])}


def _label_order(task: str, judgements: list[Judgement]) -> list[str]:
    known = {"emotion_closed": CANONICAL_EMOTIONS, "emotion_open": CANONICAL_EMOTIONS,
             "intention": MINTREC_INTENTS}.get(task, YES_NO)
    present = {j.gold for j in judgements} | {j.parsed.label for j in judgements
                                              if j.parsed is not None and j.parsed.label}
    return [label for label in known if label in present] + sorted(present - set(known))


def confusion(judgements: list[Judgement], labels: list[str]) -> dict:
    """Rows: gold labels; columns: predicted labels, then (ambiguous) (unparseable) (unanswered)."""
    columns = labels + list(FAILURE_COLUMNS)
    index = {label: i for i, label in enumerate(columns)}
    matrix = [[0] * len(columns) for _ in labels]
    for j in judgements:
        column = j.parsed.label if j.outcome in ("correct", "wrong") else f"({j.outcome})"
        matrix[labels.index(j.gold)][index[column]] += 1
    return {"gold": labels, "predicted": columns, "matrix": matrix}


def _examples(judgements: list[Judgement]) -> dict:
    shown: dict[str, list] = {AMBIGUOUS: [], UNPARSEABLE: []}
    for j in judgements:
        if j.outcome in shown and len(shown[j.outcome]) < SHOWN_IDS:
            example = {"id": j.id, "answer": j.answer}
            if j.outcome == AMBIGUOUS:
                example["candidates"] = list(j.parsed.candidates)
            shown[j.outcome].append(example)
    return {kind: rows for kind, rows in shown.items() if rows}


def _listing(ids: list[str]) -> dict:
    return {"count": len(ids), "ids": ids[:SHOWN_IDS]}


def summarize(judgements: list[Judgement], answers: Answers | None = None) -> dict:
    """The scores dictionary (see docs/evaluation.md for every key)."""
    by_task: dict[str, list[Judgement]] = defaultdict(list)
    by_dataset: dict[str, list[Judgement]] = defaultdict(list)
    for j in judgements:
        by_task[j.task].append(j)
        by_dataset[j.dataset].append(j)
    present = [task for task in TASKS if task in by_task]
    tasks = {task: _task_summary(task, by_task[task]) for task in present}
    accuracies = {t: 100.0 * tasks[t]["correct"] / tasks[t]["n"] for t in present}
    scores: dict = {
        "tasks": tasks,
        "macro": round(sum(accuracies.values()) / len(accuracies), 2) if accuracies else 0.0,
        "micro": _percent(sum(t["correct"] for t in tasks.values()), len(judgements)),
        "paper_style": round(paper_style_overall(accuracies), 2),
        "paper_style_weights": {t: w for t, w in paper_task_weights().items() if t in tasks},
        "n": len(judgements),
        "correct": sum(t["correct"] for t in tasks.values()),
        "tasks_missing": [task for task in TASKS if task not in by_task],
        "datasets": {},
        "per_label": {},
        "confusion": {},
        "examples": {},
    }
    for dataset in sorted(by_dataset):
        rows = by_dataset[dataset]
        scores["datasets"][dataset] = {
            **_counts(rows),
            "tasks": {t: _task_summary(t, [j for j in rows if j.task == t])
                      for t in present if any(j.task == t for j in rows)}}
    for task in present:
        rows = by_task[task]
        labels = _label_order(task, rows)
        if task in PER_LABEL_TASKS:
            scores["per_label"][task] = per_label_metrics(
                [j.gold for j in rows], [_prediction(j) for j in rows], labels)
        scores["confusion"][task] = confusion(rows, labels)
        if examples := _examples(rows):
            scores["examples"][task] = examples
    if answers is not None and answers.probabilities_by_id:
        for task in present:
            if task not in YES_NO_TASKS:
                continue
            rows = [j for j in by_task[task] if "yes" in answers.probabilities_by_id.get(j.id, {})]
            if rows:
                scores["tasks"][task]["calibration"] = calibration_metrics(
                    [j.gold for j in rows], [float(answers.probabilities_by_id[j.id]["yes"]) for j in rows])
    unanswered = [j.id for j in judgements if j.outcome == UNANSWERED]
    scores["input"] = {"questions": len(judgements), "unanswered": _listing(unanswered),
                       "note": "unanswered questions are scored as wrong"}
    if answers is not None:
        question_ids = {j.id for j in judgements}
        scores["input"].update(
            answer_lines=answers.lines,
            answers_without_question=_listing([k for k in answers.text_by_id
                                               if k not in question_ids]),
            duplicate_answers={**_listing(answers.duplicate_ids),
                               "conflicting": len(answers.conflicting_ids),
                               "note": "the first answer line of each question is scored"})
    return scores


def score_files(answers: str | Path, questions: str | Path) -> dict:
    """Score a LLaVA answers file (JSONL) against an EmoBench questions file (JSON or JSONL)."""
    records = load_questions(questions)
    loaded = load_answers(answers)
    scores = summarize(judge(records, loaded.text_by_id), loaded)
    scores["input"].update(questions_file=str(questions), answers_file=str(answers),
                           model_ids=loaded.model_ids)
    scores["layout"] = "table3" if is_table3(records) else "table2"
    return scores


__all__ = ["ScoringInputError", "Judgement", "Answers", "load_questions", "load_answers", "judge",
           "per_label_metrics", "confusion", "summarize", "score_files", "FAILURE_COLUMNS"]
