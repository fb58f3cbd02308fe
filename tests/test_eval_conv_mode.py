"""Evaluation asks questions with the template training used: recorded at training time in the
model config, read back by the runtime, an explicit --conv-mode still winning."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from emollm_plugin.model.parts import write_conversation_config
from emollm_plugin.constants import CONV_MODE_CONFIG_KEY
from emollm_plugin.runtime.loading import FALLBACK_CONV_MODE, checkpoint_conv_mode, resolve_conv_mode


@pytest.fixture
def default_conversation(monkeypatch):
    """Set llava's default_conversation the way train() does for a --version."""
    import llava.conversation as conversation_lib

    from emollm_plugin.configs import TEMPLATE_NAME
    from emollm_plugin.emoprompt.template import register_templates
    from emollm_plugin.registry import CONV_TEMPLATES
    register_templates()  # idempotent; then emoprompt_v1 in LLaVA's table, as register() leaves it
    monkeypatch.setitem(conversation_lib.conv_templates, TEMPLATE_NAME, CONV_TEMPLATES.get(TEMPLATE_NAME))

    def use(name: str):
        monkeypatch.setattr(conversation_lib, "default_conversation", conversation_lib.conv_templates[name])
    return use


@pytest.mark.parametrize("version,template,recorded", [
    ("v1", "v1", "v1"),                            # train(): conv_templates["v1"]
    ("emoprompt_v1", "emoprompt_v1", "emoprompt_v1"),
    ("llava_v1", "llava_v1", "llava_v1"),
    ("v0", "vicuna_v1", "v1"),                     # v0 keeps the module default (conv_vicuna_v1)
])
def test_training_records_the_template_its_conversations_use(default_conversation, version, template,
                                                            recorded):
    default_conversation(template)
    config = SimpleNamespace()
    write_conversation_config(config, SimpleNamespace(version=version))
    assert getattr(config, CONV_MODE_CONFIG_KEY) == recorded


def test_explicit_conv_mode_wins_then_the_record_then_the_fallback_with_a_note(capsys):
    assert resolve_conv_mode("llava_v1", "emoprompt_v1", "ckpt") == "llava_v1"
    assert resolve_conv_mode(None, "emoprompt_v1", "ckpt") == "emoprompt_v1"
    assert capsys.readouterr().err == ""
    assert resolve_conv_mode(None, None, "old-ckpt") == FALLBACK_CONV_MODE == "vicuna_v1"
    note = capsys.readouterr().err
    assert "old-ckpt records no conversation template" in note and "--conv-mode" in note


def test_the_record_is_read_from_the_checkpoint_config(tmp_path):
    assert checkpoint_conv_mode(tmp_path) is None                       # no config.json
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava_llama"}))
    assert checkpoint_conv_mode(tmp_path) is None                       # trained before the record
    (tmp_path / "config.json").write_text(json.dumps({CONV_MODE_CONFIG_KEY: "emoprompt_v1"}))
    assert checkpoint_conv_mode(tmp_path) == "emoprompt_v1"


def test_the_server_asks_free_questions_with_the_plain_template_of_an_emoprompt_checkpoint(tmp_path, monkeypatch):
    """EmoPrompt's exemplar needs a task; the server's free questions have none."""
    from emollm_plugin.apps import engine, serve
    seen = []
    monkeypatch.setattr(engine, "Answerer", lambda args: seen.append(args.conv_mode))
    (tmp_path / "config.json").write_text(json.dumps({CONV_MODE_CONFIG_KEY: "emoprompt_v1"}))

    def start(conv_mode):  # the arguments `emollm serve` parses
        args = serve.build_parser().parse_args(["--model", str(tmp_path), "--model-id", "m", "--max-new-tokens", "8"]
                                               + (["--conv-mode", conv_mode] if conv_mode else []))
        engine.Engine(args)
        return seen.pop()

    assert start(None) == "vicuna_v1"
    assert start("llava_v1") == "llava_v1"
    (tmp_path / "config.json").write_text(json.dumps({CONV_MODE_CONFIG_KEY: "v1"}))
    assert start(None) is None  # resolved by the Answerer from the checkpoint config: v1
