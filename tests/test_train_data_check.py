"""Training checks its data before step 1 (--data_check), and a late media failure names the record
(--on_bad_media stop|skip)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from emollm_plugin.train.data_check import DataCheckError, check_training_data


def _rec(rid, text, **media):
    return {"id": rid, "conversations": [{"from": "human", "value": text}, {"from": "gpt", "value": "joy"}],
            **media}


@pytest.fixture
def media(tmp_path):
    from PIL import Image
    root = tmp_path / "media"
    root.mkdir()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(root / "a.png")
    (root / "clip.mp4").write_bytes(b"\x00" * 64)  # present and non-empty: passes fast, fails full
    (root / "empty.png").write_bytes(b"")
    return root


def _problems(records, root, mode="fast", **kwargs) -> str:
    with pytest.raises(DataCheckError) as caught:
        check_training_data("train.json", records, root, mode, **kwargs)
    return str(caught.value)


@pytest.mark.parametrize("token, kind", [("<video>", "video"), ("<image>", "image"), ("<audio>", "audio")])
def test_a_placeholder_without_its_media_field_is_refused(media, token, kind):
    message = _problems([_rec("ok", "<image>\nHow?", image="a.png"), _rec("bad", f"{token}\nHow does she feel?")],
                        media)
    assert f"record 1 (id 'bad'), field 'conversations': 1 {token} placeholder(s) but no '{kind}' field" in message
    assert "1 problem(s) in 1 of 2 record(s)" in message


def test_a_media_field_without_its_placeholder_is_refused(media):
    message = _problems([_rec("r0", "How?", image="a.png"), _rec("r1", "<image>\n<image>\nHow?", image="a.png")],
                        media)
    assert "record 0 (id 'r0'), field 'image': is set but the turns hold 0 <image> placeholders" in message
    assert "record 1 (id 'r1'), field 'image': is set but the turns hold 2 <image> placeholders" in message


def test_every_problem_is_reported_at_once_with_a_cap_and_a_count(media):
    records = [_rec(f"r{i}", "<image>\nHow?", image=f"missing{i}.png") for i in range(30)]
    records += [_rec("r0", "<image>\nHow?", image="a.png"),  # duplicate id
                _rec("e", "<image>\nHow?", image="empty.png"),
                _rec("up", "<image>\nHow?", image="../secret.png"),
                _rec("both", "<image>\n<video>\nHow?", image="a.png", video="clip.mp4"),
                "not a record"]
    message = _problems(records, media, shown=5)
    assert message.startswith("train.json: 35 problem(s) in 35 of 35 record(s)")
    assert "(by field: <record> 1, id 1, image 33); first 5:" in message
    assert "record 0 (id 'r0'), field 'image': image missing: " in message
    assert message.count("\n  record") == 5
    full = _problems(records, media, shown=100)
    assert "record 30 (id 'r0'), field 'id': repeats the id of record 0" in full
    assert "record 31 (id 'e'), field 'image': image empty (0 bytes)" in full
    assert "record 32 (id 'up'), field 'image': media path '../secret.png' refused" in full
    assert "record 33 (id 'both'), field 'image': the record has both 'image' and 'video'" in full
    assert "record 34 (id None), field '<record>': is a str" in full


def test_audio_without_an_audio_tower_is_refused_before_training(media):
    records = [_rec("a", "<video>\n<audio>\nHow?", video="clip.mp4", audio="clip.mp4")]
    check_training_data("train.json", records, media, "fast", has_audio_tower=True)
    assert "the model has no audio tower" in _problems(records, media, has_audio_tower=False)


def test_full_decodes_what_fast_only_sizes(media):
    records = [_rec("v", "<video>\nHow?", video="clip.mp4")]
    check_training_data("train.json", records, media, "fast")
    assert "record 0 (id 'v'), field 'video': video" in _problems(records, media, "full")


def test_an_empty_dataset_names_the_file_and_off_checks_nothing_else(media):
    with pytest.raises(DataCheckError, match=r"^train.json: the training data holds no records"):
        check_training_data("train.json", [], media, "off")
    check_training_data("train.json", [_rec("bad", "<video>\nHow?")], media, "off")
    with pytest.raises(DataCheckError, match="--data_check 'slow': use one of off, fast, full"):
        check_training_data("train.json", [_rec("bad", "How?")], media, "slow")


# ----- what upstream's preprocess and the splice assume of the turns --------------------------------
def _turns(*turns, **media):
    return {"id": "t", "conversations": [dict(zip(("from", "value"), t)) if isinstance(t, tuple) else t
                                         for t in turns], **media}


@pytest.mark.parametrize("record, field, cause", [
    (_turns({"value": "<image>\nHow?"}, ("gpt", "joy"), image="a.png"), "conversations[0]", "has no 'from'"),
    (_turns(("user", "<image>\nHow?"), ("gpt", "joy"), image="a.png"), "conversations[0]",
     "'from' is 'user'; LLaVA's preprocess knows only 'human' and 'gpt'"),
    (_turns(("gpt", "Hello."), ("human", "<image>\nHow?"), ("gpt", "joy"), image="a.png"), "conversations[0]",
     "is from 'gpt' but turn 0 must be from 'human'"),
    (_turns(("human", "<image>\nHow?"), ("human", "And?"), ("gpt", "joy"), image="a.png"), "conversations[1]",
     "is from 'human' but turn 1 must be from 'gpt'"),
    (_turns(("human", "<image>\nHow?"), ("gpt", "  "), image="a.png"), "conversations[1]",
     "'value' is empty: an empty answer trains on nothing"),
    (_turns(("human", "<image>\nHow?"), ("gpt", None), image="a.png"), "conversations[1]", "'value' is NoneType"),
    (_turns(("human", "<image>\nHow?"), image="a.png"), "conversations", "has no answer turn"),
    (_turns(("human", "How?"), ("gpt", "<image>\njoy"), image="a.png"), "conversations[1]",
     "an answer turn holds <image>; media placeholders go in the first turn"),
    (_turns(("human", "How?"), ("gpt", "joy"), ("human", "<audio>\nAnd now?"), ("gpt", "anger"), audio="s.wav"),
     "conversations[2]", "a later question turn holds <audio>"),
    (_turns(("human", "<image>\nHow?"), "joy", image="a.png"), "conversations[1]", "is a str, expected a"),
    (_turns(("human", "<image>\nHow?"), ("gpt", "joy</s>USER: more"), image="a.png"), "conversations",
     "a value holds '</s>' or ' ASSISTANT: ', the separators upstream's target masking splits the prompt on"),
    (_turns(("human", "<image>\nHow? ASSISTANT: joy"), ("gpt", "joy"), image="a.png"), "conversations",
     "a value holds '</s>' or ' ASSISTANT: '"),
    (_turns(("human", "<image>\nHow?"), ("gpt", "joy"), ("human", "And?"), image="a.png"), "conversations[2]",
     "the last turn is a question no answer follows"),
    (_turns(("human", "<image>\nHow?"), ("gpt", "\ud800"), image="a.png"), "conversations[1]",
     "'value' holds a lone surrogate ('\\ud800') that no tokenizer can encode"),
])
def test_turns_upstream_preprocess_cannot_take_are_refused(media, record, field, cause):
    from llava import conversation as conversation_lib
    message = _problems([record], media, conversation=conversation_lib.conv_templates["v1"])
    assert f"record 0 (id 't'), field '{field}': {cause}" in message


@pytest.mark.parametrize("record, cause", [
    (_turns(("human", "<image>\nHow?"), ("gpt", "joy"), ("human", "And?"), ("gpt", "x"), image="a.png"),
     "has 4 turns; --version plain (pretraining) takes exactly two"),
    (_turns(("human", "<audio>\nHow?"), ("gpt", "joy"), audio="s.wav"), "--version plain needs <image> or <video>"),
    (_turns(("human", "<image>\n<audio>"), ("gpt", "joy"), image="a.png", audio="s.wav"),
     "--version plain keeps only <image> of the first turn"),
])
def test_plain_pretraining_takes_two_turns_and_one_visual(media, record, cause):
    from llava import conversation as conversation_lib
    (media / "s.wav").write_bytes(b"x")
    assert cause in _problems([record], media, conversation=conversation_lib.conv_templates["plain"])
    check_training_data("train.json", [_rec("ok", "<image>", image="a.png")], media, "fast",
                        conversation=conversation_lib.conv_templates["plain"])


def test_a_placeholder_split_across_turns_is_no_placeholder(media):
    record = _turns(("human", "How? <ima"), ("gpt", "ge> joy"), image="a.png")
    assert "field 'image': is set but the turns hold 0 <image> placeholders" in _problems([record], media)


def test_a_multi_turn_record_with_its_media_in_the_first_turn_passes(media):
    check_training_data("train.json", [_turns(("human", "<image>\nHow?"), ("gpt", "joy"), ("human", "Why?"),
                                              ("gpt", "She smiles."), image="a.png")], media, "fast")


# ----- the dataset: a media failure after the check ------------------------------------------------
def _dataset(tiny_models, data: Path, on_bad_media: str):
    from transformers import CLIPImageProcessor, LlamaTokenizer

    from emollm_plugin.train.data import EmoSupervisedDataset
    tokenizer = LlamaTokenizer.from_pretrained(str(tiny_models.llm), legacy=True, model_max_length=512)
    tokenizer.pad_token = tokenizer.unk_token
    args = SimpleNamespace(image_processor=CLIPImageProcessor.from_pretrained(str(tiny_models.clip)),
                           image_folder=str(data / "media"), is_multimodal=True, mm_use_im_start_end=False,
                           image_aspect_ratio="square", num_video_frames=4, on_bad_media=on_bad_media,
                           data_path=str(data / "train.json"))
    return EmoSupervisedDataset(args.data_path, tokenizer, args)


@pytest.fixture
def image_data(tmp_path):
    from emollm_plugin.testing.demo_data import make_demo_data
    return make_demo_data(tmp_path / "d", per_label=1, kinds=("image",))


def test_stop_names_the_record_whose_media_went_missing(tiny_models, image_data, registered, monkeypatch):
    from llava import conversation as conversation_lib

    from emollm_plugin.train.data import BadMediaError
    monkeypatch.setattr(conversation_lib, "default_conversation", conversation_lib.conv_templates["v1"])
    dataset = _dataset(tiny_models, image_data, "stop")
    record = dataset.records[1]
    (image_data / "media" / record["image"]).unlink()
    dataset[0]
    with pytest.raises(BadMediaError, match=rf"record 1 \(id '{record['id']}'\), field 'image': media file not found"):
        dataset[1]


def test_skip_trains_on_the_next_record_and_counts(tiny_models, image_data, registered, caplog, monkeypatch):
    from llava import conversation as conversation_lib
    monkeypatch.setattr(conversation_lib, "default_conversation", conversation_lib.conv_templates["v1"])
    dataset = _dataset(tiny_models, image_data, "skip")
    (image_data / "media" / dataset.records[1]["image"]).unlink()
    with caplog.at_level("WARNING"):
        sample = dataset[1]
    assert sample["input_ids"].tolist() == dataset[2]["input_ids"].tolist()
    assert dataset.skipped == 1
    assert f"record 1 (id '{dataset.records[1]['id']}')" in caplog.text and "1 record(s) skipped" in caplog.text


def test_a_record_that_fails_while_training_is_named_by_index_and_id(tiny_models, image_data, registered,
                                                                     monkeypatch):
    """With --data_check off, records the check refuses fail in __getitem__ naming the record, not
    a batch position."""
    from llava import conversation as conversation_lib

    from emollm_plugin.train.data import TrainingRecordError
    monkeypatch.setattr(conversation_lib, "default_conversation", conversation_lib.conv_templates["v1"])
    dataset = _dataset(tiny_models, image_data, "stop")
    good = dataset.records[0]
    dataset.records[1] = {**good, "id": "no-from", "conversations": [{"value": t["value"]}
                                                                     for t in good["conversations"]]}
    dataset.records[2] = {**good, "id": "two-images", "conversations": [
        good["conversations"][0], {"from": "gpt", "value": "<image>\njoy"}]}
    with pytest.raises(TrainingRecordError, match=r"train.json: record 1 \(id 'no-from'\): cannot be made a training "
                                                  r"sample \(KeyError: 'from'\)"):
        dataset[1]
    with pytest.raises(TrainingRecordError, match=r"record 2 \(id 'two-images'\): the tokenized prompt holds 2 "
                                                  r"<image>/<video> placeholder"):
        dataset[2]
    dataset.records[3] = "not a record"
    assert len(dataset.lengths) == len(dataset.modality_lengths) == len(dataset.records)  # the sampler's view
    with pytest.raises(TrainingRecordError, match=r"record 3 \(id '\?'\): cannot be made a training sample"):
        dataset[3]


# ----- through LLaVA's own train() ------------------------------------------------------------------
@pytest.mark.slow  # builds the tiny model through LLaVA's train()
def test_training_refuses_a_placeholder_without_media_before_step_1(tiny_models, tmp_path, monkeypatch, registered):
    from e2e_helpers import tiny_train_args, train_in_process

    from emollm_plugin.testing.demo_data import make_demo_data
    data = make_demo_data(tmp_path / "data", per_label=1, kinds=("image", "video"))
    records = json.loads((data / "train.json").read_text())
    bad = next(i for i, r in enumerate(records) if "video" in r)
    del records[bad]["video"]  # the human turn keeps its <video>
    (data / "train.json").write_text(json.dumps(records))
    with pytest.raises(DataCheckError, match=rf"record {bad} \(id '{records[bad]['id']}'\), field 'conversations': "
                                             "1 <video> placeholder"):
        train_in_process(monkeypatch, tiny_train_args(tiny_models, data, tmp_path / "out", max_steps=1))


@pytest.mark.slow  # trains the tiny model through LLaVA's train()
def test_media_deleted_after_the_check_stops_with_the_record_and_a_checkpoint(tiny_models, tmp_path, monkeypatch,
                                                                               registered):
    from e2e_helpers import tiny_train_args, train_in_process

    import emollm_plugin.train.data as data_module
    from emollm_plugin.testing.demo_data import make_demo_data
    from emollm_plugin.train.data import BadMediaError
    data = make_demo_data(tmp_path / "data", per_label=1, kinds=("image",))
    records = json.loads((data / "train.json").read_text())
    victim = len(records) - 1
    checked = data_module.check_data

    def check_then_delete(data_args, recs, has_audio_tower):
        checked(data_args, recs, has_audio_tower)
        (data / "media" / records[victim]["image"]).unlink()

    monkeypatch.setattr(data_module, "check_data", check_then_delete)
    out = tmp_path / "out"
    with pytest.raises(BadMediaError) as caught:
        train_in_process(monkeypatch, tiny_train_args(tiny_models, data, out, "--per_device_train_batch_size", "1",
                                                      max_steps=2 * len(records)))
    message = str(caught.value)
    assert f"record {victim} (id '{records[victim]['id']}'), field 'image': media file not found" in message
    steps = int(message.split("A checkpoint of the ")[1].split(" ")[0])
    assert 0 <= steps < len(records) and f"{out}/checkpoint-{steps}" in message
    assert (out / f"checkpoint-{steps}" / "adapter_model.safetensors").is_file() or \
        (out / f"checkpoint-{steps}" / "adapter_model.bin").is_file()
