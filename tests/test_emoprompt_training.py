"""--version emoprompt_v1 through LLaVA's train(): exemplar in the system prompt, exact masking."""
from __future__ import annotations

import json

import pytest

from e2e_helpers import tiny_train_args, train_in_process

pytestmark = pytest.mark.slow  # training runs through LLaVA's train()


@pytest.fixture(scope="module")
def trained_emoprompt(tiny_models, tmp_path_factory):
    from emollm_plugin.testing.demo_data import make_demo_data
    root = tmp_path_factory.mktemp("e2e_emoprompt")
    data = make_demo_data(root / "data", per_label=2, kinds=("image",))
    out = root / "emollm-llava-lora-emoprompt"
    args = tiny_train_args(tiny_models, data, out, max_steps=2)
    args[args.index("--version") + 1] = "emoprompt_v1"
    args += ["--emoprompt_bank", "illustrative"]
    mp = pytest.MonkeyPatch()
    try:
        trainer = train_in_process(mp, args)
    finally:
        mp.undo()
    return trainer, data, out


def test_each_sample_gets_an_exemplar_and_only_the_answer_is_supervised(trained_emoprompt):
    trainer, _, _ = trained_emoprompt
    dataset, tokenizer = trainer.train_dataset, trainer.tokenizer
    assert dataset.emoprompt is not None
    for i, record in enumerate(dataset.records):
        item = dataset[i]
        labels = item["labels"]
        supervised = tokenizer.decode(labels[labels != -100].tolist()).strip()
        assert supervised == record["conversations"][1]["value"] + "</s>"
        text_ids = [t for t in item["input_ids"].tolist() if t >= 0]
        prompt = tokenizer.decode(text_ids)
        assert "Worked example" in prompt
        exemplar = dataset.emoprompt.conversation_for(record, _emoprompt_conv())[1]
        assert exemplar.source_id != record["id"]


def _emoprompt_conv():
    from llava.conversation import conv_templates
    return conv_templates["emoprompt_v1"]


def test_checkpoint_records_bank_and_strategy(trained_emoprompt):
    _, _, out = trained_emoprompt
    config = json.loads((out / "config.json").read_text())
    assert config["emoprompt_bank"] == "illustrative"
    assert config["emoprompt_strategy"] == "random" and config["emoprompt_seed"] == 0
    assert config["emoprompt_target"] == "label"


def test_emoprompt_without_a_bank_has_no_silent_fallback():
    from types import SimpleNamespace

    from emollm_plugin.model.parts import write_emoprompt_config
    from emollm_plugin.configs import MissingBankError
    from emollm_plugin.emoprompt.runtime import EmoPromptRuntime
    with pytest.raises(MissingBankError, match="emollm emoprompt generate"):
        write_emoprompt_config(SimpleNamespace(), SimpleNamespace(version="emoprompt_v1"))
    for phase in ("train", "eval"):
        with pytest.raises(MissingBankError, match="--version v1"):
            EmoPromptRuntime.from_config(SimpleNamespace(), phase=phase)
    hf = SimpleNamespace()
    write_emoprompt_config(hf, SimpleNamespace(version="v1"))
    assert vars(hf) == {}  # EmoPrompt off: nothing written


def test_eval_selection_never_shows_the_query_record_and_never_reads_its_label(trained_emoprompt):
    from emollm_plugin.emoprompt.runtime import EmoPromptRuntime
    trainer, _, _ = trained_emoprompt
    runtime = EmoPromptRuntime.from_config(trainer.model.config, phase="eval")
    base = _emoprompt_conv()
    emotions = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
    shown_labels = set()
    for k in range(60):
        for task in ("emotion_open", "emotion_closed", "sarcasm"):
            record = {"id": f"q{k}/{task}", "task": task, "image": f"x/{k}.png"}
            picks = set()
            for label in (*emotions, "yes", "no", None):
                labelled = record if label is None else {**record, "label": label, "meta": {"votes": [label]}}
                conversation, exemplar = runtime.conversation_for(labelled, base)
                assert exemplar.source_id != record["id"]
                assert conversation.version == base.version and exemplar.reasoning in conversation.system
                picks.add(exemplar.id)
            assert len(picks) == 1  # the same exemplar whatever the label, or with none
            shown_labels.add(exemplar.label)
    assert len(shown_labels) > 2  # an exemplar of the query's own label may be shown


def test_a_label_reading_strategy_is_refused_when_answering():
    from emollm_plugin.emoprompt.runtime import AnsweringStrategyError, EmoPromptRuntime
    with pytest.raises(AnsweringStrategyError, match="may only be used to train"):
        EmoPromptRuntime("illustrative", phase="eval", eval_strategy="same-label-excluded")
    train = EmoPromptRuntime("illustrative", "same-label-excluded", phase="train")
    assert train.selector.strategy == "same-label-excluded"  # a training-time option still
    assert EmoPromptRuntime("illustrative", "same-label-excluded", phase="eval").selector.strategy == "random"


def test_eval_prompt_uses_the_same_template_with_an_exemplar(trained_emoprompt):
    from emollm_plugin.emoprompt.runtime import EmoPromptRuntime
    from emollm_plugin.eval.questions import build_prompt
    trainer, _, _ = trained_emoprompt
    runtime = EmoPromptRuntime.from_config(trainer.model.config, phase="eval")
    record = dict(trainer.train_dataset.records[0])
    prompt = build_prompt(record, "emoprompt_v1", emoprompt=runtime)
    exemplar = runtime.conversation_for(record, _emoprompt_conv())[1]
    assert prompt.startswith(_emoprompt_conv().system.split("\n")[0]) and exemplar.reasoning in prompt
    assert prompt.endswith("ASSISTANT:")


def _bank_of_own_reasoning(records, path):
    """One exemplar per training record, made from that record (source_id = its id)."""
    from emollm_plugin.tasks.schema import answer_text
    from emollm_plugin.emoprompt.bank import SCHEMA_VERSION, Exemplar, append_exemplar
    for k, record in enumerate(records):
        append_exemplar(path, Exemplar(
            schema_version=SCHEMA_VERSION, id=f"{record['id']}@test", task=record["task"],
            label=record["label"], source_id=record["id"], media={"image": f"elsewhere/{k}.png"},
            reasoning=f"Cue number {k} is  observed;\nit suggests the\tfeeling.",
            answer=answer_text(record["task"], record["label"]), generator="test",
            prompt_version="test", created_at="2024-06-01T12:00:00+00:00"))
    return path


def _supervised(dataset, tokenizer, i):
    labels = dataset[i]["labels"]
    return tokenizer.decode(labels[labels != -100].tolist()).strip()


@pytest.mark.parametrize("target", ["reasoning", "label"])
def test_emoprompt_target_trains_on_the_records_own_reasoning_then_its_answer(trained_emoprompt, tmp_path,
                                                                               target):
    from emollm_plugin.emoprompt.runtime import EmoPromptRuntime
    trainer, _, _ = trained_emoprompt
    dataset, tokenizer = trainer.train_dataset, trainer.tokenizer
    with_reasoning = dataset.records[: len(dataset.records) // 2]
    bank = _bank_of_own_reasoning(with_reasoning, tmp_path / "bank.jsonl")
    kept = dataset.emoprompt
    dataset.emoprompt = EmoPromptRuntime(str(bank), "random", 0, phase="train", target=target)
    try:
        for i, record in enumerate(dataset.records):
            answer = record["conversations"][1]["value"]
            expected = answer
            if target == "reasoning" and record in with_reasoning:
                k = with_reasoning.index(record)
                expected = f"Reasoning: Cue number {k} is observed; it suggests the feeling. Answer: {answer}"
            assert _supervised(dataset, tokenizer, i) == expected + "</s>"
            exemplar = dataset.emoprompt.conversation_for(record, _emoprompt_conv())[1]
            assert exemplar.source_id != record["id"]  # its own reasoning is never in its prompt
    finally:
        dataset.emoprompt = kept
