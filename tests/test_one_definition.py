"""One definition each: the question text without placeholders, the sound-track check, the record
builder and the final-answer marker are shared by the builder, the scorer, the EmoPrompt generator
and the apps."""
from __future__ import annotations

import numpy as np
import pytest

from emollm_plugin.tasks.answers import final_answer_text, last_final_answer_marker, parse_answer
from emollm_plugin.tasks.schema import check_record, human_turn, make_record, question_without_placeholders


def _record(human: str) -> dict:
    return {"conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": "x"}]}


@pytest.mark.parametrize("human, expected", [
    ("<image>\nWhich emotion?", "Which emotion?"),
    ("<video>\n<audio>\nContext line\nWhich emotion?", "Context line\nWhich emotion?"),
    ("<image>\nIn <image> and <audio>, which emotion?", "In  and , which emotion?"),  # anywhere, not only leading
    ("Which emotion?", "Which emotion?"),
])
def test_question_without_placeholders_removes_every_placeholder(human, expected):
    assert question_without_placeholders(_record(human)) == expected


def test_every_caller_uses_the_one_question_text():
    from emollm_plugin.emoprompt.generator import prompt
    from emollm_plugin.eval import questions
    from emollm_plugin.runtime import batch
    assert prompt.question_without_placeholders is question_without_placeholders
    assert questions.question_without_placeholders is question_without_placeholders
    assert batch.question_without_placeholders is question_without_placeholders


def test_the_generator_prompt_carries_no_placeholder():
    from emollm_plugin.emoprompt.generator.prompt import question_without_placeholders as generator_text
    record = _record("<video>\n<audio>\nWhat does <audio> tell about her?")
    assert "<" not in generator_text(record)


@pytest.mark.parametrize("media, expected", [
    ({"image": True}, "<image>\nQ?"), ({"video": True, "audio": True}, "<video>\n<audio>\nQ?"),
    ({"audio": True}, "<audio>\nQ?"), ({}, "Q?"),
])
def test_human_turn_puts_one_placeholder_per_medium_first(media, expected):
    assert human_turn("Q?", **media) == expected


def test_the_apps_question_record_is_a_schema_record_without_its_answer():
    from emollm_plugin.apps.prompts import record_for
    asked = record_for("x", {"video": "v/a.mp4", "audio": "v/a.mp4"}, "anger or fear?", "emotion_closed",
                      ["anger", "fear"])
    built = make_record(record_id="x", task="emotion_closed", dataset="v", split="test", label="anger",
                        source_id="a", question="anger or fear?", video="v/a.mp4", audio="v/a.mp4",
                        label_set=["anger", "fear"])
    check_record(built)
    assert asked["conversations"] == built["conversations"][:1]
    assert "label" not in asked and len(built["conversations"]) == 2


def test_a_dataset_record_without_a_label_is_refused():
    from emollm_plugin.tasks.schema import SchemaError
    with pytest.raises(SchemaError, match="label"):
        make_record(record_id="x", task="humor", dataset="d", question="Q?", image="d/a.png")


@pytest.mark.parametrize("text", [
    "Reasoning: She smiles widely. Answer: joy",
    "She frowns and looks down. Final answer: sadness",
    "Her fists are clenched. The answer is anger",
    "Her jaw is set, so the emotion is anger",
    "Reasoning: tears; answer is coming. ANSWER: sadness.",
])
def test_the_demo_splits_where_the_scorer_reads_the_final_answer(text):
    from emollm_plugin.apps.prompts import split_explained
    _, answer = split_explained(text)
    assert answer == final_answer_text(text).strip()
    assert parse_answer(answer, "emotion_open").label == parse_answer(text, "emotion_open").label


def test_no_marker_means_the_whole_text_is_the_answer():
    from emollm_plugin.apps.prompts import split_explained
    assert last_final_answer_marker("joy") is None
    assert split_explained("  joy ") == (None, "joy")
    assert split_explained("She looks happy. Final answer:") == (None, "She looks happy. Final answer:")


def test_has_sound_is_one_function(tmp_path):
    from emollm_plugin.apps import demo_ui, media_limits, predict, serve
    from emollm_plugin.media.probe import has_sound
    from emollm_plugin.testing.synth import write_video, write_wav
    assert predict.has_sound is has_sound and not hasattr(media_limits, "has_sound")
    assert "has_sound" not in vars(serve) and "has_sound" not in vars(demo_ui)  # imported where used
    silent = write_video(tmp_path / "silent.mp4", num_frames=4, fps=4)
    voiced = write_wav(tmp_path / "voice.wav", np.zeros(8000, dtype=np.float32))
    assert has_sound(voiced) and not has_sound(silent)
