"""STRATEGY=mix trains EmoBench records and general instruction records (no ``task``) in one run
with --version emoprompt_v1: the general ones keep the template without an exemplar."""
from __future__ import annotations


def test_record_without_task_gets_the_template_without_an_exemplar():
    import emollm_plugin
    emollm_plugin.register()
    from llava.conversation import conv_templates

    from emollm_plugin.emoprompt.bank import example_bank_path
    from emollm_plugin.emoprompt.runtime import EmoPromptRuntime

    base = conv_templates["emoprompt_v1"]
    runtime = EmoPromptRuntime(str(example_bank_path()), phase="train")
    general = {"id": "general/0", "image": "coco/1.jpg",
               "conversations": [{"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": "A cat."}]}
    conversation, exemplar = runtime.conversation_for(general, base)
    assert exemplar is None and conversation is base and "Worked example" not in conversation.system
    emotion = {"id": "meld/x/emotion_open", "task": "emotion_open", "label": "joy"}
    conversation, exemplar = runtime.conversation_for(emotion, base)
    assert exemplar is not None and exemplar.reasoning in conversation.system
