"""Batch inference on a tiny trained checkpoint: answers for every record, resume, skipped records.

The checkpoint (MVP + Whisper audio + LoRA, trained through LLaVA's own train()) and the question
file are made once per session by ``eval_setup``; test_eval_upstream.py and test_eval_script.py
import it from here.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e_helpers import tiny_train_args, train_in_process

pytestmark = pytest.mark.current_stack  # also run on the current version row (scripts/test.sh)

_SETUPS: dict[str, "EvalSetup"] = {}
BATCH = 4
COMMON = ["--max-new-tokens", "6", "--num-video-frames", "4", "--batch-size", str(BATCH)]


@dataclass
class EvalSetup:
    ckpt: Path        # LoRA checkpoint folder (its name holds 'llava' and 'lora', as upstream needs)
    base: Path        # the tiny LLM it was trained on
    questions: Path   # 14 records: 12 answerable (image / video / video+audio, open + closed), 2 broken
    media: Path
    trainer: object
    good_ids: list[str]
    corrupt_id: str
    missing_id: str


def _question_records(data: Path) -> tuple[list[dict], str, str]:
    """Modalities interleaved so that batches mix images, clips and audio; two broken records."""
    from emollm_plugin.testing.synth import write_corrupt_video

    by_id = {r["id"]: r for name in ("train.json", "test.json") for r in json.loads((data / name).read_text())}
    pick = lambda kind, label, k: dict(by_id[f"demo/{kind}/{label}/{k}"])  # noqa: E731
    corrupt = pick("video", "anger", 0) | {"id": "broken/corrupt_video", "video": "broken/corrupt.mp4"}
    (data / "media" / "broken").mkdir()
    write_corrupt_video(data / "media" / "broken" / "corrupt.mp4")
    missing = pick("image", "anger", 0) | {"id": "broken/missing_image", "image": "broken/nowhere.png"}
    records = [pick("image", "anger", 2), pick("video", "anger", 2), pick("video+audio", "sadness", 2),
               pick("image", "anger", 1), corrupt, pick("image", "joy", 2), pick("video", "joy", 2),
               pick("video+audio", "surprise", 2), missing, pick("image", "sadness", 1),
               pick("video", "surprise", 1), pick("image", "sadness", 2), pick("video+audio", "joy", 1),
               pick("image", "surprise", 2)]
    return records, corrupt["id"], missing["id"]


def eval_setup(tiny_models, tmp_path_factory) -> EvalSetup:
    """Train the tiny checkpoint once per session (shared by the three eval test modules)."""
    from emollm_plugin.testing.demo_data import make_demo_data

    key = str(tmp_path_factory.getbasetemp())
    if key not in _SETUPS:
        root = tmp_path_factory.mktemp("eval_e2e")
        data = make_demo_data(root / "data", per_label=3, kinds=("image", "video", "video+audio"))
        ckpt = root / "emollm-llava-lora-eval"
        import emollm_plugin
        mp = pytest.MonkeyPatch()
        try:
            with emollm_plugin.register():  # the checkpoint outlives the registration; infer registers itself
                trainer = train_in_process(mp, tiny_train_args(
                    tiny_models, data, ckpt, "--audio_tower", str(tiny_models.whisper), "--mm_audio_num_tokens",
                    "8", "--num_video_frames", "8", "--per_device_train_batch_size", "3", max_steps=2))
        finally:
            mp.undo()
        records, corrupt, missing = _question_records(data)
        questions = root / "eval_questions.json"
        questions.write_text(json.dumps(records, indent=1))
        good = [r["id"] for r in records if r["id"] not in (corrupt, missing)]
        _SETUPS[key] = EvalSetup(ckpt, Path(tiny_models.llm), questions, data / "media", trainer, good,
                                 corrupt, missing)
    return _SETUPS[key]


def infer(setup: EvalSetup, answers: Path, *extra: str) -> tuple[int, str]:
    """``python -m emollm_plugin.commands.infer`` in this process; (exit code, stderr)."""
    from emollm_plugin.commands.infer import main

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(["--model-path", str(setup.ckpt), "--model-base", str(setup.base),
                     "--question-file", str(setup.questions), "--media-root", str(setup.media),
                     "--answers-file", str(answers), *COMMON, *extra])
    return code, stderr.getvalue()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def setup(tiny_models, tmp_path_factory) -> EvalSetup:
    return eval_setup(tiny_models, tmp_path_factory)


@pytest.fixture(scope="module")
def reference(setup, tmp_path_factory):
    """One uninterrupted run: (answers path, stderr)."""
    answers = tmp_path_factory.mktemp("reference") / "answers.jsonl"
    code, stderr = infer(setup, answers)
    assert code == 0, stderr
    return answers, stderr


@pytest.mark.slow  # trains the tiny checkpoint once, then runs inference
def test_every_answerable_record_is_answered_in_order_and_scored(setup, reference):
    from emollm_plugin.eval import score_files
    answers, _ = reference
    rows = read_jsonl(answers)
    records = {r["id"]: r for r in json.loads(setup.questions.read_text())}
    assert [row["question_id"] for row in rows] == setup.good_ids
    for row in rows:
        record = records[row["question_id"]]
        assert list(row) == ["question_id", "prompt", "text", "answer_id", "model_id", "metadata"]
        assert row["model_id"] == "emollm-llava-lora-eval"
        digest = hashlib.sha256(row["prompt"].encode()).hexdigest()[:16]
        assert row["answer_id"] == uuid.uuid5(uuid.NAMESPACE_URL,
                                              f"emollm-llava-lora-eval/{row['question_id']}/{digest}").hex
        assert row["metadata"] == {"task": record["task"], "dataset": "demo"}
        assert "<" not in row["prompt"] and row["prompt"] in record["conversations"][0]["value"]
        assert isinstance(row["text"], str)
    assert len({row["text"] for row in rows}) > 1  # the media reach the model: answers differ

    scores = score_files(answers, setup.questions)
    assert scores["tasks"]["emotion_open"]["n"] == 10 and scores["tasks"]["emotion_closed"]["n"] == 4
    assert scores["n"] == 14 and scores["input"]["answers_without_question"]["count"] == 0
    assert scores["input"]["unanswered"]["count"] == 2
    assert set(scores["input"]["unanswered"]["ids"]) == {setup.corrupt_id, setup.missing_id}


@pytest.mark.slow  # trains the tiny checkpoint once, then runs inference
def test_unreadable_media_are_listed_by_reason_not_dropped(setup, reference):
    answers, stderr = reference
    skipped = read_jsonl(answers.with_name("answers.jsonl.skipped.jsonl"))
    assert [(s["question_id"], s["reason"]) for s in skipped] == [
        (setup.corrupt_id, "media_corrupt"), (setup.missing_id, "media_missing")]
    assert "broken/corrupt.mp4" in skipped[0]["message"] and "broken/nowhere.png" in skipped[1]["message"]
    assert "14 record(s): 12 answered now, 0 already in" in stderr and "2 skipped" in stderr
    assert "media_corrupt 1, media_missing 1" in stderr


@pytest.mark.slow  # trains the tiny checkpoint once, then runs inference
def test_resume_after_a_stop_mid_batch_writes_the_same_file(setup, reference, tmp_path):
    answers = tmp_path / "answers.jsonl"
    code, stderr = infer(setup, answers, "--limit", "2")
    assert code == 0 and len(read_jsonl(answers)) == 2, stderr
    code, stderr = infer(setup, answers, "--resume")
    assert code == 0, stderr
    assert "10 answered now, 2 already in" in stderr
    assert answers.read_bytes() == reference[0].read_bytes()
    skipped = answers.with_name("answers.jsonl.skipped.jsonl")
    assert skipped.read_bytes() == reference[0].with_name(skipped.name).read_bytes()


@pytest.mark.slow  # trains the tiny checkpoint once, then runs inference
def test_a_truncated_last_line_is_cut_and_answered_again(setup, reference, tmp_path):
    expected = reference[0].read_bytes()
    lines = expected.splitlines(keepends=True)
    answers = tmp_path / "answers.jsonl"
    answers.write_bytes(b"".join(lines[:10]) + lines[10][:25])  # a crash while writing line 11
    code, stderr = infer(setup, answers, "--resume")
    assert code == 0, stderr
    assert "ended in a truncated line" in stderr and "2 answered now, 10 already in" in stderr
    assert answers.read_bytes() == expected


@pytest.mark.slow  # trains the tiny checkpoint once, then runs inference
def test_batches_answer_as_records_one_at_a_time_do(setup, reference, tmp_path):
    """Left padding with an attention mask: batching changes no answer (greedy)."""
    answers = tmp_path / "answers.jsonl"
    code, stderr = infer(setup, answers, "--batch-size", "1", "--limit", "6")
    assert code == 0, stderr
    assert read_jsonl(answers) == read_jsonl(reference[0])[:6]


@pytest.mark.slow  # trains the tiny checkpoint once, then runs inference
def test_prompt_is_the_prompt_training_saw(setup, registered):
    """The generation prompt is exactly the unsupervised prefix of the training sample (read with
    the plugin registered, as training reads it: ``<audio>`` is a placeholder only then)."""
    from emollm_plugin.constants import IGNORE_INDEX
    from emollm_plugin.eval.questions import build_prompt
    from emollm_plugin.model.tokens import tokenizer_media_token
    dataset = setup.trainer.train_dataset
    kinds = {"image": lambda r: "image" in r, "video": lambda r: "video" in r and "audio" not in r,
             "video+audio": lambda r: "audio" in r}
    for kind, is_kind in kinds.items():
        index = next(i for i, r in enumerate(dataset.records) if is_kind(r))
        item = dataset[index]
        ids = tokenizer_media_token(build_prompt(dataset.records[index], "vicuna_v1"), dataset.tokenizer,
                                    return_tensors="pt")
        assert item["input_ids"][:len(ids)].tolist() == ids.tolist(), kind
        assert (item["labels"][:len(ids)] == IGNORE_INDEX).all(), kind
        assert item["labels"][len(ids)] != IGNORE_INDEX, kind  # the answer starts right after


@pytest.mark.slow  # trains the tiny checkpoint once, then runs inference
def test_resume_refuses_a_file_it_did_not_write(setup, tmp_path):
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"question_id": "a", "text": "x"}\nnot json\n{"question_id": "b", "text": "y"}\n')
    code, stderr = infer(setup, answers, "--resume")
    assert code == 2 and f"{answers}:2: not an answers line" in stderr and "without --resume" in stderr
    answers.write_text('{"question_id": "a", "text": "x", "model_id": "emollm-llava-lora-eval"}\n'
                       '{"question_id": "b", "text": "y", "model_id": "another-model"}\n')
    code, stderr = infer(setup, answers, "--resume")
    assert code == 2 and f"{answers}:2: answered by model 'another-model'" in stderr
    assert "would mix two models' answers" in stderr


@pytest.mark.slow  # trains the tiny checkpoint once, then runs inference
def test_an_unknown_conv_mode_lists_the_known_ones(setup, tmp_path):
    code, stderr = infer(setup, tmp_path / "a.jsonl", "--conv-mode", "vicuna_v9")
    assert code == 2 and "unknown --conv-mode 'vicuna_v9'" in stderr and "vicuna_v1" in stderr
    assert not (tmp_path / "a.jsonl").exists()


def test_emoprompt_on_a_checkpoint_without_a_bank_stops_with_how_to_fix_it(setup, tmp_path):
    code, stderr = infer(setup, tmp_path / "a.jsonl", "--conv-mode", "emoprompt_v1")
    assert code == 2 and "evaluation: EmoPrompt is on" in stderr
    assert "emollm emoprompt generate" in stderr and "--conv-mode vicuna_v1" in stderr
    assert not (tmp_path / "a.jsonl").exists() or not (tmp_path / "a.jsonl").read_text()


def test_the_loader_route_follows_the_folder_contents(tmp_path):
    from emollm_plugin.runtime.errors import CheckpointError
    from emollm_plugin.runtime.loading import routing_name
    lora, projector, full, empty = (tmp_path / n for n in ("lora", "projector", "full", "empty"))
    for folder in (lora, projector, full, empty):
        folder.mkdir()
    (lora / "adapter_config.json").write_text("{}")
    (lora / "adapter_model.safetensors").write_bytes(b"")
    (projector / "mm_projector.bin").write_bytes(b"")
    (full / "model.safetensors").write_bytes(b"")
    (full / "config.json").write_text(json.dumps({"model_type": "llava_llama"}))
    assert routing_name(lora, "BASE") == "llava-lora"  # 'llava' + 'lora': LLaVA's LoRA path
    assert routing_name(projector, "BASE") == "llava-projector"
    assert routing_name(full, None) == "llava"
    for folder, base, words in ((lora, None, "LoRA adapter (adapter_config.json): pass --model-base"),
                                (projector, None, "only a projector (mm_projector.bin): pass --model-base"),
                                (full, "BASE", "Drop --model-base"), (empty, None, "no adapter_config.json"),
                                (tmp_path / "absent", None, "is not a folder")):
        with pytest.raises(CheckpointError, match=words.replace("(", r"\(").replace(")", r"\)")):
            routing_name(folder, base)


def test_records_the_model_cannot_take_say_why(tmp_path):
    import torch

    from emollm_plugin.runtime.errors import Unanswerable
    from emollm_plugin.runtime.generation import check_length
    from emollm_plugin.runtime.media import MediaLoader
    from emollm_plugin.model.tokens import MediaTokenCounts
    no_towers = MediaLoader(tmp_path, image_processor=None, model_config=None, n_mels=None)
    with pytest.raises(Unanswerable, match="no audio tower") as err:
        no_towers.load({"id": "a", "audio": "x.wav"})
    assert err.value.reason == "no_audio_tower"
    with pytest.raises(Unanswerable, match="no vision tower") as err:
        no_towers.load({"id": "v", "video": "x.mp4"})
    assert err.value.reason == "no_vision_tower"

    counts = MediaTokenCounts(image=112, video=lambda t: 28 * t, audio=lambda t: min(8, t // 2))
    ids = torch.arange(10)  # 10 prompt tokens, one of them a placeholder
    check_length("ok", ids, torch.zeros(3, 4, 4), None, counts, 10 - 1 + 112)
    with pytest.raises(Unanswerable, match="take 121 positions, more than the model's 120") as err:
        check_length("r", ids, torch.zeros(3, 4, 4), None, counts, 120)
    assert err.value.reason == "prompt_too_long"
    # 11 tokens, two placeholders: 9 + 4 frames x 28 + min(8, 40 / 2) = 129
    check_length("ok", torch.arange(11), torch.zeros(4, 3, 4, 4), torch.zeros(80, 40), counts, 129)
    with pytest.raises(Unanswerable, match="take 129 positions") as err:
        check_length("r", torch.arange(11), torch.zeros(4, 3, 4, 4), torch.zeros(80, 40), counts, 128)
    assert "the clip was read as 4 frames: pass --num-video-frames N" in str(err.value)
    assert "--model_max_length" in str(err.value)


@pytest.mark.parametrize("start_end", [False, True])
@pytest.mark.parametrize("text", ["<video>\n<audio>\nHow does she feel?", "Look: <image> what is shown?",
                                  "<audio>\nWhat is the tone?"])
def test_human_turn_follows_llava_preprocess_multimodal(start_end, text):
    import types

    import llava.conversation as conversation_lib
    import llava.train.train as upstream

    from emollm_plugin.eval.questions import human_turn
    record = {"id": "r", "conversations": [{"from": "human", "value": text}, {"from": "gpt", "value": "joy"}]}
    training_text = text.replace("<video>", "<image>")  # what the training dataset does first
    args = types.SimpleNamespace(is_multimodal=True, mm_use_im_start_end=start_end)
    default = conversation_lib.default_conversation
    try:
        conversation_lib.default_conversation = conversation_lib.conv_templates["vicuna_v1"]
        expected = upstream.preprocess_multimodal([[{"from": "human", "value": training_text}]], args)[0][0]["value"]
    finally:
        conversation_lib.default_conversation = default
    assert human_turn(record, mm_use_im_start_end=start_end) == expected


def test_bad_question_records_are_all_named(tmp_path):
    from emollm_plugin.eval.questions import QuestionError, load_questions
    good = {"id": "a", "image": "a.png", "conversations": [{"from": "human", "value": "<image>\nQ?"}]}
    lines = [good, good | {"image": None}, good | {"id": "b", "video": "b.mp4"},
             {"id": "c", "audio": "c.wav", "conversations": [{"from": "human", "value": "Q?"}]},
             good | {"id": "d", "conversations": [{"from": "gpt", "value": "Q?"}]}]
    path = tmp_path / "q.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(QuestionError) as err:
        load_questions(path)
    message = str(err.value)
    assert f"{path}: 4 record(s) cannot be asked" in message
    assert "line 2 (id 'a'): field 'image' must be a path" in message
    assert "line 3 (id 'b'): has both 'image' and 'video'" in message
    assert "line 4 (id 'c'): field 'audio' is set but the question has 0 <audio> placeholder(s)" in message
    assert "line 5 (id 'd'): needs 'conversations' starting with a human turn" in message
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(QuestionError, match="line 2 \\(id 'a'\\): repeats the id of line 1"):
        load_questions(path)


def test_eval_asks_with_the_template_training_recorded_unless_told_otherwise(setup, tmp_path, monkeypatch):
    import emollm_plugin.commands.infer as infer_module
    import emollm_plugin.runtime.answerer as answerer_module
    from emollm_plugin.constants import CONV_MODE_CONFIG_KEY
    config = json.loads((setup.ckpt / "config.json").read_text())
    assert config[CONV_MODE_CONFIG_KEY] == "v1"  # the tiny run trained with --version v1
    ckpt = tmp_path / setup.ckpt.name            # a copy whose record says llava_v1
    shutil.copytree(setup.ckpt, ckpt)
    (ckpt / "config.json").write_text(json.dumps({**config, CONV_MODE_CONFIG_KEY: "llava_v1"}))
    used: list[str] = []
    build_prompt = answerer_module.build_prompt
    monkeypatch.setattr(answerer_module, "build_prompt",
                        lambda record, conv_mode, *rest: used.append(conv_mode) or build_prompt(record, conv_mode, *rest))

    def answer(*extra: str) -> set[str]:
        used.clear()
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            code = infer_module.main(["--model-path", str(ckpt), "--model-base", str(setup.base),
                                      "--question-file", str(setup.questions), "--media-root", str(setup.media),
                                      "--answers-file", str(tmp_path / "a.jsonl"), *COMMON, "--limit", "1", *extra])
        assert code == 0
        return set(used)

    assert answer() == {"llava_v1"}
    assert answer("--conv-mode", "vicuna_v1") == {"vicuna_v1"}
