"""predict's inputs and questions without a model: kinds, folders, manifests, rejects, wording."""
from __future__ import annotations

import json

import pytest

from emollm_plugin.apps.inputs import InputError, collect
from emollm_plugin.apps.prompts import EXPLAIN_SUFFIX, PromptError, Question, record_for, split_explained


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_folder_kinds_by_extension_own_audio_and_passed_over(tmp_path):
    for name in ("b/clip.MP4", "a.png", "voice.wav", "readme.md", "b/x.json"):
        _touch(tmp_path / name)
    items, rejected, passed_over = collect([tmp_path])
    assert [(i.path.name, i.kind) for i in items] == [("a.png", "image"), ("clip.MP4", "video"), ("voice.wav", "audio")]
    clip = items[1]
    assert clip.audio == clip.path and clip.own_audio
    assert rejected == [] and passed_over == 2
    silent, _, _ = collect([tmp_path], own_audio=False)
    assert silent[1].audio is None


def test_single_file_with_separate_audio_and_its_limits(tmp_path):
    clip, wav = _touch(tmp_path / "c.mp4"), _touch(tmp_path / "s.wav")
    items, _, _ = collect([clip], audio=wav)
    assert items[0].audio == wav and not items[0].own_audio
    with pytest.raises(InputError, match="one sound track with one media file"):
        collect([clip, clip], audio=wav)
    with pytest.raises(InputError, match="one sound track"):
        collect([tmp_path], audio=wav)
    _, rejected, _ = collect([wav], audio=wav)
    assert rejected[0].reason == "audio_twice"


def test_unknown_and_missing_inputs_are_rejected_with_reasons_not_fatal(tmp_path):
    good = _touch(tmp_path / "a.jpg")
    items, rejected, _ = collect([_touch(tmp_path / "doc.pdf"), tmp_path / "gone.png", good])
    assert [i.path for i in items] == [good]
    assert [(r.reason, r.source) for r in rejected] == [("unknown_kind", str(tmp_path / "doc.pdf")),
                                                        ("missing", str(tmp_path / "gone.png"))]
    assert ".pdf" in rejected[0].message


def test_csv_manifest_relative_paths_prompts_labels_and_repeats(tmp_path):
    _touch(tmp_path / "m" / "a.png")
    _touch(tmp_path / "m" / "v.mp4")
    _touch(tmp_path / "m" / "s.wav")
    manifest = tmp_path / "m" / "list.csv"
    manifest.write_text("path,audio,prompt,label\na.png,s.wav,,joy\nv.mp4,,How is she?,\nnope.png,,,\n"
                        "a.png,,Again?,anger\n")
    items, rejected, _ = collect([manifest])
    assert [(i.id, i.audio, i.prompt, i.label) for i in items] == [
        (str(tmp_path / "m" / "a.png"), tmp_path / "m" / "s.wav", None, "joy"),
        (str(tmp_path / "m" / "v.mp4"), tmp_path / "m" / "v.mp4", "How is she?", None),
        (str(tmp_path / "m" / "a.png") + "#2", None, "Again?", "anger")]
    assert [(r.source, r.reason) for r in rejected] == [(f"{manifest}:4", "missing")]


def test_jsonl_manifest_and_bad_manifests_name_file_and_line(tmp_path):
    _touch(tmp_path / "a.png")
    good = tmp_path / "l.jsonl"
    good.write_text(json.dumps({"path": "a.png", "label": "joy"}) + "\n\n" + json.dumps({"file": "a.png"}) + "\n")
    items, rejected, _ = collect([good])
    assert items[0].label == "joy" and [(r.source, r.reason) for r in rejected] == [(f"{good}:3", "no_path")]
    broken = tmp_path / "b.jsonl"
    broken.write_text('{"path": "a.png"}\n{"path": \n')
    with pytest.raises(InputError, match=r"b\.jsonl:2: not valid JSON"):
        collect([broken])
    headless = tmp_path / "h.csv"
    headless.write_text("a.png,joy\n")
    with pytest.raises(InputError, match="header"):
        collect([headless])
    extra = tmp_path / "e.csv"
    extra.write_text("path,mood\na.png,joy\n")
    with pytest.raises(InputError, match=r"unknown column\(s\) \['mood'\]"):
        collect([extra])


def test_task_presets_use_emobench_wording_and_options():
    from emollm_plugin.tasks.questions import QuestionBank
    bank = QuestionBank.load().templates
    closed = Question("emotion_closed", options=("happy", "sad"))
    assert closed.text("image") == bank["emotion_closed"][0].format(subject="the person in this image",
                                                                     options="happy, sad")
    assert Question("sarcasm").text("video") == bank["sarcasm"][0].format(subject="the speaker in this clip")
    assert Question("intention").label_set[0] == "Complain"
    assert Question("humor", prompt="Funny?").text("video") == "Funny?"
    assert Question("hate", explain=True).text("image").endswith(EXPLAIN_SUFFIX)
    for bad, match in ((dict(), "task preset"), (dict(task="joy"), "unknown task"),
                       (dict(task="hate", options=("a", "b")), "closed-set"),
                       (dict(task="intention", options=("a",)), "two distinct"),
                       (dict(prompt="x", explain=True), "give --task")):
        with pytest.raises(PromptError, match=match):
            Question(**bad)


def test_records_have_emobench_placeholders():
    record = record_for("x", {"video": "v.mp4", "audio": "v.mp4"}, "Q?", "emotion_closed", ["a", "b"], "a")
    assert record["conversations"][0]["value"] == "<video>\n<audio>\nQ?"
    assert record["label_set"] == ["a", "b"] and record["label"] == "a" and record["task"] == "emotion_closed"
    assert record_for("y", {"audio": "s.wav"}, "Q?", None)["conversations"][0]["value"] == "<audio>\nQ?"


@pytest.mark.parametrize("text, expected", [
    ("Reasoning: She smiles widely. Answer: joy", ("She smiles widely.", "joy")),
    ("reasoning: tears; answer is coming. ANSWER: sadness.", ("tears; answer is coming.", "sadness.")),
    ("joy", (None, "joy")),
    ("Answer: no", (None, "no")),
])
def test_split_explained(text, expected):
    assert split_explained(text) == expected


def test_explain_exemplar_goes_into_the_system_prompt():
    import emollm_plugin
    from emollm_plugin.apps.predict import RandomExemplars
    from emollm_plugin.emoprompt.bank import example_bank_path
    from emollm_plugin.eval.questions import build_prompt

    emollm_plugin.register()
    record = record_for("mine/a.png", {"image": "a.png"}, Question("emotion_open", explain=True).text("image"),
                        "emotion_open")
    prompt = build_prompt(record, "emoprompt_v1", emoprompt=RandomExemplars(str(example_bank_path())))
    assert "Worked example (naming the emotion shown)" in prompt and "Reasoning:" in prompt
    assert prompt.endswith(EXPLAIN_SUFFIX + " ASSISTANT:")
