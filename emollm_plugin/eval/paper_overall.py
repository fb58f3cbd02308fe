"""Overall (paper-style): a sample-weighted mean of the task accuracies with fixed weights.

The paper's Overall column is not the mean of its six task columns (EmoLLM, Table 2: mean 70.07,
Overall 60.36), and the paper does not say how it is computed. The weights below were inferred
by fitting the Overall of the paper's rows from their task columns (docs/paper_overall_fit.py
reruns the fit on the published numbers; docs/evaluation.md gives the residuals):

    overall_paper = sum_t w_t acc_t / sum_t w_t                 (over the tasks present)
    w_t           = sum of N_d over the datasets d that feed task t

N_d is dataset d's Val&Test size in the paper's Table 1 (``DatasetAdapter.paper_sizes[1]``), and
every emotion sample counts for both emotion_closed and emotion_open (asked both ways):

    w = {emotion_closed: 30,600, emotion_open: 30,600, intention: 400, hate: 10,000,
         humor: 1,000, sarcasm: 2,400}                                     (sum 75,000)

The weights are constants of the paper's test set, not the sizes of the test set being scored,
so the figure is comparable with the paper's Overall whatever the local test set holds.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping

from ..tasks.labels import EMOTION_TASKS, TASKS


@lru_cache(maxsize=None)
def _weights(emotion_both_ways: bool) -> tuple[tuple[str, int], ...]:
    from ..bench.adapters import ADAPTERS, get_adapter
    weights = dict.fromkeys(TASKS, 0)
    for name in ADAPTERS:
        adapter = get_adapter(name)
        size = adapter.paper_sizes[1]
        emotion = [task for task in adapter.tasks if task in EMOTION_TASKS]
        for task in adapter.tasks:
            share = 1.0 if emotion_both_ways or task not in EMOTION_TASKS else 1 / len(emotion)
            weights[task] += round(size * share)
    return tuple(weights.items())


def paper_task_weights(emotion_both_ways: bool = True) -> dict[str, int]:
    """Per task, its Table 1 Val&Test sample count; emotion samples asked both ways by default
    (``False``: each emotion sample asked once, half closed and half open)."""
    return dict(_weights(emotion_both_ways))


def paper_style_overall(accuracies: Mapping[str, float], emotion_both_ways: bool = True) -> float:
    """The weighted mean of ``accuracies`` (task -> percent) over the tasks it holds."""
    weights = paper_task_weights(emotion_both_ways)
    unknown = set(accuracies) - set(weights)
    if unknown:
        raise ValueError(f"unknown task(s) {sorted(unknown)}; tasks are {', '.join(TASKS)}")
    total = sum(weights[task] for task in accuracies)
    if not total:
        return 0.0
    return sum(weights[task] * accuracy for task, accuracy in accuracies.items()) / total


__all__ = ["paper_task_weights", "paper_style_overall"]
