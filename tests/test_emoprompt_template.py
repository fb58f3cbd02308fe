"""The emoprompt_v1 template: Vicuna v1 turns, exemplar in the system prompt, exact target masking
through LLaVA's own preprocess (which must dispatch to preprocess_v1)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from emollm_plugin.emoprompt import (EMOPROMPT_TEMPLATE_NAME, emoprompt_conversation, example_bank_path,
                                     load_bank, register_templates, render_system, with_exemplar)
from emollm_plugin.emoprompt.template import ConversationTemplateError

IGNORE_INDEX = -100
TURNS = [("<image>\nWhat emotion is shown? Options: joy, anger, fear.", "joy"),
         ("Why do you think so?", "The face smiles and the eyes narrow.")]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from emollm_plugin.testing.tiny import build_tokenizer
    tok = build_tokenizer(tmp_path_factory.mktemp("emoprompt_tok"))
    tok.pad_token = tok.unk_token  # what LLaVA's train() does for v1 conversations
    return tok


@pytest.fixture(scope="module")
def bank():
    return load_bank(example_bank_path())


def _preprocess(conv, tokenizer, monkeypatch):
    """LLaVA's own preprocess (the dispatcher) with ``conv`` as the default conversation."""
    import llava.conversation as conversation_lib
    from llava.train.train import preprocess
    monkeypatch.setattr(conversation_lib, "default_conversation", conv)
    source = []
    for human, gpt in TURNS:
        source += [{"from": "human", "value": human}, {"from": "gpt", "value": gpt}]
    out = preprocess([source], tokenizer, has_image=True)
    return out["input_ids"][0], out["labels"][0]


def test_separators_are_vicuna_v1_and_version_dispatches_to_preprocess_v1():
    from llava.conversation import SeparatorStyle, conv_vicuna_v1
    conv = emoprompt_conversation()
    assert (conv.sep_style, conv.sep, conv.sep2) == (SeparatorStyle.TWO, " ", "</s>")
    assert tuple(conv.roles) == tuple(conv_vicuna_v1.roles) == ("USER", "ASSISTANT")
    assert conv.version.startswith("v1") and "mmtag" not in conv.version
    conv.append_message("USER", "<image>\nHi")
    conv.append_message("ASSISTANT", None)
    assert conv.get_prompt().endswith(" USER: <image>\nHi ASSISTANT:")


def test_exactly_the_assistant_tokens_are_supervised_for_every_task(tokenizer, bank, monkeypatch, capsys):
    tasks_seen = set()
    for exemplar in bank:
        conv = with_exemplar(emoprompt_conversation(), exemplar)
        input_ids, labels = _preprocess(conv, tokenizer, monkeypatch)
        supervised = labels[labels != IGNORE_INDEX].tolist()
        assert tokenizer.decode(supervised).split("</s>") == [" " + TURNS[0][1], " " + TURNS[1][1], ""]
        prompt_text = tokenizer.decode(input_ids[input_ids >= 0].tolist())
        assert " ".join(exemplar.reasoning.split()) in prompt_text  # the exemplar really is in it
        tasks_seen.add(exemplar.task)
    assert len(tasks_seen) == 6
    assert "tokenization mismatch" not in capsys.readouterr().out


def test_a_role_marker_in_the_system_prompt_would_break_masking(tokenizer, bank, monkeypatch, capsys):
    """Why render_system refuses TEMPLATE_BREAKERS: upstream masking splits on ' ASSISTANT: '."""
    conv = with_exemplar(emoprompt_conversation(), bank[0])
    conv.system += " ASSISTANT: ok"  # bypassing the check on purpose
    _, labels = _preprocess(conv, tokenizer, monkeypatch)
    assert (labels == IGNORE_INDEX).all()
    assert "tokenization mismatch" in capsys.readouterr().out
    with pytest.raises(ConversationTemplateError, match="ASSISTANT:"):
        render_system(replace(bank[0], reasoning=bank[0].reasoning + " ASSISTANT: ok"))


@pytest.mark.parametrize("breaker", ["</s>", "<image>", "<video>", "<audio>", "USER:"])
def test_render_system_refuses_template_breakers(bank, breaker):
    with pytest.raises(ConversationTemplateError, match=f"{bank[0].id}.*reasoning"):
        render_system(replace(bank[0], reasoning=f"Look at this {breaker} here."))
    with pytest.raises(ConversationTemplateError, match="base system"):
        emoprompt_conversation(base_system=f"Hello {breaker}")


def test_system_prompt_describes_media_in_words_never_by_path(bank):
    video = next(ex for ex in bank if "video" in ex.media and "audio" in ex.media)
    image = next(ex for ex in bank if "image" in ex.media)
    for exemplar, words in ((video, "a video clip (frames in time order) with its audio track"),
                            (image, "an image")):
        system = render_system(exemplar)
        assert f"Input: {words}." in system
        assert f"Answer: {exemplar.answer}" in system
        assert " ".join(exemplar.reasoning.split()) in system
        assert not any(path in system for path in exemplar.media.values())
        assert "/" not in system.split("Worked example", 1)[1].split("Reasoning:")[0]


def test_with_exemplar_copies_and_replaces_rather_than_stacks(bank):
    base = emoprompt_conversation()
    first = with_exemplar(base, bank[0])
    second = with_exemplar(first, bank[1])
    assert base.system.count("Worked example") == 0
    assert first.system.count("Worked example") == second.system.count("Worked example") == 1
    assert bank[1].answer in second.system and bank[0].reasoning[:40] not in second.system
    assert second.system == render_system(bank[1], base_system=base.system)
    assert (second.sep, second.sep2, second.version) == (base.sep, base.sep2, base.version)


def test_register_templates_is_idempotent_and_registers_the_v1_conversation():
    from emollm_plugin.registry import CONV_TEMPLATES
    register_templates()
    register_templates()
    conv = CONV_TEMPLATES.get(EMOPROMPT_TEMPLATE_NAME)
    assert conv.version.startswith("v1") and conv.sep2 == "</s>"
