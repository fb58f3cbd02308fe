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


# ----- hostile inputs: names, links, permissions, encodings, resumption keys -----------------------
def test_a_file_name_that_is_not_utf8_gets_a_utf8_id_and_is_answered(tmp_path):
    import os
    folder = tmp_path / "f"
    folder.mkdir()
    for name in (b"caf\xe9.png", b"ok.png"):
        with open(os.path.join(os.fsencode(folder), name), "wb") as handle:
            handle.write(b"x")
    items, rejected, _ = collect([folder])
    assert rejected == [] and len(items) == 2
    assert items[0].id == str(folder / "caf\\xe9.png")
    for item in items:
        item.id.encode("utf-8")  # a valid answer id (uuid5 encodes it)
        assert item.path.is_file()  # the file itself is still reachable


def test_ids_are_resolved_paths_however_the_input_is_spelled(tmp_path, monkeypatch):
    _touch(tmp_path / "f" / "a.png")
    monkeypatch.chdir(tmp_path)
    relative, _, _ = collect(["f"])
    absolute, _, _ = collect([tmp_path / "f"])
    dotted, _, _ = collect(["./f/../f/a.png"])
    assert [i.id for i in relative] == [i.id for i in absolute] == [i.id for i in dotted] == \
        [str((tmp_path / "f" / "a.png").resolve())]


def test_broken_links_and_unlistable_folders_are_rejected_not_dropped(tmp_path, monkeypatch):
    import os
    folder = tmp_path / "f"
    _touch(folder / "a.png")
    _touch(folder / "locked" / "b.png")
    (folder / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (folder / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    (folder / "loop").symlink_to(folder, target_is_directory=True)  # listed once
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    items, rejected, passed_over = collect([folder])
    assert [i.path.name for i in items] == ["a.png"] and passed_over == 0
    assert sorted((r.reason, r.source) for r in rejected) == [
        ("broken_link", str(folder / "gone.png")), ("broken_link", str(folder / "gone.txt")),
        ("unreadable", str(folder / "locked"))]
    assert "cannot list the folder (Permission denied)" in next(r.message for r in rejected if r.reason == "unreadable")


def test_an_unreadable_file_is_unreadable_not_corrupt(tmp_path, monkeypatch):
    from emollm_plugin.apps import inputs
    locked = _touch(tmp_path / "locked.png")
    real_open = open

    def guarded_open(path, *args, **kwargs):
        if str(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(inputs, "open", guarded_open, raising=False)
    items, rejected, _ = collect([locked, _touch(tmp_path / "fine.png")])
    assert [i.path.name for i in items] == ["fine.png"]
    assert [(r.reason, r.source) for r in rejected] == [("unreadable", str(locked))]
    assert "permission denied" in rejected[0].message and "chmod +r" in rejected[0].message


def test_the_media_reader_says_permission_not_corrupt(tmp_path, monkeypatch):
    from emollm_plugin.media import errors
    from emollm_plugin.media.errors import MediaError, check_readable
    locked = _touch(tmp_path / "a.mp4")
    monkeypatch.setattr(errors, "open", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "denied")),
                        raising=False)
    with pytest.raises(MediaError, match="cannot read .*permission denied.*chmod") as caught:
        check_readable(locked)
    assert caught.value.cause == "no_permission"


@pytest.mark.parametrize("name, data, message", [
    ("dup.csv", b"path,label,path\na.png,joy,b.png\n", r"dup\.csv:1: column\(s\) \['path'\] appear more than once"),
    ("latin.csv", "path,label\na.png,joy\ncaf\xe9.png,joy\n".encode("latin-1"), r"latin\.csv:3: the manifest file is not UTF-8"),
    ("wide.csv", "path,label\na.png,joy\n".encode("utf-16"), r"wide\.csv:1: the manifest file is UTF-16"),
    ("bare16.csv", "path,label\na.png,joy\n".encode("utf-16-le"), r"bare16\.csv:1: the manifest file holds NUL bytes"),
    ("quote.csv", b'path,label\na.png,joy\n"b.png,joy\n', r"quote\.csv:\d+: malformed CSV"),
    ("huge.jsonl", b'{"path": "a.png"}\n{"path": "a.png", "label": ' + b"7" * 5000 + b"}\n",
     r"huge\.jsonl:2: a number has more digits than Python reads"),
    ("deep.jsonl", b'{"path": "a.png"}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n", r"deep\.jsonl:2: JSON nested deeper"),
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, r"deep\.json: JSON nested deeper"),
])
def test_bad_manifests_name_the_file_and_line(tmp_path, name, data, message):
    _touch(tmp_path / "a.png")
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError, match=message):
        collect([tmp_path / name])


def test_bom_csv_and_json_list_manifests_are_read(tmp_path):
    _touch(tmp_path / "a.png")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfpath,label\na.png,joy\n")
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"path": "a.png", "label": "joy"}, {"file": "a.png"}]))
    items, rejected, _ = collect([bom])
    assert [(i.path.name, i.label) for i in items] == [("a.png", "joy")] and rejected == []
    items, rejected, _ = collect([listed])
    assert [(i.path.name, i.label) for i in items] == [("a.png", "joy")]
    assert [(r.source, r.reason) for r in rejected] == [(f"{listed} [index 1]", "no_path")]


def test_a_prompt_no_tokenizer_can_encode_is_a_rejected_row(tmp_path):
    _touch(tmp_path / "a.png")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "a.png", "prompt": "How\ud800?"}) + "\n" + json.dumps({"path": "a.png"}))
    items, rejected, _ = collect([manifest])
    assert len(items) == 1 and [(r.source, r.reason) for r in rejected] == [(f"{manifest}:1", "bad_text")]


def test_manifest_paths_that_cannot_be_paths_are_rejected_rows(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps({"path": p}) for p in ("a\x00.png", "x" * 5000 + ".png", "\ud800.png",
                                                                   "sub.png")) + "\n")
    (tmp_path / "sub.png").mkdir()
    items, rejected, _ = collect([manifest])
    assert items == []
    assert [r.reason for r in rejected] == ["bad_path", "bad_path", "bad_path", "not_a_file"]
    for r in rejected:
        r.message.encode("utf-8")
