"""Question banks: size, placeholders, seeded choice, shuffled options, extra templates."""
from __future__ import annotations

import json
import random

import pytest

from emollm_plugin.tasks.labels import CANONICAL_EMOTIONS, CLOSED_TASKS, MINTREC_INTENTS, TASKS
from emollm_plugin.tasks.questions import MIN_TEMPLATES, QuestionBank, QuestionTemplateError


@pytest.fixture(scope="module")
def bank() -> QuestionBank:
    return QuestionBank.load()


def test_every_task_has_enough_distinct_templates(bank):
    assert set(bank.templates) == set(TASKS)
    for task, templates in bank.templates.items():
        assert len(set(templates)) == len(templates) >= MIN_TEMPLATES, task
        for t in templates:
            assert "{subject}" in t
            assert ("{options}" in t) == (task in CLOSED_TASKS), t


def test_closed_question_lists_a_shuffled_label_set(bank):
    orders, templates = set(), set()
    for i in range(300):
        question, options = bank.ask("intention", random.Random(i), "the speaker",
                                     MINTREC_INTENTS)
        assert sorted(options) == sorted(MINTREC_INTENTS)
        assert ", ".join(options) in question and "the speaker" in question
        orders.add(tuple(options))
        templates.add(question.replace(", ".join(options), "{options}"))
    assert len(orders) == 300  # 20! orders: repeats would mean the shuffle is not seeded per call
    assert len(templates) >= MIN_TEMPLATES


def test_same_rng_seed_same_question(bank):
    a = bank.ask("emotion_closed", random.Random("7|x"), "this image", CANONICAL_EMOTIONS)
    b = bank.ask("emotion_closed", random.Random("7|x"), "this image", CANONICAL_EMOTIONS)
    assert a == b


def test_open_and_yes_no_questions_have_no_options(bank):
    for task in ("emotion_open", "hate", "humor", "sarcasm"):
        question, options = bank.ask(task, random.Random(3), "this tweet")
        assert options is None and "this tweet" in question
        assert not any(e in question for e in CANONICAL_EMOTIONS if e != "surprise")
    with pytest.raises(ValueError, match="needs a non-empty label_set"):
        bank.ask("emotion_closed", random.Random(0), "x", [])


def test_extra_templates_are_added(tmp_path):
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"sarcasm": ["Be honest: is {subject} sarcastic?"]}))
    bank = QuestionBank.load(extra)
    assert bank.templates["sarcasm"][-1] == "Be honest: is {subject} sarcastic?"
    assert len(bank.templates["sarcasm"]) == len(QuestionBank.load().templates["sarcasm"]) + 1


@pytest.mark.parametrize("content, message", [
    ({"emotion_closed": ["Which emotion does {subject} show?"]}, "needs exactly"),
    ({"emotion_open": ["Pick from {options} for {subject}"]}, "needs exactly"),
    ({"humour": ["Is {subject} funny?"]}, "unknown task 'humour'"),
    ({"hate": ["{subject} is hateful?"]}, "starts with {subject}"),
    ({"hate": ["Is {subject hateful?"]}, "extra.json: hate\\[0\\]"),
    (["Is {subject} funny?"], "expected an object"),
])
def test_bad_extra_templates_name_file_and_problem(tmp_path, content, message):
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps(content))
    with pytest.raises(QuestionTemplateError, match=message):
        QuestionBank.load(extra)
